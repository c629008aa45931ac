"""Score: the transcripts become feedback records (Lambda), the scoring state machine scores them, then the notice."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.state_machine.fragment import ChoiceBranch, Stage
from stacks.voice.state import FILES, LISTING, RECORDS, RUN, SCORING


class WriteRecords(Stage):
    """Write feedback records (Lambda) -> Any feedback records?

    Reads ``$.files`` and ``$.run.run_id``; writes ``$.records``. The function reads each completed transcript,
    converts it (``common/voice_records.py``) and writes ``<voice.records_prefix><run_id>/feedback.ndjson`` in the raw
    bucket. No record at all (every file failed) ends the run as ``NothingTranscribed``, naming each file's reason.
    """

    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction,
                 failures: FailureHandler) -> None:
        super().__init__(scope, construct_id)
        write = failures.protect(tasks.LambdaInvoke(
            self, "Write feedback records",
            comment="Transcripts -> one record per call and per customer turn, JSON Lines under the scoring prefix.",
            lambda_function=function, retry_on_service_exceptions=False,
            payload=sfn.TaskInput.from_object({"action": "records", "run_id": sfn.JsonPath.string_at(RUN.run_id),
                                               "results": sfn.JsonPath.list_at(FILES)}),
            result_selector={name: sfn.JsonPath.string_at(f"$.Payload.{name}") for name in ("records_uri",)} | {
                name: sfn.JsonPath.number_at(f"$.Payload.{name}") for name in ("records", "calls", "transcribed",
                                                                                 "failed")} | {
                "failures": sfn.JsonPath.list_at("$.Payload.failures")},
            result_path=RECORDS,
        ), "Write feedback records", retry="lambda")
        nothing = failures.reject("Write feedback records", state_name="Nothing transcribed", error="NothingTranscribed",
                                  message=sfn.JsonPath.format(
                                      "No audio file under {} could be transcribed ({} failed): {}",
                                      sfn.JsonPath.string_at(RUN.input_s3_uri),
                                      sfn.JsonPath.string_at(RECORDS.failed),
                                      sfn.JsonPath.json_to_string(sfn.JsonPath.list_at(RECORDS.failures))))
        any_records = sfn.Choice(self, "Any feedback records?")
        any_records.when(sfn.Condition.number_equals(RECORDS.records, 0), nothing)
        write.next(any_records)
        self._stage(write, [ChoiceBranch(any_records)])


class ScoreVoiceFeedback(Stage):
    """Score voice feedback (the scoring state machine, ``.sync:2``) -> Notify voice scored -> Voice feedback scored.

    Reads ``$.records.records_uri``, ``$.run.model_name`` and the counts; writes ``$.scoring``. The scoring execution
    is named after this run, so its run id (the predictions partition) is this run's id. A failed scoring run fails
    this one through the failure path (the scoring run notifies its own failure too).
    """

    def __init__(self, scope: Construct, construct_id: str, *, scoring: sfn.IStateMachine,
                 notifications: Notifications, database_name: str, failures: FailureHandler) -> None:
        super().__init__(scope, construct_id)
        score = failures.protect(tasks.StepFunctionsStartExecution(
            self, "Score voice feedback",
            comment="The scoring state machine on the records (cleaning in score mode, Batch Transform, table).",
            state_machine=scoring, integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            name=sfn.JsonPath.string_at(RUN.run_id),
            input=sfn.TaskInput.from_object({"input_s3_uri": sfn.JsonPath.string_at(RECORDS.records_uri),
                                             "model_name": sfn.JsonPath.string_at(RUN.model_name)}),
            result_selector={"execution_arn": sfn.JsonPath.string_at("$.ExecutionArn"),
                             "status": sfn.JsonPath.string_at("$.Status")},
            result_path=SCORING,
        ), "Score voice feedback")
        notify = failures.protect(notifications.publish(
            self, "Notify voice scored", subject="ds-on-aws: voice feedback scored",
            message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                "Voice run {} transcribed {} of {} audio file(s) under {} ({} failed) into {} feedback records ({} "
                f"calls) in {{}}; scoring run {{}} {{}}: Athena table {database_name}.predictions, partition run_id = "
                "{}. Files not transcribed: {}",
                sfn.JsonPath.string_at(RUN.run_id), sfn.JsonPath.string_at(RECORDS.transcribed),
                sfn.JsonPath.string_at(LISTING.count), sfn.JsonPath.string_at(RUN.input_s3_uri),
                sfn.JsonPath.string_at(RECORDS.failed), sfn.JsonPath.string_at(RECORDS.records),
                sfn.JsonPath.string_at(RECORDS.calls), sfn.JsonPath.string_at(RECORDS.records_uri),
                sfn.JsonPath.string_at(SCORING.execution_arn), sfn.JsonPath.string_at(SCORING.status),
                sfn.JsonPath.string_at(RUN.run_id),
                sfn.JsonPath.json_to_string(sfn.JsonPath.list_at(RECORDS.failures)))),
        ), "Notify voice scored", retry="sns")
        score.next(notify).next(sfn.Succeed(self, "Voice feedback scored"))
        self._stage(score, [])
