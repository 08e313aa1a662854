"""Bedrock agent runtime: Retrieve and RetrieveAndGenerate, restJson1, signing name `bedrock`.

Paths and shapes follow botocore's `bedrock-agent-runtime` model (POST
/knowledgebases/{knowledgeBaseId}/retrieve, POST /retrieveAndGenerate). A knowledge base holds
what the last completed ingestion job of each of its data sources read from S3 (bedrock_agent.py
records the text with the etags when the job starts): a document changed or deleted in S3 is
answered as it was until the next sync, and a deleted data source takes its documents along.

What stands in for the models:
- Chunking by words as tokens, after the data source's chunking configuration: FIXED_SIZE's
  maxTokens and overlapPercentage, HIERARCHICAL's parent level (what retrieval returns, Bedrock
  User Guide, "How content chunking works"), SEMANTIC's maxTokens, NONE one chunk per file, and
  without a configuration Bedrock's default of about 300 tokens.
- Ranking is BM25 over lowercased words instead of vector similarity. A chunk sharing no word
  with the query is not returned (a vector store would return its nearest chunks anyway), so a
  question about nothing ingested finds nothing and gets Bedrock's no-answer text.
- Generation is extractive: the best-matching sentence of each of the best (up to 3) chunks,
  each cited. The model is still resolved and must be invocable (models.py) first.

Retrieval configurations (KnowledgeBaseRetrievalConfiguration, API model): a managed knowledge
base takes managedSearchConfiguration {numberOfResults, filter}, the others
vectorSearchConfiguration; each refuses the other's (`search_configuration`). HYBRID search is for
OpenSearch Serverless only.

Not modelled: nextToken paging, guardrails, prompt templates and inference settings (accepted and
ignored), reranking, implicit filters, image queries, EXTERNAL_SOURCES, session expiry and the
session's KMS key, RetrieveAndGenerateStream, RETAIN keeping a deleted data source's vectors.
Documents are read as UTF-8 text (no PDF or HTML parsing).
"""
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections import Counter

from . import bedrock_agent, models
from .errors import not_found as _not_found
from .errors import validation as _validation

ROUTES = [
    # knowledgeBaseId may be the knowledge base's ARN (KnowledgeBaseIdentifier's pattern), whose
    # encoded `/` arrives decoded.
    ("POST", r"^/knowledgebases/(?P<kb>.+)/retrieve/?$", "retrieve"),
    ("POST", r"^/retrieveAndGenerate/?$", "retrieve_and_generate"),
]
OPERATIONS = {"retrieve": "Retrieve", "retrieve_and_generate": "RetrieveAndGenerate"}

# Bedrock's output when nothing retrieved answers the question (the widely reported text).
NO_ANSWER = "Sorry, I am unable to assist you with this request."
# "By default, Amazon Bedrock returns up to five results" (User Guide, "Configure and customize
# queries and response generation").
DEFAULT_RESULTS = 5
# Default chunking: "chunks of approximately 300 tokens" (User Guide, "How content chunking works").
DEFAULT_CHUNK_TOKENS = 300
# A document's metadata file: `NAME.metadata.json` next to it, {"metadataAttributes": {...}}
# (User Guide, "Include metadata in a data source").
METADATA_SUFFIX = ".metadata.json"
STOPWORDS = frozenset(
    "a about an and are as at be by can could do does for from has have how i if in is it its me my of on or "
    "should tell that the their there this to was what when where which who why will with would you your".split()
)
K1, B = 1.2, 0.75  # BM25's usual parameters


def route(method, path):
    """(handler name, path parameters) for a runtime request, or None."""
    return bedrock_agent.route(method, path, ROUTES)


def s3_text(account, bucket, key):
    """An object's body as text from moto's S3 backend ('' when it is gone)."""
    from moto.s3.models import s3_backends

    try:
        return s3_backends[account]["aws"].get_bucket(bucket).keys[key].value.decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a missing bucket or key (or a delete marker) holds nothing
        return ""


def words(text):
    return [w for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS]


def chunk_size(vector_ingestion):
    """(max words per chunk or None for whole files, words of overlap)."""
    c = (vector_ingestion or {}).get("chunkingConfiguration") or {}
    strategy = c.get("chunkingStrategy")
    if strategy == "NONE":
        return None, 0
    if strategy == "FIXED_SIZE":
        f = c.get("fixedSizeChunkingConfiguration") or {}
        size = f.get("maxTokens", DEFAULT_CHUNK_TOKENS)
        return size, size * f.get("overlapPercentage", 0) // 100
    if strategy == "HIERARCHICAL":
        h = c.get("hierarchicalChunkingConfiguration") or {}
        levels = h.get("levelConfigurations") or [{}]
        return levels[0].get("maxTokens", DEFAULT_CHUNK_TOKENS), h.get("overlapTokens", 0)
    if strategy == "SEMANTIC":
        return (c.get("semanticChunkingConfiguration") or {}).get("maxTokens", DEFAULT_CHUNK_TOKENS), 0
    return DEFAULT_CHUNK_TOKENS, 0


def split(text, size, overlap):
    """The chunks of a text, as slices of it (its own spacing and line breaks kept)."""
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if not spans:
        return []
    if size is None:
        return [text.strip()]
    out, step = [], max(1, size - overlap)
    for start in range(0, len(spans), step):
        end = min(start + size, len(spans))
        out.append(text[spans[start][0] : spans[end - 1][1]])
        if end == len(spans):
            break
    return out


def _attribute(value):
    """A metadata attribute as Retrieve returns it: the typed form ({"value": {"type": "STRING",
    "stringValue": ...}}) unwrapped, numbers as floats (published responses show `'year': 2020.0`)."""
    if isinstance(value, dict):
        inner = value.get("value", value)
        if isinstance(inner, dict):
            typed = ("stringValue", "numberValue", "booleanValue", "stringListValue")
            inner = next((inner[k] for k in typed if k in inner), None)
        value = inner
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _sidecar(text):
    try:
        attributes = json.loads(text).get("metadataAttributes") or {}
    except (TypeError, ValueError, AttributeError):
        return {}
    return {k: _attribute(v) for k, v in attributes.items()} if isinstance(attributes, dict) else {}


# RetrievalFilter's operators on one attribute (API model; the API reference's wording for each).
COMPARE = {
    "equals": lambda a, v: a == v,
    "notEquals": lambda a, v: a != v,
    "greaterThan": lambda a, v: a > v,
    "greaterThanOrEquals": lambda a, v: a >= v,
    "lessThan": lambda a, v: a < v,
    "lessThanOrEquals": lambda a, v: a <= v,
    "in": lambda a, v: a in v,
    "notIn": lambda a, v: a not in v,
    "startsWith": lambda a, v: a.startswith(v),
    "listContains": lambda a, v: isinstance(a, list) and v in a,
    # "A string that contains the value as a substring", or "a list with a member that contains" it.
    "stringContains": lambda a, v: any(v in x for x in (a if isinstance(a, list) else [a])),
}


def matches(flt, metadata):
    """Whether a chunk's metadata passes a RetrievalFilter (a union: one operator, andAll or
    orAll). A missing attribute passes only notEquals ("The key is not present in the document");
    a comparison of unlike types fails."""
    if not flt:
        return True
    if "andAll" in flt:
        return all(matches(f, metadata) for f in flt["andAll"])
    if "orAll" in flt:
        return any(matches(f, metadata) for f in flt["orAll"])
    for op, test in COMPARE.items():
        if op in flt:
            key, value = flt[op].get("key"), flt[op].get("value")
            if key not in metadata:
                return op == "notEquals"
            try:
                return bool(test(metadata[key], value))
            except (TypeError, AttributeError):
                return False
    return True


def rank(chunks, query_words):
    """[(score, chunk)] best first, by BM25 scaled into (0, 1) like a similarity; chunks without a
    query word left out. Ties keep ingestion order."""
    terms = set(query_words)
    if not chunks or not terms:
        return []
    n = len(chunks)
    average = sum(c["length"] for c in chunks) / n or 1
    df = {t: sum(1 for c in chunks if t in c["counts"]) for t in terms}
    scored = []
    for c in chunks:
        s = 0.0
        for t in terms:
            tf = c["counts"].get(t, 0)
            if tf:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * c["length"] / average))
        if s > 0:
            scored.append((s / (1 + s), c))
    scored.sort(key=lambda pair: -pair[0])
    return scored


def reference(chunk):
    """RetrievedReference: content, location (type S3, s3Location.uri), metadata (API model);
    KnowledgeBaseRetrievalResult adds the score."""
    return {
        "content": {"text": chunk["text"], "type": "TEXT"},
        "location": {"type": "S3", "s3Location": {"uri": chunk["uri"]}},
        "metadata": dict(chunk["metadata"]),
    }


def citation(text, start, references):
    """Citation: generatedResponsePart.textResponsePart {text, span}, retrievedReferences (API
    model). Span's end is the index of the part's last character (a published response cites a
    320-character part as 0-319)."""
    span = {"start": start, "end": start + max(len(text) - 1, 0)}
    return {"generatedResponsePart": {"textResponsePart": {"text": text, "span": span}}, "retrievedReferences": references}


def best_sentence(text, terms):
    """The sentence with the most query words, of equals the longest (not a heading); a blank line
    ends a sentence too."""
    sentences = [" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text) if s.strip()]
    return max(sentences, key=lambda s: (len(terms & set(words(s))), len(s)), default="")


def answer(results, terms):
    """(output text, citations): the best-matching sentence of each of the best chunks (up to 3,
    those scoring at least half the best), each cited. Nothing retrieved: Bedrock's no-answer text,
    cited with no references (as published responses cite an answer without sources)."""
    if not results:
        return NO_ANSWER, [citation(NO_ANSWER, 0, [])]
    text, citations, used = "", [], set()
    for score, chunk in results[:3]:
        sentence = best_sentence(chunk["text"], terms)
        if score < results[0][0] / 2 or not sentence or sentence in used:
            continue
        used.add(sentence)
        start = len(text) + (1 if text else 0)
        text = f"{text} {sentence}" if text else sentence
        citations.append(citation(sentence, start, [reference(chunk)]))
    return text, citations


def resolve_model(settings, model_arn, region, account):
    """The foundation model id behind RetrieveAndGenerate's modelArn: a foundation model's ARN or
    id, or a system-defined inference profile's ARN or id (BedrockModelArn, API model)."""
    resource = model_arn.rsplit("/", 1)[-1]
    invalid = _validation("The provided model identifier is invalid.")
    if resource.partition(".")[0] in models.PROFILE_REGIONS:
        if models.profile(resource, region, account) is None:
            raise invalid
        return resource.partition(".")[2]
    if resource not in models.GENERATION or resource in settings.unavailable_models:
        raise invalid
    # A model offered through inference profiles only refuses on-demand calls by its own id (the
    # commonly reported answer; Bedrock User Guide, "Supported Regions and models for inference
    # profiles").
    if "ON_DEMAND" not in models.GENERATION[resource][5]:
        raise _validation(
            f"Invocation of model ID {resource} with on-demand throughput isn\u2019t supported. "
            "Retry your request with the ID or ARN of an inference profile that contains this model."
        )
    return resource


def search_configuration(kb, retrieval_configuration):
    """The search configuration a query to `kb` uses, or the ValidationException AWS answers."""
    config = retrieval_configuration or {}
    if kb.managed:
        # The reported answer (strands-agents/tools#539, mezmo/aura#499, awslabs/mcp#4574).
        if "vectorSearchConfiguration" in config:
            raise _validation(
                "Incompatible configuration: vectorSearchConfiguration is not supported for managed knowledge bases. "
                "Use managedSearchConfiguration instead."
            )
        # "By default, ... returns up to five results" holds for managed ones too (User Guide,
        # managed knowledge base query configuration: 5 by default, numberOfResults a maximum).
        return config.get("managedSearchConfiguration") or {}
    # The converse, a managedSearchConfiguration for a VECTOR knowledge base: no reported answer
    # found; the refusal and its wording are ours, after the reported one above.
    if "managedSearchConfiguration" in config:
        raise _validation(
            "Incompatible configuration: managedSearchConfiguration is supported for managed knowledge bases only. "
            "Use vectorSearchConfiguration instead."
        )
    search = config.get("vectorSearchConfiguration") or {}
    # "If you're using an Amazon OpenSearch Serverless vector store that contains a filterable text
    # field, you can specify ... HYBRID ... For other vector store configurations, only SEMANTIC
    # search is available" (overrideSearchType's documentation, API model). No reported answer for
    # another store was found: the refusal's wording is ours.
    if search.get("overrideSearchType") == "HYBRID" and kb.storage_type != "OPENSEARCH_SERVERLESS":
        raise _validation(
            f"HYBRID search is not supported for knowledge bases with storage type {kb.storage_type}. "
            "Only SEMANTIC search is available."
        )
    return search


class BedrockRuntime:
    def __init__(self, settings, agent):
        self.settings = settings
        self.agent = agent  # bedrock_agent.BedrockAgent: the knowledge bases and what they ingested
        self.sessions = {}  # (account, region, session id) -> the questions asked so far
        self.lock = threading.Lock()

    def handle(self, name, params, body, account, region):
        return getattr(self, name)(params, body, account, region)

    def _wake(self, kb, account, region):
        """A query to a knowledge base on a NextGen collection whose group scaled to zero waits
        `nextgen_cold_start` while capacity comes back (settings.py cites the developer guide),
        then counts as the group's activity."""
        arn = ((kb.body.get("storageConfiguration") or {}).get("opensearchServerlessConfiguration") or {}).get("collectionArn", "")
        aoss = self.agent.aoss
        with aoss.lock:
            st = aoss.state(account, region)
            collection = next((c for c in st.live_collections() if c.arn == arn), None)
            group = st.collection_groups.get(collection.group_id) if collection else None
            if group is None or group.generation != "NEXTGEN":
                return
            now = time.monotonic()
            idle = group.last_active is None or now - group.last_active >= self.settings.delays["nextgen_idle"]
            group.last_active = now
        if idle:
            time.sleep(self.settings.delays.get("nextgen_cold_start", 0.0))
            with aoss.lock:
                group.last_active = time.monotonic()  # awake from now on

    def _chunks(self, account, region, kb_id):
        """(the knowledge base, every chunk it holds); ResourceNotFoundException for an unknown one."""
        kb_id = kb_id.rsplit("/", 1)[-1]  # an ARN ends with the id
        with self.agent.lock:
            now = time.monotonic()
            kb = self.agent.kbs.get((account, region), {}).get(kb_id)
            if kb is None or kb.gone(now):
                # ResourceNotFoundException is in both operations' errors (API model); the wording is bedrock_agent.py's.
                raise _not_found(f"Knowledge base with id {kb_id} does not exist")
        self._wake(kb, account, region)
        with self.agent.lock:
            now = time.monotonic()
            sources = []
            for ds in kb.data_sources.values():
                for job in ds.jobs:
                    job.status(now)  # states advance lazily: a finished job commits what it read
                sources.append((ds.id, ds.body.get("vectorIngestionConfiguration"), dict(ds.texts)))
        chunks = []
        for ds_id, config, texts in sources:
            size, overlap = chunk_size(config)
            for uri, text in texts.items():
                if uri.endswith(METADATA_SUFFIX):
                    continue
                attributes = _sidecar(texts.get(uri + METADATA_SUFFIX))
                for i, piece in enumerate(split(text, size, overlap)):
                    found = words(piece)
                    # Built-in metadata as published responses show it; the chunk id's form is
                    # `1%3A0%3A` and an opaque 20-character document id.
                    chunk_id = "1%3A0%3A" + hashlib.sha1(f"{ds_id}:{uri}:{i}".encode()).hexdigest()[:20]
                    metadata = {
                        **attributes,
                        "x-amz-bedrock-kb-source-uri": uri,
                        "x-amz-bedrock-kb-chunk-id": chunk_id,
                        "x-amz-bedrock-kb-data-source-id": ds_id,
                    }
                    if kb.managed:
                        # "Managed knowledge bases expose data-source identity as `_data_source_id`,
                        # not the `x-amz-bedrock-kb-*` reserved keys"; a filter on those "matches
                        # nothing" (reported live in awslabs/mcp#4574). Which other built-in keys a
                        # managed knowledge base returns is not reported: none here.
                        metadata = {**attributes, "_data_source_id": ds_id}
                    chunks.append({"text": piece, "uri": uri, "metadata": metadata, "length": len(found), "counts": Counter(found)})
        return kb, chunks

    @staticmethod
    def _search(chunks, query_words, search):
        """The search configuration's filter (applied before ranking, as its documentation says)
        and numberOfResults."""
        kept = [c for c in chunks if matches(search.get("filter"), c["metadata"])]
        return rank(kept, query_words)[: search.get("numberOfResults", DEFAULT_RESULTS)]

    def retrieve(self, params, body, account, region):
        """Retrieve: retrievalResults of content, location, score and metadata (API model)."""
        kb, chunks = self._chunks(account, region, params["kb"])
        search = search_configuration(kb, body.get("retrievalConfiguration"))
        query = (body.get("retrievalQuery") or {}).get("text", "")
        results = self._search(chunks, words(query), search)
        return 200, {"retrievalResults": [dict(reference(c), score=score) for score, c in results]}

    def retrieve_and_generate(self, params, body, account, region):
        """RetrieveAndGenerate: output.text, citations and sessionId (API model)."""
        config = body.get("retrieveAndGenerateConfiguration") or {}
        kb_config = config.get("knowledgeBaseConfiguration")
        if config.get("type") != "KNOWLEDGE_BASE" or not kb_config:
            raise _validation("The ragstack emulator answers type KNOWLEDGE_BASE with a knowledgeBaseConfiguration only")
        kb, chunks = self._chunks(account, region, kb_config.get("knowledgeBaseId", ""))
        search = search_configuration(kb, kb_config.get("retrievalConfiguration"))
        session = body.get("sessionId")
        with self.lock:
            # Bedrock issues session ids; one it did not issue is refused (aws/aws-sdk#763).
            if session and (account, region, session) not in self.sessions:
                raise _validation(f"Session with Id {session} is not valid. Please check and try again.")
            history = list(self.sessions.get((account, region, session), []))
        model = resolve_model(self.settings, kb_config.get("modelArn", ""), region, account)
        models.invocable(self.settings, model, region)
        question = (body.get("input") or {}).get("text", "")
        # A follow-up is retrieved in the light of the conversation (the session's context, API
        # model): here the previous question's words join the new ones in the ranking.
        query = words(question) + (words(history[-1]) if history else [])
        results = self._search(chunks, query, search)
        text, citations = answer(results, set(query))
        with self.lock:
            session = session or str(uuid.uuid4())
            self.sessions.setdefault((account, region, session), []).append(question)
        return 200, {"output": {"text": text}, "citations": citations, "sessionId": session}
