"""Unit tests of templates/lambda/handler.py with botocore's Stubber (no network, no AWS).

Run by scripts/test: python -m unittest discover -s tests/lambda
"""
import importlib.util
import json
import os
import pathlib
import unittest

import boto3
from botocore.stub import Stubber

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_handler():
    spec = importlib.util.spec_from_file_location("handler", ROOT / "templates/lambda/handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


KB = "KB12345678"
MODEL = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"


def configure_environment():
    """The function's environment as ragstack sets it (no MAX_QUESTION_CHARS: the default)."""
    os.environ.update({"KNOWLEDGE_BASE_ID": KB, "GENERATION_MODEL_ARN": MODEL, "AWS_DEFAULT_REGION": "us-east-1"})
    os.environ.pop("MAX_QUESTION_CHARS", None)
    for var in ("NUMBER_OF_RESULTS", "SEARCH_TYPE", "GUARDRAIL_ID", "GUARDRAIL_VERSION", "TEMPERATURE", "MAX_TOKENS",
                "BEDROCK_READ_TIMEOUT_SECONDS", "VECTOR_STORE_GENERATION"):
        os.environ.pop(var, None)


def stubbed_handler():
    """The handler, freshly loaded, with its Bedrock client behind an active Stubber."""
    configure_environment()
    handler = load_handler()
    client = boto3.client(
        "bedrock-agent-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    handler._client = client
    stub = Stubber(client)
    stub.activate()
    return handler, stub


def post(body, raw=False):
    return {"httpMethod": "POST", "resource": "/rag/query", "body": body if raw else json.dumps(body)}


class HandlerTest(unittest.TestCase):
    def setUp(self):
        self.h, self.stub = stubbed_handler()

    def tearDown(self):
        self.stub.deactivate()
        configure_environment()

    def call(self, event):
        out = self.h.handler(event, None)
        return out["statusCode"], out["headers"]["Content-Type"], out["body"]

    def expect_request(self, question, session=None):
        params = {
            "input": {"text": question},
            "retrieveAndGenerateConfiguration": {
                "type": "KNOWLEDGE_BASE",
                "knowledgeBaseConfiguration": {"knowledgeBaseId": KB, "modelArn": MODEL},
            },
        }
        if session:
            params["sessionId"] = session
        return params

    def test_get_rag_serves_the_chat_page(self):
        status, ctype, body = self.call({"httpMethod": "GET", "resource": "/rag"})
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/html"))
        self.assertIn('<form id="ask">', body)

    def test_an_answer_comes_with_its_distinct_citations_and_session(self):
        ref = {
            "content": {"text": "Refunds take 5 days."},
            "location": {"type": "S3", "s3Location": {"uri": "s3://bucket/documents/refunds.md"}},
        }
        response = {
            "sessionId": "session-1",
            "output": {"text": "Refunds take five days."},
            "citations": [
                {"generatedResponsePart": {"textResponsePart": {"text": "Refunds take five days."}},
                 "retrievedReferences": [ref, ref]},
                {"retrievedReferences": [{"content": {"text": "Ask support."},
                                          "location": {"type": "S3", "s3Location": {"uri": "s3://bucket/documents/faq.md"}}}]},
            ],
        }
        self.stub.add_response("retrieve_and_generate", response, self.expect_request("How long do refunds take?"))
        status, _, body = self.call(post({"question": "  How long do refunds take?  "}))
        self.assertEqual(status, 200, body)
        data = json.loads(body)
        self.assertEqual(data["answer"], "Refunds take five days.")
        self.assertEqual(data["sessionId"], "session-1")
        self.assertEqual(
            data["citations"],
            [
                {"uri": "s3://bucket/documents/refunds.md", "excerpt": "Refunds take 5 days."},
                {"uri": "s3://bucket/documents/faq.md", "excerpt": "Ask support."},
            ],
        )
        self.stub.assert_no_pending_responses()

    def test_a_follow_up_sends_the_session_id(self):
        response = {"sessionId": "session-1", "output": {"text": "Yes."}, "citations": []}
        self.stub.add_response("retrieve_and_generate", response, self.expect_request("And in euros?", "session-1"))
        status, _, body = self.call(post({"question": "And in euros?", "sessionId": "session-1"}))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["citations"], [])
        self.stub.assert_no_pending_responses()

    def test_an_expired_session_is_its_own_error_so_the_page_can_ask_again_without_it(self):
        # Bedrock's answer to a session id it no longer knows (aws/aws-sdk#763).
        self.stub.add_client_error("retrieve_and_generate", service_error_code="ValidationException",
                                   service_message="Session with Id session-1 is not valid. Please check and try again.",
                                   http_status_code=400, expected_params=self.expect_request("And in euros?", "session-1"))
        status, _, body = self.call(post({"question": "And in euros?", "sessionId": "session-1"}))
        self.assertEqual((status, json.loads(body)["error"]["code"]), (400, "session_expired"), body)
        # Without a session, the same words are an ordinary rejection.
        self.stub.add_client_error("retrieve_and_generate", service_error_code="ValidationException",
                                   service_message="Session with Id x is not valid.", http_status_code=400)
        status, _, body = self.call(post({"question": "And in euros?"}))
        self.assertEqual((status, json.loads(body)["error"]["code"]), (400, "rejected"), body)
        self.stub.assert_no_pending_responses()

    def test_bad_requests_get_clear_json_errors_and_never_reach_bedrock(self):
        cases = [
            (post("not json", raw=True), 400, "invalid_json"),
            (post(["a list"]), 400, "invalid_json"),
            (post({}), 400, "missing_question"),
            (post({"question": "   "}), 400, "missing_question"),
            (post({"question": 42}), 400, "missing_question"),
            (post({"question": "x" * 1001}), 413, "question_too_long"),
            (post({"question": "ok", "sessionId": 7}), 400, "invalid_session"),
            ({"httpMethod": "DELETE", "resource": "/rag"}, 404, "not_found"),
        ]
        for event, status, code in cases:
            with self.subTest(code=code, event=event):
                got, ctype, body = self.call(event)
                self.assertEqual(got, status, body)
                self.assertTrue(ctype.startswith("application/json"))
                self.assertEqual(json.loads(body)["error"]["code"], code)
                self.assertTrue(json.loads(body)["error"]["message"])
        self.stub.assert_no_pending_responses()  # no call was expected, and none was made

    def test_the_question_limit_comes_from_the_environment(self):
        os.environ["MAX_QUESTION_CHARS"] = "10"
        status, _, body = self.call(post({"question": "x" * 11}))
        self.assertEqual(status, 413)
        self.assertIn("limit is 10", json.loads(body)["error"]["message"])

    def test_a_base64_body_is_decoded(self):
        import base64

        response = {"sessionId": "session-2", "output": {"text": "Hi."}, "citations": []}
        self.stub.add_response("retrieve_and_generate", response, self.expect_request("Hello?"))
        event = post(base64.b64encode(b'{"question": "Hello?"}').decode(), raw=True)
        event["isBase64Encoded"] = True
        status, _, body = self.call(event)
        self.assertEqual(status, 200, body)

    def test_bedrock_errors_become_statuses_a_person_can_act_on(self):
        cases = [
            ("ThrottlingException", 429, "throttled", "try again"),
            ("AccessDeniedException", 403, "model_access", "model access"),
            ("ResourceNotFoundException", 502, "knowledge_base_not_found", "ragstack status"),
            ("ValidationException", 400, "rejected", "input too long"),
            ("InternalServerException", 502, "bedrock_error", "could not answer"),
        ]
        for aws_code, status, code, words in cases:
            with self.subTest(aws_code=aws_code):
                self.stub.add_client_error(
                    "retrieve_and_generate", service_error_code=aws_code, service_message="input too long",
                    expected_params=self.expect_request("anything"),
                )
                got, _, body = self.call(post({"question": "anything"}))
                self.assertEqual(got, status, body)
                err = json.loads(body)["error"]
                self.assertEqual(err["code"], code)
                self.assertIn(words, err["message"])
        self.stub.assert_no_pending_responses()

    def test_a_model_the_account_may_not_use_is_a_model_access_error_not_a_bad_request(self):
        # Bedrock's own wording, as a ValidationException.
        self.stub.add_client_error(
            "retrieve_and_generate", service_error_code="ValidationException",
            service_message="You don't have access to the model with the specified model ID.",
            expected_params=self.expect_request("anything"),
        )
        got, _, body = self.call(post({"question": "anything"}))
        self.assertEqual(got, 403, body)
        err = json.loads(body)["error"]
        self.assertEqual(err["code"], "model_access")
        self.assertIn("model access", err["message"])
        self.stub.assert_no_pending_responses()

    def test_a_model_past_its_end_of_life_is_named_as_such_not_as_a_missing_knowledge_base(self):
        # Bedrock's answers, as the Bedrock User Guide ("Model lifecycle") and reports quote them.
        cases = [
            ("This model version has reached the end of its life. Please refer to the AWS documentation "
             "for more details.", "model_end_of_life", "end of life"),
            ("Access denied. This Model is marked by provider as Legacy and you have not been actively "
             "using the model in the last 30 days. Please upgrade to an active model on Amazon Bedrock",
             "model_legacy", "Legacy"),
        ]
        for message, code, words in cases:
            with self.subTest(code=code):
                self.stub.add_client_error(
                    "retrieve_and_generate", service_error_code="ResourceNotFoundException",
                    service_message=message, http_status_code=404,
                    expected_params=self.expect_request("anything"),
                )
                got, _, body = self.call(post({"question": "anything"}))
                self.assertEqual(got, 503, body)
                err = json.loads(body)["error"]
                self.assertEqual(err["code"], code)
                self.assertIn(words, err["message"])
                self.assertIn("ragstack models", err["message"])
        self.stub.assert_no_pending_responses()


if __name__ == "__main__":
    unittest.main()


class RetrievalSettingsTest(unittest.TestCase):
    """Each [retrieval] setting, as ragstack passes it, reaches RetrieveAndGenerate."""

    def tearDown(self):
        configure_environment()

    def test_a_managed_knowledge_base_gets_the_managed_search_configuration(self):
        os.environ.update({"NUMBER_OF_RESULTS": "8", "VECTOR_STORE_GENERATION": "MANAGED"})
        config = load_handler().knowledge_base_configuration()
        self.assertEqual(config["retrievalConfiguration"], {"managedSearchConfiguration": {"numberOfResults": 8}})
        # botocore's model accepts it (a boto3 without managed knowledge bases would not).
        client = boto3.client("bedrock-agent-runtime", region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="x")
        with Stubber(client) as stub:
            stub.add_response("retrieve_and_generate", {"sessionId": "session-3", "output": {"text": "ok"}},
                              {"input": {"text": "q"}, "retrieveAndGenerateConfiguration": {
                                  "type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": config}})
            client.retrieve_and_generate(input={"text": "q"}, retrieveAndGenerateConfiguration={
                "type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": config})

    def test_every_setting_reaches_retrieve_and_generate_and_unset_ones_are_left_to_bedrock(self):
        os.environ.update({"NUMBER_OF_RESULTS": "8", "SEARCH_TYPE": "HYBRID", "GUARDRAIL_ID": "abc123",
                           "GUARDRAIL_VERSION": "2", "TEMPERATURE": "0.2", "MAX_TOKENS": "512"})
        h = load_handler()
        h._prompt = "Answer from these passages only: $search_results$"
        config = h.knowledge_base_configuration()
        self.assertEqual(config, {
            "knowledgeBaseId": KB,
            "modelArn": MODEL,
            "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 8, "overrideSearchType": "HYBRID"}},
            "generationConfiguration": {
                "promptTemplate": {"textPromptTemplate": "Answer from these passages only: $search_results$"},
                "guardrailConfiguration": {"guardrailId": "abc123", "guardrailVersion": "2"},
                "inferenceConfig": {"textInferenceConfig": {"temperature": 0.2, "maxTokens": 512}},
            },
        })
        # Through the handler, validated by botocore's Stubber against the API model.
        client = boto3.client("bedrock-agent-runtime", region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="x")
        h._client = client
        with Stubber(client) as stub:
            stub.add_response("retrieve_and_generate", {"sessionId": "session-2", "output": {"text": "ok"}},
                              {"input": {"text": "q"}, "retrieveAndGenerateConfiguration": {
                                  "type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": config}})
            out = h.handler(post({"question": "q"}), None)
            self.assertEqual(out["statusCode"], 200, out["body"])
            stub.assert_no_pending_responses()

    def test_without_settings_the_request_is_bedrocks_defaults(self):
        configure_environment()
        h = load_handler()
        self.assertEqual(h.knowledge_base_configuration(), {"knowledgeBaseId": KB, "modelArn": MODEL})

    def test_the_prompt_template_is_read_from_prompt_txt_next_to_the_handler(self):
        import shutil
        import tempfile

        configure_environment()
        d = pathlib.Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, d)
        shutil.copy(ROOT / "templates/lambda/handler.py", d / "handler.py")
        (d / "prompt.txt").write_text("Use $search_results$.", encoding="utf-8")
        spec = importlib.util.spec_from_file_location("packaged_handler", d / "handler.py")
        h = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(h)
        self.assertEqual(h.knowledge_base_configuration()["generationConfiguration"],
                         {"promptTemplate": {"textPromptTemplate": "Use $search_results$."}})


class WakingUpTest(unittest.TestCase):
    """An idle environment's vector store takes 10-30 s to wake (OpenSearch Serverless scale to
    zero) and API Gateway gives up after 29 s: the function answers 503 waking_up first."""

    def setUp(self):
        self.h, self.stub = stubbed_handler()

    def tearDown(self):
        self.stub.deactivate()
        configure_environment()

    def ask(self):
        out = self.h.handler(post({"question": "anything"}), None)
        return out["statusCode"], out["headers"], json.loads(out["body"])

    def assert_waking_up(self, status, headers, body):
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"]["code"], "waking_up")
        self.assertIn("waking up after being idle", body["error"]["message"])
        self.assertEqual(headers.get("Retry-After"), "5")

    def test_the_client_waits_less_than_api_gateway_and_makes_one_attempt(self):
        h = load_handler()  # its own client, as in Lambda
        config = h.client().meta.config
        self.assertEqual((config.connect_timeout, config.read_timeout), (2.0, 23.0))
        self.assertLess(config.connect_timeout + config.read_timeout, 29 - 3, "room for the start and the answer")
        self.assertEqual(config.retries["total_max_attempts"], 1)
        for value, expected in [("5", 5.0), ("12.5", 12.5), ("soon", 23.0), ("0", 23.0), ("-4", 23.0),
                                ("inf", 23.0), ("nan", 23.0), ("", 23.0)]:
            with self.subTest(value=value):
                os.environ["BEDROCK_READ_TIMEOUT_SECONDS"] = value
                h = load_handler()
                self.assertEqual(h.client().meta.config.read_timeout, expected)

    def test_bedrock_saying_the_store_is_slow_or_unavailable_is_waking_up_with_retry_after(self):
        cases = [
            ("DependencyFailedException", "Request to the vector database timed out", 424),
            ("BadGatewayException", "Timeout while waiting for a response from the vector store", 502),
            ("InternalServerException", "The request timed out", 500),
            ("ThrottlingException", "Operation timed out, please retry", 429),
            ("DependencyFailedException", "The Aurora DB instance arn:aws:rds:us-east-1:123456789012:db:kb is "
             "resuming after being auto-paused. Please wait a few seconds and try again", 424),
            ("ServiceUnavailableException", "Service Unavailable", 503),
            ("InternalFailure", "", 504),
        ]
        for aws_code, message, http_status in cases:
            with self.subTest(aws_code=aws_code, message=message):
                self.stub.add_client_error("retrieve_and_generate", service_error_code=aws_code,
                                           service_message=message, http_status_code=http_status)
                self.assert_waking_up(*self.ask())
        self.stub.assert_no_pending_responses()

    def test_a_slow_answer_from_a_classic_store_is_timed_out_not_waking_up(self):
        # A Classic collection never sleeps: the page and ask must not retry on their own.
        os.environ["VECTOR_STORE_GENERATION"] = "CLASSIC"
        try:
            self.stub.add_client_error("retrieve_and_generate", service_error_code="ServiceUnavailableException",
                                       service_message="Service Unavailable", http_status_code=503)
            got, _, body = self.ask()
        finally:
            os.environ.pop("VECTOR_STORE_GENERATION", None)
        self.assertEqual((got, body["error"]["code"]), (503, "timed_out"), body)
        self.assertNotIn("waking", body["error"]["message"])
        self.stub.assert_no_pending_responses()

    def test_other_failures_of_the_same_codes_keep_their_answer_and_no_retry_after(self):
        cases = [
            ("ThrottlingException", "Rate exceeded", 429, 429, "throttled"),
            ("DependencyFailedException", "The knowledge base storage configuration provided is invalid", 424,
             502, "bedrock_error"),
            ("InternalServerException", "Internal server error", 500, 502, "bedrock_error"),
        ]
        for aws_code, message, http_status, status, code in cases:
            with self.subTest(aws_code=aws_code):
                self.stub.add_client_error("retrieve_and_generate", service_error_code=aws_code,
                                           service_message=message, http_status_code=http_status)
                got, headers, body = self.ask()
                self.assertEqual((got, body["error"]["code"]), (status, code), body)
                self.assertNotIn("Retry-After", headers)
        self.stub.assert_no_pending_responses()

    def test_a_connect_timeout_is_waking_up_and_an_unreachable_endpoint_is_not(self):
        from unittest import mock

        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

        url = "https://bedrock-agent-runtime.us-east-1.amazonaws.com/retrieveAndGenerate"
        self.h._client = mock.Mock()
        self.h._client.retrieve_and_generate.side_effect = ConnectTimeoutError(endpoint_url=url)
        self.assert_waking_up(*self.ask())
        self.h._client.retrieve_and_generate.side_effect = EndpointConnectionError(endpoint_url=url)
        status, headers, body = self.ask()
        self.assertEqual((status, body["error"]["code"]), (502, "bedrock_unreachable"))

    def test_a_bedrock_that_does_not_answer_in_time_gets_one_attempt_and_the_caller_a_503_in_time(self):
        import http.server
        import threading
        import time

        requests = []

        class Silent(http.server.BaseHTTPRequestHandler):
            """A Bedrock endpoint that takes longer than the function's read timeout."""

            def log_message(self, *args):
                pass

            def do_POST(self):
                requests.append(self.path)
                time.sleep(2)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Silent)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
        self.addCleanup(lambda: [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
                                 for k, v in saved.items()])
        os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
                           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                           "BEDROCK_READ_TIMEOUT_SECONDS": "0.5"})
        self.h = load_handler()  # the client as the function builds it, pointed at the silent endpoint
        started = time.monotonic()
        self.assert_waking_up(*self.ask())
        elapsed = time.monotonic() - started
        self.assertEqual(requests, ["/retrieveAndGenerate"], "one attempt: a retry would double the wait")
        self.assertLess(elapsed, 1.5, "the answer comes after the read timeout, not after Bedrock")
