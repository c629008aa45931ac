"""Prepare voice run: defaults, the execution input over them, validation, the run's id and job-name prefix."""

from __future__ import annotations

from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.notifications import FailureHandler
from stacks.scoring.prepare import scoring_input_is_invalid
from stacks.state_machine.fragment import Stage
from stacks.state_machine.state import EXECUTION_ID, EXECUTION_INPUT
from stacks.voice.state import PREPARE, RUN


class PrepareVoice(Stage):
    """Load voice defaults -> Merge voice input -> Voice input valid? -> Derive voice names -> Keep voice settings.

    Reads the execution input (``input_s3_uri``: the audio prefix or one file under it; ``model_name``: passed to the
    scoring run); keeps only ``$.run``. An invalid input ends the run as ``InvalidInput`` before any job starts.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, raw: s3.IBucket,
                 name_prefix: str, failures: FailureHandler) -> None:
        super().__init__(scope, construct_id)
        audio_root = f"s3://{raw.bucket_name}/{config.voice.audio_prefix}"
        load = sfn.Pass(
            self, "Load voice defaults",
            comment="Defaults from cdk.json (ds-on-aws.voice); the execution input overrides them.",
            parameters={"defaults": {"input_s3_uri": audio_root, "model_name": ""},
                        "input": sfn.JsonPath.object_at(EXECUTION_INPUT)},
            result_path=PREPARE,
        )
        merge = sfn.Pass(self, "Merge voice input", parameters={"settings": sfn.JsonPath.json_merge(
            sfn.JsonPath.object_at(PREPARE.defaults), sfn.JsonPath.object_at(PREPARE.input))},
            result_path=PREPARE.merged)
        invalid = failures.reject(
            "Validate voice input", error="InvalidInput",
            message=sfn.JsonPath.format(
                f"Execution input rejected: optional fields are input_s3_uri (string under {audio_root}: the audio "
                f"prefix or one file), model_name (empty: the model of the live endpoint; or {name_prefix}... with "
                "letters, digits and dashes); got {}",
                sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(EXECUTION_INPUT))),
        )
        settings = PREPARE.merged.settings
        derive = sfn.Pass(
            self, "Derive voice names",
            comment="run_id = execution name; transcription jobs = <project>-<MD5 of the execution ARN>-<n>.",
            parameters={
                "run_id": sfn.JsonPath.execution_name,
                "input_s3_uri": sfn.JsonPath.string_at(settings.input_s3_uri),
                "model_name": sfn.JsonPath.string_at(settings.model_name),
                "job_prefix": sfn.JsonPath.format(
                    f"{name_prefix}{{}}", sfn.JsonPath.hash(sfn.JsonPath.string_at(EXECUTION_ID), "MD5")),
            },
            result_path=RUN,
        )
        keep = sfn.Pass(self, "Keep voice settings", parameters={"run": sfn.JsonPath.object_at(RUN)})
        valid = (
            sfn.Choice(self, "Voice input valid?")
            .when(scoring_input_is_invalid(settings, readable_uris=[audio_root], name_prefix=name_prefix), invalid)
            .otherwise(derive)
        )
        load.next(merge).next(valid)
        derive.next(keep)
        self._stage(load, [keep])
