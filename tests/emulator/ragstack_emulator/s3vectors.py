"""Amazon S3 Vectors control plane (restJson1, signing name `s3vectors`): vector buckets, vector
indexes and their tags.

Replaces moto's module, which deviates from AWS where ragstack looks: CreateVectorBucket and
CreateIndex answer `{}` without the ARN the model requires, a duplicate CreateIndex silently
replaces the index instead of ConflictException, metadataConfiguration and an index's
encryptionConfiguration are dropped, dimension 4096 is refused (its check is `>= 4096`), there is
no creationTime, and DeleteVectorBucket by ARN does nothing.

Shapes, paths and errors follow botocore's `s3vectors` model (2025-07-15, botocore 1.44.8): every
operation is `POST /<OperationName>` with its input as a JSON body, except the tag operations on
`/tags/{resourceArn}` (POST TagResource, GET ListTagsForResource, DELETE UntagResource with
`tagKeys` in the query), the ARN percent-encoded in the path. Timestamps are restJson's default,
epoch seconds. ConflictException is 409 and NotFoundException 404 (the model's error shapes);
ValidationException has no status in the model, so 400.

Not modelled: vectors (PutVectors, QueryVectors, GetVectors, ListVectors, DeleteVectors; Bedrock
writes the vectors of a knowledge base and bedrock_runtime.py answers from documents), bucket
policies, index modes, text search configurations, KMS key checks, quotas (10,000 buckets per
Region, 10,000 indexes per bucket: S3 User Guide, "Limitations and restrictions").
"""
import base64
import re
import threading
import time

from .errors import AwsError
from .errors import validation as _validation

# The messages moto 5.2.5 answers (moto/s3vectors/exceptions.py); AWS's own wording is unconfirmed.
BUCKET_NOT_FOUND = "The specified vector bucket could not be found"
INDEX_NOT_FOUND = "The specified index could not be found"
RESOURCE_NOT_FOUND = "The specified resource could not be found"
BUCKET_EXISTS = "A vector bucket with the specified name already exists"
BUCKET_NOT_EMPTY = "The specified vector bucket is not empty"
# Ours, in the same style (ConflictException: "vector bucket name or vector index name already
# exists", the model's documentation of the error).
INDEX_EXISTS = "A vector index with the specified name already exists"

# "Vector bucket names must be between 3 and 63 characters long ... can consist only of lowercase
# letters (a-z), numbers (0-9), and hyphens (-) ... must begin and end with a letter or number"
# (S3 User Guide, "Vector bucket naming rules"). The model's ARN pattern also allows a dot; the
# naming rules do not.
BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
# No AWS page states the index naming rules; this one is the IndexArn pattern of the API model
# (`index/[a-z0-9][a-z0-9-.]{1,61}[a-z0-9]`): 3-63 lowercase letters, digits, hyphens and dots,
# starting and ending with a letter or digit.
INDEX_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_ARN_RE = re.compile(r"^arn:(aws[-a-z0-9]*):s3vectors:([a-z0-9-]+):([0-9]{12}):bucket/([^/]+)$")
INDEX_ARN_RE = re.compile(r"^arn:(aws[-a-z0-9]*):s3vectors:([a-z0-9-]+):([0-9]{12}):bucket/([^/]+)/index/([^/]+)$")
# The model's enums and ranges (DataType, DistanceMetric, SseType, Dimension 1-4096); the S3 User
# Guide's limits page gives the same dimension range and "up to 10" non-filterable keys per index.
DATA_TYPES = ("float32",)
DISTANCE_METRICS = ("cosine", "euclidean")
SSE_TYPES = ("AES256", "aws:kms")
MAX_DIMENSION = 4096
MAX_NON_FILTERABLE_KEYS = 10
# "You can add up to 50 tags for each resource" (TagResource's documentation in the model).
MAX_TAGS = 50
DEFAULT_MAX_RESULTS = 500  # the model's maximum for ListVectorBuckets and ListIndexes; the default is our choice

OPERATIONS = (
    "CreateVectorBucket", "GetVectorBucket", "DeleteVectorBucket", "ListVectorBuckets",
    "CreateIndex", "GetIndex", "DeleteIndex", "ListIndexes",
    "TagResource", "UntagResource", "ListTagsForResource",
    # In the model but not served (see above): answered with the emulator's own refusal.
    "PutVectors", "GetVectors", "ListVectors", "DeleteVectors", "QueryVectors",
    "PutVectorBucketPolicy", "GetVectorBucketPolicy", "DeleteVectorBucketPolicy",
    "UpdateIndexMode", "PutVectorBucketDefaultIndexMode", "UpdateMetadataConfiguration",
)
TAG_OPERATIONS = {"POST": "TagResource", "GET": "ListTagsForResource", "DELETE": "UntagResource"}


def _not_found(message):
    return AwsError(404, "NotFoundException", message)


def _conflict(message):
    return AwsError(409, "ConflictException", message)


def operation_name(method, path):
    """The operation a request names: `POST /CreateIndex` -> CreateIndex, `/tags/ARN` by method;
    None for a path of no operation."""
    if path.startswith("/tags/"):
        return TAG_OPERATIONS.get(method)
    name = path.strip("/")
    return name if method == "POST" and name in OPERATIONS else None


def request_params(environ, body):
    """The operation's input: the JSON body, plus resourceArn from the path and tagKeys from the
    query for the tag operations (PATH_INFO arrives percent-decoded)."""
    import json
    from urllib.parse import parse_qs

    try:
        params = json.loads(body or b"{}")
    except ValueError:
        raise _validation("The request body is not valid JSON")
    if not isinstance(params, dict):
        raise _validation("The request body must be a JSON object")
    path = environ.get("PATH_INFO", "/")
    if path.startswith("/tags/"):
        params["resourceArn"] = path[len("/tags/"):]
        params["tagKeys"] = parse_qs(environ.get("QUERY_STRING", "")).get("tagKeys", [])
    return params


def _epoch(t):
    return round(t, 3)


class Index:
    def __init__(self, bucket, name, data_type, dimension, metric, metadata, encryption, tags):
        self.bucket = bucket
        self.name = name
        self.data_type = data_type
        self.dimension = dimension
        self.distance_metric = metric
        self.metadata_configuration = metadata
        # "By default, if you don't specify, all new vectors in the vector index will use the
        # encryption configuration of the vector bucket" (CreateIndex's encryptionConfiguration in
        # the model): GetIndex shows the bucket's then (that GetIndex reports it is our reading).
        self.encryption = encryption or dict(bucket.encryption)
        self.tags = dict(tags or {})
        self.created = time.time()

    @property
    def arn(self):
        return f"{self.bucket.arn}/index/{self.name}"

    def non_filterable_keys(self):
        return list((self.metadata_configuration or {}).get("nonFilterableMetadataKeys") or [])

    def detail(self):
        d = {
            "vectorBucketName": self.bucket.name,
            "indexName": self.name,
            "indexArn": self.arn,
            "creationTime": _epoch(self.created),
            "dataType": self.data_type,
            "dimension": self.dimension,
            "distanceMetric": self.distance_metric,
            "encryptionConfiguration": dict(self.encryption),
        }
        if self.metadata_configuration:
            d["metadataConfiguration"] = self.metadata_configuration
        return d

    def summary(self):
        return {"vectorBucketName": self.bucket.name, "indexName": self.name, "indexArn": self.arn, "creationTime": _epoch(self.created)}


class VectorBucket:
    def __init__(self, account, region, name, encryption, tags):
        self.account = account
        self.region = region
        self.name = name
        # "By default, if you don't specify, all new vectors in Amazon S3 vector buckets use
        # server-side encryption with Amazon S3 managed keys (SSE-S3), specifically AES256"
        # (SseType's documentation in the model).
        self.encryption = encryption or {"sseType": "AES256"}
        self.tags = dict(tags or {})
        self.created = time.time()
        self.indexes = {}

    @property
    def arn(self):
        # VectorBucketArn in the model; the VectorBucket resource type of the Service
        # Authorization Reference.
        return f"arn:aws:s3vectors:{self.region}:{self.account}:bucket/{self.name}"

    def detail(self):
        return {"vectorBucketName": self.name, "vectorBucketArn": self.arn, "creationTime": _epoch(self.created),
                "encryptionConfiguration": dict(self.encryption)}

    def summary(self):
        return {"vectorBucketName": self.name, "vectorBucketArn": self.arn, "creationTime": _epoch(self.created)}


def _encryption(config):
    """An encryptionConfiguration as sent, checked: kmsKeyArn "is allowed if and only if sseType
    is set to aws:kms" (the model's kmsKeyArn documentation)."""
    if config is None:
        return None
    sse = config.get("sseType", "AES256")
    if sse not in SSE_TYPES:
        raise _validation(f"Invalid sseType {sse!r}: allowed values are AES256 and aws:kms")
    if sse == "aws:kms" and not config.get("kmsKeyArn"):
        raise _validation("kmsKeyArn is required when sseType is aws:kms")
    if sse != "aws:kms" and config.get("kmsKeyArn"):
        raise _validation("kmsKeyArn is allowed only when sseType is aws:kms")
    out = {"sseType": sse}
    if config.get("kmsKeyArn"):
        out["kmsKeyArn"] = config["kmsKeyArn"]
    return out


def _tags(tags):
    tags = tags or {}
    if len(tags) > MAX_TAGS:
        raise _validation(f"A resource can have at most {MAX_TAGS} tags")
    return tags


def _page(items, params, key):
    """One page of `items` (sorted by key) after prefix, maxResults and nextToken."""
    prefix = params.get("prefix") or ""
    items = sorted((i for i in items if key(i).startswith(prefix)), key=key)
    token = params.get("nextToken")
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise _validation("The provided nextToken is not valid")
        items = [i for i in items if key(i) > after]
    limit = params.get("maxResults") or DEFAULT_MAX_RESULTS
    page, more = items[:limit], len(items) > limit
    next_token = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if more and page else None
    return page, next_token


class S3Vectors:
    def __init__(self, settings):
        self.settings = settings
        self.buckets = {}  # (account, region) -> {name: VectorBucket}
        self.lock = threading.Lock()

    def state(self, account, region):
        return self.buckets.setdefault((account, region), {})

    def handle(self, operation, params, account, region):
        """(status, JSON answer) of an operation; raises AwsError for AWS's error answers."""
        handler = getattr(self, "_" + re.sub(r"(?<!^)([A-Z])", r"_\1", operation or "").lower(), None) if operation in OPERATIONS else None
        if handler is None:
            if operation in OPERATIONS:
                raise _validation(f"The ragstack emulator does not serve the S3 Vectors operation {operation}")
            raise AwsError(404, "UnknownOperationException", "The requested operation is not recognized by the service")
        with self.lock:
            return 200, handler(self.state(account, region), params, account, region)

    # -- lookups ------------------------------------------------------------------------------

    @staticmethod
    def _bucket(buckets, params, account, region):
        """The bucket named by vectorBucketName or vectorBucketArn (exactly one of them)."""
        name, arn = params.get("vectorBucketName"), params.get("vectorBucketArn")
        if name and arn:
            # Both at once: the model's documentation says "either ... or"; the refusal is our reading.
            raise _validation("Specify either vectorBucketName or vectorBucketArn, not both")
        if arn:
            m = BUCKET_ARN_RE.match(arn)
            if not m:
                raise _validation(f"Invalid vector bucket ARN: {arn}")
            if (m.group(3), m.group(2)) != (account, region):
                raise _not_found(BUCKET_NOT_FOUND)
            name = m.group(4)
        if not name:
            raise _validation("Specify either vectorBucketName or vectorBucketArn")
        bucket = buckets.get(name)
        if bucket is None:
            raise _not_found(BUCKET_NOT_FOUND)
        return bucket

    def _index(self, buckets, params, account, region):
        """The index named by indexArn, or by its bucket and indexName."""
        arn = params.get("indexArn")
        if arn:
            if params.get("indexName") or params.get("vectorBucketName") or params.get("vectorBucketArn"):
                raise _validation("Specify either indexArn or the vector bucket and indexName, not both")
            m = INDEX_ARN_RE.match(arn)
            if not m:
                raise _validation(f"Invalid index ARN: {arn}")
            if (m.group(3), m.group(2)) != (account, region):
                raise _not_found(INDEX_NOT_FOUND)
            bucket = buckets.get(m.group(4))
            if bucket is None:
                raise _not_found(BUCKET_NOT_FOUND)
            name = m.group(5)
        else:
            if not params.get("indexName"):
                raise _validation("Specify either indexArn or the vector bucket and indexName")
            bucket = self._bucket(buckets, params, account, region)
            name = params["indexName"]
        index = bucket.indexes.get(name)
        if index is None:
            raise _not_found(INDEX_NOT_FOUND)
        return index

    def find_index(self, account, region, index_arn=None, bucket_arn=None, index_name=None):
        """The Index an S3 Vectors storage configuration names (bedrock_agent.py), or None."""
        params = {"indexArn": index_arn} if index_arn else {"vectorBucketArn": bucket_arn, "indexName": index_name}
        with self.lock:
            try:
                return self._index(self.state(account, region), params, account, region)
            except AwsError:
                return None

    def _resource(self, buckets, arn, account, region):
        """The bucket or index a tag operation's resourceArn names."""
        m = INDEX_ARN_RE.match(arn or "") or BUCKET_ARN_RE.match(arn or "")
        if not m or (m.group(3), m.group(2)) != (account, region):
            raise _not_found(RESOURCE_NOT_FOUND)
        bucket = buckets.get(m.group(4))
        resource = bucket.indexes.get(m.group(5)) if bucket and m.re is INDEX_ARN_RE else bucket
        if resource is None:
            raise _not_found(RESOURCE_NOT_FOUND)
        return resource

    # -- vector buckets -----------------------------------------------------------------------

    def _create_vector_bucket(self, buckets, p, account, region):
        name = p.get("vectorBucketName") or ""
        if not BUCKET_NAME_RE.match(name):
            raise _validation(
                f"Invalid vector bucket name {name!r}: a name is 3-63 lowercase letters, numbers and hyphens, "
                "beginning and ending with a letter or number"
            )
        # "vector bucket name ... already exists" (ConflictException's documentation in the model);
        # names are unique per account and Region (S3 User Guide, "Vector bucket naming rules").
        if name in buckets:
            raise _conflict(BUCKET_EXISTS)
        bucket = VectorBucket(account, region, name, _encryption(p.get("encryptionConfiguration")), _tags(p.get("tags")))
        buckets[name] = bucket
        return {"vectorBucketArn": bucket.arn}

    def _get_vector_bucket(self, buckets, p, account, region):
        return {"vectorBucket": self._bucket(buckets, p, account, region).detail()}

    def _delete_vector_bucket(self, buckets, p, account, region):
        bucket = self._bucket(buckets, p, account, region)
        # "All vector indexes in the vector bucket must be deleted before the vector bucket can be
        # deleted" (DeleteVectorBucket's documentation; ConflictException is among its errors).
        if bucket.indexes:
            raise _conflict(BUCKET_NOT_EMPTY)
        del buckets[bucket.name]  # its tags go with it
        return {}

    def _list_vector_buckets(self, buckets, p, account, region):
        page, token = _page(buckets.values(), p, lambda b: b.name)
        out = {"vectorBuckets": [b.summary() for b in page]}
        if token:
            out["nextToken"] = token
        return out

    # -- indexes ------------------------------------------------------------------------------

    def _create_index(self, buckets, p, account, region):
        name = p.get("indexName") or ""
        if not INDEX_NAME_RE.match(name):
            raise _validation(
                f"Invalid index name {name!r}: a name is 3-63 lowercase letters, numbers, hyphens and dots, "
                "beginning and ending with a letter or number"
            )
        if p.get("dataType") not in DATA_TYPES:
            raise _validation(f"Invalid dataType {p.get('dataType')!r}: allowed values are float32")
        dimension = p.get("dimension")
        if isinstance(dimension, bool) or not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION:
            raise _validation(f"Invalid dimension {dimension!r}: the dimension must be between 1 and {MAX_DIMENSION}")
        if p.get("distanceMetric") not in DISTANCE_METRICS:
            raise _validation(f"Invalid distanceMetric {p.get('distanceMetric')!r}: allowed values are cosine and euclidean")
        metadata = p.get("metadataConfiguration")
        if metadata is not None:
            keys = metadata.get("nonFilterableMetadataKeys")
            # 1-10 keys (the S3 Vectors API reference and the CloudFormation schema of
            # AWS::S3Vectors::Index; the botocore model says 0-10); each key 1-63 characters.
            if keys is not None and not 1 <= len(keys) <= MAX_NON_FILTERABLE_KEYS:
                raise _validation(f"nonFilterableMetadataKeys must have between 1 and {MAX_NON_FILTERABLE_KEYS} keys")
            if keys is not None and len(set(keys)) != len(keys):
                raise _validation("nonFilterableMetadataKeys must not repeat a key")  # ours
        bucket = self._bucket(buckets, p, account, region)
        # ConflictException "vector bucket name or vector index name already exists" (the model).
        if name in bucket.indexes:
            raise _conflict(INDEX_EXISTS)
        index = Index(bucket, name, p["dataType"], dimension, p["distanceMetric"], metadata,
                      _encryption(p.get("encryptionConfiguration")), _tags(p.get("tags")))
        bucket.indexes[name] = index
        return {"indexArn": index.arn}

    def _get_index(self, buckets, p, account, region):
        return {"index": self._index(buckets, p, account, region).detail()}

    def _delete_index(self, buckets, p, account, region):
        index = self._index(buckets, p, account, region)
        del index.bucket.indexes[index.name]  # its tags go with it
        return {}

    def _list_indexes(self, buckets, p, account, region):
        bucket = self._bucket(buckets, p, account, region)
        page, token = _page(bucket.indexes.values(), p, lambda i: i.name)
        out = {"indexes": [i.summary() for i in page]}
        if token:
            out["nextToken"] = token
        return out

    # -- tags ---------------------------------------------------------------------------------

    def _tag_resource(self, buckets, p, account, region):
        resource = self._resource(buckets, p.get("resourceArn"), account, region)
        merged = dict(resource.tags, **(p.get("tags") or {}))
        resource.tags = _tags(merged)
        return {}

    def _untag_resource(self, buckets, p, account, region):
        resource = self._resource(buckets, p.get("resourceArn"), account, region)
        for key in p.get("tagKeys") or []:
            resource.tags.pop(key, None)
        return {}

    def _list_tags_for_resource(self, buckets, p, account, region):
        return {"tags": dict(sorted(self._resource(buckets, p.get("resourceArn"), account, region).tags.items()))}
