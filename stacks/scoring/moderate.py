"""Moderate beside scoring: a Parallel of Batch Transform and the moderation step, both after cleaning.

Score and moderate (Parallel: [Score with Batch Transform] | [Moderate feedback]) -> Merge scoring branches ->
(the publish stage, which joins the moderation rows into the table). Built only when ``moderation.toxicity`` or
``moderation.images`` is on; otherwise the definition scores exactly as without moderation.

States of a Parallel branch cannot jump outside it, so the transform gets a ``BranchFailures`` (the training
pipeline's): its failure ends the branch in a ``Fail`` carrying the error and message the failure path would have
notified, and the Parallel's Catch relays them to that path unchanged. The moderation branch never fails: a task
error (after the Lambda family's transient retries) becomes ``{"status": "UNAVAILABLE", "reason": ...}``, so a
moderation failure never loses the scoring results; the summary says moderation was unavailable and why.
"""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.notifications import FailureHandler, transient_retries, vars_of
from stacks.scoring.state import BRANCHES, ERROR, FAILURE, MERGED, MODERATION, MODERATION_ERROR, RUN
from stacks.scoring.transform import ScoreWithBatchTransform
from stacks.state_machine.beside_training import BranchFailures
from stacks.state_machine.fragment import Stage

MODERATE = "Moderate feedback"
#: Tasks whose failure must not fail the scoring run (the scenario tests check exactly that for them).
NON_FATAL_TASKS = (MODERATE,)


def moderation_enabled(config: PipelineConfig) -> bool:
    return config.moderation.toxicity or config.moderation.images


class ModerateFeedback(Stage):
    """The moderation branch. Reads ``$.run.run_id``; ends with ``{"moderation": <the step's result>}``."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig,
                 function: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        m = config.moderation
        keep = sfn.Pass(self, "Keep moderation result",
                        parameters={"moderation": sfn.JsonPath.object_at(MODERATION.result)})
        invoke = tasks.LambdaInvoke(
            self, MODERATE,
            comment="Comprehend DetectToxicContent and Rekognition DetectModerationLabels per record; per-record "
                    "failures are in the rows (scoring/<run_id>/moderation/).",
            lambda_function=function,
            retry_on_service_exceptions=False,  # retried on the "lambda" family below, with jitter
            payload=sfn.TaskInput.from_object({"run_id": sfn.JsonPath.string_at(RUN.run_id)}),
            result_selector={"result": sfn.JsonPath.object_at("$.Payload")},
            result_path=MODERATION,
        )
        for policy in transient_retries("lambda"):
            invoke.add_retry(**vars_of(policy))
        unavailable = sfn.Pass(self, "Moderation unavailable", parameters={
            "status": "UNAVAILABLE",
            "reason": sfn.JsonPath.format("Moderate feedback failed: {}: {}",
                                          sfn.JsonPath.string_at(MODERATION_ERROR.Error),
                                          sfn.JsonPath.string_at(MODERATION_ERROR.Cause)),
            "enabled": {"toxicity": m.toxicity, "images": m.images},
            "toxicity_threshold": m.toxicity_threshold,
        }, result_path=MODERATION.result)
        invoke.add_catch(unavailable, errors=["States.ALL"], result_path=MODERATION_ERROR)
        invoke.next(keep)
        unavailable.next(keep)
        self._stage(invoke, [keep])


class ScoreBesideModeration(Stage):
    """Reads what the transform and the moderation step read; writes ``$.transform`` and ``$.moderation``."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, key: kms.IKey,
                 function: lambda_.IFunction, failures: FailureHandler) -> None:
        super().__init__(scope, construct_id)
        branch_failures = BranchFailures(scope, "ScoringBranchFailures", fail_state="Scoring failed")
        transform = ScoreWithBatchTransform(scope, "Transform", config=config.scoring, key=key,
                                            failures=branch_failures)
        parallel = sfn.Parallel(self, "Score and moderate", result_path=BRANCHES,
                                comment="Batch Transform and moderation side by side; only scoring can fail.")
        parallel.branch(transform)
        parallel.branch(ModerateFeedback(scope, "Moderate", config=config, function=function))
        relay = sfn.Pass(self, "Relay scoring failure", parameters={
            "step": "Score with Batch Transform", "error": sfn.JsonPath.string_at(ERROR.Error),
            "message": sfn.JsonPath.string_at(ERROR.Cause)}, result_path=FAILURE)
        relay.next(failures.entry)
        parallel.add_catch(relay, errors=["States.ALL"], result_path=ERROR)
        merge = sfn.Pass(self, "Merge scoring branches", parameters={"merged": sfn.JsonPath.json_merge(
            sfn.JsonPath.object_at(f"{BRANCHES}[0]"), sfn.JsonPath.object_at(f"{BRANCHES}[1]"))}, output_path=MERGED)
        parallel.next(merge)
        self._stage(parallel, [merge])
