"""OpenSearch Serverless control plane (awsJson1_0, target prefix `OpenSearchServerless.`).

Replaces moto's module, which with the Rust SDK fails CreateCollection for an AWSOwnedKey
encryption policy and lacks access policies, policy deletion and the index API. Shapes follow the
AWS API model (aws-sdk-opensearchserverless); states advance lazily from timestamps, so there are
no background threads and a read always sees the state AWS would report at that moment.
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


def _now_ms():
    return int(time.time() * 1000)


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


class Collection:
    def __init__(self, account, region, name, type_, description, standby, kms_key_arn, tags, delays):
        self.id = "".join(random.choices(string.ascii_lowercase + string.digits, k=20))
        self.account = account
        self.region = region
        self.name = name
        self.type = type_
        self.description = description
        self.standby = standby
        self.kms_key_arn = kms_key_arn
        self.tags = dict(tags)
        self.created = _now_ms()
        self.created_monotonic = time.monotonic()
        self.create_delay = delays["collection_create"]
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
            "collectionEndpoint": f"https://{self.id}.{self.region}.aoss.amazonaws.com",
            "dashboardEndpoint": f"https://{self.id}.{self.region}.aoss.amazonaws.com/_dashboards",
        }
        if self.description is not None:
            d["description"] = self.description
        return d


class Region:
    """The OpenSearch Serverless state of one account and region."""

    def __init__(self, account, region):
        self.account = account
        self.region = region
        self.security_policies = {}  # (type, name) -> Policy
        self.access_policies = {}  # (type, name) -> Policy
        self.collections = {}  # id -> Collection
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
        c = Collection(st.account, region, name, type_, body.get("description"), standby, kms, tags, self.settings.delays)
        st.collections[c.id] = c
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
            out.append({"id": c.id, "name": c.name, "status": c.status(now), "arn": c.arn})
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

    # -- tags ---------------------------------------------------------------------------------

    def _by_arn(self, st, arn):
        c = next((c for c in st.live_collections() if c.arn == arn), None)
        if c is None:
            raise _not_found(f"Resource not found: {arn}")
        return c

    def op_list_tags_for_resource(self, st, body, *_):
        c = self._by_arn(st, body.get("resourceArn"))
        return {"tags": [{"key": k, "value": v} for k, v in sorted(c.tags.items())]}

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

    def op_create_index(self, st, body, access_key, region):
        c, name = self._index_target(st, body, "CreateIndex", access_key, region)
        if (c.id, name) in st.indexes:
            raise _conflict(f"Index {name} already exists in collection {c.id}")
        st.indexes[(c.id, name)] = self._schema(body)
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
        st.indexes[(c.id, name)] = self._schema(body)
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
