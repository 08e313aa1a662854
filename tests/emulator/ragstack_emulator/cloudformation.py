"""CloudFormation stack deletion as AWS answers it, where moto departs from it (what
`ragstack legacy teardown` meets).

- DeleteStack: a resource that cannot be deleted leaves the stack in DELETE_FAILED, with that
  resource's own DELETE_FAILED event and reason and the stack's event "The following resource(s)
  failed to delete: [X]. " (CloudFormation User Guide, "Troubleshooting: Delete stack fails");
  the stack, its remaining resources and its exports stay and a later DeleteStack retries. moto
  raises the resource's error out of DeleteStack and forgets the stack.
- Exports in use: "You can't delete a stack if another stack references one of its outputs"
  (User Guide, "Get exported outputs from a deployed CloudFormation stack"); the stack fails to
  delete with "Export X cannot be deleted as it is in use by Y". moto deletes it.
- Retained resources (DeletionPolicy Retain / RetainExceptOnCreate) stay, each with a
  DELETE_SKIPPED event; moto keeps them silently.
- S3 buckets: CloudFormation cannot delete a bucket that still holds objects; the handler's
  message is S3's BucketNotEmpty ("The bucket you tried to delete is not empty", S3 API Reference,
  DeleteBucket). moto's delete_bucket keeps such a bucket and reports nothing.
- Stack-level tags: CloudFormation tags what it creates with `aws:cloudformation:stack-name`,
  `aws:cloudformation:stack-id` and `aws:cloudformation:logical-id` (CloudFormation User Guide,
  "Tag your CloudFormation resources"); moto does so for EC2 only. Added here to the S3 buckets
  and Lambda functions a stack creates (where ragstack looks).
- Termination protection: "If a user attempts to delete a stack with termination protection
  enabled, the deletion fails and the stack, including its status, remains unchanged"
  (CloudFormation User Guide, "Protect a stack from being deleted"); the answer is ValidationError
  "Stack [NAME] cannot be deleted while TerminationProtection is enabled". moto stores the flag
  but deletes the stack, and has no UpdateTerminationProtection (added here; it answers the
  stack's id, as the API model's UpdateTerminationProtectionOutput says).
- ListImports is missing in moto. AWS answers the names of the importing stacks, or
  ValidationError "Export 'X' is not imported by any stack." when none does (the AWS CLI's
  report of it: "An error occurred (ValidationError) when calling the ListImports operation:
  Export 'X' is not imported by any stack.", which AWS's own tools match on).
"""
from xml.sax.saxutils import escape

from .errors import AwsError

RETAIN = ("Retain", "RetainExceptOnCreate")


def _event(stack, logical, kind, physical, status, reason=None):
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical,
            physical_resource_id=physical or "",
            resource_type=kind,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _imports(value):
    """Every export name a template fragment imports (Fn::ImportValue of a literal name)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Fn::ImportValue" and isinstance(v, str):
                yield v
            else:
                yield from _imports(v)
    elif isinstance(value, list):
        for v in value:
            yield from _imports(v)


def importers(backend, export_name):
    return [s.name for s in backend.stacks.values() if export_name in set(_imports(s.template_dict))]


def _physical(parsed):
    return getattr(parsed, "physical_resource_id", None) if not isinstance(parsed, str) else parsed


def _delete(stack):
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[stack.account_id][stack.region_name]
    stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    for export in stack.exports:
        users = [n for n in importers(backend, export.name) if n != stack.name]
        if users:
            reason = f"Export {export.name} cannot be deleted as it is in use by {', '.join(users)}"
            stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
            stack.status = "DELETE_FAILED"
            return
    resources = stack.resource_map
    failures = {}
    remaining = []
    for logical, rj in resources._resource_json_map.items():
        parsed = resources._parsed_resources.get(logical)
        if rj.get("DeletionPolicy") in RETAIN:
            _event(stack, logical, rj.get("Type", ""), _physical(parsed), "DELETE_SKIPPED")
        elif parsed is not None and not isinstance(parsed, str):
            remaining.append(logical)
    progress = True
    while remaining and progress:
        progress = False
        for logical in list(remaining):
            parsed = resources._parsed_resources[logical]
            rj = resources._resource_json_map[logical]
            try:
                resources._delete_resource(parsed, rj)
            except Exception as e:  # noqa: BLE001 - a handler's failure is the resource's DELETE_FAILED
                failures[logical] = (rj.get("Type", ""), _physical(parsed), getattr(e, "message", None) or str(e))
                continue
            resources._parsed_resources.pop(logical)
            _event(stack, logical, rj.get("Type", ""), _physical(parsed), "DELETE_COMPLETE")
            remaining.remove(logical)
            failures.pop(logical, None)
            progress = True
    if remaining:
        for logical in remaining:
            kind, physical, reason = failures[logical]
            _event(stack, logical, kind, physical, "DELETE_FAILED", reason)
        stack._add_stack_event("DELETE_FAILED", resource_status_reason=f"The following resource(s) failed to delete: [{', '.join(remaining)}]. ")
        stack.status = "DELETE_FAILED"
        return
    stack._add_stack_event("DELETE_COMPLETE")
    stack.status = "DELETE_COMPLETE"


def apply():
    from moto.cloudformation.exceptions import ValidationError as CfnValidationError
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult
    from moto.s3.models import FakeBucket, s3_backends

    Stack.delete = _delete

    def delete_stack(self, name_or_stack_id):
        stack = self.stacks.get(name_or_stack_id) or next((s for s in self.stacks.values() if s.name == name_or_stack_id), None)
        if stack is None:
            return  # AWS: deleting a stack that does not exist succeeds
        if stack.enable_termination_protection:
            raise CfnValidationError(message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled")
        stack.delete()
        if stack.status == "DELETE_COMPLETE":
            self.stacks.pop(stack.stack_id, None)
            self.deleted_stacks[stack.stack_id] = stack
            for export in stack.exports:
                self.exports.pop(export.name, None)

    CloudFormationBackend.delete_stack = delete_stack

    def update_termination_protection(self):
        name = self._get_param("StackName")
        enabled = str(self._get_param("EnableTerminationProtection")).lower() == "true"
        stack = self.cloudformation_backend.get_stack(name)
        stack.enable_termination_protection = enabled
        return ActionResult({"StackId": stack.stack_id})

    CloudFormationResponse.update_termination_protection = update_termination_protection

    original_bucket_delete = FakeBucket.delete_from_cloudformation_json.__func__

    def delete_bucket(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.s3.models import get_partition

        bucket = s3_backends[account_id][get_partition(region_name)].buckets.get(resource_name)
        if bucket is not None and bucket.keys:
            raise RuntimeError(
                "Resource handler returned message: \"The bucket you tried to delete is not empty "
                "(Service: S3, Status Code: 409, Request ID: ragstack-emulator)\""
            )
        return original_bucket_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    FakeBucket.delete_from_cloudformation_json = classmethod(delete_bucket)

    from moto.cloudformation import parsing

    original_create = parsing.parse_and_create_resource

    def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
        resource = original_create(logical_id, resource_json, resources_map, account_id, region_name)
        _stack_tags(resource, logical_id, resources_map, account_id, region_name)
        return resource

    parsing.parse_and_create_resource = parse_and_create_resource


def _stack_tags(resource, logical_id, resources_map, account_id, region_name):
    from moto.awslambda.models import LambdaFunction, lambda_backends
    from moto.s3.models import FakeBucket, s3_backends

    tags = {
        "aws:cloudformation:stack-name": resources_map["AWS::StackName"],
        "aws:cloudformation:stack-id": resources_map["AWS::StackId"],
        "aws:cloudformation:logical-id": logical_id,
    }
    if isinstance(resource, FakeBucket):
        backend = s3_backends[account_id]["aws"]
        current = {t["Key"]: t["Value"] for t in backend.get_bucket_tagging(resource.name).get("Tags", [])}
        backend.put_bucket_tagging(resource.name, {**current, **tags})
    elif isinstance(resource, LambdaFunction):
        lambda_backends[account_id][region_name].tag_resource(resource.function_arn, tags)


def list_imports(params, account, region):
    """(status, headers, body) of ListImports (query protocol)."""
    from moto.cloudformation.models import cloudformation_backends

    name = (params.get("ExportName") or [""])[0]
    names = importers(cloudformation_backends[account][region], name)
    if not names:
        raise AwsError(400, "ValidationError", f"Export '{name}' is not imported by any stack.")
    members = "".join(f"<member>{escape(n)}</member>" for n in names)
    xml = (
        '<ListImportsResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><ListImportsResult>'
        f"<Imports>{members}</Imports></ListImportsResult>"
        "<ResponseMetadata><RequestId>ragstack-emulator</RequestId></ResponseMetadata></ListImportsResponse>"
    )
    return 200, [("Content-Type", "text/xml")], xml.encode()
