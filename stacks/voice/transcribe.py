"""Transcribe: list the run's audio files, then one Amazon Transcribe batch job per file, polled until it ends.

List audio files (Lambda) -> Any audio files? -> Transcribe each file (Map, at most ``voice.max_concurrency`` at
once): Start transcription job -> [Wait -> Get transcription job -> Count transcription poll -> Transcription job
ended?] until COMPLETED or FAILED, or ``voice.max_wait_seconds`` (then the file is recorded as TIMED_OUT). The
aws-sdk Transcribe integration has no ``.sync``, hence the loop. Every iteration ends with the file's result
(``key``, ``status`` COMPLETED | FAILED | TIMED_OUT | ERROR, ``reason``, ``job_name``, ``output_key``): a failed
file, whatever failed, is recorded with its reason and never stops the others.
"""

from __future__ import annotations

import math

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ds_on_aws.config import VoiceConfig
from stacks.constructs.notifications import FailureHandler
from stacks.state_machine.fragment import ChoiceBranch, Stage
from stacks.voice.state import DESCRIBED, ERROR, FILE, FILE_ERROR, FILES, JOB, LISTING, POLL, RUN

#: Tasks whose failure is recorded for their file and never fails the run (the coverage test checks exactly that).
NON_FATAL_TASKS = ("Start transcription job", "Get transcription job")
#: Transient errors of the aws-sdk Transcribe integration ("Transcribe.<SDK exception>"): retried with jitter.
TRANSIENT = (("Transcribe.LimitExceededException", "Transcribe.InternalFailureException"), 6)
GENERIC = (("Transcribe.TranscribeException",), 3)


def _retry(task: sfn.TaskStateBase) -> None:
    for errors, attempts in (TRANSIENT, GENERIC):
        task.add_retry(errors=list(errors), interval=Duration.seconds(5), backoff_rate=2.0, max_attempts=attempts,
                       max_delay=Duration.minutes(2), jitter_strategy=sfn.JitterType.FULL)


def file_result(status: str, reason: str) -> dict:
    """A file's result (the Map iteration's output), as "Write feedback records" reads it."""
    return {"key": sfn.JsonPath.string_at(FILE.key), "status": status, "reason": reason,
            "job_name": sfn.JsonPath.string_at(FILE.job_name), "output_key": sfn.JsonPath.string_at(FILE.output_key)}


class ListAudio(Stage):
    """List audio files (Lambda) -> Any audio files? Reads ``$.run``; writes ``$.listing``. No file is ``NoAudioFiles``."""

    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction, suffixes: tuple[str, ...],
                 failures: FailureHandler) -> None:
        super().__init__(scope, construct_id)
        listing = failures.protect(tasks.LambdaInvoke(
            self, "List audio files",
            comment="The audio objects under input_s3_uri, each with its job name, transcript key and settings.",
            lambda_function=function,
            retry_on_service_exceptions=False,  # retried on the "lambda" family, with jitter
            payload=sfn.TaskInput.from_object({
                "action": "list", "input_s3_uri": sfn.JsonPath.string_at(RUN.input_s3_uri),
                "run_id": sfn.JsonPath.string_at(RUN.run_id), "job_prefix": sfn.JsonPath.string_at(RUN.job_prefix)}),
            result_selector={"files": sfn.JsonPath.list_at("$.Payload.files"),
                             "count": sfn.JsonPath.number_at("$.Payload.count"),
                             "skipped": sfn.JsonPath.list_at("$.Payload.skipped")},
            result_path=LISTING,
        ), "List audio files", retry="lambda")
        none = failures.reject("List audio files", state_name="No audio files", error="NoAudioFiles", message=(
            sfn.JsonPath.format(f"No audio files ({', '.join(suffixes)}) under {{}}; other objects there: {{}}",
                                sfn.JsonPath.string_at(RUN.input_s3_uri),
                                sfn.JsonPath.json_to_string(sfn.JsonPath.list_at(LISTING.skipped)))))
        found = sfn.Choice(self, "Any audio files?")
        found.when(sfn.Condition.number_equals(LISTING.count, 0), none)
        listing.next(found)
        self._stage(listing, [ChoiceBranch(found)])


class TranscribeFiles(Stage):
    """Transcribe each file (Map). Reads ``$.listing.files`` and replaces it with one result per file, in order."""

    def __init__(self, scope: Construct, construct_id: str, *, config: VoiceConfig, curated: s3.IBucket,
                 key: kms.IKey, failures: FailureHandler) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        each = sfn.Map(
            self, "Transcribe each file", comment="One Transcribe job per audio file; a failed file never stops others.",
            items_path=LISTING.files, max_concurrency=config.max_concurrency,
            item_selector={"file": sfn.JsonPath.object_at("$$.Map.Item.Value"), "poll": {"attempt": 0}},
            result_path=FILES,
        )
        each.item_processor(self._one_file(curated, key))
        # Each file's failures are caught inside the iteration; what is left (e.g. the Map's own payload limit) fails
        # the run through the failure path.
        each.add_catch(failures.describe("Transcribe each file", error=ERROR.Error, cause=ERROR.Cause),
                       errors=["States.ALL"], result_path=ERROR)
        self._stage(each, [each])

    def _one_file(self, curated: s3.IBucket, key: kms.IKey) -> sfn.IChainable:
        c, config = sfn.Condition, self._config
        start = tasks.CallAwsService(
            self, "Start transcription job", service="transcribe", action="startTranscriptionJob",
            comment="Batch transcription; channel identification for two-channel audio, else speaker labels.",
            parameters={
                "TranscriptionJobName": sfn.JsonPath.string_at(FILE.job_name),
                "LanguageCode": config.language_code,
                "MediaFormat": sfn.JsonPath.string_at(FILE.media_format),
                "Media": {"MediaFileUri": sfn.JsonPath.string_at(FILE.media_uri)},
                "OutputBucketName": curated.bucket_name,
                "OutputKey": sfn.JsonPath.string_at(FILE.output_key),
                "OutputEncryptionKMSKeyId": key.key_arn,
                "Settings": sfn.JsonPath.object_at(FILE.settings),
            },
            iam_resources=["*"],  # the state machine role is written explicitly (stacks/constructs/voice.py)
            result_path=DESCRIBED,
        )
        wait = sfn.Wait(self, "Wait for transcription", time=sfn.WaitTime.duration(Duration.seconds(config.poll_seconds)))
        get = tasks.CallAwsService(
            self, "Get transcription job", service="transcribe", action="getTranscriptionJob",
            parameters={"TranscriptionJobName": sfn.JsonPath.string_at(FILE.job_name)}, iam_resources=["*"],
            result_path=DESCRIBED,
        )
        keep = sfn.Pass(self, "Count transcription poll", parameters={
            "attempt": sfn.JsonPath.math_add(sfn.JsonPath.number_at(POLL.attempt), 1)}, result_path=POLL)
        for task in (start, get):
            _retry(task)
            task.add_catch(self._result(f"{task.state_id} failed (file)", "ERROR", sfn.JsonPath.format(
                "{} failed: {}: {}", task.state_id, sfn.JsonPath.string_at(FILE_ERROR.Error),
                sfn.JsonPath.string_at(FILE_ERROR.Cause))), errors=["States.ALL"], result_path=FILE_ERROR)
        # A start retried after the job was created answers ConflictException: the job exists, so watch it.
        start.add_catch(wait, errors=["Transcribe.ConflictException"], result_path=FILE_ERROR)
        max_polls = math.ceil(config.max_wait_seconds / config.poll_seconds)
        status = JOB.TranscriptionJobStatus
        ended = (
            sfn.Choice(self, "Transcription job ended?")
            .when(c.string_equals(status, "COMPLETED"), self._result("File transcribed", "COMPLETED", ""))
            .when(c.and_(c.string_equals(status, "FAILED"), c.is_present(JOB.FailureReason)),
                  self._result("File not transcribed", "FAILED", sfn.JsonPath.format(
                      "Transcribe job {} failed: {}", sfn.JsonPath.string_at(FILE.job_name),
                      sfn.JsonPath.string_at(JOB.FailureReason))))
            .when(c.string_equals(status, "FAILED"), self._result("File not transcribed, no reason", "FAILED",
                  sfn.JsonPath.format("Transcribe job {} failed without a reason", sfn.JsonPath.string_at(FILE.job_name))))
            .when(c.number_greater_than_equals(POLL.attempt, max_polls), self._result(
                "File timed out", "TIMED_OUT", sfn.JsonPath.format(
                    f"Transcribe job {{}} still {{}} after {config.max_wait_seconds} s (voice.max_wait_seconds): not "
                    "scored in this run; its transcript lands under transcripts/ when it completes",
                    sfn.JsonPath.string_at(FILE.job_name), sfn.JsonPath.string_at(status))))
            .otherwise(wait)
        )
        start.next(wait)
        wait.next(get).next(keep).next(ended)
        return start

    def _result(self, name: str, status: str, reason: str) -> sfn.Pass:
        return sfn.Pass(self, name, parameters=file_result(status, reason))
