"""Prepare scoring run: defaults, the execution input over them, validation, and the run's names and locations."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from pipeline_contracts import (
    STACK_TAG_KEY,
    predictions_run_key,
    scoring_input_key,
    scoring_summary_key,
    scoring_transform_key,
)

from ds_on_aws.config import PipelineConfig
from stacks.constructs.notifications import FailureHandler
from stacks.scoring.state import PREPARE, RUN, Settings
from stacks.state_machine.fragment import Stage
from stacks.state_machine.prepare import EXECUTION_TAG_KEY
from stacks.state_machine.state import EXECUTION_ID, EXECUTION_INPUT

RUN_ID = "{}"  # the placeholder States.Format fills with the run id


def scoring_input_is_invalid(settings: Settings, *, readable_uris: list[str], name_prefix: str) -> sfn.Condition:
    """True when a merged setting has the wrong type or scope (both are present after the merge).

    ``input_s3_uri`` must lie under a prefix the cleaning job may read (the scoring prefix or the raw prefix);
    ``model_name`` is empty (the live endpoint's model) or a model this project created (``<project>-...``), a
    valid SageMaker name.
    """
    c = sfn.Condition
    model = settings.model_name
    return c.or_(
        c.not_(c.is_string(settings.input_s3_uri)),
        c.not_(c.or_(*(c.string_matches(settings.input_s3_uri, f"{uri}*") for uri in readable_uris))),
        c.not_(c.is_string(model)),
        c.and_(
            c.not_(c.string_equals(model, "")),
            c.or_(
                c.not_(c.string_matches(model, f"{name_prefix}*")),
                *(c.string_matches(model, pattern) for pattern in ("*_*", "*.*", "*/*", "* *", "*-")),
            ),
        ),
    )


class PrepareScoring(Stage):
    """Load scoring defaults -> Merge scoring input -> Scoring input valid? -> Derive scoring names
    -> Keep scoring settings.

    Reads the execution input; writes ``$.prepare``, then ``$.run`` (run id, input URI, model name, transform job
    name, the run's S3 locations, tags) and keeps only ``$.run``. An invalid input ends the run as ``InvalidInput``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        raw: s3.IBucket,
        curated: s3.IBucket,
        name_prefix: str,
        failures: FailureHandler,
    ) -> None:
        super().__init__(scope, construct_id)
        raw_root = f"s3://{raw.bucket_name}/"
        readable = [raw_root + config.scoring.input_prefix, raw_root + config.raw_prefix]
        load = sfn.Pass(
            self,
            "Load scoring defaults",
            comment="Defaults from cdk.json (ds-on-aws.scoring); the execution input overrides them.",
            parameters={
                "defaults": {"input_s3_uri": readable[0], "model_name": ""},
                "input": sfn.JsonPath.object_at(EXECUTION_INPUT),
            },
            result_path=PREPARE,
        )
        merge = sfn.Pass(
            self,
            "Merge scoring input",
            parameters={
                "settings": sfn.JsonPath.json_merge(
                    sfn.JsonPath.object_at(PREPARE.defaults), sfn.JsonPath.object_at(PREPARE.input)
                )
            },
            result_path=PREPARE.merged,
        )
        invalid = failures.reject(
            "Validate scoring input",
            error="InvalidInput",
            message=sfn.JsonPath.format(
                "Execution input rejected: optional fields are input_s3_uri (string under "
                + " or ".join(readable)
                + f"), model_name (empty: the model of the live endpoint; or {name_prefix}... with letters, digits "
                "and dashes); got {}",
                sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(EXECUTION_INPUT)),
            ),
        )
        derive = self._derive(curated, name_prefix)
        keep = sfn.Pass(self, "Keep scoring settings", parameters={"run": sfn.JsonPath.object_at(RUN)})
        valid = (
            sfn.Choice(self, "Scoring input valid?")
            .when(scoring_input_is_invalid(PREPARE.merged.settings, readable_uris=readable, name_prefix=name_prefix),
                  invalid)
            .otherwise(derive)
        )
        load.next(merge).next(valid)
        derive.next(keep)
        self._stage(load, [keep])

    def _derive(self, curated: s3.IBucket, name_prefix: str) -> sfn.Pass:
        """run_id = execution name; the transform job = <project>-<MD5 of the execution ARN>; the run's S3 keys."""
        run_id = sfn.JsonPath.execution_name
        settings = PREPARE.merged.settings
        curated_root = f"s3://{curated.bucket_name}/"

        def at(key: str, suffix: str = "/") -> str:
            return sfn.JsonPath.format(curated_root + key + suffix, run_id)

        return sfn.Pass(
            self,
            "Derive scoring names",
            comment="run_id = execution name (S3 paths, tags); transform job = <project>-<MD5 of the execution ARN>.",
            parameters={
                "run_id": run_id,
                "input_s3_uri": sfn.JsonPath.string_at(settings.input_s3_uri),
                "model_name": sfn.JsonPath.string_at(settings.model_name),
                "names": {
                    "transform_job": sfn.JsonPath.format(
                        f"{name_prefix}{{}}", sfn.JsonPath.hash(sfn.JsonPath.string_at(EXECUTION_ID), "MD5")
                    )
                },
                "scoring_input_uri": at(scoring_input_key(RUN_ID)),
                "transform_output_uri": at(scoring_transform_key(RUN_ID)),
                "summary_key": sfn.JsonPath.format(scoring_summary_key(RUN_ID), run_id),
                "summary_uri": at(scoring_summary_key(RUN_ID), ""),
                "predictions_uri": at(predictions_run_key(RUN_ID)),
                "tags": [
                    {"Key": STACK_TAG_KEY, "Value": Stack.of(self).stack_name},
                    {"Key": EXECUTION_TAG_KEY, "Value": run_id},
                ],
            },
            result_path=RUN,
        )
