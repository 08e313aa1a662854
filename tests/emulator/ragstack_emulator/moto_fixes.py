"""Corrections to moto where it departs from AWS in a way ragstack's deploy meets.

- S3 GetBucketVersioning: moto answers with a `GetBucketVersioningResponse` root element; S3 (and
  the Rust SDK's parser) use `VersioningConfiguration`. Rewritten in moto's answer
  (`response_fix`, applied by the middleware).
- S3 bucket policies: moto applies `Deny` statements ignoring their conditions, so the documents
  bucket's TLS-only policy (`Deny` when `aws:SecureTransport` is `false`) would deny every object
  request. AWS endpoints are reached over TLS; the emulator listens on plain HTTP only because it is
  on loopback, so it evaluates requests as TLS ones: statements conditioned on
  `aws:SecureTransport = false` never match, and the rest are evaluated as moto does.
- S3 CreateBucket: AWS accepts `Tags` in `CreateBucketConfiguration` (general purpose buckets,
  2025), which ragstack uses so a bucket is never seen untagged; moto ignores them. Applied after
  moto creates the bucket.
- API Gateway TagResource (`PUT /tags/{resource_arn}`, the ARN percent-encoded): moto routes only
  stage ARNs and mangles the REST API's `/restapis/ID` once the path is decoded. Answered here
  for REST APIs and stages, on moto's own objects (GetRestApis and GetStage read them back).
- CloudWatch Logs PutRetentionPolicy: moto stores any number; AWS accepts only the values its
  API model documents (botocore's logs model, shape `Days`: "Possible values are: 1, 3, 5, ...,
  3653") and answers InvalidParameterException otherwise (the wording is ours).
- CloudWatch Logs DeleteLogGroup: moto keeps the group's tags, so a group created again under the
  same name (as Lambda does on the next invocation) would come back tagged; AWS deletes a
  resource's tags with it.
- API Gateway REST API policies: GetRestApi(s) return the policy as an escaped JSON string
  (terraform-provider-aws unquotes it: "The API returns policy as an escaped JSON string") with
  the `execute-api:/...` shorthand expanded to the API's ARN (reported in go-to-k/cdk-real-drift
  #721); moto returns what was sent. Rewritten in the answer (`response_fix`).
- API Gateway API keys: AWS returns a key's `value` only with includeValue(s)=true (API
  reference, GetApiKey/GetApiKeys); moto always does. Removed from the answer otherwise.
- API Gateway usage plans: moto stores a patched quota limit as a string and casts a patched
  rateLimit with int() (AWS: limit is an Integer, rateLimit a Double); DeleteUsagePlan of a plan
  that still has API stages is refused by AWS ("Cannot delete Usage Plan X because there are API
  Stages associated with it, including ...", aws/aws-sdk-js#3841); GetUsage is missing (answered
  with `usage_today` from the settings: [[used, remaining]] per key and day).
- API Gateway TagResource: also API keys and usage plans (their ARNs `/apikeys/ID`, `/usageplans/ID`).
- API Gateway UpdateMethod is missing (moto answers 500): the patch paths ragstack sends
  (`/apiKeyRequired`, `/authorizationType`) applied to moto's method.
- S3 ListObjectVersions: moto deep-copies every version in the bucket for each page (8 s a page
  with 100,000 objects), where S3 answers a page in a fraction of a second. The same answer,
  computed from only the keys at or after the marker that the page can reach (the marker's own
  key, max-keys more, and one to tell that the listing goes on: each has at least one version), so a benchmark measures ragstack's calls
  rather than moto's copying.
- S3 GetBucketNotificationConfiguration: moto stores an `EventBridgeConfiguration` but leaves it
  out of the answer, and answers a bucket without notifications with a `GetBucketNotificationResponse`
  root; S3 answers `NotificationConfiguration`, with `<EventBridgeConfiguration/>` while the bucket
  sends its events to EventBridge (S3 API Reference, GetBucketNotificationConfiguration).
- Lambda GetAccountSettings is missing: answered from `lambda_concurrency` (the account's limit;
  moto enforces "below its minimum value of [100]" with MOTO_LAMBDA_CONCURRENCY_QUOTA, which the
  emulator sets to it) minus what functions reserve.
"""
import json
import re

LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]


def _without_plain_http_statements(policy_text):
    policy = json.loads(policy_text)
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = []
    for st in statements:
        secure = ((st.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
        if str(secure).lower() == "false":
            continue
        kept.append(st)
    policy["Statement"] = kept
    return json.dumps(policy)


# moto's own ListObjectVersions, kept for the test that compares the two (tests/emulator).
ORIGINAL_LIST_OBJECT_VERSIONS = None


def apply():
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self, action, resource):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        text = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        return IAMPolicy(_without_plain_http_statements(text)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission

    import xmltodict
    from moto.s3.responses import S3Response

    original_put = S3Response._bucket_response_put

    def bucket_response_put(self, request, bucket_name, querystring):
        result = original_put(self, request, bucket_name, querystring)
        if not querystring and self.body:
            try:
                config = xmltodict.parse(self.body).get("CreateBucketConfiguration") or {}
            except Exception:  # not a CreateBucket body
                config = {}
            tags = (config.get("Tags") or {}).get("Tag") or []
            if isinstance(tags, dict):
                tags = [tags]
            if tags:
                self.backend.put_bucket_tagging(bucket_name, {t["Key"]: t.get("Value", "") for t in tags})
        return result

    S3Response._bucket_response_put = bucket_response_put

    original_notification = S3Response.get_bucket_notification

    def get_bucket_notification(self):
        status, headers, body = original_notification(self)
        text = (body.decode() if isinstance(body, bytes) else body).replace(
            "GetBucketNotificationResponse", "NotificationConfiguration"
        )
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if config is None or config.event_bridge is None:
            return status, headers, text
        # moto closes an empty root element in place (`<NotificationConfiguration .../>`).
        text = re.sub(r"<NotificationConfiguration([^>]*?)/>", r"<NotificationConfiguration\1></NotificationConfiguration>", text)
        text = text.replace("</NotificationConfiguration>", "<EventBridgeConfiguration></EventBridgeConfiguration></NotificationConfiguration>")
        return status, headers, text

    S3Response.get_bucket_notification = get_bucket_notification

    from moto.s3.models import S3Backend
    from moto.s3.utils import _VersionedKeyStore

    global ORIGINAL_LIST_OBJECT_VERSIONS
    original_versions = ORIGINAL_LIST_OBJECT_VERSIONS = S3Backend.list_object_versions

    class _View:
        """The backend as list_object_versions sees it: one bucket, holding only some keys."""

        def __init__(self, bucket, keys):
            self.bucket = type("Bucket", (), {"keys": keys})()

        def get_bucket(self, _name):
            return self.bucket

    def list_object_versions(self, bucket_name, delimiter=None, key_marker=None, max_keys=1000, prefix="", version_id_marker=None):
        bucket = self.get_bucket(bucket_name)
        names = sorted(k for k in bucket.keys.keys() if k.startswith(prefix or "") and (key_marker is None or k >= key_marker))
        if not delimiter and max_keys is not None:
            names = names[: int(max_keys) + 2]
        keys = _VersionedKeyStore()
        for name in names:
            keys.setlist(name, bucket.keys.getlist(name))
        return original_versions(_View(bucket, keys), bucket_name, delimiter, key_marker, max_keys, prefix, version_id_marker)

    S3Backend.list_object_versions = list_object_versions

    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.models import LogsBackend

    original_retention = LogsBackend.put_retention_policy

    def put_retention_policy(self, log_group_name, retention_in_days):
        if int(retention_in_days) not in LOG_RETENTION_DAYS:
            raise InvalidParameterException(
                f"1 validation error detected: Value '{retention_in_days}' at 'retentionInDays' failed to satisfy "
                f"constraint: Member must be one of {LOG_RETENTION_DAYS}"
            )
        return original_retention(self, log_group_name, retention_in_days)

    LogsBackend.put_retention_policy = put_retention_policy

    original_delete_group = LogsBackend.delete_log_group

    def delete_log_group(self, log_group_name):
        arn = self.groups[log_group_name].arn if log_group_name in self.groups else None
        original_delete_group(self, log_group_name)
        if arn:
            self.tagger.delete_all_tags_for_resource(arn)

    LogsBackend.delete_log_group = delete_log_group

    from moto.apigateway.exceptions import BadRequestException
    from moto.apigateway.models import APIGatewayBackend, UsagePlan

    original_patch = UsagePlan.apply_patch_operations

    def apply_patch_operations(self, patch_operations):
        rest = []
        for op in patch_operations:
            if op["op"] in ("add", "replace") and op["path"] == "/throttle/rateLimit":
                self.throttle["rateLimit"] = float(op["value"])
            elif op["op"] in ("add", "replace") and op["path"] == "/quota/limit":
                self.quota["limit"] = int(op["value"])
            else:
                rest.append(op)
        original_patch(self, rest)

    UsagePlan.apply_patch_operations = apply_patch_operations

    original_delete_plan = APIGatewayBackend.delete_usage_plan

    def delete_usage_plan(self, usage_plan_id):
        plan = self.usage_plans.get(usage_plan_id)
        if plan is not None and plan.api_stages:
            first = plan.api_stages[0]
            raise BadRequestException(
                f"Cannot delete Usage Plan {usage_plan_id} because there are API Stages associated with it, "
                f"including {first['apiId']}:{first['stage']}"
            )
        return original_delete_plan(self, usage_plan_id)

    APIGatewayBackend.delete_usage_plan = delete_usage_plan


def _aws_policy(api, region, account):
    """A REST API's policy as GetRestApi returns it: shorthand expanded, escaped as a string."""
    text = api.get("policy")
    if not text:
        return api
    arn = f"arn:aws:execute-api:{region}:{account}:{api['id']}/"
    expanded = json.dumps(json.loads(text), separators=(",", ":")).replace('"execute-api:/', f'"{arn}')
    return dict(api, policy=json.dumps(expanded)[1:-1])


def response_fix(service, environ, account="", region=""):
    """A rewrite of moto's answer body where its form departs from the AWS model, or None."""
    query = environ.get("QUERY_STRING", "")
    method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
    if service == "s3" and method == "GET" and re.search(r"(^|&)versioning(=|&|$)", query):
        return lambda body: body.replace(b"GetBucketVersioningResponse", b"VersioningConfiguration")
    if service == "apigateway" and method == "GET" and re.match(r"^/restapis/?([^/]+/?)?$", path):
        def policies(body):
            data = json.loads(body or b"{}")
            if "item" in data:
                data["item"] = [_aws_policy(a, region, account) for a in data["item"]]
            elif "id" in data:
                data = _aws_policy(data, region, account)
            return json.dumps(data).encode()
        return policies
    if service == "apigateway" and method == "GET" and re.match(r"^/apikeys", path) and not re.search(r"includeValues?=true", query):
        def without_values(body):
            data = json.loads(body or b"{}")
            for key in data.get("item", [data]):
                key.pop("value", None)
            return json.dumps(data).encode()
        return without_values
    return None


def apigateway_usage(path, settings):
    """(status, headers, body) of GetUsage (`GET /usageplans/{id}/usage`)."""
    from urllib.parse import parse_qs

    from moto.apigateway.models import apigateway_backends

    from .errors import AwsError

    plan_id = path.split("/")[2]
    for backend in (b for regions in apigateway_backends.values() for b in regions.values()):
        plan = backend.usage_plans.get(plan_id)
        if plan is None:
            continue
        limit = int(plan.quota.get("limit", 0))
        used = min(int(settings.usage_today), limit)
        keys = backend.usage_plan_keys.get(plan_id, {})
        # The model's `items` member travels as "values" (botocore apigateway model, shape Usage).
        body = {"usagePlanId": plan_id, "values": {k: [[used, limit - used]] for k in keys}}
        return 200, [("Content-Type", "application/json")], json.dumps(body).encode()
    raise AwsError(404, "NotFoundException", f"Invalid Usage Plan ID specified: {plan_id}")


def apigateway_update_method(path, body, account, region):
    """(status, headers, body) of UpdateMethod (`PATCH /restapis/{api}/resources/{id}/methods/{verb}`)."""
    from moto.apigateway.models import apigateway_backends

    from .errors import AwsError

    _, _, api, _, resource, _, verb = path.rstrip("/").split("/")
    try:
        method = apigateway_backends[account][region].get_method(api, resource, verb)
    except Exception:  # noqa: BLE001 - moto raises its own NotFound
        raise AwsError(404, "NotFoundException", "Invalid Method identifier specified")
    for op in json.loads(body or b"{}").get("patchOperations", []):
        if op.get("op") != "replace" or op.get("path") not in ("/apiKeyRequired", "/authorizationType"):
            raise AwsError(400, "BadRequestException", f"Invalid patch path {op.get('path')}")
        if op["path"] == "/apiKeyRequired":
            method.api_key_required = str(op.get("value")).lower() == "true"
        else:
            method.authorization_type = op.get("value")
    return 200, [("Content-Type", "application/json")], json.dumps(method.to_json()).encode()


def lambda_account_settings(account, region, settings):
    """(status, headers, body) of Lambda GetAccountSettings."""
    from moto.awslambda.models import lambda_backends

    reserved = sum(int(f.reserved_concurrency or 0) for f in lambda_backends[account][region].list_functions())
    limit = int(settings.lambda_concurrency)
    body = {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": limit,
            "UnreservedConcurrentExecutions": limit - reserved,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(lambda_backends[account][region].list_functions())},
    }
    return 200, [("Content-Type", "application/json")], json.dumps(body).encode()


def apigateway_tag_resource(environ, body, account, region):
    """(status, headers, body) of API Gateway TagResource for a REST API or a stage."""
    from urllib.parse import unquote

    from moto.apigateway.models import apigateway_backends

    from .errors import AwsError

    raw = (environ.get("RAW_URI") or environ.get("PATH_INFO", "")).split("?", 1)[0]
    arn = unquote(raw[len("/tags/"):])
    backend = apigateway_backends[account][region]
    other = re.match(r"^arn:[^:]+:apigateway:[^:]+::/(apikeys|usageplans)/([^/]+)$", arn)
    if other:
        found = (backend.keys if other.group(1) == "apikeys" else backend.usage_plans).get(other.group(2))
        if found is None:
            raise AwsError(404, "NotFoundException", f"Invalid resource identifier {arn}")
        found.tags = {**(found.tags or {}), **(json.loads(body or b"{}").get("tags") or {})}
        return 204, [("Content-Type", "application/json")], b""
    m = re.match(r"^arn:[^:]+:apigateway:[^:]+::/restapis/([^/]+)(?:/stages/([^/]+))?$", arn)
    if not m:
        raise AwsError(404, "NotFoundException", f"Invalid resource ARN {arn}")
    try:
        api = backend.get_rest_api(m.group(1))
        target = backend.get_stage(m.group(1), m.group(2)) if m.group(2) else api
    except Exception:  # noqa: BLE001 - moto raises its own NotFound
        raise AwsError(404, "NotFoundException", f"Invalid resource identifier {arn}")
    tags = json.loads(body or b"{}").get("tags") or {}
    target.tags = {**(target.tags or {}), **tags}
    return 204, [("Content-Type", "application/json")], b""
