"""Custom-resource Lambda: on stack Delete, remove the SageMaker endpoints, endpoint configs and models of the pipeline
(and, for the scoring stack, stop its running Batch Transform jobs).

Runs when the pipeline stack is destroyed, so ``cdk destroy`` leaves nothing that bills. A resource is removed only
when it carries the tag ``ds-on-aws:stack`` = this stack's name AND its name starts with the project prefix; anything
else in the account is never touched. Order: endpoints (then wait until they are gone, since a config in use cannot
be deleted), endpoint configs, models. Every step tolerates "already gone", so a retried Delete is harmless.
On Create and Update it does nothing. Stdlib + boto3 only (the Lambda runtime's own boto3): no bundling, no Docker.

The Lambda is the custom resource's service token directly (no provider framework), so it answers CloudFormation
itself through the pre-signed ``ResponseURL``; every path, errors included, sends exactly one answer, otherwise
CloudFormation would wait for the resource's service timeout.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

STACK_TAG_KEY = "ds-on-aws:stack"
POLL_SECONDS = 15
# Time kept back from the Lambda's remaining time to answer CloudFormation after the last poll.
SAFETY_MARGIN_SECONDS = 30
MAX_REASON_CHARS = 1000

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)


class TeardownError(RuntimeError):
    """Something the pipeline created could not be removed; the message names it."""


@dataclass(frozen=True)
class Kind:
    """One SageMaker resource kind: how to list it, which fields name it, how to delete it."""

    label: str
    list_method: str
    list_key: str
    name_field: str
    arn_field: str
    delete_method: str
    name_param: str


ENDPOINT = Kind(
    "endpoint", "list_endpoints", "Endpoints", "EndpointName", "EndpointArn", "delete_endpoint", "EndpointName"
)
ENDPOINT_CONFIG = Kind(
    "endpoint config",
    "list_endpoint_configs",
    "EndpointConfigs",
    "EndpointConfigName",
    "EndpointConfigArn",
    "delete_endpoint_config",
    "EndpointConfigName",
)
MODEL = Kind("model", "list_models", "Models", "ModelName", "ModelArn", "delete_model", "ModelName")
# Batch Transform jobs cannot be deleted: a running one (a scoring run's) is stopped, so nothing keeps billing.
TRANSFORM_JOB = Kind(
    "transform job",
    "list_transform_jobs",
    "TransformJobSummaries",
    "TransformJobName",
    "TransformJobArn",
    "stop_transform_job",
    "TransformJobName",
)


@dataclass
class Summary:
    """What a teardown removed, per kind (returned to CloudFormation as the resource's data, and logged)."""

    deleted: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: Kind, name: str) -> None:
        self.deleted.setdefault(kind.label, []).append(name)

    def as_data(self) -> dict[str, str]:
        return {label: ",".join(names)[:200] for label, names in self.deleted.items()} | {
            "Count": str(sum(len(n) for n in self.deleted.values()))
        }


def is_not_found(error: Exception) -> bool:
    """SageMaker says "Could not find ..." (ValidationException) for a resource that does not exist (any more)."""
    response = getattr(error, "response", None) or {}
    err = response.get("Error", {})
    return (
        err.get("Code") in ("ValidationException", "ResourceNotFound")
        and "could not find" in err.get("Message", "").lower()
    )


def has_stack_tag(client, arn: str, stack_tag: str) -> bool:
    """True when the resource carries ``ds-on-aws:stack`` = ``stack_tag`` (a vanished resource counts as untagged)."""
    try:
        for page in client.get_paginator("list_tags").paginate(ResourceArn=arn):
            for tag in page.get("Tags", []):
                if tag.get("Key") == STACK_TAG_KEY and tag.get("Value") == stack_tag:
                    return True
    except Exception as error:  # noqa: BLE001 - only "not found" is expected here
        if is_not_found(error):
            return False
        raise
    return False


def find_owned(client, kind: Kind, name_prefix: str, stack_tag: str) -> list[str]:
    """Names of ``kind`` resources that start with ``name_prefix`` and carry this stack's tag (both required)."""
    prefix = name_prefix.lower()
    owned = []
    for page in client.get_paginator(kind.list_method).paginate(NameContains=name_prefix):
        for item in page.get(kind.list_key, []):
            name = item[kind.name_field]
            if name.lower().startswith(prefix) and has_stack_tag(client, item[kind.arn_field], stack_tag):
                owned.append(name)
    return sorted(owned)


def delete_quietly(client, kind: Kind, name: str) -> bool:
    """Delete one resource; ``False`` when it was already gone (idempotent)."""
    try:
        getattr(client, kind.delete_method)(**{kind.name_param: name})
    except Exception as error:  # noqa: BLE001
        if is_not_found(error):
            return False
        raise
    return True


def endpoint_status(client, name: str) -> str | None:
    """The endpoint's status, or ``None`` once it no longer exists."""
    try:
        return client.describe_endpoint(EndpointName=name)["EndpointStatus"]
    except Exception as error:  # noqa: BLE001
        if is_not_found(error):
            return None
        raise


def delete_endpoints_and_wait(
    client,
    names: Iterable[str],
    summary: Summary,
    *,
    time_left: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Delete the endpoints and wait until every one is gone.

    An endpoint that is still Creating or Updating may refuse deletion: the request is repeated on each poll
    until it is accepted or the time runs out (then ``TeardownError`` names what is left).
    """
    pending = set(names)
    while pending:
        for name in sorted(pending):
            status = endpoint_status(client, name)
            if status is None:
                pending.discard(name)
                continue
            if status != "Deleting":
                try:
                    if delete_quietly(client, ENDPOINT, name):
                        summary.add(ENDPOINT, name)
                except Exception as error:  # noqa: BLE001 - e.g. "Cannot delete ... in status Creating": retry
                    LOG.info("endpoint %s (%s) not deletable yet: %s", name, status, error)
                if endpoint_status(client, name) is None:
                    pending.discard(name)
        if not pending:
            break
        if time_left() < poll_seconds:
            raise TeardownError(
                f"endpoint(s) still not deleted when the time ran out: {', '.join(sorted(pending))}; "
                "delete them in the SageMaker console, then retry the stack deletion"
            )
        sleep(poll_seconds)


def stop_running_transform_jobs(client, name_prefix: str, stack_tag: str, summary: Summary) -> None:
    """Stop the in-progress transform jobs with the prefix and this stack's tag; one that ended meanwhile is done."""
    prefix = name_prefix.lower()
    pages = client.get_paginator(TRANSFORM_JOB.list_method).paginate(NameContains=name_prefix, StatusEquals="InProgress")
    for page in pages:
        for item in page.get(TRANSFORM_JOB.list_key, []):
            name = item[TRANSFORM_JOB.name_field]
            if not name.lower().startswith(prefix) or not has_stack_tag(client, item[TRANSFORM_JOB.arn_field], stack_tag):
                continue
            try:
                client.stop_transform_job(TransformJobName=name)
            except Exception as error:  # noqa: BLE001 - a job that is no longer running cannot be stopped: done
                if getattr(error, "response", {}).get("Error", {}).get("Code") != "ValidationException":
                    raise
                continue
            summary.add(TRANSFORM_JOB, name)


def teardown(
    client,
    *,
    stack_tag: str,
    name_prefix: str,
    time_left: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = POLL_SECONDS,
    stop_transform_jobs: bool = False,
) -> Summary:
    """Stop this stack's running transform jobs (when asked), remove its endpoints (waiting for them), then endpoint
    configs, then models."""
    if not stack_tag or not name_prefix:
        raise TeardownError(
            f"refusing to tear down without both a stack tag ({stack_tag!r}) and a name prefix ({name_prefix!r})"
        )
    summary = Summary()
    if stop_transform_jobs:
        stop_running_transform_jobs(client, name_prefix, stack_tag, summary)
    endpoints = find_owned(client, ENDPOINT, name_prefix, stack_tag)
    delete_endpoints_and_wait(client, endpoints, summary, time_left=time_left, sleep=sleep, poll_seconds=poll_seconds)
    for kind in (ENDPOINT_CONFIG, MODEL):
        for name in find_owned(client, kind, name_prefix, stack_tag):
            if delete_quietly(client, kind, name):
                summary.add(kind, name)
    LOG.info("teardown of %s (prefix %s) removed: %s", stack_tag, name_prefix, json.dumps(summary.deleted))
    return summary


def physical_id(event: dict) -> str:
    """Stable across updates: a changed id would make CloudFormation delete the "old" resource, i.e. tear down."""
    return event.get("PhysicalResourceId") or f"teardown-sagemaker-{event['ResourceProperties']['StackTag']}"


def send_response(event: dict, status: str, *, reason: str = "", data: dict | None = None, opener=None):
    """Answer CloudFormation on the pre-signed ``ResponseURL`` (PUT, empty content type, as the S3 URL requires)."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:MAX_REASON_CHARS] or status,
            "PhysicalResourceId": physical_id(event),
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data or {},
        }
    ).encode("utf-8")
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with (opener or urllib.request.urlopen)(request, timeout=30) as response:
        LOG.info("CloudFormation answered %s to %s", response.status, status)


def handle(event: dict, client, *, time_left: Callable[[], float], sleep: Callable[[float], None] = time.sleep) -> dict:
    """The custom resource's work for one event; returns the response data (raises on failure)."""
    request_type = event["RequestType"]
    if request_type in ("Create", "Update"):
        return {}
    if request_type != "Delete":
        raise TeardownError(f"unknown RequestType {request_type!r}")
    props = event.get("ResourceProperties", {})
    summary = teardown(
        client,
        stack_tag=props.get("StackTag", ""),
        name_prefix=props.get("NamePrefix", ""),
        time_left=time_left,
        sleep=sleep,
        stop_transform_jobs=props.get("StopTransformJobs") == "true",
    )
    return summary.as_data()


def handler(event: dict, context) -> None:
    """Lambda entry point."""
    import boto3  # the Lambda runtime's boto3; imported here so the module loads without it

    LOG.info("request %s %s", event.get("RequestType"), event.get("LogicalResourceId"))

    def time_left() -> float:
        return context.get_remaining_time_in_millis() / 1000.0 - SAFETY_MARGIN_SECONDS

    try:
        data = handle(event, boto3.client("sagemaker"), time_left=time_left)
    except Exception as error:  # noqa: BLE001 - every failure must reach CloudFormation as FAILED with its cause
        LOG.exception("teardown failed")
        send_response(event, "FAILED", reason=f"{type(error).__name__}: {error}")
        return
    send_response(event, "SUCCESS", data=data)
