"""Prepare run: defaults, the execution input over them, validation, and the run's names."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ds_on_aws.config import RECIPES, PipelineConfig
from stacks.constructs.notifications import FailureHandler
from stacks.state_machine.fragment import Stage
from stacks.state_machine.state import EXECUTION_ID, EXECUTION_INPUT, PREPARE, RUN, Settings

STACK_TAG_KEY = "ds-on-aws:stack"
EXECUTION_TAG_KEY = "ds-on-aws:execution"


def input_is_invalid(settings: Settings, *, raw_uri: str, endpoint_name: str, name_prefix: str) -> sfn.Condition:
    """True when a merged setting has the wrong type, range or scope (all five are present after the merge).

    Checked before anything runs, so a typo costs seconds, not a Glue job and a training job:
    ``raw_s3_uri`` must lie under the raw prefix (the only place the Glue job may read), ``endpoint_name`` must be
    the configured name or start with the project prefix (the only endpoints the role may touch) and contain none
    of the characters a SageMaker name cannot have (``_``, ``.``, ``/``, spaces).
    """
    c = sfn.Condition
    endpoint = settings.endpoint_name
    return c.or_(
        c.not_(c.is_string(settings.raw_s3_uri)),
        c.not_(c.string_matches(settings.raw_s3_uri, f"{raw_uri}*")),
        c.not_(c.is_numeric(settings.min_accuracy)),
        c.number_less_than(settings.min_accuracy, 0),
        c.number_greater_than(settings.min_accuracy, 1),
        c.not_(c.is_boolean(settings.deploy)),
        c.not_(c.is_string(endpoint)),
        c.and_(c.not_(c.string_equals(endpoint, endpoint_name)), c.not_(c.string_matches(endpoint, f"{name_prefix}*"))),
        *(c.string_matches(endpoint, pattern) for pattern in ("*_*", "*.*", "*/*", "* *", "*-")),
        c.is_string(settings.hyperparameters),
        c.is_numeric(settings.hyperparameters),
        c.is_boolean(settings.hyperparameters),
        c.is_null(settings.hyperparameters),
        c.not_(c.is_string(settings.recipe)),
        c.and_(*(c.not_(c.string_equals(settings.recipe, recipe)) for recipe in RECIPES)),
    )


class PrepareRun(Stage):
    """Load defaults -> Merge input over defaults -> Input valid? -> Derive run names -> Keep run settings.

    Reads the execution input (``$$.Execution.Input``). Writes ``$.prepare`` (``defaults``, ``script_mode``,
    ``input``, ``merged.settings``), then ``$.run`` (run id, raw URI, gate threshold, endpoint name, deploy,
    hyperparameters, SageMaker names, channels, model output URI, tags), and keeps only ``$.run``. An invalid input
    ends the run as ``InvalidInput`` before any job starts.

    ``script_mode`` (the training job's code-delivery keys, owned by the training step's job spec) is merged here,
    last, so that an execution input cannot override it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        raw: s3.IBucket,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        name_prefix: str,
        script_mode: Mapping[str, str],
        failures: FailureHandler,
        transformer_script_mode: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        raw_uri = f"s3://{raw.bucket_name}/{config.raw_prefix}"
        invalid_input = self._invalid_input(config, raw, name_prefix, failures)
        load_defaults = sfn.Pass(
            self,
            "Load defaults",
            comment="Defaults from cdk.json (ds-on-aws context); the execution input overrides them.",
            parameters={
                "defaults": {
                    "raw_s3_uri": raw_uri,
                    "hyperparameters": dict(config.training.hyperparameters),
                    "min_accuracy": config.model_quality.min_accuracy,
                    "endpoint_name": config.endpoint.name,
                    "deploy": True,
                    "recipe": config.training.recipe,
                },
                # The code-delivery keys of the training job's spec (the code channel of the isolated job).
                "script_mode": dict(script_mode),
                # The transformer recipe: its defaults (cdk.json "transformer") and its job's fixed keys.
                "transformer_defaults": {"hyperparameters": {"model_name": config.transformer.model_name,
                                                             **config.transformer.hyperparameters}},
                "transformer_script_mode": dict(transformer_script_mode or {}),
                "no_hyperparameters": {"hyperparameters": {}},
                "input": sfn.JsonPath.object_at(EXECUTION_INPUT),
            },
            result_path=PREPARE,
        )
        merge = sfn.Pass(
            self,
            "Merge input over defaults",
            parameters={
                "settings": sfn.JsonPath.json_merge(
                    sfn.JsonPath.object_at(PREPARE.defaults), sfn.JsonPath.object_at(PREPARE.input)
                ),
                # The input's own hyperparameters (or none): the transformer recipe takes no linear defaults.
                "user": sfn.JsonPath.json_merge(
                    sfn.JsonPath.object_at(PREPARE.no_hyperparameters), sfn.JsonPath.object_at(PREPARE.input)
                ),
            },
            result_path=PREPARE.merged,
        )
        derive = self._derive(curated, artifacts, name_prefix)
        keep_run = sfn.Pass(self, "Keep run settings", parameters={"run": sfn.JsonPath.object_at(RUN)})
        valid = (
            sfn.Choice(self, "Input valid?")
            .when(
                input_is_invalid(
                    PREPARE.merged.settings,
                    raw_uri=raw_uri,
                    endpoint_name=config.endpoint.name,
                    name_prefix=name_prefix,
                ),
                invalid_input,
            )
            .otherwise(derive)
        )
        load_defaults.next(merge).next(valid)
        derive.next(keep_run)
        self._stage(load_defaults, [keep_run])

    @staticmethod
    def _invalid_input(
        config: PipelineConfig, raw: s3.IBucket, name_prefix: str, failures: FailureHandler
    ) -> sfn.Pass:
        """Validate input failed: ``InvalidInput`` with the accepted fields and the input echoed."""
        return failures.reject(
            "Validate input",
            error="InvalidInput",
            message=sfn.JsonPath.format(
                "Execution input rejected: optional fields are raw_s3_uri (string under s3://"
                + raw.bucket_name
                + f"/{config.raw_prefix}), hyperparameters (object of strings), min_accuracy (number 0..1), "
                f"endpoint_name ({config.endpoint.name} or {name_prefix}... with letters, digits and dashes), "
                "deploy (true/false), recipe (" + " or ".join(RECIPES) + "); got {}",
                sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(EXECUTION_INPUT)),
            ),
        )

    def _derive(self, curated: s3.IBucket, artifacts: s3.IBucket, name_prefix: str) -> sfn.Pass:
        """run_id = execution name (S3 paths, tags); SageMaker names = <project>-<MD5 of the execution ARN>."""
        name = sfn.JsonPath.format(f"{name_prefix}{{}}", sfn.JsonPath.hash(sfn.JsonPath.string_at(EXECUTION_ID), "MD5"))
        run_id = sfn.JsonPath.execution_name
        settings = PREPARE.merged.settings
        return sfn.Pass(
            self,
            "Derive run names",
            comment="run_id = execution name (S3 paths, tags); SageMaker names = <project>-<MD5 of the execution ARN>.",
            parameters={
                "run_id": run_id,
                "raw_s3_uri": sfn.JsonPath.string_at(settings.raw_s3_uri),
                "min_accuracy": sfn.JsonPath.number_at(settings.min_accuracy),
                "endpoint_name": sfn.JsonPath.string_at(settings.endpoint_name),
                "deploy": sfn.JsonPath.string_at(settings.deploy),
                # per key: cdk.json defaults < execution input < script-mode keys (which cannot be overridden)
                "hyperparameters": sfn.JsonPath.json_merge(
                    sfn.JsonPath.json_merge(
                        sfn.JsonPath.object_at(PREPARE.defaults.hyperparameters),
                        sfn.JsonPath.object_at(settings.hyperparameters),
                    ),
                    sfn.JsonPath.object_at(PREPARE.script_mode),
                ),
                "recipe": sfn.JsonPath.string_at(settings.recipe),
                # per key: cdk.json "transformer" defaults < execution input < the recipe's script-mode keys
                "transformer_hyperparameters": sfn.JsonPath.json_merge(
                    sfn.JsonPath.json_merge(
                        sfn.JsonPath.object_at(PREPARE.transformer_defaults.hyperparameters),
                        sfn.JsonPath.object_at(PREPARE.merged.user.hyperparameters),
                    ),
                    sfn.JsonPath.object_at(PREPARE.transformer_script_mode),
                ),
                "names": {"training_job": name, "model": name, "endpoint_config": name},
                "channels": {
                    split: sfn.JsonPath.format(f"s3://{curated.bucket_name}/curated/{{}}/{split}/", run_id)
                    for split in ("train", "validation")
                },
                "model_output_uri": sfn.JsonPath.format(f"s3://{artifacts.bucket_name}/models/{{}}/", run_id),
                "checkpoint_uri": sfn.JsonPath.format(f"s3://{artifacts.bucket_name}/models/{{}}/checkpoints/", run_id),
                "tags": [
                    {"Key": STACK_TAG_KEY, "Value": Stack.of(self).stack_name},
                    {"Key": EXECUTION_TAG_KEY, "Value": run_id},
                ],
            },
            result_path=RUN,
        )
