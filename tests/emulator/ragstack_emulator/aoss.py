"""OpenSearch Serverless control plane (awsJson1_0, target prefix `OpenSearchServerless.`).

Replaces moto's module, which with the Rust SDK fails CreateCollection for an AWSOwnedKey
encryption policy and lacks access policies, policy deletion and the index API. Shapes follow the
AWS API model (aws-sdk-opensearchserverless); states advance lazily from timestamps, so there are
no background threads and a read always sees the state AWS would report at that moment.

Collection groups (CreateCollectionGroup and its siblings) and the two generations, CLASSIC and
NEXTGEN, follow botocore's `opensearchserverless` model (2021-11-01) and the OpenSearch Serverless
developer guide: "Amazon OpenSearch Serverless collection groups", "Collection group capacity
limits" and "Scale to zero for Amazon OpenSearch Serverless". Each behaviour cites its source.
"""
import fnmatch
import json
import random
import re
import string
import threading
import time
import uuid

from .errors import AwsError
from .errors import conflict as _conflict
from .errors import not_found as _not_found
from .errors import validation as _validation

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{2,31}$")
SECURITY_POLICY_TYPES = ("encryption", "network")
COLLECTION_TYPES = ("SEARCH", "TIMESERIES", "VECTORSEARCH")

GENERATIONS = ("CLASSIC", "NEXTGEN")
CAPACITY_FIELDS = ("maxIndexingCapacityInOCU", "maxSearchCapacityInOCU", "minIndexingCapacityInOCU", "minSearchCapacityInOCU")
# "If you don't specify a maximum OCU limit, OpenSearch Serverless uses a default value of 96 OCUs"
# (developer guide, "Collection group capacity limits"); "NextGen collection groups default to a
# minimum OCU of 0 for both indexing and search unless otherwise specified" (developer guide,
# "Scale to zero"). Classic groups "do not support a minimum of 0"; the guide names no Classic
# default, so the emulator takes the smallest Classic value, 1 (our choice).
DEFAULT_MAX_OCU = 96.0
DEFAULT_MIN_OCU = {"CLASSIC": 1.0, "NEXTGEN": 0.0}
# The values a group's limits may take (developer guide, "Collection group capacity limits", valid
# capacity limit values): NextGen 0, 2, 4, 8, 16 and multiples of 16 up to 1,696; Classic the same
# with 1 instead of 0. The cost optimization page of the guide gives the same two sets.
_OCU_STEPS = {2.0, 4.0, 8.0} | {16.0 * k for k in range(1, 1696 // 16 + 1)}
ALLOWED_OCU = {"NEXTGEN": _OCU_STEPS | {0.0}, "CLASSIC": _OCU_STEPS | {1.0}}
# What an active NextGen group with a minimum of 0 runs: "When traffic resumes, OpenSearch
# Serverless provisions workers ...: Search requests - two search workers; Indexing requests - one
# indexing worker" (developer guide, "Scale to zero"). Counting a worker as one OCU is our reading.
NEXTGEN_WAKE_OCU = {"indexing": 1.0, "search": 2.0}

INDEX_PERMISSIONS = {
    "CreateIndex": "aoss:CreateIndex",
    "GetIndex": "aoss:DescribeIndex",
    "UpdateIndex": "aoss:UpdateIndex",
    "DeleteIndex": "aoss:DeleteIndex",
}


# OpenSearch leaves a mapping parameter out of GET when it equals its default (mapping parameter
# docs: `index` defaults to true); settings come back as strings, nested under `index`, with
# settings OpenSearch adds itself (GET <index> on any OpenSearch 2.x domain shows the same).
MAPPING_DEFAULTS = {"text": {"index": True, "store": False}, "keyword": {"index": True, "store": False}}


def _stringly(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return {k: _stringly(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringly(v) for v in value]
    return str(value)


def _flat(settings, prefix=""):
    out = {}
    for k, v in settings.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def _nest(flat):
    """Dotted keys as nested objects; a key that is a value and a prefix at once (`knn`,
    `knn.algo_param.ef_search`) keeps the next part joined (`knn.algo_param`), as OpenSearch does."""
    out, groups = {}, {}
    for k, v in flat.items():
        if "." not in k:
            out[k] = v
    for k, v in flat.items():
        if "." in k:
            head, rest = k.split(".", 1)
            if head in out and not isinstance(out[head], dict) and "." in rest:
                second, rest = rest.split(".", 1)
                head = f"{head}.{second}"
            elif head in out and not isinstance(out[head], dict):
                out[k] = v
                continue
            groups.setdefault(head, {})[rest] = v
    for head, sub in groups.items():
        out[head] = _nest(sub)
    return out


def stored_form(schema, name, created_ms, index_uuid):
    """The index as GetIndex returns it: the way OpenSearch stores it, not the way it was sent."""
    settings = {}
    for k, v in _flat(schema.get("settings") or {}).items():
        settings[k[len("index."):] if k.startswith("index.") else k] = _stringly(v)
    settings.update(
        {
            "number_of_shards": "2",
            "number_of_replicas": "0",
            "uuid": index_uuid,
            "creation_date": str(created_ms),
            "provided_name": name,
            "version.created": "136327827",
        }
    )
    properties = {}
    for field, mapping in ((schema.get("mappings") or {}).get("properties") or {}).items():
        defaults = MAPPING_DEFAULTS.get(mapping.get("type"), {})
        properties[field] = {k: v for k, v in mapping.items() if k not in defaults or defaults[k] != v}
    mappings = dict(schema.get("mappings") or {}, properties=properties)
    return {"settings": {"index": _nest(settings)}, "mappings": mappings}


def nextgen_schema(schema):
    """The schema a NextGen collection stores, or ValidationException where NextGen refuses it.

    NextGen refuses a knn_vector field that names its engine: "400: Field parameter 'engine' is
    not supported" for `method: {name: hnsw, engine: faiss}`, while the same mapping without the
    engine succeeds (tested live on a Classic and a NextGen collection in
    opensearch-project/opensearch-agent-skills PR #78, 2026-07-17; the same answer,
    `illegal_argument_exception`, in awslabs/graphrag-toolkit issue #359 and PR #391, "NextGen
    rejects the engine/method fields Classic requires"). #359 says NextGen removed the `engine`
    parameter from knn_vector mappings, so a top-level `engine` (k-NN's other spelling, k-NN PR
    #2736) is refused too; that case is our reading, not a reported answer.

    A method without an engine is stored with the engine NextGen picks, faiss: k-NN writes a
    method's resolved engine back into the mapping (KNNMethodContext.toXContent) and faiss is its
    default (opensearch-project/documentation-website PR #8620; nmslib is deprecated in 3.x). A
    field without a method is stored as sent: OpenSearch leaves its defaults out of GET
    (opensearch-project/ml-commons issue #4161). That NextGen's GetIndex answers exactly so is
    our reading: the reports above show only the refusal.
    """
    stored = json.loads(json.dumps(schema))

    def walk(properties):
        for mapping in properties.values():
            if not isinstance(mapping, dict):
                continue
            method = mapping.get("method")
            if mapping.get("type") == "knn_vector":
                if "engine" in mapping or (isinstance(method, dict) and "engine" in method):
                    raise _validation("Field parameter 'engine' is not supported")
                if isinstance(method, dict):
                    method["engine"] = "faiss"
            if isinstance(mapping.get("properties"), dict):
                walk(mapping["properties"])

    walk((stored.get("mappings") or {}).get("properties") or {})
    return stored


def _now_ms():
    return int(time.time() * 1000)


def _random_id():
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=20))


class Policy:
    def __init__(self, type_, name, document, description):
        self.type = type_
        self.name = name
        self.document = document
        self.description = description
        self.version = uuid.uuid4().hex[:20]
        self.created = _now_ms()
        self.modified = self.created
        self.modified_monotonic = time.monotonic()

    def detail(self):
        d = {
            "type": self.type,
            "name": self.name,
            "policyVersion": self.version,
            "policy": self.document,
            "createdDate": self.created,
            "lastModifiedDate": self.modified,
        }
        if self.description is not None:
            d["description"] = self.description
        return d

    def summary(self):
        d = self.detail()
        d.pop("policy")
        return d


def _tag_list(tags):
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


class CollectionGroup:
    """A collection group: capacity limits shared by its collections, and their generation."""

    def __init__(self, account, region, name, standby, generation, limits, description, tags):
        self.id = _random_id()
        self.account = account
        self.region = region
        self.name = name
        self.standby = standby
        self.generation = generation
        self.limits = limits
        self.description = description
        self.tags = dict(tags)
        self.created = _now_ms()
        self.modified = self.created
        # When one of its collections last had a request (monotonic), for scale to zero.
        self.last_active = None

    @property
    def arn(self):
        # The CollectionGroup resource type of the Service Authorization Reference:
        # arn:${Partition}:aoss:${Region}:${Account}:collection-group/${CollectionGroupId}.
        return f"arn:aws:aoss:{self.region}:{self.account}:collection-group/{self.id}"

    def current_capacity(self, members, now, idle_after):
        """CurrentCapacity: what the group runs now (developer guide, collection group capacity
        limits and scale to zero). An empty group runs nothing ("Empty collection groups do not
        consume OCUs"). A NextGen group whose collections had no request for `idle_after` seconds
        ("After 10 minutes of no incoming requests across all collections in the group ... This
        idle period is not configurable") runs its minimum, which is zero for scale to zero; an
        active one at least the workers it wakes with. A Classic group keeps its minimum
        (scale to zero "is only available for NextGen collections"). Search and indexing wake
        independently on AWS; the emulator serves neither, so a request to any collection wakes
        both. autoscalingStatus is always NO_ACTION: nothing scales in the emulator."""
        idle = self.last_active is None or now - self.last_active >= idle_after
        out = {}
        for kind, field in (("indexing", "Indexing"), ("search", "Search")):
            low, high = self.limits[f"min{field}CapacityInOCU"], self.limits[f"max{field}CapacityInOCU"]
            if not members:
                value = 0.0
            elif self.generation == "NEXTGEN" and not idle:
                value = min(max(low, NEXTGEN_WAKE_OCU[kind]), high)
            else:
                value = low
            out[kind] = {"capacityInOcu": value, "autoscalingStatus": "NO_ACTION"}
        return out

    def _common(self):
        d = {"id": self.id, "arn": self.arn, "name": self.name}
        if self.description is not None:
            d["description"] = self.description
        return d

    def create_detail(self):
        return dict(
            self._common(),
            standbyReplicas=self.standby,
            tags=_tag_list(self.tags),
            createdDate=self.created,
            capacityLimits=dict(self.limits),
            generation=self.generation,
        )

    def detail(self, members, now, idle_after):
        return dict(
            self.create_detail(),
            currentCapacity=self.current_capacity(members, now, idle_after),
            numberOfCollections=len(members),
        )

    def update_detail(self):
        return dict(
            self._common(),
            capacityLimits=dict(self.limits),
            createdDate=self.created,
            lastModifiedDate=self.modified,
            generation=self.generation,
        )

    def summary(self, members):
        return {
            "id": self.id,
            "arn": self.arn,
            "name": self.name,
            "numberOfCollections": len(members),
            "createdDate": self.created,
            "capacityLimits": dict(self.limits),
            "generation": self.generation,
        }


class Collection:
    def __init__(self, account, region, name, type_, description, standby, kms_key_arn, tags, delays, group=None):
        self.id = _random_id()
        self.account = account
        self.region = region
        self.name = name
        self.type = type_
        self.description = description
        self.standby = standby
        self.kms_key_arn = kms_key_arn
        self.tags = dict(tags)
        # A collection takes its group's generation (CreateCollection has no generation member);
        # one outside a group is Classic: "Classic collections can be created without a collection
        # group" (developer guide, managing capacity limits), and the CLI's --generation defaults
        # to CLASSIC (AWS Big Data Blog, "The next generation of Amazon OpenSearch Serverless").
        self.group_id = group.id if group else None
        self.group_name = group.name if group else None
        self.generation = group.generation if group else "CLASSIC"
        self.created = _now_ms()
        self.created_monotonic = time.monotonic()
        # NextGen "provisions infrastructure in seconds instead of minutes" (the same blog post).
        self.create_delay = delays["collection_create_nextgen" if self.generation == "NEXTGEN" else "collection_create"]
        self.deleting_since = None
        self.delete_delay = delays["collection_delete"]

    @property
    def arn(self):
        return f"arn:aws:aoss:{self.region}:{self.account}:collection/{self.id}"

    def status(self, now):
        if self.deleting_since is not None:
            return "DELETING"
        if now < self.created_monotonic + self.create_delay:
            return "CREATING"
        return "ACTIVE"

    def gone(self, now):
        return self.deleting_since is not None and now >= self.deleting_since + self.delete_delay

    def detail(self, now):
        d = {
            "id": self.id,
            "name": self.name,
            "status": self.status(now),
            "type": self.type,
            "arn": self.arn,
            "kmsKeyArn": self.kms_key_arn or "auto",
            "standbyReplicas": self.standby,
            "createdDate": self.created,
            "lastModifiedDate": self.created,
            # Classic ID.REGION.aoss.amazonaws.com, NextGen ID.aoss.REGION.on.aws (developer guide,
            # "Collection endpoints"); the dashboard path follows the Classic form.
            "collectionEndpoint": f"https://{self.id}.aoss.{self.region}.on.aws" if self.generation == "NEXTGEN"
            else f"https://{self.id}.{self.region}.aoss.amazonaws.com",
            "dashboardEndpoint": f"https://{self.id}.{self.region}.aoss.amazonaws.com/_dashboards",
        }
        if self.description is not None:
            d["description"] = self.description
        if self.group_name is not None:
            d["collectionGroupName"] = self.group_name
        return d


class Region:
    """The OpenSearch Serverless state of one account and region."""

    def __init__(self, account, region):
        self.account = account
        self.region = region
        self.security_policies = {}  # (type, name) -> Policy
        self.access_policies = {}  # (type, name) -> Policy
        self.collections = {}  # id -> Collection
        self.collection_groups = {}  # id -> CollectionGroup
        self.indexes = {}  # (collection id, index name) -> schema as sent
        self.index_created = {}  # (collection id, index name) -> (monotonic, epoch ms, uuid)

    def live_collections(self):
        now = time.monotonic()
        for cid in [c.id for c in self.collections.values() if c.gone(now)]:
            del self.collections[cid]
            for key in [k for k in self.indexes if k[0] == cid]:
                del self.indexes[key]
                self.index_created.pop(key, None)
        return list(self.collections.values())


class OpenSearchServerless:
    def __init__(self, settings, caller_principal):
        self.settings = settings
        self.caller_principal = caller_principal
        self.regions = {}
        self.lock = threading.Lock()

    def state(self, account, region):
        key = (account, region)
        if key not in self.regions:
            self.regions[key] = Region(account, region)
        return self.regions[key]

    def handle(self, operation, body, account, region, access_key):
        method = getattr(self, "op_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower(), None)
        if method is None:
            raise AwsError(400, "UnknownOperationException", f"ragstack emulator does not implement {operation}")
        with self.lock:
            return method(self.state(account, region), body, access_key, region)

    # -- policies: security (encryption, network) and access (data) ---------------------------

    def _parse_policy(self, text, type_):
        try:
            doc = json.loads(text)
        except (TypeError, ValueError):
            raise _validation("Policy json is invalid")
        if type_ == "encryption":
            if not isinstance(doc, dict) or not isinstance(doc.get("Rules"), list) or not doc["Rules"]:
                raise _validation("Policy json is invalid: an encryption policy is an object with Rules")
            if doc.get("AWSOwnedKey") is not True and not doc.get("KmsARN"):
                raise _validation("Policy json is invalid: set AWSOwnedKey to true or give a KmsARN")
        elif type_ in ("network", "data"):
            if not isinstance(doc, list) or not doc:
                raise _validation(f"Policy json is invalid: a {type_} policy is a non-empty array of rule sets")
            for entry in doc:
                if not isinstance(entry, dict) or not isinstance(entry.get("Rules"), list):
                    raise _validation("Policy json is invalid: every entry needs Rules")
                if type_ == "data" and not entry.get("Principal"):
                    raise _validation("Policy json is invalid: every entry of a data policy needs Principal")
        if type_ == "data":
            # Data access policies take IAM users, roles and SAML identities; the root user and
            # STS federated users are not principals OpenSearch Serverless accepts (its developer
            # guide, data access control; docs/ARCHITECTURE.md). The wording of the message is ours.
            for rule_set in doc:
                for principal in rule_set.get("Principal", []) if isinstance(rule_set, dict) else []:
                    if re.match(r"^arn:[^:]+:iam::\d{12}:root$", principal) or ":federated-user/" in principal:
                        raise _validation(f"Policy json is invalid: {principal} is not a supported principal")
        return doc

    def _check_name(self, name, what):
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise _validation(
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: [a-z][a-z0-9-]+ and length 3-32 ({what})"
            )

    # Security policies (encryption, network) and access policies (data) share one lifecycle;
    # only their store, allowed types and response keys differ.
    FAMILIES = {
        "security": ("security_policies", SECURITY_POLICY_TYPES, "securityPolicyDetail", "securityPolicySummaries"),
        "access": ("access_policies", ("data",), "accessPolicyDetail", "accessPolicySummaries"),
    }

    def _family(self, st, family, body):
        attr, types, detail_key, summaries_key = self.FAMILIES[family]
        type_ = body.get("type")
        if type_ not in types:
            raise _validation(f"Value '{type_}' at 'type' failed to satisfy constraint: Member must be one of {list(types)}")
        return getattr(st, attr), type_, detail_key, summaries_key

    @staticmethod
    def _find(store, type_, name):
        p = store.get((type_, name))
        if p is None:
            raise _not_found(f"Policy not found: {name}")
        return p

    def _create_policy(self, st, body, family):
        store, type_, detail_key, _ = self._family(st, family, body)
        self._check_name(body.get("name"), "policy name")
        doc = self._parse_policy(body.get("policy"), type_)
        key = (type_, body["name"])
        if key in store:
            raise _conflict(f"Policy with name {body['name']} and type {type_} already exists")
        store[key] = Policy(type_, body["name"], doc, body.get("description"))
        return {detail_key: store[key].detail()}

    def _get_policy(self, st, body, family):
        store, type_, detail_key, _ = self._family(st, family, body)
        return {detail_key: self._find(store, type_, body.get("name")).detail()}

    def _list_policies(self, st, body, family):
        store, type_, _, summaries_key = self._family(st, family, body)
        wanted = body.get("resource")
        out = [
            p.summary()
            for (t, _), p in sorted(store.items())
            if t == type_ and (not wanted or any(self._rules_cover(p.document, r) for r in wanted))
        ]
        return {summaries_key: out}

    def _update_policy(self, st, body, family):
        store, type_, detail_key, _ = self._family(st, family, body)
        p = self._find(store, type_, body.get("name"))
        if body.get("policyVersion") != p.version:
            raise _validation("Policy version specified in the request refers to an older version and policy has since changed")
        if body.get("policy") is not None:
            p.document = self._parse_policy(body["policy"], type_)
        if "description" in body:
            p.description = body["description"]
        p.version = uuid.uuid4().hex[:20]
        p.modified = _now_ms()
        p.modified_monotonic = time.monotonic()
        return {detail_key: p.detail()}

    def _delete_policy(self, st, body, family):
        store, type_, _, _ = self._family(st, family, body)
        if store.pop((type_, body.get("name")), None) is None:
            raise _not_found(f"Policy not found: {body.get('name')}")
        return {}

    def op_create_security_policy(self, st, body, *_):
        return self._create_policy(st, body, "security")

    def op_get_security_policy(self, st, body, *_):
        return self._get_policy(st, body, "security")

    def op_list_security_policies(self, st, body, *_):
        return self._list_policies(st, body, "security")

    def op_update_security_policy(self, st, body, *_):
        return self._update_policy(st, body, "security")

    def op_delete_security_policy(self, st, body, *_):
        return self._delete_policy(st, body, "security")

    def op_create_access_policy(self, st, body, *_):
        return self._create_policy(st, body, "access")

    def op_get_access_policy(self, st, body, *_):
        return self._get_policy(st, body, "access")

    def op_list_access_policies(self, st, body, *_):
        return self._list_policies(st, body, "access")

    def op_update_access_policy(self, st, body, *_):
        return self._update_policy(st, body, "access")

    def op_delete_access_policy(self, st, body, *_):
        return self._delete_policy(st, body, "access")

    @staticmethod
    def _rules_cover(document, resource, resource_type=None):
        """Whether a policy's rules name `resource` (e.g. collection/ragstack-dev), wildcards as AWS."""
        entries = document if isinstance(document, list) else [document]
        for entry in entries:
            for rule in entry.get("Rules", []):
                if resource_type and rule.get("ResourceType") != resource_type:
                    continue
                for pattern in rule.get("Resource", []):
                    if fnmatch.fnmatchcase(resource, pattern):
                        return True
        return False

    # -- collections --------------------------------------------------------------------------

    def op_create_collection(self, st, body, _access_key, region):
        name = body.get("name")
        self._check_name(name, "collection name")
        type_ = body.get("type", "SEARCH")
        if type_ not in COLLECTION_TYPES:
            raise _validation(f"Value '{type_}' at 'type' failed to satisfy constraint: Member must be one of {list(COLLECTION_TYPES)}")
        standby = body.get("standbyReplicas", "ENABLED")
        if standby not in ("ENABLED", "DISABLED"):
            raise _validation("standbyReplicas must be ENABLED or DISABLED")
        collections = st.live_collections()
        if any(c.name == name for c in collections):
            raise _conflict(f"A collection with name {name} already exists")
        group = None
        if body.get("collectionGroupName") is not None:
            group_name = body["collectionGroupName"]
            group = next((g for g in st.collection_groups.values() if g.name == group_name), None)
            # The group must exist. botocore's model lists no ResourceNotFoundException for
            # CreateCollection, so the code AWS answers here is unverified; the wording is ours.
            if group is None:
                raise _not_found(f"Collection group not found: {group_name}")
            # "Only one type of collection (search, time series, or vector search) can be
            # included in a single collection group" (developer guide, managing capacity
            # limits). The wording of the refusal is ours.
            other = next((c for c in collections if c.group_id == group.id and c.type != type_), None)
            if other is not None:
                raise _validation(
                    f"Collection group {group_name} holds {other.type} collections; "
                    f"only one type of collection can be included in a single collection group"
                )
        encryption = [
            p for (t, _), p in st.security_policies.items()
            if t == "encryption" and self._rules_cover(p.document, f"collection/{name}", "collection")
        ]
        if not encryption:
            raise _validation(
                f"No matching security policy of encryption type found for collection name: {name}. "
                "Please create security policy of encryption type for this collection."
            )
        kms = encryption[0].document.get("KmsARN")
        tags = {t["key"]: t["value"] for t in body.get("tags", [])}
        c = Collection(st.account, region, name, type_, body.get("description"), standby, kms, tags, self.settings.delays, group)
        st.collections[c.id] = c
        if group is not None:
            # A new collection provisions its compute ("provisions infrastructure in seconds"):
            # the group counts as active from here.
            group.last_active = time.monotonic()
        detail = c.detail(time.monotonic())
        # CreateCollectionDetail has no endpoints: AWS reports them once the collection exists.
        for key in ("collectionEndpoint", "dashboardEndpoint"):
            detail.pop(key)
        return {"createCollectionDetail": detail}

    def op_batch_get_collection(self, st, body, *_):
        ids, names = body.get("ids"), body.get("names")
        if bool(ids) == bool(names):
            raise _validation("Specify either ids or names, not both")
        now = time.monotonic()
        details, errors = [], []
        live = st.live_collections()
        for wanted in ids or names:
            found = [c for c in live if (c.id if ids else c.name) == wanted]
            if found:
                details.append(found[0].detail(now))
            else:
                key = "id" if ids else "name"
                errors.append({key: wanted, "errorCode": "NOT_FOUND", "errorMessage": "Collection not found"})
        return {"collectionDetails": details, "collectionErrorDetails": errors}

    def op_list_collections(self, st, body, *_):
        filters = body.get("collectionFilters") or {}
        now = time.monotonic()
        out = []
        for c in sorted(st.live_collections(), key=lambda c: c.name):
            if filters.get("name") and c.name != filters["name"]:
                continue
            if filters.get("status") and c.status(now) != filters["status"]:
                continue
            if filters.get("collectionGroupName") and c.group_name != filters["collectionGroupName"]:
                continue
            summary = {"id": c.id, "name": c.name, "status": c.status(now), "arn": c.arn}
            if c.group_name is not None:
                summary["collectionGroupName"] = c.group_name
            out.append(summary)
        return {"collectionSummaries": out}

    def op_delete_collection(self, st, body, *_):
        c = next((c for c in st.live_collections() if c.id == body.get("id")), None)
        if c is None:
            raise _not_found(f"Collection not found: {body.get('id')}")
        now = time.monotonic()
        if c.status(now) == "CREATING":
            raise _conflict(f"Collection {c.id} is still being created; delete it once it is ACTIVE")
        if c.deleting_since is None:
            c.deleting_since = now
        return {"deleteCollectionDetail": {"id": c.id, "name": c.name, "status": "DELETING"}}

    # -- collection groups --------------------------------------------------------------------

    @staticmethod
    def _members(st, group):
        return [c for c in st.live_collections() if c.group_id == group.id]

    @staticmethod
    def _capacity_limits(sent, generation):
        """The group's limits from a request's capacityLimits: absent fields take their defaults
        (UpdateCollectionGroup: "Updates to capacity limits are not incremental. Any field not
        specified resets to its default value", botocore's model), then the checks AWS documents.
        botocore's model bounds them (max >= 1, min >= 0; contract.py checks that); the wording of
        the refusals below is ours, in the form of AWS's validation errors."""
        sent = {k: v for k, v in (sent or {}).items() if v is not None}
        limits = {}
        for field in CAPACITY_FIELDS:
            default = DEFAULT_MAX_OCU if field.startswith("max") else DEFAULT_MIN_OCU[generation]
            limits[field] = float(sent.get(field, default))
        for field in CAPACITY_FIELDS:
            if field not in sent:
                continue
            value = limits[field]
            # The CloudFormation resource schema of AWS::OpenSearchServerless::CollectionGroup
            # gives every limit `"multipleOf": 0.5` (cfn-lint 1.58.0's copy of the registry
            # schema, 2026-10-20).
            if abs(value * 2 - round(value * 2)) > 1e-6:
                raise _validation(
                    f"1 validation error detected: Value {value:g} at 'capacityLimits.{field}' "
                    "failed to satisfy constraint: Member must be a multiple of 0.5"
                )
        for field in CAPACITY_FIELDS:
            value = limits[field]
            if round(value, 6) not in ALLOWED_OCU[generation]:
                first = "0" if generation == "NEXTGEN" else "1"
                raise _validation(
                    f"1 validation error detected: Value {value:g} at 'capacityLimits.{field}' failed to "
                    f"satisfy constraint: {generation} collection groups take {first}, 2, 4, 8, 16 or a "
                    "multiple of 16 up to 1696 OCUs"
                )
        for kind in ("Indexing", "Search"):
            low, high = limits[f"min{kind}CapacityInOCU"], limits[f"max{kind}CapacityInOCU"]
            # "The minimum OCU limit must be less than or equal to the maximum OCU limit"
            # (developer guide, collection group capacity limits).
            if low > high:
                raise _validation(
                    f"min{kind}CapacityInOCU ({low:g}) must be less than or equal to "
                    f"max{kind}CapacityInOCU ({high:g})"
                )
        return limits

    def _group(self, st, group_id):
        g = st.collection_groups.get(group_id)
        if g is None:
            raise _not_found(f"Collection group not found: {group_id}")
        return g

    def op_create_collection_group(self, st, body, _access_key, region):
        name = body.get("name")
        self._check_name(name, "collection group name")
        generation = body.get("generation", "CLASSIC")
        if generation not in GENERATIONS:
            raise _validation(f"Value '{generation}' at 'generation' failed to satisfy constraint: Member must be one of {list(GENERATIONS)}")
        # The name is the group's other identifier (CloudFormation's additionalIdentifiers), so
        # unique in the account and region; ConflictException "when a resource with the same name
        # already exists" (CreateCollectionGroup API reference). The wording is ours.
        if any(g.name == name for g in st.collection_groups.values()):
            raise _conflict(f"A collection group with name {name} already exists")
        limits = self._capacity_limits(body.get("capacityLimits"), generation)
        tags = {t["key"]: t["value"] for t in body.get("tags", [])}
        g = CollectionGroup(st.account, region, name, body.get("standbyReplicas"), generation, limits, body.get("description"), tags)
        st.collection_groups[g.id] = g
        return {"createCollectionGroupDetail": g.create_detail()}

    def op_batch_get_collection_group(self, st, body, *_):
        ids, names = body.get("ids"), body.get("names")
        # The model's documentation of both members: "You can't provide names and IDs in the same
        # request." Neither at all is refused too (our choice; the model requires neither).
        if ids and names:
            raise _validation("You can't provide names and IDs in the same request.")
        if not ids and not names:
            raise _validation("Provide either ids or names")
        now = time.monotonic()
        idle_after = self.settings.delays["nextgen_idle"]
        details, errors = [], []
        for wanted in ids or names:
            g = next((g for g in st.collection_groups.values() if (g.id if ids else g.name) == wanted), None)
            if g is not None:
                details.append(g.detail(self._members(st, g), now, idle_after))
            else:
                # errorCode and errorMessage as the model's documentation gives them.
                key = "id" if ids else "name"
                errors.append({key: wanted, "errorCode": "NOT_FOUND", "errorMessage": "The specified Collection Group is not found."})
        return {"collectionGroupDetails": details, "collectionGroupErrorDetails": errors}

    def op_list_collection_groups(self, st, body, *_):
        # maxResults "Default is 20" (botocore's model); nextToken is an offset, opaque to callers.
        size = body.get("maxResults") or 20
        token = body.get("nextToken")
        try:
            start = int(token) if token else 0
        except ValueError:
            raise _validation("The nextToken is not valid")
        groups = sorted(st.collection_groups.values(), key=lambda g: g.name)
        page = groups[start:start + size]
        out = {"collectionGroupSummaries": [g.summary(self._members(st, g)) for g in page]}
        if start + size < len(groups):
            out["nextToken"] = str(start + size)
        return out

    def op_update_collection_group(self, st, body, *_):
        # botocore's model lists no ResourceNotFoundException for UpdateCollectionGroup; the code
        # AWS answers for an unknown id is unverified.
        g = self._group(st, body.get("id"))
        # Name, standby replicas and generation cannot change (UpdateCollectionGroupRequest has
        # no such members; CloudFormation's createOnlyProperties).
        if "capacityLimits" in body:
            g.limits = self._capacity_limits(body["capacityLimits"], g.generation)
        if "description" in body:
            g.description = body["description"]
        g.modified = _now_ms()
        return {"updateCollectionGroupDetail": g.update_detail()}

    def op_delete_collection_group(self, st, body, *_):
        g = self._group(st, body.get("id"))
        # "You can only delete empty collection groups that contain no collections" (botocore's
        # model, DeleteCollectionGroup); a collection still DELETING is still in the group. The
        # wording of the ConflictException is ours.
        members = self._members(st, g)
        if members:
            raise _conflict(
                f"Collection group {g.id} contains {len(members)} collection(s); "
                "you can only delete empty collection groups that contain no collections"
            )
        del st.collection_groups[g.id]
        return {}

    # -- tags ---------------------------------------------------------------------------------

    def _by_arn(self, st, arn):
        """The taggable resource behind an ARN: a collection or a collection group."""
        c = next((c for c in st.live_collections() if c.arn == arn), None)
        if c is None:
            c = next((g for g in st.collection_groups.values() if g.arn == arn), None)
        if c is None:
            raise _not_found(f"Resource not found: {arn}")
        return c

    def op_list_tags_for_resource(self, st, body, *_):
        c = self._by_arn(st, body.get("resourceArn"))
        return {"tags": _tag_list(c.tags)}

    def op_tag_resource(self, st, body, *_):
        c = self._by_arn(st, body.get("resourceArn"))
        c.tags.update({t["key"]: t["value"] for t in body.get("tags", [])})
        return {}

    def op_untag_resource(self, st, body, *_):
        c = self._by_arn(st, body.get("resourceArn"))
        for k in body.get("tagKeys", []):
            c.tags.pop(k, None)
        return {}

    # -- index API (control plane) ------------------------------------------------------------

    def _index_target(self, st, body, operation, access_key, region):
        c = next((c for c in st.live_collections() if c.id == body.get("id")), None)
        if c is None or c.status(time.monotonic()) != "ACTIVE":
            raise _not_found(f"Collection not found or not active: {body.get('id')}")
        # A request to one of a group's collections keeps the group from scaling to zero.
        group = st.collection_groups.get(c.group_id)
        if group is not None:
            group.last_active = time.monotonic()
        name = body.get("indexName")
        if not isinstance(name, str) or not name:
            raise _validation("indexName is required")
        principal = self.caller_principal(access_key, region)
        permission = INDEX_PERMISSIONS[operation]
        if not self._granted(st, principal, c.name, name, permission):
            raise AwsError(
                403,
                "AccessDeniedException",
                f"User does not have permissions for the requested resource ({permission} on index/{c.name}/{name} for {principal})",
            )
        return c, name

    def _granted(self, st, principal, collection, index, permission):
        """A data access policy grants `permission` on the index to `principal`, and it has propagated."""
        propagated_before = time.monotonic() - self.settings.delays["access_policy_propagation"]
        for (_, _), p in st.access_policies.items():
            if p.modified_monotonic > propagated_before:
                continue
            for entry in p.document:
                if principal not in entry.get("Principal", []):
                    continue
                for rule in entry.get("Rules", []):
                    if rule.get("ResourceType") != "index":
                        continue
                    perms = rule.get("Permission", [])
                    if permission not in perms and "aoss:*" not in perms:
                        continue
                    if any(fnmatch.fnmatchcase(f"index/{collection}/{index}", r) for r in rule.get("Resource", [])):
                        return True
        return False

    @staticmethod
    def _schema(body):
        schema = body.get("indexSchema")
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError:
                raise _validation("indexSchema is not valid JSON")
        if schema is not None and not isinstance(schema, dict):
            raise _validation("indexSchema must be a JSON object")
        return schema or {}

    def _stored_schema(self, c, body):
        schema = self._schema(body)
        return nextgen_schema(schema) if c.generation == "NEXTGEN" else schema

    def op_create_index(self, st, body, access_key, region):
        c, name = self._index_target(st, body, "CreateIndex", access_key, region)
        if (c.id, name) in st.indexes:
            raise _conflict(f"Index {name} already exists in collection {c.id}")
        st.indexes[(c.id, name)] = self._stored_schema(c, body)
        st.index_created[(c.id, name)] = (time.monotonic(), _now_ms(), uuid.uuid4().hex[:22])
        return {}

    def op_get_index(self, st, body, access_key, region):
        c, name = self._index_target(st, body, "GetIndex", access_key, region)
        if (c.id, name) not in st.indexes:
            raise _not_found(f"no such index [{name}]")
        _, created_ms, index_uuid = st.index_created.get((c.id, name), (0, _now_ms(), "unknown"))
        return {"indexSchema": stored_form(st.indexes[(c.id, name)], name, created_ms, index_uuid)}

    def op_update_index(self, st, body, access_key, region):
        c, name = self._index_target(st, body, "UpdateIndex", access_key, region)
        if (c.id, name) not in st.indexes:
            raise _not_found(f"no such index [{name}]")
        st.indexes[(c.id, name)] = self._stored_schema(c, body)
        return {}

    def op_delete_index(self, st, body, access_key, region):
        c, name = self._index_target(st, body, "DeleteIndex", access_key, region)
        st.index_created.pop((c.id, name), None)
        if st.indexes.pop((c.id, name), None) is None:
            raise _not_found(f"no such index [{name}]")
        return {}

    # -- for other emulated services (Bedrock checks the index) -------------------------------

    def index_settled_for(self, account, region, collection_arn, index):
        """Seconds since the index was created or a data access policy last changed, whichever is
        later: how long the knowledge base's view of the index has had to settle."""
        with self.lock:
            st = self.state(account, region)
            c = next((c for c in st.live_collections() if c.arn == collection_arn), None)
            created = st.index_created.get((c.id, index)) if c else None
            if created is None:
                return None
            changes = [created[0]] + [p.modified_monotonic for p in st.access_policies.values()]
            return time.monotonic() - max(changes)

    def index_schema(self, account, region, collection_arn, index):
        with self.lock:
            st = self.state(account, region)
            c = next((c for c in st.live_collections() if c.arn == collection_arn), None)
            return None if c is None else st.indexes.get((c.id, index))
