"""The WSGI layer in front of moto: call log, fault injection, and routing of the services ragstack
implements itself. Admin endpoints live under /_ragstack/ on the same port:

  GET    /_ragstack/health   settings in force
  GET    /_ragstack/calls    every AWS request so far: seq, service, operation, mutating, status
  DELETE /_ragstack/calls    forget the log (e.g. before a re-deploy whose calls a test counts)
  POST   /_ragstack/config   change throttle_rate, error_rate, seed, delays, model_access, caller or
                             validate_requests at run time (JSON)
  POST   /_ragstack/objects  write `count` small objects under `prefix` in `bucket`, dated
                             `age_seconds` ago, straight into moto's S3 (a large bucket for a
                             benchmark in seconds instead of 100,000 signed PUTs)
  GET    /_ragstack/validation  how many requests were checked against their API model, rejected,
                             or matched no operation (by operation)
  GET    /_ragstack/container-credentials  AWS CloudShell's credential provider (the container
                             credentials endpoint): needs the Authorization token, hands out keys
                             that expire `container_credentials_seconds` later; requests signed
                             with an expired key are refused with ExpiredToken, as AWS does

Every request is checked against its service's API model first (contract.py), as AWS does.
"""
import io
import json
import random
import re
import threading
import time
from urllib.parse import parse_qs

from . import bedrock_agent, bedrock_runtime, cloudformation, contract, iam_auth, moto_fixes, s3vectors
from .aoss import OpenSearchServerless
from .errors import AwsError

READ_ONLY = re.compile(r"^(Get|List|Describe|BatchGet|Head|Lookup|Search|Query|Scan|Check|Validate|Simulate)")

# Each service's own throttling answer: (HTTP status, error code). Others use their protocol's.
THROTTLING = {
    "aoss": (400, "ThrottlingException"),
    "bedrock": (429, "ThrottlingException"),
    "iam": (400, "Throttling"),
    "sts": (400, "Throttling"),
    "cloudformation": (400, "Throttling"),
    "logs": (400, "ThrottlingException"),
    "lambda": (429, "TooManyRequestsException"),
    "apigateway": (429, "TooManyRequestsException"),
    "s3": (503, "SlowDown"),
    "events": (400, "ThrottlingException"),
    "scheduler": (429, "ThrottlingException"),
    # TooManyRequestsException, HTTP 429, the model's throttling error (botocore `s3vectors`).
    "s3vectors": (429, "TooManyRequestsException"),
}
SERVER_ERROR = {
    "iam": "InternalFailure",
    "sts": "InternalFailure",
    "cloudformation": "InternalFailure",
    "s3": "InternalError",
    "lambda": "ServiceException",
}


def caller_principal(access_key, region):
    """The IAM identity AWS evaluates data access policies against: an assumed-role session
    counts as its role (with path), as OpenSearch Serverless does."""
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.sts.models import sts_backends

    account = get_account_id_from(access_key)
    try:
        _, arn, account = sts_backends[account]["global"].get_caller_identity(access_key, region)
    except Exception:  # noqa: BLE001 - moto's default identity when it knows nothing better
        arn = f"arn:aws:sts::{account}:user/moto"
    m = re.match(r"^arn:([^:]+):sts::(\d+):assumed-role/([^/]+)/", arn)
    if m:
        partition, acct, role_name = m.groups()
        path = "/"
        try:
            path = iam_backends[acct][partition].get_role(role_name).path
        except Exception:  # noqa: BLE001 - a role moto does not know keeps the root path
            pass
        return f"arn:{partition}:iam::{acct}:role{path}{role_name}"
    return arn


def configured_caller(caller, account):
    """(ARN STS reports, IAM principal AWS evaluates) for a configured caller, or None for moto's
    own identity. An assumed-role session of a role with a path (IAM Identity Center's roles live
    under /aws-reserved/sso.amazonaws.com/) is evaluated as the role, path included; the role is
    created in moto's IAM so that iam:GetRole finds it, as it would on AWS."""
    kind, _, rest = caller.partition(":")
    if kind == "root":
        arn = f"arn:aws:iam::{account}:root"
        return arn, arn
    if kind == "user":
        arn = f"arn:aws:iam::{account}:user/{rest}"
        return arn, arn
    if kind == "federated":
        arn = f"arn:aws:sts::{account}:federated-user/{rest}"
        return arn, arn
    if kind == "role":
        path, _, name = rest.rpartition(":")
        from moto.iam.models import iam_backends

        iam = iam_backends[account]["aws"]
        try:
            iam.get_role(name)
        except Exception:  # noqa: BLE001 - moto raises its own NoSuchEntity
            trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"}]})
            iam.create_role(name, trust, path, None, "the emulator's configured caller", [], None)
        return f"arn:aws:sts::{account}:assumed-role/{name}/ragstack-session", f"arn:aws:iam::{account}:role{path}{name}"
    return None


def role_age(role_arn):
    """Seconds since moto created the role, or None when it does not exist."""
    from moto.core.utils import utcnow
    from moto.iam.models import iam_backends

    m = re.match(r"^arn:([^:]+):iam::(\d+):role/(?:.*/)?([^/]+)$", role_arn or "")
    if not m:
        return None
    partition, account, name = m.groups()
    try:
        role = iam_backends[account][partition].get_role(name)
    except Exception:  # noqa: BLE001 - moto raises its own NoSuchEntity
        return None
    return (utcnow() - role.create_date).total_seconds()


def s3_objects(account, bucket, prefix):
    """{key: etag} of the current objects under prefix, as S3 lists them."""
    from moto.s3.models import FakeDeleteMarker, s3_backends

    try:
        b = s3_backends[account]["aws"].get_bucket(bucket)
    except Exception:  # noqa: BLE001 - a missing bucket holds nothing
        return {}
    out = {}
    for key, obj in b.keys.items():
        if key.startswith(prefix) and not isinstance(obj, FakeDeleteMarker):
            out[key] = obj.etag
    return out


def seed_objects(spec):
    """Writes spec["count"] objects (`PREFIX` alone for 1, else `PREFIX000000.md`...) into moto's S3,
    each with a last-modified time spec["age_seconds"] ago."""
    import datetime

    from moto.s3.models import s3_backends

    backend = s3_backends[spec.get("account", "123456789012")]["aws"]
    bucket, prefix, count = spec["bucket"], spec["prefix"], int(spec["count"])
    when = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(
        seconds=float(spec.get("age_seconds", 0))
    )
    for n in range(count):
        key = prefix if count == 1 else f"{prefix}{n:06d}.md"
        obj = backend.put_object(bucket, key, f"# Document {n}\nseeded for a benchmark".encode())
        obj.last_modified = when
    return {"written": count}


class Emulator:
    def __init__(self, moto_app, settings):
        self.moto_app = moto_app
        self.settings = settings
        self.calls = []
        self.lock = threading.Lock()
        self.rng = random.Random(settings.seed)
        self.validation = {"checked": 0, "rejected": 0, "unmatched": {}}
        self.issued = {}  # access key id -> expiry (epoch seconds) of container credentials
        self.aoss = OpenSearchServerless(settings, self.caller_principal)
        self.s3vectors = s3vectors.S3Vectors(settings)
        self.bedrock_agent = bedrock_agent.BedrockAgent(
            settings, self.aoss, role_age, s3_objects, bedrock_runtime.s3_text, s3vectors=self.s3vectors
        )
        self.bedrock_runtime = bedrock_runtime.BedrockRuntime(settings, self.bedrock_agent)
        iam_auth.group_arn = self._group_arn

    def _group_arn(self, name, account, region):
        """A collection group's ARN (which carries its id) by name, for IAM's evaluation."""
        groups = self.aoss.state(account, region).collection_groups.values()
        found = next((g for g in groups if g.name == name), None)
        return found.arn if found else f"arn:aws:aoss:{region}:{account}:collection-group/{name}"

    def caller_principal(self, access_key, region):
        """The principal data access policies are evaluated against: the configured caller's, or
        the one moto derives from the access key."""
        from moto.iam.models import get_account_id_from

        configured = configured_caller(self.settings.caller, get_account_id_from(access_key or ""))
        return configured[1] if configured else caller_principal(access_key, region)

    def _caller_identity(self, account):
        """GetCallerIdentity's answer for a configured caller (the STS query protocol's XML)."""
        arn, _ = configured_caller(self.settings.caller, account)
        user_id = account if arn.endswith(":root") else "AIDAEMULATORCALLER" + (":ragstack-session" if ":assumed-role/" in arn else "")
        xml = (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
            f"<Arn>{arn}</Arn><UserId>{user_id}</UserId><Account>{account}</Account>"
            "</GetCallerIdentityResult><ResponseMetadata><RequestId>ragstack-emulator</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        )
        return 200, [("Content-Type", "text/xml")], xml.encode()

    # -- request classification ---------------------------------------------------------------

    @staticmethod
    def _credential_scope(environ):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = re.search(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/aws4_request", auth)
        if not m:
            return None, "us-east-1", None
        access_key, region, service = m.groups()
        return service, region, access_key

    @staticmethod
    def _classify(service, environ, body):
        """(operation, mutating, protocol) of a request."""
        target = environ.get("HTTP_X_AMZ_TARGET")
        method = environ.get("REQUEST_METHOD", "GET")
        if target:
            op = target.rsplit(".", 1)[-1]
            return op, not READ_ONLY.match(op), "json"
        ctype = environ.get("CONTENT_TYPE", "")
        if service in ("iam", "sts", "cloudformation") or ctype.startswith("application/x-www-form-urlencoded"):
            params = parse_qs(body.decode("utf-8", "replace")) if body else {}
            params.update(parse_qs(environ.get("QUERY_STRING", "")))
            action = (params.get("Action") or [""])[0]
            if action:
                return action, not READ_ONLY.match(action), "query"
        path = environ.get("PATH_INFO", "/")
        op = f"{method} {path}"
        protocol = "s3" if service == "s3" else "rest-json"
        return op, method not in ("GET", "HEAD", "OPTIONS"), protocol

    # -- faults -------------------------------------------------------------------------------

    def _pick_fault(self):
        with self.lock:
            roll = self.rng.random()
        if roll < self.settings.throttle_rate:
            return "throttle"
        if roll < self.settings.throttle_rate + self.settings.error_rate:
            return "server"
        return None

    @staticmethod
    def _error_response(service, protocol, error):
        if protocol == "json":
            body = json.dumps({"__type": error.code, "message": error.message}).encode()
            return error.status, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", error.code)], body
        if protocol == "query":
            kind = "Receiver" if error.status >= 500 else "Sender"
            xml = (
                f"<ErrorResponse><Error><Type>{kind}</Type><Code>{error.code}</Code>"
                f"<Message>{error.message}</Message></Error><RequestId>ragstack-emulator</RequestId></ErrorResponse>"
            )
            return error.status, [("Content-Type", "text/xml")], xml.encode()
        if protocol == "s3":
            xml = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{error.code}</Code><Message>{error.message}</Message></Error>"
            return error.status, [("Content-Type", "application/xml")], xml.encode()
        body = json.dumps({"message": error.message, "Message": error.message}).encode()
        return error.status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.code)], body

    def _fault(self, service, fault):
        if fault == "throttle":
            status, code = THROTTLING.get(service, (429, "ThrottlingException"))
            return AwsError(status, code, "Rate exceeded")
        return AwsError(500, SERVER_ERROR.get(service, "InternalServerException"), "Injected internal failure")

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_ragstack/"):
            return self._admin(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        service, region, access_key = self._credential_scope(environ)
        operation, mutating, protocol = self._classify(service, environ, body)

        bedrock_route = bedrock_agent.route(environ.get("REQUEST_METHOD"), path) if service == "bedrock" else None
        # Knowledge-base queries (bedrock-agent-runtime) are signed `bedrock` too.
        runtime_route = bedrock_runtime.route(environ.get("REQUEST_METHOD"), path) if service == "bedrock" and not bedrock_route else None
        if bedrock_route:
            operation = bedrock_agent.operation_name(bedrock_route[0])
            mutating = not READ_ONLY.match(operation)
        elif runtime_route:
            operation, mutating = bedrock_runtime.OPERATIONS[runtime_route[0]], False  # queries change no resource
        elif service == "lambda" and environ.get("REQUEST_METHOD") == "POST" and re.match(r"^/2015-03-31/functions/?$", path):
            operation, mutating = "CreateFunction", True
        elif service == "s3vectors":
            # Every S3 Vectors operation is `POST /<OperationName>`, the tag ones on /tags/{arn}.
            operation = s3vectors.operation_name(environ.get("REQUEST_METHOD"), path) or operation
            mutating = not READ_ONLY.match(operation)

        from moto.iam.models import get_account_id_from

        account = get_account_id_from(access_key or "")
        fault = self._pick_fault() if service else None
        try:
            if fault:
                raise self._fault(service, fault)
            self._check_expiry(service, access_key)
            if service and self.settings.validate_requests:
                environ["ragstack.api_operation"] = self._validate(service, environ, body, operation)
            if service and self.settings.enforce_iam:
                self._authorize(service, environ, body, account, region)
            if bedrock_route or runtime_route:
                name, params = bedrock_route or runtime_route
                params = dict(params, _query=parse_qs(environ.get("QUERY_STRING", "")))
                backend = self.bedrock_agent if bedrock_route else self.bedrock_runtime
                status, result = backend.handle(name, params, bedrock_agent.decode(body), account, region)
                headers, payload = [("Content-Type", "application/json")], json.dumps(result).encode()
            elif operation == "CreateFunction":
                age = role_age(json.loads(body or b"{}").get("Role"))
                if age is not None and age < self.settings.delays["iam_propagation"]:
                    raise AwsError(400, "InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda.")
                return self._to_moto(environ, start_response, service, operation, mutating, fault, account, region)
            elif service == "apigateway" and path.startswith("/tags/") and environ.get("REQUEST_METHOD") in ("POST", "PUT"):
                status, headers, payload = moto_fixes.apigateway_tag_resource(environ, body, account, region)
            elif service == "apigateway" and environ.get("REQUEST_METHOD") == "PATCH" and re.match(r"^/restapis/[^/]+/resources/[^/]+/methods/[^/]+/?$", path):
                status, headers, payload = moto_fixes.apigateway_update_method(path, body, account, region)
            elif service == "apigateway" and re.match(r"^/usageplans/[^/]+/usage/?$", path):
                status, headers, payload = moto_fixes.apigateway_usage(path, self.settings)
            elif service == "lambda" and re.match(r"^/2016-08-19/account-settings/?$", path):
                status, headers, payload = moto_fixes.lambda_account_settings(account, region, self.settings)
            elif service == "cloudformation" and operation == "ListImports":
                params = parse_qs(body.decode("utf-8", "replace"))
                status, headers, payload = cloudformation.list_imports(params, account, region)
            elif service == "sts" and operation == "GetCallerIdentity" and self.settings.caller != "moto":
                status, headers, payload = self._caller_identity(account)
            elif service == "s3vectors":
                params = s3vectors.request_params(environ, body)
                status, result = self.s3vectors.handle(operation, params, account, region)
                headers, payload = [("Content-Type", "application/json")], json.dumps(result).encode()
            elif service == "aoss":
                params = json.loads(body or b"{}")
                result = self.aoss.handle(operation, params, account, region, access_key)
                status, headers, payload = 200, [("Content-Type", "application/x-amz-json-1.0")], json.dumps(result).encode()
            else:
                return self._to_moto(environ, start_response, service, operation, mutating, fault, account, region)
        except AwsError as e:
            status, headers, payload = self._error_response(service, protocol, e)
        self._log(service, operation, mutating, status, fault, environ.get("ragstack.api_operation"))
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", headers + [("Content-Length", str(len(payload)))])
        return [payload]

    def _check_expiry(self, service, access_key):
        """Temporary credentials past their expiry are refused: `ExpiredToken` from the query
        services and S3 (IAM and STS API references, common errors), `ExpiredTokenException`
        from the JSON and REST services (AWS common errors: "The security token included in the
        request is expired")."""
        with self.lock:
            expiry = self.issued.get(access_key)
        if expiry is not None and time.time() >= expiry:
            code = "ExpiredToken" if service in ("iam", "sts", "cloudformation", "s3") else "ExpiredTokenException"
            raise AwsError(400 if code == "ExpiredToken" else 403, code, "The security token included in the request is expired")

    def _container_credentials(self, environ):
        """(status, JSON) of the container credentials endpoint AWS CloudShell and ECS provide."""
        token = self.settings.container_credentials_token
        if not token or environ.get("HTTP_AUTHORIZATION") != token:
            return 401, {"Code": "Unauthorized", "Message": "the Authorization token is missing or wrong"}
        lifetime = self.settings.container_credentials_seconds
        expiry = time.time() + lifetime
        with self.lock:
            key = f"ASIAEMULATOR{len(self.issued):08d}"
            self.issued[key] = expiry
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry))
        return 200, {"AccessKeyId": key, "SecretAccessKey": "emulator-secret", "Token": f"session-{key}", "Expiration": stamp}

    def _authorize(self, service, environ, body, account, region):
        """IAM's decision for the configured caller's role (iam_auth.py); only a role is modelled."""
        found = contract.find_operation(service, environ, body)
        if found is None:
            raise AwsError(403, "AccessDeniedException", "the emulator cannot map this request to an IAM action")
        op, params = found
        caller = configured_caller(self.settings.caller, account)
        if not caller or not self.settings.caller.startswith("role:"):
            raise AwsError(403, "AccessDeniedException", "enforce_iam needs caller role:/PATH/:NAME")
        name = self.settings.caller.rpartition(":")[2]
        documents = iam_auth.policies_of(account, name)
        iam_auth.authorize(service, op.name, params, environ, body, account, region, caller[0], documents)
        if service == "lambda" and op.name == "GetFunction" and iam_auth.strips_function_tags(documents, params, account, region):
            environ["ragstack.strip_function_tags"] = True

    def _validate(self, service, environ, body, operation):
        try:
            matched = contract.check(service, environ, body)
        except AwsError:
            with self.lock:
                self.validation["checked"] += 1
                self.validation["rejected"] += 1
            raise
        with self.lock:
            if matched is None:
                key = f"{service} {operation}"
                self.validation["unmatched"][key] = self.validation["unmatched"].get(key, 0) + 1
            else:
                self.validation["checked"] += 1
        return matched

    def _to_moto(self, environ, start_response, service, operation, mutating, fault, account="", region=""):
        seen = {}
        fix = moto_fixes.response_fix(service, environ, account, region)
        if environ.get("ragstack.strip_function_tags"):
            # GetFunction's Tags need lambda:ListTags (iam_auth.py), after moto's own fix if any.
            first = fix or (lambda body: body)

            def fix(body):
                data = json.loads(first(body) or b"{}")
                data.pop("Tags", None)
                return json.dumps(data).encode()

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = int(status.split(" ", 1)[0])
            if fix:
                seen["headers"] = headers
                return lambda _data: None
            return start_response(status, headers, exc_info)

        result = self.moto_app(environ, recording_start_response)
        self._log(service, operation, mutating, seen.get("status", 0), fault, environ.get("ragstack.api_operation"))
        if not fix:
            return result
        body = fix(b"".join(result))
        headers = [(k, v) for k, v in seen["headers"] if k.lower() != "content-length"]
        start_response(f"{seen['status']} OK", headers + [("Content-Length", str(len(body)))])
        return [body]

    def _log(self, service, operation, mutating, status, fault, api_operation=None):
        with self.lock:
            self.calls.append(
                {
                    # The operation's name in the service's API model, where the request matched one.
                    "api_operation": api_operation,
                    "seq": len(self.calls) + 1,
                    "time": time.time(),
                    "service": service or "unknown",
                    "operation": operation,
                    "mutating": bool(mutating),
                    "status": status,
                    "injected": fault,
                }
            )

    def _admin(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO")
        status, result = 200, None
        if path == "/_ragstack/health":
            with self.lock:
                issued = len(self.issued)
            result = {"ok": True, "settings": self.settings.to_dict(), "container_credentials_issued": issued}
        elif path == "/_ragstack/calls" and method == "GET":
            with self.lock:
                result = {"calls": list(self.calls)}
        elif path == "/_ragstack/calls" and method == "DELETE":
            with self.lock:
                self.calls.clear()
            result = {"calls": []}
        elif path == "/_ragstack/container-credentials":
            status, result = self._container_credentials(environ)
        elif path == "/_ragstack/validation":
            with self.lock:
                result = json.loads(json.dumps(self.validation))
        elif path == "/_ragstack/objects" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                status, result = 200, seed_objects(json.loads(environ["wsgi.input"].read(length) or b"{}"))
            except (ValueError, KeyError, TypeError) as e:
                status, result = 400, {"error": str(e)}
        elif path == "/_ragstack/config" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                changes = json.loads(environ["wsgi.input"].read(length) or b"{}")
                self.settings.update(changes)
                if "seed" in changes:
                    with self.lock:
                        self.rng = random.Random(self.settings.seed)
                result = self.settings.to_dict()
            except (ValueError, TypeError) as e:
                status, result = 400, {"error": str(e)}
        else:
            status, result = 404, {"error": f"no admin endpoint {method} {path}"}
        payload = json.dumps(result).encode()
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]
