"""Every request checked against the service's published API model before the emulator answers it.

AWS validates each request against its API model (the models botocore ships, installed here with
moto) and answers a violation with a validation error that names the member and the constraint;
moto and our own services check little of it. So the emulator does it here, once, for every
service: required members, types, string and list lengths, numeric ranges, enums and patterns.
A request the Rust SDK happily sends (it checks only that required members are set) fails here as
it would on AWS.

Requests are matched to an operation by protocol: awsJson (X-Amz-Target), query (Action), and
restJson / restXml (method and URI template, the most specific match winning). rest-xml bodies
(S3's XML payloads: CreateBucketConfiguration, Tagging, the notification, encryption, versioning
and public-access-block configurations, Delete) are parsed by their shapes (element names from
`locationName`, lists wrapped or `flattened`), so their members are checked like any other; a
blob or string payload (a bucket policy, an object body) is present, not parsed.
"""
import functools
import json
import re
import threading
from urllib.parse import parse_qs, quote, unquote

import botocore.session

from .errors import AwsError

# Signing name (from the request's credential scope) -> the botocore models served under it. Where
# two models define the same URI (bedrock-agent-runtime's tag operations), the first one wins.
MODELS = {
    "aoss": ("opensearchserverless",),
    "bedrock": ("bedrock-agent", "bedrock", "bedrock-agent-runtime"),
    "iam": ("iam",),
    "sts": ("sts",),
    "s3": ("s3",),
    "lambda": ("lambda",),
    "apigateway": ("apigateway",),
    "logs": ("logs",),
    "cloudformation": ("cloudformation",),
    "events": ("events",),
    "scheduler": ("scheduler",),
    "sqs": ("sqs",),
    "s3vectors": ("s3vectors",),
}

# How each service reports a constraint violation (its API model's error shapes and AWS's
# documented answers): (HTTP status, error code).
ERRORS = {
    "iam": (400, "ValidationError"),
    "sts": (400, "ValidationError"),
    "cloudformation": (400, "ValidationError"),
    "apigateway": (400, "BadRequestException"),
    "s3": (400, "InvalidArgument"),
    # SQS API Reference, "Common Errors": an invalid or out-of-range value.
    "sqs": (400, "InvalidParameterValue"),
}

_session = botocore.session.get_session()
_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def _model(name):
    with _lock:
        return _session.get_service_model(name)


@functools.lru_cache(maxsize=None)
def _routes(service):
    """(method, path regex, required query {key: value or None}, specificity, model, operation)
    for every REST operation of the models behind a signing name."""
    routes = []
    for name in MODELS.get(service, ()):
        model = _model(name)
        if not model.protocol.startswith("rest"):
            continue
        for op_name in model.operation_names:
            http = model.operation_model(op_name).http
            path, _, query = http["requestUri"].partition("?")
            literal = len(re.sub(r"\{[^}]+\}", "", path))
            regex = "^" + re.sub(
                r"\\\{([^}]+?)(\\\+)?\\\}",
                lambda m: f"(?P<{_group(m.group(1))}>.+)" if m.group(2) else f"(?P<{_group(m.group(1))}>[^/]+)",
                re.escape(path.rstrip("/") or "/"),
            ) + "/?$"
            required = {}
            for part in filter(None, query.split("&")):
                k, _, v = part.partition("=")
                required[k] = v or None
            routes.append((http["method"], re.compile(regex), required, (len(required), literal), model, op_name))
    return routes


def _missing_required_member(op, environ, query):
    shape = op.input_shape
    if shape is None:
        return False
    for name in shape.required_members:
        ser = shape.members[name].serialization
        wire = ser.get("name", name)
        if ser.get("location") == "header" and "HTTP_" + wire.upper().replace("-", "_") not in environ:
            return True
        if ser.get("location") == "querystring" and wire not in query:
            return True
    return False


def _group(label):
    return "L_" + re.sub(r"\W", "_", label)


def find_operation(service, environ, body):
    """(operation model, input params as the service received them) or None when no operation
    of the service's models matches."""
    names = MODELS.get(service)
    if not names:
        return None
    target = environ.get("HTTP_X_AMZ_TARGET")
    first = _model(names[0])
    if first.protocol == "json":
        if not target:
            return None
        op_name = target.rsplit(".", 1)[-1]
        if op_name not in first.operation_names:
            return None
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        return first.operation_model(op_name), params
    if first.protocol == "query":
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True) if body else {}
        form.update(parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        flat = {k: v[0] for k, v in form.items()}
        action = flat.get("Action")
        if action not in first.operation_names:
            return None
        op = first.operation_model(action)
        return op, (_from_query(op.input_shape, flat, "") or {}) if op.input_shape else {}
    return _rest(service, environ, body)


def _rest(service, environ, body):
    method = environ.get("REQUEST_METHOD", "GET")
    # Labels are matched on the path as sent: a label holding an ARN has its `/` percent-encoded
    # (PATH_INFO would have decoded it into extra segments).
    path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", "/"))).split("?", 1)[0]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    best = None
    for m, regex, required, specificity, model, op_name in _routes(service):
        if m != method:
            continue
        match = regex.match(path.rstrip("/") or "/")
        if not match:
            continue
        if any(k not in query or (v is not None and query[k][0] != v) for k, v in required.items()):
            continue
        # Operations on one URI differ by a required header or query member (S3's CopyObject by
        # x-amz-copy-source, AbortMultipartUpload by uploadId).
        if _missing_required_member(model.operation_model(op_name), environ, query):
            continue
        if best is None or specificity > best[0]:
            best = (specificity, model, op_name, match)
    if best is None:
        return None
    _, model, op_name, match = best
    op = model.operation_model(op_name)
    shape = op.input_shape
    if shape is None:
        return op, {}
    labels = {k: unquote(v) for k, v in match.groupdict().items()}
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    params = {}
    payload = shape.serialization.get("payload")
    json_body = {}
    if model.protocol == "rest-json" and body and not payload:
        try:
            json_body = json.loads(body)
        except ValueError:
            json_body = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            value = labels.get(_group(wire))
            if value is not None:
                params[name] = _scalar(member, value)
        elif location == "querystring":
            if member.type_name == "map":
                continue
            if wire in query:
                values = query[wire]
                params[name] = [_scalar(member.member, v) for v in values] if member.type_name == "list" else _scalar(member, values[0])
        elif location == "header":
            if wire.lower() in headers:
                params[name] = _scalar(member, headers[wire.lower()])
        elif location == "headers":
            continue
        elif name == payload:
            if body:
                if member.type_name == "structure" and model.protocol == "rest-json":
                    try:
                        params[name] = json.loads(body)
                    except ValueError:
                        params[name] = {}
                elif member.type_name == "structure" and model.protocol == "rest-xml":
                    params[name] = _xml_payload(member, body)
                else:
                    params[name] = _Opaque()
        elif wire in json_body:
            params[name] = json_body[wire]
    return op, params


class _Opaque:
    """A member that is present but not parsed (a blob or string payload)."""


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _xml_payload(shape, body):
    """An XML payload as the structure `shape` describes it; a body that is not XML is left to the
    service (AWS answers MalformedXML) as present."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return _Opaque()
    return _from_xml(shape, root)


def _from_xml(shape, element):
    """restXml's form of a value: a structure's members are child elements named by their
    locationName; a list is wrapped (items named by the member's locationName, default `member`)
    or `flattened` (repeated elements of the list's name, handled by the caller)."""
    if shape.type_name == "structure":
        out = {}
        children = list(element)
        for name, member in shape.members.items():
            if member.serialization.get("xmlAttribute"):
                continue
            wire = member.serialization.get("name", name)
            matches = [c for c in children if _local(c.tag) == wire]
            if not matches:
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                out[name] = [_from_xml(member.member, c) for c in matches]
            else:
                out[name] = _from_xml(member, matches[0])
        return out
    if shape.type_name == "list":
        item = shape.member.serialization.get("name", "member")
        return [_from_xml(shape.member, c) for c in element if _local(c.tag) == item]
    if shape.type_name == "map":
        return {}
    return _scalar(shape, (element.text or "").strip())


def _scalar(shape, text):
    if shape.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if shape.type_name in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            return text
    if shape.type_name == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def _from_query(shape, flat, prefix):
    """The query protocol's flattened form (Tags.member.1.Key=...) as nested values."""
    if shape.type_name == "structure":
        if prefix and not any(k.startswith(prefix + ".") for k in flat):
            return None
        out = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            value = _from_query(member, flat, f"{prefix}.{key}" if prefix else key)
            if value is not None:
                out[name] = value
        return out
    if shape.type_name == "list":
        if prefix in flat and flat[prefix] == "":
            return []
        step = "" if shape.serialization.get("flattened") else ".member"
        items, i = [], 1
        while any(k == f"{prefix}{step}.{i}" or k.startswith(f"{prefix}{step}.{i}.") for k in flat):
            items.append(_from_query(shape.member, flat, f"{prefix}{step}.{i}"))
            i += 1
        return items if items else None
    if shape.type_name == "map":
        out, i = {}, 1
        while f"{prefix}.entry.{i}.key" in flat:
            out[flat[f"{prefix}.entry.{i}.key"]] = _from_query(shape.value, flat, f"{prefix}.entry.{i}.value")
            i += 1
        return out if out else None
    if prefix not in flat:
        return None
    return _scalar(shape, flat[prefix])


# Defects in the published patterns, corrected: AWS accepts what they would reject.
# bedrock-agent's TaggableResourcesArn (botocore 1.44.5) writes `/d{12}` and `/d+` for `\d{12}`
# and `\d+`, so no knowledge-base ARN matches it; ListTagsForResource works on AWS.
PATTERN_FIXES = (("/d{12}", r"\d{12}"), (":/d+", r":\d+"))


def _pattern(p):
    for wrong, right in PATTERN_FIXES:
        p = p.replace(wrong, right)
    try:
        return re.compile(p)
    except re.error:
        return None  # a Java-only construct Python cannot compile: the pattern is not checked


_patterns = functools.lru_cache(maxsize=None)(_pattern)


def violations(shape, value, path, out):
    """Appends (path, value, constraint) for every way `value` breaks `shape`."""
    if shape is None or value is None or isinstance(value, _Opaque):
        return
    meta, kind = shape.metadata, shape.type_name
    if kind == "structure":
        if meta.get("document") or not isinstance(value, dict):
            return
        for name in shape.required_members:
            if value.get(name) is None:
                out.append((_join(path, name), None, "Member must not be null"))
        for name, member in shape.members.items():
            if name in value:
                violations(member, value[name], _join(path, name), out)
    elif kind == "list":
        if not isinstance(value, list):
            out.append((path, value, "Member must be a list"))
            return
        _length(meta, len(value), path, value, out)
        for i, item in enumerate(value, 1):
            violations(shape.member, item, f"{path}.{i}.member", out)
    elif kind == "map":
        if not isinstance(value, dict):
            return
        _length(meta, len(value), path, value, out)
        for k, v in value.items():
            violations(shape.key, k, f"{path}.key", out)
            violations(shape.value, v, f"{path}.{k}", out)
    elif kind == "string":
        if not isinstance(value, str):
            out.append((path, value, "Member must be a string"))
            return
        _length(meta, len(value), path, value, out)
        if "enum" in meta and value not in meta["enum"]:
            out.append((path, value, f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]"))
        if "pattern" in meta:
            compiled = _patterns(meta["pattern"])
            if compiled is not None and not compiled.search(value):
                out.append((path, value, f"Member must satisfy regular expression pattern: {meta['pattern']}"))
    elif kind in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append((path, value, "Member must be a number"))
            return
        if "min" in meta and value < meta["min"]:
            out.append((path, value, f"Member must have value greater than or equal to {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            out.append((path, value, f"Member must have value less than or equal to {meta['max']}"))
    elif kind == "boolean" and not isinstance(value, bool):
        out.append((path, value, "Member must be a boolean"))


def _length(meta, n, path, value, out):
    if "min" in meta and n < meta["min"]:
        out.append((path, value, f"Member must have length greater than or equal to {meta['min']}"))
    if "max" in meta and n > meta["max"]:
        out.append((path, value, f"Member must have length less than or equal to {meta['max']}"))


def _join(path, name):
    name = name[:1].lower() + name[1:]
    return f"{path}.{name}" if path else name


# The answer's wording is the one AWS services give for model constraint violations, e.g.
# "1 validation error detected: Value 'x' at 'name' failed to satisfy constraint: Member must have
# length less than or equal to 32" (the same form aoss.py answers for collection names).
def check(service, environ, body):
    """The operation's name when the request conforms, None when no operation matched; raises
    the validation error the service would answer otherwise."""
    found = find_operation(service, environ, body)
    if found is None:
        return None
    op, params = found
    problems = []
    violations(op.input_shape, params, "", problems)
    if problems:
        status, code = ERRORS.get(service, (400, "ValidationException"))
        shown = "; ".join(
            f"Value {'null' if v is None else repr(v)[:200]} at '{p}' failed to satisfy constraint: {c}" for p, v, c in problems
        )
        n = len(problems)
        raise AwsError(status, code, f"{n} validation error{'s' if n > 1 else ''} detected: {shown}")
    return op.name
