"""Mocked service answers, shaped as the AWS API references and Step Functions return them.

Each builder returns an :class:`~tests.statemachine.harness.Ok` / ``Fail`` or a responder (a
function of the call and the calls before it) so that answers can echo what the state machine
really asked for (the training job's own name, the endpoint config it just created ...), as the
services do. Field names follow the API references:

* Glue ``GetJobRun`` ``JobRun`` (what ``glue:startJobRun.sync`` returns, plus ``JobName``); a run
  that ends FAILED/TIMEOUT/STOPPED/ERROR fails the task with ``States.TaskFailed`` and the JobRun as
  JSON cause.
* SageMaker ``DescribeTrainingJob`` (what ``sagemaker:createTrainingJob.sync`` returns), with
  ``FinalMetricDataList`` ``[{MetricName, Value, Timestamp}]`` and ``ModelArtifacts.S3ModelArtifacts``;
  a Failed/Stopped job fails the task with ``States.TaskFailed`` and the description as cause.
* SageMaker ``DescribeEndpoint``, ``ListTags``, ``CreateModel``, ``CreateEndpointConfig``,
  ``CreateEndpoint``, ``UpdateEndpoint``, ``AddTags``; SageMaker Runtime ``InvokeEndpoint``; SNS
  ``Publish``.

Error names are the ones Step Functions reports (see docs/state-machine-tests.md):
an ``aws-sdk:sagemaker:*`` call that the service answers with an error the SDK does not model
(``ValidationException`` "Could not find endpoint", ``ThrottlingException``) fails with
``SageMaker.SageMakerException`` and a cause ``<message> (Service: SageMaker, Status Code: 400,
Request ID: ...)``; the optimized ``sagemaker:*`` integrations report the same errors as
``SageMaker.AmazonSageMakerException`` with ``(Service: AmazonSageMaker; Status Code: 400; Error
Code: ThrottlingException; Request ID: ...)``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence

from tests.statemachine.harness import ACCOUNT, REGION, Fail, Ok, Responder, ServiceCall

EPOCH_MS = 1_795_000_000_000  # a fixed instant (2026-11-17), as epoch milliseconds like .sync outputs carry
ISO_TIME = "2026-11-17T08:53:20.000Z"
DEFAULT_METRICS = {
    "train:accuracy": 0.97,
    "train:f1": 0.97,
    "train:roc_auc": 0.99,
    "validation:accuracy": 0.91,
    "validation:f1": 0.91,
    "validation:roc_auc": 0.96,
}
GLUE_ABNORMAL_STATES = {"FAILED", "TIMEOUT", "STOPPED", "ERROR"}


def _request_id() -> str:
    return str(uuid.uuid4())


def _sagemaker_arn(kind: str, name: str) -> str:
    # SageMaker lower-cases resource names inside ARNs.
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


def latest_parameter(calls: Sequence[ServiceCall], api: str, key: str) -> str:
    """``key`` of the most recent call to ``api`` (e.g. the endpoint config the run just created)."""
    for call in reversed(calls):
        if call.api == api and key in call.parameters:
            return call.parameters[key]
    raise AssertionError(f"no earlier {api} call with {key!r}: calls were {[c.api for c in calls]}")


# ---- errors ----------------------------------------------------------------------------------


def service_error(code: str, message: str) -> Responder:
    """An error the service answers with, named as Step Functions reports it for the calling integration."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Fail:
        service = {"sagemaker": "SageMaker", "sagemakerruntime": "SageMakerRuntime", "glue": "Glue", "sns": "Sns",
                   "comprehend": "Comprehend"}.get(
            call.service, call.service
        )
        if call.integration == "aws-sdk":
            # SDK-modeled errors keep their name (with an Exception suffix); unmodeled ones collapse
            # into the SDK's service exception.
            modeled = code in {"ResourceNotFound", "ResourceLimitExceeded", "ResourceInUse", "ConflictException"}
            name = (
                f"{service}.{code if code.endswith('Exception') else code + 'Exception'}"
                if modeled
                else (f"{service}.{service}Exception")
            )
            return Fail(name, f"{message} (Service: {service}, Status Code: 400, Request ID: {_request_id()})")
        legacy = {"SageMaker": "AmazonSageMaker", "Glue": "AWSGlue", "Sns": "AmazonSNS"}.get(service, service)
        return Fail(
            f"{service}.{legacy}Exception",
            f"{message} (Service: {legacy}; Status Code: 400; Error Code: {code}; Request ID: {_request_id()}; Proxy: null)",
        )

    return reply


def throttled() -> Responder:
    """SageMaker's ``ThrottlingException`` ("Rate exceeded"), as the calling integration reports it."""
    return service_error("ThrottlingException", "Rate exceeded")


def endpoint_not_found() -> Responder:
    """DescribeEndpoint / ListTags of an endpoint that does not exist (first run): ValidationException."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Fail:
        name = call.parameters.get("EndpointName") or call.parameters.get("ResourceArn", "").rsplit("/", 1)[-1]
        return service_error("ValidationException", f'Could not find endpoint "{_sagemaker_arn("endpoint", name)}".')(
            call, calls
        )

    return reply


# ---- Glue ----------------------------------------------------------------------------------


def glue_job_run(state: str = "SUCCEEDED", error_message: str | None = None) -> Responder:
    """What ``glue:startJobRun.sync`` returns when the run ends in ``state`` (JobRun + JobName)."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok | Fail:
        job_run = {
            "Id": f"jr_{uuid.uuid4().hex}{uuid.uuid4().hex}",
            "Attempt": 0,
            "JobName": call.parameters.get("JobName"),
            "JobMode": "SCRIPT",
            "StartedOn": EPOCH_MS,
            "LastModifiedOn": EPOCH_MS + 300_000,
            "CompletedOn": EPOCH_MS + 300_000,
            "JobRunState": state,
            "Arguments": call.parameters.get("Arguments", {}),
            "PredecessorRuns": [],
            "AllocatedCapacity": 2,
            "ExecutionTime": 290,
            "Timeout": 60,
            "MaxCapacity": 2.0,
            "WorkerType": "G.1X",
            "NumberOfWorkers": 2,
            "LogGroupName": "/aws-glue/jobs",
            "GlueVersion": "5.1",
        }
        if error_message is not None:
            job_run["ErrorMessage"] = error_message
        if state in GLUE_ABNORMAL_STATES:
            return Fail("States.TaskFailed", json.dumps(job_run))
        return Ok(job_run)

    return reply


def data_quality_refused(failed_checks: str = "min_class_share: 0.21 < 0.35") -> Responder:
    """The cleaning job refusing its data: the run FAILED with the job's message (exit 3)."""
    return glue_job_run(
        "FAILED",
        "SystemExit: 3. Data quality gate refused run: " + failed_checks,
    )


# ---- SageMaker training --------------------------------------------------------------------


def training_job(
    status: str = "Completed",
    metrics: Mapping[str, float] | None = None,
    failure_reason: str | None = None,
) -> Responder:
    """What ``sagemaker:createTrainingJob.sync`` returns: the job's DescribeTrainingJob response."""
    metrics = dict(DEFAULT_METRICS if metrics is None else metrics)

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok | Fail:
        p = call.parameters
        name = p.get("TrainingJobName", "training-job")
        output_path = p.get("OutputDataConfig", {}).get("S3OutputPath", "s3://artifacts/models/").rstrip("/")
        described = {
            "TrainingJobName": name,
            "TrainingJobArn": _sagemaker_arn("training-job", name),
            "ModelArtifacts": {"S3ModelArtifacts": f"{output_path}/{name}/output/model.tar.gz"},
            "TrainingJobStatus": status,
            "SecondaryStatus": {"Completed": "Completed", "Failed": "Failed", "Stopped": "Stopped"}.get(status, status),
            "HyperParameters": p.get("HyperParameters", {}),
            "AlgorithmSpecification": p.get("AlgorithmSpecification", {}),
            "RoleArn": p.get("RoleArn"),
            "InputDataConfig": p.get("InputDataConfig", []),
            "OutputDataConfig": p.get("OutputDataConfig", {}),
            "ResourceConfig": p.get("ResourceConfig", {}),
            "StoppingCondition": p.get("StoppingCondition", {}),
            "CreationTime": EPOCH_MS,
            "TrainingStartTime": EPOCH_MS + 60_000,
            "TrainingEndTime": EPOCH_MS + 600_000,
            "LastModifiedTime": EPOCH_MS + 600_000,
            "EnableNetworkIsolation": p.get("EnableNetworkIsolation", False),
            "EnableManagedSpotTraining": p.get("EnableManagedSpotTraining", False),
            "TrainingTimeInSeconds": 540,
            "BillableTimeInSeconds": 162,
        }
        if status == "Completed":
            described["FinalMetricDataList"] = [
                {"MetricName": k, "Value": v, "Timestamp": EPOCH_MS + 590_000} for k, v in metrics.items()
            ]
        if failure_reason:
            described["FailureReason"] = failure_reason
        if status != "Completed":
            return Fail("States.TaskFailed", json.dumps(described))
        return Ok(described)

    return reply


def described_training_job(status: str = "Failed", failure_reason: str | None = None) -> Responder:
    """``DescribeTrainingJob`` (aws-sdk) of the run's job after it ended, with its FailureReason when it has one."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        name = call.parameters["TrainingJobName"]
        described = {
            "TrainingJobName": name,
            "TrainingJobArn": _sagemaker_arn("training-job", name),
            "TrainingJobStatus": status,
            "SecondaryStatus": status,
            "CreationTime": EPOCH_MS,
            "LastModifiedTime": EPOCH_MS + 120_000,
            "ModelArtifacts": {"S3ModelArtifacts": ""},
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        }
        if failure_reason:
            described["FailureReason"] = failure_reason
        return Ok(described)

    return reply


# ---- SageMaker hosting ---------------------------------------------------------------------

NEW_CONFIG = "<the endpoint config this run created>"


def endpoint(status: str = "InService", config: str = NEW_CONFIG, failure_reason: str | None = None) -> Responder:
    """A DescribeEndpoint answer. ``config=NEW_CONFIG`` means the config this run just created."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        name = call.parameters["EndpointName"]
        config_name = (
            latest_parameter(calls, "sagemaker:createEndpointConfig", "EndpointConfigName")
            if config == NEW_CONFIG
            else config
        )
        described = {
            "EndpointName": name,
            "EndpointArn": _sagemaker_arn("endpoint", name),
            "EndpointConfigName": config_name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "DeployedImages": [],
                    "CurrentWeight": 1.0,
                    "DesiredWeight": 1.0,
                    "CurrentServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 5},
                }
            ],
            "EndpointStatus": status,
            "CreationTime": ISO_TIME,
            "LastModifiedTime": ISO_TIME,
        }
        if failure_reason:
            described["FailureReason"] = failure_reason
        return Ok(described)

    return reply


def endpoint_tags(tags: Mapping[str, str]) -> Ok:
    """A ListTags answer."""
    return Ok({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})


def created(kind: str) -> Responder:
    """CreateModel / CreateEndpointConfig / CreateEndpoint / UpdateEndpoint answers: the resource ARN."""
    key, name_parameter = {
        "model": ("ModelArn", "ModelName"),
        "endpoint-config": ("EndpointConfigArn", "EndpointConfigName"),
        "endpoint": ("EndpointArn", "EndpointName"),
    }[kind]

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        return Ok({key: _sagemaker_arn(kind, call.parameters[name_parameter])})

    return reply


def tags_added() -> Responder:
    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        return Ok({"Tags": call.parameters.get("Tags", [])})

    return reply


def predictions(count: int | None = None) -> Responder:
    """InvokeEndpoint's answer: the inference contract's JSON body, one prediction per instance."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        body = call.parameters.get("Body")
        try:
            instances = (json.loads(body) if isinstance(body, str) else body)["instances"]
            n = len(instances) if count is None else count
        except (TypeError, ValueError, KeyError):
            n = 1 if count is None else count
        labels = [{"label": "positive" if i % 2 == 0 else "negative", "score": 0.93} for i in range(n)]
        return Ok(
            {
                "Body": json.dumps({"predictions": labels}),
                "ContentType": "application/json",
                "InvokedProductionVariant": "AllTraffic",
            }
        )

    return reply


def model_error(status: int = 400, message: str = '{"error": "no text"}') -> Responder:
    """InvokeEndpoint answered with a client error by the model container (ModelError, modeled)."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Fail:
        return Fail(
            "SageMakerRuntime.ModelErrorException",
            f'Received client error ({status}) from primary with message "{message}". '
            f"(Service: SageMakerRuntime, Status Code: 424, Request ID: {_request_id()})",
        )

    return reply


def published() -> Responder:
    """SNS Publish (optimized integration) answer."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        return Ok(
            {
                "MessageId": str(uuid.uuid4()),
                "SdkHttpMetadata": {"HttpStatusCode": 200},
                "SdkResponseMetadata": {"RequestId": _request_id()},
            }
        )

    return reply


# ---- the managed baseline: Lambda (prepare, evaluate) and Comprehend -------------------------------------------------

ARTIFACTS_URI = "s3://dsonaws-data-artifacts-bucket"
COMPREHEND_JOB_ID = "8a3f0c1e2b4d6f8a0c1e2b4d6f8a0c1e"


def _lambda_answer(payload: dict) -> Ok:
    """The optimized lambda:invoke answer: the function's return value under ``Payload``."""
    return Ok({"ExecutedVersion": "$LATEST", "Payload": payload, "StatusCode": 200,
               "SdkHttpMetadata": {"HttpStatusCode": 200}, "SdkResponseMetadata": {"RequestId": _request_id()}})


def baseline_input_prepared(documents: int = 500, shortened: int = 7) -> Responder:
    """The baseline function's ``prepare`` answer (see stacks/constructs/baseline_runtime/index.py)."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        run_id = call.parameters["Payload"]["run_id"]
        return _lambda_answer({
            "available": 2500, "documents": documents, "shortened": shortened, "characters": 650_000,
            "billing_units": 6_620, "max_document_bytes": 5120,
            "input_uri": f"{ARTIFACTS_URI}/baseline/{run_id}/input/documents.txt",
            "output_uri": f"{ARTIFACTS_URI}/baseline/{run_id}/output/"})

    return reply


def evaluation_written() -> Responder:
    """The ``evaluate`` answer: where the report is and its summary (here: the baseline status it was given)."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        payload = call.parameters["Payload"]
        baseline = payload["baseline"]
        return _lambda_answer({
            "report_uri": f"{ARTIFACTS_URI}/models/{payload['run_id']}/evaluation.json",
            "summary": f"Amazon Comprehend: {baseline['status']} ({baseline.get('reason', '')})"})

    return reply


def comprehend_job_started() -> Ok:
    """StartSentimentDetectionJob's answer."""
    return Ok({"JobId": COMPREHEND_JOB_ID, "JobStatus": "SUBMITTED",
               "JobArn": f"arn:aws:comprehend:us-east-1:{ACCOUNT}:sentiment-detection-job/{COMPREHEND_JOB_ID}"})


def comprehend_job(status: str = "COMPLETED", message: str | None = None) -> Responder:
    """DescribeSentimentDetectionJob's answer for the job the run started (``Message`` only when given)."""

    def reply(call: ServiceCall, calls: Sequence[ServiceCall]) -> Ok:
        started = [c for c in calls if c.api == "comprehend:startSentimentDetectionJob"][-1].parameters
        output = started["OutputDataConfig"]["S3Uri"].rstrip("/")
        job = {
            "JobId": call.parameters["JobId"],
            "JobArn": f"arn:aws:comprehend:us-east-1:{ACCOUNT}:sentiment-detection-job/{call.parameters['JobId']}",
            "JobName": started["JobName"],
            "JobStatus": status,
            "SubmitTime": ISO_TIME,
            "InputDataConfig": started["InputDataConfig"],
            "OutputDataConfig": {"S3Uri": f"{output}/{ACCOUNT}-SENTIMENT-{call.parameters['JobId']}/output/output.tar.gz",
                                 "KmsKeyId": started["OutputDataConfig"]["KmsKeyId"]},
            "LanguageCode": started["LanguageCode"],
            "DataAccessRoleArn": started["DataAccessRoleArn"],
            "VolumeKmsKeyId": started["VolumeKmsKeyId"],
        }
        if status in ("COMPLETED", "FAILED", "STOPPED"):
            job["EndTime"] = "2026-11-17T09:01:40.000Z"
        if message:
            job["Message"] = message
        return Ok({"SentimentDetectionJobProperties": job})

    return reply


def comprehend_job_stopping() -> Ok:
    return Ok({"JobId": COMPREHEND_JOB_ID, "JobStatus": "STOP_REQUESTED"})
