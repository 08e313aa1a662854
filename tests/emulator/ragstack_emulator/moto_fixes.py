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


def response_fix(service, environ):
    """A rewrite of moto's answer body where its form departs from the AWS model, or None."""
    query = environ.get("QUERY_STRING", "")
    if service == "s3" and environ.get("REQUEST_METHOD") == "GET" and re.search(r"(^|&)versioning(=|&|$)", query):
        return lambda body: body.replace(b"GetBucketVersioningResponse", b"VersioningConfiguration")
    return None


def apigateway_tag_resource(environ, body, account, region):
    """(status, headers, body) of API Gateway TagResource for a REST API or a stage."""
    from urllib.parse import unquote

    from moto.apigateway.models import apigateway_backends

    from .errors import AwsError

    raw = (environ.get("RAW_URI") or environ.get("PATH_INFO", "")).split("?", 1)[0]
    arn = unquote(raw[len("/tags/"):])
    m = re.match(r"^arn:[^:]+:apigateway:[^:]+::/restapis/([^/]+)(?:/stages/([^/]+))?$", arn)
    if not m:
        raise AwsError(404, "NotFoundException", f"Invalid resource ARN {arn}")
    backend = apigateway_backends[account][region]
    try:
        api = backend.get_rest_api(m.group(1))
        target = backend.get_stage(m.group(1), m.group(2)) if m.group(2) else api
    except Exception:  # noqa: BLE001 - moto raises its own NotFound
        raise AwsError(404, "NotFoundException", f"Invalid resource identifier {arn}")
    tags = json.loads(body or b"{}").get("tags") or {}
    target.tags = {**(target.tags or {}), **tags}
    return 204, [("Content-Type", "application/json")], b""
