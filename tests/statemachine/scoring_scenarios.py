"""The paths of the scoring state machine, each described in ONE place: its input and every mocked answer.

Built like ``scenarios.py`` for the training pipeline: :func:`scoring` gives the services of one scoring run in AWS
API shapes (Glue ``GetJobRun``, SageMaker ``DescribeEndpoint``/``DescribeEndpointConfig``/``DescribeModel``/
``DescribeTransformJob``, S3 ``GetObject``, SNS ``Publish``), and each path changes one or two answers. A path is
a function of the feedback URI the synthesized definition defaults to (read from the definition by the tests).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from tests.statemachine.harness import Fail, Ok, Responder, Scenario, ServiceCall
from tests.statemachine.service_replies import (
    EPOCH_MS,
    ISO_TIME,
    _sagemaker_arn,
    data_quality_refused,
    endpoint,
    endpoint_not_found,
    glue_job_run,
    published,
    service_error,
    throttled,
)

LIVE_CONFIG = "ds-on-aws-0123456789abcdef0123456789abcdef"
LIVE_MODEL = "ds-on-aws-0123456789abcdef0123456789abcdef"
NAMED_MODEL = "ds-on-aws-fedcba9876543210fedcba9876543210"
TRANSFORM_FAILURE = "ClientError: See job logs for more information"
SUMMARY = {"run_id": "run", "counts": {"reviews": 3, "scored": 3, "errors": 0, "duplicates": 0},
           "labels": {"negative": {"count": 1, "share": 0.333333}, "positive": {"count": 2, "share": 0.666667}}}


def endpoint_config(model: str = LIVE_MODEL) -> Responder:
    """DescribeEndpointConfig of the live endpoint's config: one serverless variant serving ``model``."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        name = call.parameters["EndpointConfigName"]
        return Ok({
            "EndpointConfigName": name,
            "EndpointConfigArn": _sagemaker_arn("endpoint-config", name),
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model,
                                    "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 5}}],
            "CreationTime": ISO_TIME,
        })

    return reply


def described_model() -> Responder:
    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        name = call.parameters["ModelName"]
        return Ok({"ModelName": name, "ModelArn": _sagemaker_arn("model", name),
                   "PrimaryContainer": {"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn"},
                   "ExecutionRoleArn": "arn:aws:iam::123456789012:role/ModelRole", "CreationTime": ISO_TIME})

    return reply


def model_not_found() -> Responder:
    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Fail:
        arn = _sagemaker_arn("model", call.parameters["ModelName"])
        return service_error("ValidationException", f'Could not find model "{arn}".')(call, calls)

    return reply


def transform_job(status: str = "Completed", failure_reason: str | None = None) -> Responder:
    """What ``sagemaker:createTransformJob.sync`` returns: the job's DescribeTransformJob (a failed job fails)."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok | Fail:
        p = call.parameters
        described = {
            "TransformJobName": p["TransformJobName"],
            "TransformJobArn": _sagemaker_arn("transform-job", p["TransformJobName"]),
            "TransformJobStatus": status,
            "ModelName": p["ModelName"],
            "MaxConcurrentTransforms": p.get("MaxConcurrentTransforms"),
            "MaxPayloadInMB": p.get("MaxPayloadInMB"),
            "BatchStrategy": p.get("BatchStrategy"),
            "TransformInput": p["TransformInput"],
            "TransformOutput": p["TransformOutput"],
            "TransformResources": p["TransformResources"],
            "DataProcessing": p.get("DataProcessing", {}),
            "CreationTime": EPOCH_MS,
            "TransformStartTime": EPOCH_MS + 60_000,
            "TransformEndTime": EPOCH_MS + 900_000,
        }
        if failure_reason:
            described["FailureReason"] = failure_reason
        if status != "Completed":
            return Fail("States.TaskFailed", json.dumps(described))
        return Ok(described)

    return reply


def summary_object(summary: Mapping = SUMMARY) -> Responder:
    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        body = json.dumps(summary)
        return Ok({"Body": body, "ContentLength": len(body), "ContentType": "application/json",
                   "ServerSideEncryption": "aws:kms", "LastModified": ISO_TIME})

    return reply


def scoring(overrides: Mapping[str, Responder | Sequence[Responder]] | None = None) -> dict:
    """The answers of every service of one scoring run with the live endpoint's model."""
    responses: dict = {
        "glue:startJobRun": glue_job_run(),
        "sagemaker:describeEndpoint": endpoint("InService", config=LIVE_CONFIG),
        "sagemaker:describeEndpointConfig": endpoint_config(),
        "sagemaker:describeModel": described_model(),
        "sagemaker:createTransformJob": transform_job(),
        "s3:getObject": summary_object(),
        "sns:publish": published(),
    }
    responses.update(overrides or {})
    return responses


def path(name: str, *, input: dict | None = None, **overrides) -> Scenario:
    return Scenario(name, input=input or {}, responses=scoring({k.replace("__", ":"): v for k, v in overrides.items()}))


def live_model(feedback: str) -> Scenario:
    return path("live-model")


def named_model_and_input(feedback: str) -> Scenario:
    return path("named-model", input={"input_s3_uri": f"{feedback}week-48.csv", "model_name": NAMED_MODEL})


def cleaning_refused(feedback: str) -> Scenario:
    return path("cleaning-refused", glue__startJobRun=data_quality_refused("min_rows: 0 < 1"))


def transform_failed(feedback: str) -> Scenario:
    return path("transform-failed", sagemaker__createTransformJob=transform_job("Failed", TRANSFORM_FAILURE))


def no_live_model(feedback: str) -> Scenario:
    return path("no-live-model", sagemaker__describeEndpoint=endpoint_not_found())


def named_model_missing(feedback: str) -> Scenario:
    return path("named-model-missing", input={"model_name": NAMED_MODEL}, sagemaker__describeModel=model_not_found())


def live_lookup_denied(feedback: str) -> Scenario:
    denied = service_error("AccessDeniedException", "User is not authorized to perform sagemaker:DescribeEndpoint")
    return path("live-lookup-denied", sagemaker__describeEndpoint=denied)


def named_model_check_denied(feedback: str) -> Scenario:
    denied = service_error("AccessDeniedException", "User is not authorized to perform sagemaker:DescribeModel")
    return path("named-model-denied", input={"model_name": NAMED_MODEL}, sagemaker__describeModel=denied)


def throttled_then_scored(feedback: str) -> Scenario:
    return path(
        "throttled",
        sagemaker__describeEndpoint=[throttled(), endpoint("InService", config=LIVE_CONFIG)],
        sagemaker__createTransformJob=[throttled(), throttled(), transform_job()],
    )


def input_outside_prefixes(feedback: str) -> Scenario:
    return path("input-outside-prefixes", input={"input_s3_uri": "s3://someone-elses-bucket/feedback/x.csv"})


def foreign_model(feedback: str) -> Scenario:
    return path("foreign-model", input={"model_name": "someone-elses-model"})


PATHS: dict[str, Callable[[str], Scenario]] = {
    "live-model": live_model,
    "named-model": named_model_and_input,
    "cleaning-refused": cleaning_refused,
    "transform-failed": transform_failed,
    "no-live-model": no_live_model,
    "named-model-missing": named_model_missing,
    "live-lookup-denied": live_lookup_denied,
    "named-model-denied": named_model_check_denied,
    "throttled": throttled_then_scored,
    "input-outside-prefixes": input_outside_prefixes,
    "foreign-model": foreign_model,
}
