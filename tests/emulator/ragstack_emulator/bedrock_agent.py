"""Bedrock agent (knowledge bases, data sources, ingestion jobs), restJson1, signing name `bedrock`.

Replaces moto's module, whose timestamps and status strings the Rust SDK cannot parse and which has
no data sources or ingestion jobs. Timestamps are ISO 8601 (the model's date-time format); states
advance lazily from monotonic timestamps. The rules AWS enforces and ragstack must survive:

- CreateKnowledgeBase: ValidationException while the role is younger than the IAM propagation
  delay; "storage configuration provided is invalid" (no such index, then 403 Forbidden) while the
  index or its data access policy is younger than the storage propagation delay; ValidationException when the vector index does not exist (`no such index`), when its
  vector field is not a faiss knn_vector, or when its dimension differs from the embedding model's.
- Knowledge bases on S3 Vectors (storageConfiguration.type S3_VECTORS): the index must exist in
  the emulator's S3 Vectors (s3vectors.py), be float32 and have the embedding model's dimension;
  ingestion fails the documents whose filterable metadata would exceed 2 KB (`_s3_vectors_failures`).
- Managed knowledge bases (knowledgeBaseConfiguration.type MANAGED): no storage configuration,
  data sources of type MANAGED_KNOWLEDGE_BASE_CONNECTOR only, created asynchronously (CREATING,
  then AVAILABLE), no chunking strategy with the managed embedding model.
- Ingestion jobs: STARTING -> IN_PROGRESS -> COMPLETE, statistics from the objects actually under
  the data source's bucket and inclusion prefix compared with the last completed job;
  ConflictException while a job is running on the data source. A job with failed documents still
  COMPLETEs, counting them in numberOfDocumentsFailed and naming them in failureReasons.
"""
import datetime
import json
import random
import re
import string
import threading
import time

from .errors import AwsError
from .errors import conflict as _conflict
from .errors import not_found as _not_found
from .errors import validation as _validation
from . import models

DEFAULT_DIMENSIONS = models.EMBEDDING_DIMENSIONS
CONFIGURABLE_DIMENSIONS = ("amazon.titan-embed-text-v2:0",)
NAME_RE = re.compile(r"^([0-9a-zA-Z][_-]?){1,100}$")
CHUNKING_STRATEGIES = ("FIXED_SIZE", "HIERARCHICAL", "SEMANTIC", "NONE")
STORAGE_PREFIX = "The knowledge base storage configuration provided is invalid... "
MANAGED_CONNECTOR = "MANAGED_KNOWLEDGE_BASE_CONNECTOR"
# What Bedrock writes into each vector of an S3 Vectors index: the chunk's text and its own
# metadata under these keys (the keys ragstack and others mark non-filterable: aws-solutions-
# library-samples/accelerated-intelligent-document-processing-on-aws PR #61, "AMAZON_BEDROCK_TEXT
# ... or else we hit the filterable byte cap"; the Bedrock User Guide's S3 Vectors set-up names
# them too, per our research notes, unconfirmed here). Metadata is filterable unless listed in the
# index's nonFilterableMetadataKeys, and "filterable metadata up to 2 KB" per vector (S3 User Guide,
# "Limitations and restrictions"); PutVectors refuses more with "Invalid record for key 'KEY':
# Filterable metadata must have at most 2048 bytes" (reported in langchain-ai/langchain-aws#693
# and run-llama/llama_index#21062).
BEDROCK_TEXT_KEY = "AMAZON_BEDROCK_TEXT"
BEDROCK_METADATA_KEY = "AMAZON_BEDROCK_METADATA"
FILTERABLE_LIMIT = 2048
METADATA_SUFFIX = ".metadata.json"


def _kb_type(body):
    return (body.get("knowledgeBaseConfiguration") or {}).get("type")


def check_dimension(dims, index_dims):
    """The embedding model's vector size must be the index's: the answer Bedrock gives for an
    OpenSearch index of another dimension (bedrock_agent's OpenSearch check, reused for S3 Vectors;
    that S3 Vectors is answered in the same words is our reading)."""
    if index_dims != dims:
        raise _validation(STORAGE_PREFIX + f"Query vector has invalid dimension: {dims}. Dimension should be: {index_dims}")


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _id():
    return "".join(random.choices(string.ascii_uppercase + string.digits, k=10))



def validate_chunking(config):
    """AWS's ranges for vectorIngestionConfiguration.chunkingConfiguration."""
    if not config:
        return
    chunking = config.get("chunkingConfiguration")
    if not chunking:
        return
    strategy = chunking.get("chunkingStrategy")
    if strategy not in CHUNKING_STRATEGIES:
        raise _validation(f"chunkingStrategy must be one of {list(CHUNKING_STRATEGIES)}")
    if strategy == "FIXED_SIZE":
        c = chunking.get("fixedSizeChunkingConfiguration") or {}
        if not (isinstance(c.get("maxTokens"), int) and c["maxTokens"] >= 1):
            raise _validation("fixedSizeChunkingConfiguration.maxTokens must be at least 1")
        if not (isinstance(c.get("overlapPercentage"), int) and 1 <= c["overlapPercentage"] <= 99):
            raise _validation("fixedSizeChunkingConfiguration.overlapPercentage must be between 1 and 99")
    elif strategy == "HIERARCHICAL":
        c = chunking.get("hierarchicalChunkingConfiguration") or {}
        levels = c.get("levelConfigurations") or []
        if len(levels) != 2:
            raise _validation("hierarchicalChunkingConfiguration.levelConfigurations must have exactly 2 items")
        for level in levels:
            if not (isinstance(level.get("maxTokens"), int) and 1 <= level["maxTokens"] <= 8192):
                raise _validation("levelConfigurations.maxTokens must be between 1 and 8192")
        if not (isinstance(c.get("overlapTokens"), int) and c["overlapTokens"] >= 1):
            raise _validation("hierarchicalChunkingConfiguration.overlapTokens must be at least 1")
    elif strategy == "SEMANTIC":
        c = chunking.get("semanticChunkingConfiguration") or {}
        if not (isinstance(c.get("maxTokens"), int) and c["maxTokens"] >= 1):
            raise _validation("semanticChunkingConfiguration.maxTokens must be at least 1")
        if c.get("bufferSize") not in (0, 1):
            raise _validation("semanticChunkingConfiguration.bufferSize must be between 0 and 1")
        if not (isinstance(c.get("breakpointPercentileThreshold"), int) and 50 <= c["breakpointPercentileThreshold"] <= 99):
            raise _validation("semanticChunkingConfiguration.breakpointPercentileThreshold must be between 50 and 99")


class KnowledgeBase:
    def __init__(self, account, region, body, delays):
        self.id = _id()
        self.account = account
        self.region = region
        self.body = body
        self.tags = dict(body.get("tags") or {})
        self.created = time.time()
        self.updated = self.created
        self.created_monotonic = time.monotonic()
        self.create_delay = delays["knowledge_base_create"]
        self.deleting_since = None
        self.delete_delay = delays["knowledge_base_delete"]
        self.data_sources = {}

    @property
    def arn(self):
        return f"arn:aws:bedrock:{self.region}:{self.account}:knowledge-base/{self.id}"

    def status(self, now):
        if self.deleting_since is not None:
            return "DELETING"
        return "CREATING" if now < self.created_monotonic + self.create_delay else "ACTIVE"

    def gone(self, now):
        return self.deleting_since is not None and now >= self.deleting_since + self.delete_delay

    def detail(self, now):
        d = {
            "knowledgeBaseId": self.id,
            "name": self.body["name"],
            "knowledgeBaseArn": self.arn,
            "roleArn": self.body["roleArn"],
            "knowledgeBaseConfiguration": self.body["knowledgeBaseConfiguration"],
            "status": self.status(now),
            "createdAt": _iso(self.created),
            "updatedAt": _iso(self.updated),
        }
        # A managed knowledge base has none ("No vector store configuration is required",
        # CreateKnowledgeBase's documentation): the member is left out, as the model allows.
        if self.body.get("storageConfiguration") is not None:
            d["storageConfiguration"] = self.body["storageConfiguration"]
        if self.body.get("description") is not None:
            d["description"] = self.body["description"]
        return d

    @property
    def managed(self):
        return _kb_type(self.body) == "MANAGED"

    @property
    def storage_type(self):
        return (self.body.get("storageConfiguration") or {}).get("type")


class DataSource:
    def __init__(self, kb, body, create_delay=0.0):
        self.id = _id()
        self.kb = kb
        self.body = body
        self.created = time.time()
        self.updated = self.created
        self.created_monotonic = time.monotonic()
        # "For managed knowledge bases, the CreateDataSource operation is asynchronous. The data
        # source status transitions from CREATING to AVAILABLE" (Bedrock User Guide, "Connect a
        # data source"); the others are AVAILABLE at once.
        self.create_delay = create_delay
        self.jobs = []
        # key -> etag as of the last completed ingestion
        self.indexed = {}
        # s3 URI -> text as of the last completed ingestion: what bedrock_runtime.py answers from
        self.texts = {}

    def status(self, now=None):
        now = time.monotonic() if now is None else now
        return "CREATING" if now < self.created_monotonic + self.create_delay else "AVAILABLE"

    def source(self):
        """(bucket, inclusion prefixes) the data source reads: s3Configuration's bucketArn, or a
        managed connector's connectionConfiguration.bucketName and filterConfiguration."""
        config = self.body["dataSourceConfiguration"]
        if config.get("type") == MANAGED_CONNECTOR:
            params = config["managedKnowledgeBaseConnectorConfiguration"]["connectorParameters"]
            prefixes = (params.get("filterConfiguration") or {}).get("inclusionPrefixes") or [""]
            return params["connectionConfiguration"]["bucketName"], prefixes
        s3 = config["s3Configuration"]
        return s3["bucketArn"].split(":::", 1)[1], s3.get("inclusionPrefixes") or [""]

    def detail(self):
        d = {
            "knowledgeBaseId": self.kb.id,
            "dataSourceId": self.id,
            "name": self.body["name"],
            "status": self.status(),
            "dataSourceConfiguration": self.body["dataSourceConfiguration"],
            "dataDeletionPolicy": self.body.get("dataDeletionPolicy", "DELETE"),
            "createdAt": _iso(self.created),
            "updatedAt": _iso(self.updated),
        }
        if self.body.get("vectorIngestionConfiguration"):
            d["vectorIngestionConfiguration"] = self.body["vectorIngestionConfiguration"]
        if self.body.get("description") is not None:
            d["description"] = self.body["description"]
        return d


class IngestionJob:
    def __init__(self, ds, snapshot, delays, description=None, failed=None):
        self.id = _id()
        # key -> why the document failed; a failed document is scanned but not indexed.
        self.failed = dict(failed or {})
        self.description = description
        self.ds = ds
        self.snapshot = snapshot
        self.texts = {}  # s3 URI -> the text this job read (start_ingestion_job)
        self.started = time.time()
        self.started_monotonic = time.monotonic()
        self.starting = delays["ingestion_starting"]
        self.running = delays["ingestion_in_progress"]
        before, now = ds.indexed, snapshot
        ok = {k: e for k, e in now.items() if k not in self.failed}
        self.statistics = {
            "numberOfDocumentsScanned": len(now),
            "numberOfMetadataDocumentsScanned": 0,
            "numberOfNewDocumentsIndexed": sum(1 for k in ok if k not in before),
            "numberOfModifiedDocumentsIndexed": sum(1 for k, e in ok.items() if k in before and before[k] != e),
            "numberOfMetadataDocumentsModified": 0,
            "numberOfDocumentsDeleted": sum(1 for k in before if k not in now),
            "numberOfDocumentsFailed": len(self.failed),
        }
        self.committed = False

    def status(self, now):
        elapsed = now - self.started_monotonic
        if elapsed < self.starting:
            return "STARTING"
        if elapsed < self.starting + self.running:
            return "IN_PROGRESS"
        if not self.committed:
            # What this job indexed is what the next job compares against; a failed document is
            # not in the knowledge base (and is new again to the next job).
            self.ds.indexed = {k: e for k, e in self.snapshot.items() if k not in self.failed}
            self.ds.texts = {u: t for u, t in self.texts.items() if u.split("/", 3)[3] not in self.failed}
            self.committed = True
        return "COMPLETE"

    def detail(self, now):
        status = self.status(now)
        done = status == "COMPLETE"
        # failureReasons: "A list of reasons that the ingestion job failed" (IngestionJob, API
        # model, at most 2048); AWS lists the failed documents' errors there while the job COMPLETEs.
        reasons = {"failureReasons": list(self.failed.values())[:2048]} if done and self.failed else {}
        return {
            **reasons,
            "knowledgeBaseId": self.ds.kb.id,
            "dataSourceId": self.ds.id,
            "ingestionJobId": self.id,
            **({"description": self.description} if self.description is not None else {}),
            "status": status,
            "statistics": self.statistics if done else {k: 0 for k in self.statistics},
            "startedAt": _iso(self.started),
            "updatedAt": _iso(time.time() if not done else self.started + self.starting + self.running),
        }


ROUTES = [
    ("PUT", r"^/knowledgebases/?$", "create_knowledge_base"),
    ("POST", r"^/knowledgebases/?$", "list_knowledge_bases"),
    ("GET", r"^/knowledgebases/(?P<kb>[^/]+)/?$", "get_knowledge_base"),
    ("PUT", r"^/knowledgebases/(?P<kb>[^/]+)/?$", "update_knowledge_base"),
    ("DELETE", r"^/knowledgebases/(?P<kb>[^/]+)/?$", "delete_knowledge_base"),
    ("PUT", r"^/knowledgebases/(?P<kb>[^/]+)/datasources/?$", "create_data_source"),
    ("POST", r"^/knowledgebases/(?P<kb>[^/]+)/datasources/?$", "list_data_sources"),
    ("GET", r"^/knowledgebases/(?P<kb>[^/]+)/datasources/(?P<ds>[^/]+)/?$", "get_data_source"),
    ("PUT", r"^/knowledgebases/(?P<kb>[^/]+)/datasources/(?P<ds>[^/]+)/?$", "update_data_source"),
    ("DELETE", r"^/knowledgebases/(?P<kb>[^/]+)/datasources/(?P<ds>[^/]+)/?$", "delete_data_source"),
    ("PUT", r"^/knowledgebases/(?P<kb>[^/]+)/datasources/(?P<ds>[^/]+)/ingestionjobs/?$", "start_ingestion_job"),
    ("POST", r"^/knowledgebases/(?P<kb>[^/]+)/datasources/(?P<ds>[^/]+)/ingestionjobs/?$", "list_ingestion_jobs"),
    ("GET", r"^/knowledgebases/(?P<kb>[^/]+)/datasources/(?P<ds>[^/]+)/ingestionjobs/(?P<job>[^/]+)/?$", "get_ingestion_job"),
    ("GET", r"^/tags/(?P<arn>arn:[^:]+:bedrock:.+:knowledge-base/.+)$", "list_tags_for_resource"),
    ("GET", r"^/foundation-models/(?P<model>[^/]+)/?$", "get_foundation_model"),
    ("GET", r"^/foundation-model-availability/(?P<model>[^/]+)/?$", "get_foundation_model_availability"),
    ("GET", r"^/inference-profiles/(?P<profile>[^/]+)/?$", "get_inference_profile"),
    ("GET", r"^/foundation-models/?$", "list_foundation_models"),
    ("GET", r"^/inference-profiles/?$", "list_inference_profiles"),
    ("GET", r"^/guardrails/(?P<guardrail>[^/]+)/?$", "get_guardrail"),
    ("POST", r"^/tags/(?P<arn>arn:[^:]+:bedrock:.+:knowledge-base/.+)$", "tag_resource"),
    ("DELETE", r"^/tags/(?P<arn>arn:[^:]+:bedrock:.+:knowledge-base/.+)$", "untag_resource"),
]

def operation_name(handler):
    """`create_knowledge_base` -> `CreateKnowledgeBase`, the AWS operation a handler serves."""
    return "".join(word.capitalize() for word in handler.split("_"))


def route(method, path, routes=None):
    """(handler name, path parameters) for a request matching one of `routes` (the knowledge-base
    ones by default), or None."""
    for m, pattern, name in routes or ROUTES:
        if m == method:
            match = re.match(pattern, path)
            if match:
                return name, match.groupdict()
    return None


class BedrockAgent:
    def __init__(self, settings, aoss, role_age, s3_objects, s3_text, s3vectors=None):
        self.settings = settings
        self.aoss = aoss
        self.s3vectors = s3vectors  # s3vectors.S3Vectors: the indexes an S3_VECTORS storage names
        self.role_age = role_age  # role ARN -> seconds since creation, or None when unknown
        self.s3_objects = s3_objects  # (account, bucket, prefix) -> {key: etag}
        self.s3_text = s3_text  # (account, bucket, key) -> the object's body as text
        self.kbs = {}  # (account, region) -> {id: KnowledgeBase}
        self.lock = threading.Lock()

    def handle(self, name, params, body, account, region):
        with self.lock:
            kbs = self.kbs.setdefault((account, region), {})
            now = time.monotonic()
            for kid in [k for k, kb in kbs.items() if kb.gone(now)]:
                del kbs[kid]
            return getattr(self, name)(kbs, params, body, account, region)

    def _kb(self, kbs, params):
        kb = kbs.get(params["kb"])
        if kb is None:
            raise _not_found(f"Knowledge base with id {params['kb']} does not exist")
        return kb

    def _ds(self, kb, params):
        ds = kb.data_sources.get(params["ds"])
        if ds is None:
            raise _not_found(f"Data source with id {params['ds']} does not exist")
        return ds

    # -- knowledge bases ----------------------------------------------------------------------

    def create_knowledge_base(self, kbs, params, body, account, region):
        name = body.get("name", "")
        if not NAME_RE.match(name):
            raise _validation(f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint")
        for kb in kbs.values():
            if kb.body.get("name") == name:
                raise _conflict(f"KnowledgeBase with name {name} already exists")
        age = self.role_age(body.get("roleArn", ""))
        if age is None or age < self.settings.delays["iam_propagation"]:
            raise _validation("Bedrock Knowledge Base was unable to assume the given role. Provide the correct permissions and try again.")
        kb_type = _kb_type(body)
        if kb_type == "MANAGED":
            self._check_managed(body)
        elif kb_type != "VECTOR":
            raise _validation("ragstack emulator supports knowledgeBaseConfiguration.type VECTOR and MANAGED only")
        else:
            self._check_vector_storage(body, account, region)
        kb = KnowledgeBase(account, region, body, self.settings.delays)
        kbs[kb.id] = kb
        return 202, {"knowledgeBase": kb.detail(time.monotonic())}

    @staticmethod
    def _check_managed(body):
        """A managed knowledge base (knowledgeBaseConfiguration.type MANAGED, "Choose MANAGED to
        create a managed knowledge base", the model's KnowledgeBaseType documentation)."""
        # "For managed knowledge bases ... No vector store configuration is required"
        # (CreateKnowledgeBase's documentation): that AWS refuses one is unconfirmed, our reading.
        if body.get("storageConfiguration") is not None:
            raise _validation("A storageConfiguration cannot be specified for a MANAGED knowledge base.")
        managed = (body.get("knowledgeBaseConfiguration") or {}).get("managedKnowledgeBaseConfiguration") or {}
        # "Choose CUSTOM to provide your own Bedrock embedding model ARN. Choose MANAGED to use a
        # service-managed embedding model" (the model); a service-managed model is the default
        # (Bedrock User Guide, "Create a managed knowledge base"), so none means MANAGED.
        kind = managed.get("embeddingModelType", "MANAGED")
        if kind == "CUSTOM" and not managed.get("embeddingModelArn"):
            raise _validation("embeddingModelArn is required when embeddingModelType is CUSTOM.")  # wording ours
        # The model says the embedding model configuration is "Not required when choosing the
        # MANAGED embeddingModelType"; refusing an embeddingModelArn then is our reading.
        if kind == "MANAGED" and managed.get("embeddingModelArn"):
            raise _validation("embeddingModelArn cannot be specified when embeddingModelType is MANAGED.")  # wording ours

    def _check_vector_storage(self, body, account, region):
        """A VECTOR knowledge base's embedding model against its vector store."""
        vector = (body.get("knowledgeBaseConfiguration") or {}).get("vectorKnowledgeBaseConfiguration") or {}
        model_arn = vector.get("embeddingModelArn", "")
        model_id = model_arn.rsplit("/", 1)[-1]
        sent_dims = ((vector.get("embeddingModelConfiguration") or {}).get("bedrockEmbeddingModelConfiguration") or {}).get("dimensions")
        # Only Titan Text Embeddings v2 has a choice of output sizes (Bedrock User Guide, supported
        # embedding models); the wording of this refusal is ours.
        if sent_dims is not None and model_id not in CONFIGURABLE_DIMENSIONS:
            raise _validation(f"The embedding model {model_id} does not support the dimensions parameter.")
        dims = sent_dims or DEFAULT_DIMENSIONS.get(model_id)
        storage = body.get("storageConfiguration") or {}
        if storage.get("type") == "S3_VECTORS":
            return self._check_s3_vectors(storage, dims, account, region)
        if storage.get("type") != "OPENSEARCH_SERVERLESS":
            raise _validation("ragstack emulator supports storageConfiguration.type OPENSEARCH_SERVERLESS and S3_VECTORS only")
        aoss = storage.get("opensearchServerlessConfiguration") or {}
        index = aoss.get("vectorIndexName", "")
        field = (aoss.get("fieldMapping") or {}).get("vectorField", "")
        schema = self.aoss.index_schema(account, region, aoss.get("collectionArn", ""), index)
        prefix = STORAGE_PREFIX
        if schema is None:
            raise _validation(prefix + f"no such index [{index}]")
        # Right after the index or its data access policy is created, Bedrock's own view of the
        # collection lags: CreateKnowledgeBase answers these two messages for a while (reported in
        # awslabs/agents-for-amazon-bedrock-blueprints#22 and awslabs/amazon-bedrock-agent-samples#37).
        settled = self.aoss.index_settled_for(account, region, aoss.get("collectionArn", ""), index)
        window = self.settings.delays["knowledge_base_storage_propagation"]
        if settled is not None and settled < window / 2:
            raise _validation(prefix + f"Request failed: [index_not_found_exception] no such index [{index}]")
        if settled is not None and settled < window:
            raise _validation(prefix + "Request failed: [security_exception] 403 Forbidden")
        mapping = ((schema.get("mappings") or {}).get("properties") or {}).get(field)
        if not mapping or mapping.get("type") != "knn_vector":
            raise _validation(prefix + f"The vector field {field} is not a knn_vector field of index {index}")
        engine = (mapping.get("method") or {}).get("engine")
        if engine != "faiss":
            raise _validation(prefix + f"The vector field {field} must use the faiss engine, not {engine}")
        check_dimension(dims, mapping.get("dimension"))

    def _check_s3_vectors(self, storage, dims, account, region):
        """storageConfiguration.s3VectorsConfiguration: either indexArn alone or vectorBucketArn
        with indexName (the oneOf of AWS::Bedrock::KnowledgeBase's S3VectorsConfiguration in the
        CloudFormation schema; botocore's model marks all three optional). The index must exist in
        the knowledge base's account and Region, hold float32 vectors (its only data type) and
        have the embedding model's dimension. The wording of these refusals is ours, after the
        OpenSearch ones above."""
        config = storage.get("s3VectorsConfiguration") or {}
        sent = {k for k in ("indexArn", "vectorBucketArn", "indexName") if config.get(k)}
        if sent not in ({"indexArn"}, {"vectorBucketArn", "indexName"}):
            raise _validation(
                STORAGE_PREFIX + "s3VectorsConfiguration must specify either indexArn, or vectorBucketArn and indexName"
            )
        index = self.s3vectors.find_index(
            account, region, config.get("indexArn"), config.get("vectorBucketArn"), config.get("indexName")
        ) if self.s3vectors else None
        if index is None:
            named = config.get("indexArn") or f"{config.get('vectorBucketArn')}/index/{config.get('indexName')}"
            raise _validation(STORAGE_PREFIX + f"The specified index could not be found: {named}")
        if index.data_type != "float32":
            raise _validation(STORAGE_PREFIX + f"The index {index.arn} must have dataType float32")
        check_dimension(dims, index.dimension)

    def get_knowledge_base(self, kbs, params, body, *_):
        return 200, {"knowledgeBase": self._kb(kbs, params).detail(time.monotonic())}

    def list_knowledge_bases(self, kbs, params, body, *_):
        now = time.monotonic()
        out = [
            {"knowledgeBaseId": kb.id, "name": kb.body["name"], "status": kb.status(now), "updatedAt": _iso(kb.updated)}
            for kb in sorted(kbs.values(), key=lambda k: k.body["name"])
        ]
        return 200, {"knowledgeBaseSummaries": out}

    def update_knowledge_base(self, kbs, params, body, *_):
        kb = self._kb(kbs, params)
        if body.get("storageConfiguration") != kb.body.get("storageConfiguration"):
            raise _validation("The storage configuration of a knowledge base cannot be updated")
        vec_old = kb.body["knowledgeBaseConfiguration"]
        if body.get("knowledgeBaseConfiguration") != vec_old:
            raise _validation("The embedding model configuration of a knowledge base cannot be updated")
        kb.body.update({k: body[k] for k in ("name", "description", "roleArn") if k in body})
        kb.updated = time.time()
        return 202, {"knowledgeBase": kb.detail(time.monotonic())}

    def delete_knowledge_base(self, kbs, params, body, *_):
        kb = self._kb(kbs, params)
        if kb.deleting_since is None:
            kb.deleting_since = time.monotonic()
        return 202, {"knowledgeBaseId": kb.id, "status": "DELETING"}

    # -- data sources -------------------------------------------------------------------------

    def create_data_source(self, kbs, params, body, *_):
        kb = self._kb(kbs, params)
        name = body.get("name", "")
        if not NAME_RE.match(name):
            raise _validation(f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint")
        if any(d.body["name"] == name for d in kb.data_sources.values()):
            raise _conflict(f"DataSource with name {name} already exists")
        config = body.get("dataSourceConfiguration") or {}
        if kb.managed:
            self._check_managed_data_source(kb, body)
        else:
            # MANAGED_KNOWLEDGE_BASE_CONNECTOR is the managed knowledge bases' type; that a VECTOR
            # one refuses it is our reading (S3DataSourceConfiguration, the model: "for self-managed
            # knowledge bases. To configure this data source for managed knowledge bases, use
            # managedKnowledgeBaseConnectorConfiguration"). The wording mirrors the reported one below.
            if config.get("type") == MANAGED_CONNECTOR:
                raise _validation(f"Unsupported data source type for VECTOR knowledge base type: {MANAGED_CONNECTOR}")
            s3 = config.get("s3Configuration") or {}
            if not s3.get("bucketArn", "").startswith("arn:aws:s3:::"):
                raise _validation("dataSourceConfiguration.s3Configuration.bucketArn is required")
            if len(s3.get("inclusionPrefixes") or []) > 1:
                raise _validation("Member must have length less than or equal to 1 (inclusionPrefixes)")
        if body.get("dataDeletionPolicy", "DELETE") not in ("RETAIN", "DELETE"):
            raise _validation("dataDeletionPolicy must be RETAIN or DELETE")
        # "For managed knowledge bases, the only supported option is DELETE, which is also the
        # default" (CreateDataSource, botocore's bedrock-agent model); the wording is ours.
        if kb.managed and body.get("dataDeletionPolicy", "DELETE") != "DELETE":
            raise _validation("For managed knowledge bases, the only supported dataDeletionPolicy is DELETE")
        validate_chunking(body.get("vectorIngestionConfiguration"))
        delay = self.settings.delays["managed_data_source_create"] if kb.managed else 0.0
        ds = DataSource(kb, body, delay)
        kb.data_sources[ds.id] = ds
        return 200, {"dataSource": ds.detail()}

    @staticmethod
    def _check_managed_data_source(kb, body):
        """A data source of a managed knowledge base: type MANAGED_KNOWLEDGE_BASE_CONNECTOR with
        managedKnowledgeBaseConnectorConfiguration.connectorParameters (required, with its `type`
        and `version`: Bedrock User Guide, "Connect a data source"). The S3 connector's parameters,
        connectionConfiguration {bucketName, bucketOwnerAccountId} and filterConfiguration
        {inclusionPrefixes}, are from third-party code that says it was verified against the
        User Guide's kb-managed-ds-s3.html (we could not read that page)."""
        config = body.get("dataSourceConfiguration") or {}
        if config.get("type") != MANAGED_CONNECTOR:
            # The reported answer for an S3 data source on a managed knowledge base.
            raise _validation("Unsupported data source type for MANAGED knowledge base type")
        params = (config.get("managedKnowledgeBaseConnectorConfiguration") or {}).get("connectorParameters")
        if not isinstance(params, dict):
            raise _validation("managedKnowledgeBaseConnectorConfiguration.connectorParameters is required")  # wording ours
        if not params.get("type") or not params.get("version"):
            raise _validation("connectorParameters must specify the connector's type and version")  # wording ours
        if params["type"] != "S3":
            raise _validation("ragstack emulator supports managed connectors of type S3 only")
        # "1" is the only version the documentation shows; refusing another is our reading.
        if str(params["version"]) != "1":
            raise _validation(f"Unsupported connector version {params['version']} for connector type S3")
        connection = params.get("connectionConfiguration") or {}
        if not connection.get("bucketName"):
            raise _validation("connectorParameters.connectionConfiguration.bucketName is required")  # wording ours
        owner = connection.get("bucketOwnerAccountId")
        if owner is not None and not re.match(r"^[0-9]{12}$", str(owner)):
            raise _validation("connectorParameters.connectionConfiguration.bucketOwnerAccountId must be a 12-digit account id")
        prefixes = (params.get("filterConfiguration") or {}).get("inclusionPrefixes")
        if prefixes is not None and not (isinstance(prefixes, list) and all(isinstance(x, str) for x in prefixes)):
            raise _validation("connectorParameters.filterConfiguration.inclusionPrefixes must be a list of strings")
        managed = (kb.body.get("knowledgeBaseConfiguration") or {}).get("managedKnowledgeBaseConfiguration") or {}
        chunking = (body.get("vectorIngestionConfiguration") or {}).get("chunkingConfiguration")
        if chunking and managed.get("embeddingModelType", "MANAGED") == "MANAGED":
            # The reported answer.
            raise _validation("A chunking strategy cannot be specified with a managed embedding model.")

    def get_data_source(self, kbs, params, body, *_):
        return 200, {"dataSource": self._ds(self._kb(kbs, params), params).detail()}

    def list_data_sources(self, kbs, params, body, *_):
        kb = self._kb(kbs, params)
        out = [
            {"knowledgeBaseId": kb.id, "dataSourceId": d.id, "name": d.body["name"], "status": d.status(), "updatedAt": _iso(d.updated)}
            for d in sorted(kb.data_sources.values(), key=lambda d: d.body["name"])
        ]
        return 200, {"dataSourceSummaries": out}

    def update_data_source(self, kbs, params, body, *_):
        ds = self._ds(self._kb(kbs, params), params)
        if body.get("vectorIngestionConfiguration") != ds.body.get("vectorIngestionConfiguration"):
            raise _validation("The chunking configuration of a data source cannot be updated")
        validate_chunking(body.get("vectorIngestionConfiguration"))
        kb = self._kb(kbs, params)
        if kb.managed and body.get("dataDeletionPolicy", "DELETE") != "DELETE":
            raise _validation("For managed knowledge bases, the only supported dataDeletionPolicy is DELETE")
        ds.body.update({k: body[k] for k in ("name", "description", "dataSourceConfiguration", "dataDeletionPolicy") if k in body})
        ds.updated = time.time()
        return 200, {"dataSource": ds.detail()}

    def delete_data_source(self, kbs, params, body, *_):
        kb = self._kb(kbs, params)
        ds = self._ds(kb, params)
        del kb.data_sources[ds.id]
        return 202, {"knowledgeBaseId": kb.id, "dataSourceId": ds.id, "status": "DELETING"}

    # -- ingestion jobs -----------------------------------------------------------------------

    def start_ingestion_job(self, kbs, params, body, account, region):
        kb = self._kb(kbs, params)
        ds = self._ds(kb, params)
        now = time.monotonic()
        if ds.status(now) != "AVAILABLE":
            # Our modelling (and wording): a managed data source still CREATING cannot sync yet.
            raise _validation(f"Data source {ds.id} is in {ds.status(now)} state. Wait until it is AVAILABLE and try again.")
        for other in kb.data_sources.values():
            for job in other.jobs:
                if job.status(now) in ("STARTING", "IN_PROGRESS"):
                    raise _conflict(
                        f"There is already an ongoing ingestion job {job.id} for knowledge base {kb.id}; "
                        "wait for it to finish before starting another"
                    )
        bucket, prefixes = ds.source()
        snapshot = {}
        for prefix in prefixes:
            snapshot.update(self.s3_objects(account, bucket, prefix))
        # Read now, with the etags: a later change in S3 reaches the knowledge base only by a sync.
        texts = {f"s3://{bucket}/{key}": self.s3_text(account, bucket, key) for key in snapshot}
        failed = self._s3_vectors_failures(kb, ds, texts, account, region) if kb.storage_type == "S3_VECTORS" else {}
        job = IngestionJob(ds, snapshot, self.settings.delays, body.get("description"), failed)
        job.texts = texts
        ds.jobs.append(job)
        return 202, {"ingestionJob": job.detail(now)}

    def _s3_vectors_failures(self, kb, ds, texts, account, region):
        """{key: reason} of the documents whose vectors S3 Vectors would refuse: Bedrock writes a
        chunk's text under AMAZON_BEDROCK_TEXT, its own metadata (source URI, data source) under
        AMAZON_BEDROCK_METADATA and each attribute of the document's metadata file under its own
        key, and every key not in the index's nonFilterableMetadataKeys counts toward the 2 KB of
        filterable metadata (see FILTERABLE_LIMIT). AWS checks each vector, that is each chunk;
        the emulator counts the whole document (our simplification: a document of more than 2 KB
        fails whatever its chunking). The document's metadata file is not a document itself. The
        reason is PutVectors' reported message; the `[Files: URI]` suffix is ours."""
        config = kb.body["storageConfiguration"].get("s3VectorsConfiguration") or {}
        index = self.s3vectors.find_index(
            account, region, config.get("indexArn"), config.get("vectorBucketArn"), config.get("indexName")
        ) if self.s3vectors else None
        if index is None:
            return {}  # an index deleted under the knowledge base: not modelled
        non_filterable = set(index.non_filterable_keys())
        failed = {}
        for uri, text in texts.items():
            if uri.endswith(METADATA_SUFFIX):
                continue
            size = 0
            if BEDROCK_TEXT_KEY not in non_filterable:
                size += len(text.encode())
            if BEDROCK_METADATA_KEY not in non_filterable:
                size += len(json.dumps({"source": uri, "dataSourceId": ds.id}).encode())
            try:
                attributes = json.loads(texts.get(uri + METADATA_SUFFIX) or "{}").get("metadataAttributes") or {}
            except (ValueError, AttributeError):
                attributes = {}
            for key, value in attributes.items() if isinstance(attributes, dict) else ():
                if key not in non_filterable:
                    size += len(key.encode()) + len(json.dumps(value).encode())
            if size > FILTERABLE_LIMIT:
                key = uri.split("/", 3)[3]
                chunk = "1%3A0%3A" + _id().lower()
                failed[key] = f"Invalid record for key '{chunk}': Filterable metadata must have at most {FILTERABLE_LIMIT} bytes [Files: {uri}]"
        return failed

    def get_ingestion_job(self, kbs, params, body, *_):
        ds = self._ds(self._kb(kbs, params), params)
        job = next((j for j in ds.jobs if j.id == params["job"]), None)
        if job is None:
            raise _not_found(f"Ingestion job {params['job']} does not exist")
        return 200, {"ingestionJob": job.detail(time.monotonic())}

    def list_ingestion_jobs(self, kbs, params, body, *_):
        """Newest first unless sortBy says otherwise; `filters` on STATUS (EQ, the model's one
        operator) and `maxResults` as the API model defines them (no pagination token: one page)."""
        ds = self._ds(self._kb(kbs, params), params)
        now = time.monotonic()
        details = [j.detail(now) for j in ds.jobs]
        for f in (body or {}).get("filters") or []:
            if f.get("attribute") == "STATUS":
                details = [d for d in details if d["status"] in f.get("values", [])]
        sort = (body or {}).get("sortBy") or {}
        key = "status" if sort.get("attribute") == "STATUS" else "startedAt"
        details.sort(key=lambda d: d[key], reverse=sort.get("order", "DESCENDING") == "DESCENDING")
        if (body or {}).get("maxResults"):
            details = details[: body["maxResults"]]
        return 200, {"ingestionJobSummaries": details}


    # -- foundation models (the bedrock control plane; ragstack's preflight asks for one) -------

    def get_foundation_model(self, kbs, params, body, account, region):
        return 200, {"modelDetails": models.details(self.settings, params["model"], region)}

    def list_foundation_models(self, kbs, params, body, account, region):
        return 200, {"modelSummaries": models.summaries(self.settings, region, params.get("_query", {}))}

    def get_foundation_model_availability(self, kbs, params, body, account, region):
        """Whether this account may use a model (GetFoundationModelAvailability; shape and values
        from the Amazon Bedrock API Reference: authorizationStatus AUTHORIZED | NOT_AUTHORIZED,
        agreementAvailability.status AVAILABLE | PENDING | NOT_AVAILABLE | ERROR,
        entitlementAvailability and regionAvailability AVAILABLE | NOT_AVAILABLE). `model_access`
        in the settings makes a model NOT_AUTHORIZED, AGREEMENT_PENDING or NOT_ENTITLED. A model
        past its end of life answers as before (models.py: undocumented, the conservative case)."""
        model = params["model"]
        if not models.known(model):
            raise _not_found(f"Model {model} was not found.")
        access = self.settings.model_access.get(model, "AUTHORIZED")
        return 200, {
            "modelId": model,
            "agreementAvailability": {"status": "PENDING" if access == "AGREEMENT_PENDING" else "AVAILABLE"},
            "authorizationStatus": "NOT_AUTHORIZED" if access == "NOT_AUTHORIZED" else "AUTHORIZED",
            "entitlementAvailability": "NOT_AVAILABLE" if access == "NOT_ENTITLED" else "AVAILABLE",
            "regionAvailability": "AVAILABLE",
        }

    def get_inference_profile(self, kbs, params, body, account, region):
        found = models.profile(params["profile"], region, account)
        if found is None:
            raise _not_found(f"Inference profile {params['profile']} was not found.")
        return 200, found

    def list_inference_profiles(self, kbs, params, body, account, region):
        """System-defined profiles only (ragstack creates no application profiles); one page."""
        kind = (params.get("_query", {}).get("type") or ["SYSTEM_DEFINED"])[0]
        found = models.profiles(region, account) if kind == "SYSTEM_DEFINED" else []
        return 200, {"inferenceProfileSummaries": found}

    def get_guardrail(self, kbs, params, body, account, region):
        """GetGuardrail (Amazon Bedrock API Reference): the guardrails of the `guardrails` setting
        exist, at the versions listed and at DRAFT; any other answers ResourceNotFoundException."""
        gid = params["guardrail"]
        version = (params.get("_query", {}).get("guardrailVersion") or ["DRAFT"])[0]
        known = {g.partition(":")[0]: set() for g in self.settings.guardrails}
        for g in self.settings.guardrails:
            gid_, _, v = g.partition(":")
            known[gid_].update({v, "DRAFT"} if v else {"DRAFT"})
        if version not in known.get(gid, set()):
            raise _not_found(f"Guardrail {gid} version {version} was not found.")
        now = _iso(time.time())
        return 200, {
            "name": gid, "guardrailId": gid, "version": version, "status": "READY",
            "guardrailArn": f"arn:aws:bedrock:{region}:{account}:guardrail/{gid}",
            "blockedInputMessaging": "Sorry, I cannot answer that.", "blockedOutputsMessaging": "Sorry, I cannot answer that.",
            "createdAt": now, "updatedAt": now,
        }

    # -- tags ---------------------------------------------------------------------------------

    @staticmethod
    def _tagged(kbs, params):
        kb = next((kb for kb in kbs.values() if kb.arn == params["arn"]), None)
        if kb is None:
            raise _not_found(f"Resource {params['arn']} does not exist")
        return kb

    def list_tags_for_resource(self, kbs, params, body, *_):
        return 200, {"tags": dict(sorted(self._tagged(kbs, params).tags.items()))}

    def tag_resource(self, kbs, params, body, *_):
        self._tagged(kbs, params).tags.update(body.get("tags") or {})
        return 200, {}

    def untag_resource(self, kbs, params, body, *_):
        kb = self._tagged(kbs, params)
        for key in params.get("_query", {}).get("tagKeys", []):
            kb.tags.pop(key, None)
        return 200, {}


def decode(body):
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise _validation("The request body is not valid JSON")
