"""Baseline: Amazon Comprehend's batch sentiment job on a validation sample, polled until it ends; never fatal.

Prepare baseline input (Lambda) -> Start Comprehend job -> [Wait -> Describe Comprehend job -> Count poll
-> Comprehend job ended?] until COMPLETED, FAILED or STOPPED, or until ``baseline.max_wait_seconds`` (then the job is
stopped) -> Keep baseline result. The aws-sdk Comprehend integration has no ``.sync``, hence the loop.

Every failure (a task error, a failed or stopped job, the time limit) ends the branch normally with
``$.baseline.result.status`` and ``reason``: the baseline is reported as unavailable, the training run goes on.
"""

from __future__ import annotations

import math

from aws_cdk import Duration, Stack
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ds_on_aws.config import BaselineConfig
from stacks.constructs.baseline import BaselineResources
from stacks.constructs.notifications import transient_retries, vars_of
from stacks.state_machine.fragment import Stage
from stacks.state_machine.prepare import EXECUTION_TAG_KEY, STACK_TAG_KEY
from stacks.state_machine.state import BASELINE, BASELINE_ERROR, RUN, answer

#: Tasks whose failure must not fail the run (the coverage test checks exactly that for them).
NON_FATAL_TASKS = ("Prepare baseline input", "Start Comprehend job", "Describe Comprehend job", "Stop Comprehend job")
ENDED = ("COMPLETED", "FAILED", "STOPPED")
KEEP = "Keep baseline result"


def _retry_transient(task: sfn.TaskStateBase, family: str = "comprehend") -> None:
    for policy in transient_retries(family):
        task.add_retry(**vars_of(policy))


class ComprehendBaseline(Stage):
    """The baseline branch. Reads ``$.run.run_id`` and ``$.run.names.training_job``; writes ``$.baseline`` and ends
    with ``{"baseline": <$.baseline.result>}`` (the branch's output)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: BaselineConfig,
                 resources: BaselineResources) -> None:
        super().__init__(scope, construct_id)
        if not config.enabled:
            disabled = sfn.Pass(self, "Baseline disabled", parameters={"baseline": {
                "status": "disabled", "reason": "baseline.enabled is false in the configuration (cdk.json)"}})
            self._stage(disabled, [disabled])
            return
        keep = self._keep = sfn.Pass(self, KEEP, parameters={"baseline": sfn.JsonPath.object_at(BASELINE.result)})
        prepare = self._guard(tasks.LambdaInvoke(
            self, "Prepare baseline input",
            comment="Sample the validation split, one review a line within 5,120 bytes, and write its manifest.",
            lambda_function=resources.function,
            retry_on_service_exceptions=False,  # retried on the "lambda" family below, with jitter
            payload=sfn.TaskInput.from_object({"action": "prepare", "run_id": sfn.JsonPath.string_at(RUN.run_id)}),
            result_selector={"input_uri": sfn.JsonPath.string_at("$.Payload.input_uri"),
                             "output_uri": sfn.JsonPath.string_at("$.Payload.output_uri"),
                             "documents": sfn.JsonPath.number_at("$.Payload.documents"),
                             "shortened": sfn.JsonPath.number_at("$.Payload.shortened"),
                             "billing_units": sfn.JsonPath.number_at("$.Payload.billing_units")},
            result_path=BASELINE.prepared,
        ))
        start = self._guard(self._start_job(config, resources))
        wait = sfn.Wait(self, "Wait for Comprehend job", time=sfn.WaitTime.duration(Duration.seconds(config.poll_seconds)))
        describe = self._guard(tasks.CallAwsService(
            self, "Describe Comprehend job", service="comprehend", action="describeSentimentDetectionJob",
            parameters={"JobId": sfn.JsonPath.string_at(BASELINE.started.job_id)},
            iam_resources=["*"],  # the state machine role is written explicitly; see PipelineStateMachine
            result_selector={"job": sfn.JsonPath.object_at(answer("SentimentDetectionJobProperties"))},
            result_path=BASELINE.poll,
        ))
        count = sfn.Pass(self, "Count Comprehend poll", parameters={
            "job_id": sfn.JsonPath.string_at(BASELINE.started.job_id),
            "attempt": sfn.JsonPath.math_add(sfn.JsonPath.number_at(BASELINE.started.attempt), 1)},
            result_path=BASELINE.started)
        prepare.next(start).next(wait).next(describe).next(count).next(self._ended(config, wait))
        self._stage(prepare, [keep])

    def _guard(self, task: sfn.TaskStateBase) -> sfn.TaskStateBase:
        """Retry transient errors; anything else ends the branch as UNAVAILABLE with the step, error and cause."""
        step = task.state_id
        unavailable = self._result(f"{step} failed (baseline)", "UNAVAILABLE", sfn.JsonPath.format(
            "{} failed: {}: {}", step, sfn.JsonPath.string_at(BASELINE_ERROR.Error),
            sfn.JsonPath.string_at(BASELINE_ERROR.Cause)))
        _retry_transient(task, "comprehend" if isinstance(task, tasks.CallAwsService) else "lambda")
        task.add_catch(unavailable, errors=["States.ALL"], result_path=BASELINE_ERROR)
        return task

    def _result(self, name: str, status: str | None, reason: str, with_job: bool = False) -> sfn.Pass:
        result = {"status": status if status else sfn.JsonPath.string_at(BASELINE.poll.job.JobStatus),
                  "reason": reason, "prepared": sfn.JsonPath.object_at(BASELINE.prepared)}
        if with_job:
            result["job"] = sfn.JsonPath.object_at(BASELINE.poll.job)
        if status == "UNAVAILABLE":
            result.pop("prepared")  # the failure may come before anything was prepared
        state = sfn.Pass(self, name, parameters=result, result_path=BASELINE.result)
        state.next(self._keep)
        return state

    def _start_job(self, config: BaselineConfig, resources: BaselineResources) -> tasks.CallAwsService:
        name = sfn.JsonPath.string_at(RUN.names.training_job)
        return tasks.CallAwsService(
            self, "Start Comprehend job", service="comprehend", action="startSentimentDetectionJob",
            comment="Batch sentiment of the sample (no .sync for Comprehend: the next states poll it).",
            parameters={
                "JobName": sfn.JsonPath.format("{}-baseline", name),
                "ClientRequestToken": name,  # a retried start does not start a second job
                "InputDataConfig": {"S3Uri": sfn.JsonPath.string_at("$.baseline.prepared.input_uri"),
                                    "InputFormat": "ONE_DOC_PER_LINE"},
                "OutputDataConfig": {"S3Uri": sfn.JsonPath.string_at("$.baseline.prepared.output_uri"),
                                     "KmsKeyId": resources.key.key_arn},
                "VolumeKmsKeyId": resources.key.key_arn,
                "DataAccessRoleArn": resources.comprehend_role.role_arn,
                "LanguageCode": config.language_code,
                "Tags": [{"Key": STACK_TAG_KEY, "Value": Stack.of(self).stack_name},
                         {"Key": EXECUTION_TAG_KEY, "Value": sfn.JsonPath.execution_name}],
            },
            iam_resources=["*"],  # the state machine role is written explicitly; see PipelineStateMachine
            result_selector={"job_id": sfn.JsonPath.string_at(answer("JobId")), "attempt": 0},
            result_path=BASELINE.started,
        )

    def _ended(self, config: BaselineConfig, wait: sfn.Wait) -> sfn.Choice:
        """COMPLETED / FAILED / STOPPED end the loop; past the time limit the job is stopped; else wait again."""
        c, job = sfn.Condition, BASELINE.poll.job
        max_polls = math.ceil(config.max_wait_seconds / config.poll_seconds)
        completed = self._result("Baseline completed", "COMPLETED", "", with_job=True)
        with_message = self._result("Comprehend job ended with a message", None, sfn.JsonPath.format(
            "Comprehend job ended {}: {}", sfn.JsonPath.string_at(job.JobStatus), sfn.JsonPath.string_at(job.Message)),
            with_job=True)
        without_message = self._result("Comprehend job ended without a message", None, sfn.JsonPath.format(
            "Comprehend job ended {} without a message", sfn.JsonPath.string_at(job.JobStatus)), with_job=True)
        timed_out = self._result("Baseline timed out", "TIMED_OUT",
                                 f"Comprehend job still running after {config.max_wait_seconds} s; it was stopped")
        stop = tasks.CallAwsService(
            self, "Stop Comprehend job", service="comprehend", action="stopSentimentDetectionJob",
            parameters={"JobId": sfn.JsonPath.string_at(BASELINE.started.job_id)}, iam_resources=["*"],
            result_path=sfn.JsonPath.DISCARD)
        _retry_transient(stop)
        stop.add_catch(timed_out, errors=["States.ALL"], result_path=BASELINE_ERROR)  # stopping is best effort
        stop.next(timed_out)
        return (
            sfn.Choice(self, "Comprehend job ended?")
            .when(c.string_equals(job.JobStatus, "COMPLETED"), completed)
            .when(c.and_(c.or_(*(c.string_equals(job.JobStatus, s) for s in ENDED[1:])), c.is_present(job.Message)),
                  with_message)
            .when(c.or_(*(c.string_equals(job.JobStatus, s) for s in ENDED[1:])), without_message)
            .when(c.number_greater_than_equals(BASELINE.started.attempt, max_polls), stop)
            .otherwise(wait)
        )
