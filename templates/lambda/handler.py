"""ragstack query function, behind API Gateway (REST API, AWS_PROXY integrations).

GET  /rag        the chat page (index.html, shipped next to this file)
POST /rag/query  {"question": "...", "sessionId": "..." (optional, for follow-ups)}
                 -> {"answer": "...", "sessionId": "...", "citations": [{"uri": ..., "excerpt": ...}]}

Errors are JSON: {"error": {"code": "...", "message": "..."}} with a fitting HTTP status.

Configuration comes from environment variables that ragstack sets on the function, never from
this source: KNOWLEDGE_BASE_ID, GENERATION_MODEL_ARN (a foundation model or inference profile
ARN), MAX_QUESTION_CHARS (optional, default 1000), and the environment file's [retrieval]
settings, each only when set (otherwise Bedrock's default applies): NUMBER_OF_RESULTS,
SEARCH_TYPE, GUARDRAIL_ID with GUARDRAIL_VERSION, TEMPERATURE, MAX_TOKENS; VECTOR_STORE_GENERATION
names the store (CLASSIC or NEXTGEN collection, S3_VECTORS, MANAGED). A prompt template,
when configured, is prompt.txt next to this file. Only boto3 from the Lambda runtime is used.

An idle environment wakes slowly: OpenSearch Serverless scales an idle collection to zero after
10 minutes, and "Expect 10-30 seconds of latency on the first request to each component while
capacity is restored" (AWS docs, "Scale to zero for Amazon OpenSearch Serverless"), while API
Gateway ends an integration after 29 s with its own 504 {"message": "Endpoint request timed out"}.
So the function answers first: the Bedrock client waits at most BEDROCK_READ_TIMEOUT_SECONDS
(optional, default 23; boto3's own default is 60) for RetrieveAndGenerate and 2 s for a
connection, and makes one attempt only (botocore would retry a read timeout up to 4 times, far
past API Gateway's limit); 23 + 2 s leave the function's start and the way back within 29 s.
A read timeout, a connect timeout, or Bedrock saying the vector store timed out or is unavailable
(ServiceUnavailableException or an HTTP 503/504, or DependencyFailedException,
BadGatewayException, InternalServerException or ThrottlingException whose message says it timed
out or is resuming) answers 503 {"error": {"code": "waking_up", ...}} with Retry-After: the chat
page and `ragstack ask` ask again a bounded number of times. A ThrottlingException otherwise stays
429 "throttled": the API model documents it as a request quota ("The number of requests exceeds
the limit"), not a store waking up.
"""
import base64
import json
import os
import pathlib
import re

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

_client = None
_page = None
_prompt = False  # not read yet; then the template's text, or None


# How long the function waits for Bedrock (see the module's docstring): within API Gateway's 29 s.
DEFAULT_READ_TIMEOUT_SECONDS = 23.0
CONNECT_TIMEOUT_SECONDS = 2.0


def read_timeout_seconds():
    """BEDROCK_READ_TIMEOUT_SECONDS when it is a positive number of seconds, otherwise the default."""
    try:
        value = float(os.environ.get("BEDROCK_READ_TIMEOUT_SECONDS", ""))
    except ValueError:
        return DEFAULT_READ_TIMEOUT_SECONDS
    return value if 0 < value < float("inf") else DEFAULT_READ_TIMEOUT_SECONDS


def client():
    """The Bedrock agent runtime client, created once per execution environment: one attempt,
    bounded by the connect and read timeouts, so the function answers before API Gateway's 29 s."""
    global _client
    if _client is None:
        config = Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=read_timeout_seconds(),
            retries={"total_max_attempts": 1},
        )
        _client = boto3.client("bedrock-agent-runtime", config=config)
    return _client


def page():
    global _page
    if _page is None:
        _page = (pathlib.Path(__file__).parent / "index.html").read_text(encoding="utf-8")
    return _page


def prompt_template():
    """The configured prompt template (prompt.txt, shipped by ragstack), or None."""
    global _prompt
    if _prompt is False:
        path = pathlib.Path(__file__).parent / "prompt.txt"
        _prompt = path.read_text(encoding="utf-8") if path.exists() else None
    return _prompt


def knowledge_base_configuration():
    """RetrieveAndGenerate's knowledgeBaseConfiguration with the [retrieval] settings that are set."""
    env = os.environ
    config = {"knowledgeBaseId": env["KNOWLEDGE_BASE_ID"], "modelArn": env["GENERATION_MODEL_ARN"]}
    search = {}
    if env.get("NUMBER_OF_RESULTS"):
        search["numberOfResults"] = int(env["NUMBER_OF_RESULTS"])
    if env.get("SEARCH_TYPE"):
        search["overrideSearchType"] = env["SEARCH_TYPE"]
    if search:
        # A managed knowledge base takes managedSearchConfiguration (it picks the search itself,
        # so it has no overrideSearchType) and refuses vectorSearchConfiguration ("Incompatible
        # configuration: vectorSearchConfiguration is not supported for managed knowledge bases.
        # Use managedSearchConfiguration instead.", reported in awslabs/mcp#4574).
        managed = env.get("VECTOR_STORE_GENERATION") == "MANAGED"
        key = "managedSearchConfiguration" if managed else "vectorSearchConfiguration"
        config["retrievalConfiguration"] = {key: search}
    generation = {}
    if prompt_template():
        generation["promptTemplate"] = {"textPromptTemplate": prompt_template()}
    if env.get("GUARDRAIL_ID"):
        generation["guardrailConfiguration"] = {
            "guardrailId": env["GUARDRAIL_ID"],
            "guardrailVersion": env.get("GUARDRAIL_VERSION", "DRAFT"),
        }
    inference = {}
    if env.get("TEMPERATURE"):
        inference["temperature"] = float(env["TEMPERATURE"])
    if env.get("MAX_TOKENS"):
        inference["maxTokens"] = int(env["MAX_TOKENS"])
    if inference:
        generation["inferenceConfig"] = {"textInferenceConfig": inference}
    if generation:
        config["generationConfiguration"] = generation
    return config


def max_question_chars():
    try:
        return max(1, int(os.environ.get("MAX_QUESTION_CHARS", "1000")))
    except ValueError:
        return 1000


def respond(status, body, content_type="application/json", headers=None):
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "statusCode": status,
        "headers": {"Content-Type": f"{content_type}; charset=utf-8", "Cache-Control": "no-store", **(headers or {})},
        "body": text,
    }


def error(status, code, message, headers=None):
    return respond(status, {"error": {"code": code, "message": message}}, headers=headers)


# Bedrock's error codes -> (HTTP status, our code, what the user can do).
BEDROCK_ERRORS = {
    "ThrottlingException": (429, "throttled", "Bedrock is busy right now; try again in a few seconds."),
    "ServiceQuotaExceededException": (429, "quota_exceeded", "A Bedrock quota is reached; try again later."),
    "AccessDeniedException": (
        403,
        "model_access",
        "Access to the generation model is not granted: request model access in the Bedrock console "
        "(Model access), or check the function's role.",
    ),
    "ResourceNotFoundException": (
        502,
        "knowledge_base_not_found",
        "The knowledge base or model was not found; run `ragstack status` to check the environment.",
    ),
    "ValidationException": (400, "rejected", "Bedrock rejected the request"),
}
MODEL_END_OF_LIFE = (
    503,
    "model_end_of_life",
    "A model this stack uses has reached its end of life in Bedrock, so no question can be answered. "
    "Its operator must choose an Active model in the environment file (`ragstack models` lists them) "
    "and run `ragstack deploy`.",
)
MODEL_LEGACY_ACCESS = (
    503,
    "model_legacy",
    "A model this stack uses is Legacy, and Bedrock no longer lets this account use it. Its operator "
    "must choose an Active model in the environment file (`ragstack models` lists them) and run "
    "`ragstack deploy`.",
)


# The vector store waking up (or answering too slowly): worth asking again in a few seconds.
WAKING_UP = (503, "waking_up", "The knowledge base is waking up after being idle; try again in a few seconds.")
RETRY_AFTER_SECONDS = 5
# Always a passing state: not in RetrieveAndGenerate's error list (botocore's bedrock-agent-runtime
# model), but what an AWS front end answers when a service cannot take the request.
UNAVAILABLE_CODES = {"ServiceUnavailableException", "ServiceUnavailable"}
# Errors of that list that also stand for other failures (a dependency misconfigured, an internal
# error, the request quota): a passing state only when Bedrock says it timed out or is resuming
# (as it does for a paused Aurora store: "... is resuming after being auto-paused. Please wait a
# few seconds and try again", quoted in aws-samples/bedrock-chat#858).
SLOW_DEPENDENCY_CODES = {"DependencyFailedException", "BadGatewayException", "InternalServerException",
                         "ThrottlingException"}
SLOW_WORDS = re.compile(r"timed?[ -]?out|timeout|resuming|auto-paused|waking|unavailable", re.IGNORECASE)


def waking_up(code, detail, http_status):
    """Whether Bedrock's error means the vector store is waking up or too slow to answer."""
    if code in UNAVAILABLE_CODES or http_status in (503, 504):
        return True
    return code in SLOW_DEPENDENCY_CODES and bool(SLOW_WORDS.search(detail or ""))


# A Classic collection does not sleep: a slow answer there is no wake-up, and the page and `ragstack
# ask` must not ask again by themselves (each try spends tokens).
TIMED_OUT = (503, "timed_out", "Bedrock did not answer in time; try again in a moment.")


def waking_up_error():
    # VECTOR_STORE_GENERATION is set by ragstack: NEXTGEN collections scale to zero when idle.
    if os.environ.get("VECTOR_STORE_GENERATION", "NEXTGEN") != "NEXTGEN":
        status, ours, message = TIMED_OUT
    else:
        status, ours, message = WAKING_UP
    return error(status, ours, message, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def handler(event, context):
    method = (event.get("httpMethod") or "").upper()
    resource = event.get("resource") or event.get("path") or ""
    if resource == "/rag" and method == "GET":
        return respond(200, page(), "text/html")
    if resource == "/rag/query" and method == "POST":
        return query(event)
    return error(404, "not_found", f"no route for {method} {resource}: use GET /rag or POST /rag/query")


def parse_body(event):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return json.loads(body) if body.strip() else {}


def query(event):
    try:
        data = parse_body(event)
    except (ValueError, UnicodeDecodeError):
        return error(400, "invalid_json", 'The body must be JSON: {"question": "..."}')
    if not isinstance(data, dict):
        return error(400, "invalid_json", 'The body must be a JSON object: {"question": "..."}')
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        return error(400, "missing_question", 'Ask something: {"question": "..."}')
    limit = max_question_chars()
    if len(question) > limit:
        return error(413, "question_too_long", f"The question has {len(question)} characters; the limit is {limit}.")
    session_id = data.get("sessionId")
    if session_id is not None and not isinstance(session_id, str):
        return error(400, "invalid_session", "sessionId must be a string returned by an earlier answer")

    request = {
        "input": {"text": question.strip()},
        "retrieveAndGenerateConfiguration": {
            "type": "KNOWLEDGE_BASE",
            "knowledgeBaseConfiguration": knowledge_base_configuration(),
        },
    }
    if session_id:
        request["sessionId"] = session_id
    try:
        out = client().retrieve_and_generate(**request)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        detail = e.response.get("Error", {}).get("Message", "")
        http_status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if waking_up(code, detail, http_status):
            print(json.dumps({"bedrock_error": code, "message": detail, "answered": "waking_up"}))
            return waking_up_error()
        # Bedrock answers a model the account may not use with a ValidationException ("You don't
        # have access to the model with the specified model ID."), not an AccessDeniedException.
        if code == "ValidationException" and "have access to the model" in detail.replace("do not", "don't"):
            code = "AccessDeniedException"
        # Bedrock keeps a session for a limited time and then refuses its id: ValidationException
        # "Session with Id ... is not valid. Please check and try again." (aws/aws-sdk#763). The
        # page asks the question again without it.
        if code == "ValidationException" and session_id and "Session with Id" in detail:
            return error(400, "session_expired", "The conversation has expired; ask again without its sessionId.")
        status, ours, message = BEDROCK_ERRORS.get(code, (502, "bedrock_error", "Bedrock could not answer"))
        # A model past its end of life: ResourceNotFoundException "This model version has reached
        # the end of its life." (Bedrock User Guide, "Model lifecycle"); a Legacy model the account
        # has not used lately: ResourceNotFoundException "Access denied. This Model is marked by
        # provider as Legacy ...". Neither is a missing knowledge base, and no retry helps.
        # Matched on the words whatever the code: how the agent runtime wraps Bedrock's answer is
        # not documented.
        if "end of its life" in detail:
            status, ours, message = MODEL_END_OF_LIFE
        elif code == "ResourceNotFoundException" and "Legacy" in detail:
            status, ours, message = MODEL_LEGACY_ACCESS
        if ours == "rejected" and detail:
            message = f"{message}: {detail}"
        print(json.dumps({"bedrock_error": code, "message": detail}))  # to the function's log
        return error(status, ours, message)
    except (ReadTimeoutError, ConnectTimeoutError) as e:
        # No answer within the timeouts: most likely the vector store waking up after idling.
        print(json.dumps({"bedrock_error": type(e).__name__, "message": str(e), "answered": "waking_up"}))
        return waking_up_error()
    except BotoCoreError as e:
        print(json.dumps({"bedrock_error": type(e).__name__, "message": str(e)}))
        return error(502, "bedrock_unreachable", "Bedrock could not be reached; try again.")

    return respond(
        200,
        {
            "answer": (out.get("output") or {}).get("text", ""),
            "sessionId": out.get("sessionId"),
            "citations": citations(out),
        },
    )


def citations(out):
    """Every distinct source the answer cites: its URI and the excerpt used."""
    seen, result = set(), []
    for citation in out.get("citations") or []:
        for ref in citation.get("retrievedReferences") or []:
            location = ref.get("location") or {}
            uri = (
                (location.get("s3Location") or {}).get("uri")
                or (location.get("webLocation") or {}).get("url")
                or location.get("type", "unknown source")
            )
            excerpt = (ref.get("content") or {}).get("text", "")
            if (uri, excerpt) not in seen:
                seen.add((uri, excerpt))
                result.append({"uri": uri, "excerpt": excerpt})
    return result
