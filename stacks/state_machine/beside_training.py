"""Train beside the baseline: a Parallel of training and the Comprehend baseline, then the run's evaluation report.

Train and run baseline (Parallel: [training stage] | [baseline branch]) -> Merge branch results -> Evaluate run
(Lambda: ``models/<run_id>/evaluation.json``) -> Notify evaluation -> (the next stage: live-model lookup).

States of a Parallel branch cannot jump to states outside it, so the training stage gets a :class:`BranchFailures`:
the same ``protect`` / ``reject`` / ``describe`` as the pipeline's failure handler, ending in a ``Fail`` state inside
the branch with the error and message the handler would have notified. The Parallel's Catch relays them unchanged
to the pipeline's failure path (notify, ``Run failed``): a training failure reads exactly as before. The baseline
branch never fails (see ``baseline.py``), and neither do the evaluation and its notice: a failure there is reported
in the notice, the run goes on to the model gate.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.baseline import BaselineResources
from stacks.constructs.notifications import FailureHandler, Notifications, transient_retries, vars_of
from stacks.state_machine.baseline import ComprehendBaseline
from stacks.state_machine.fragment import Stage
from stacks.state_machine.state import (
    BASELINE,
    BRANCHES,
    ERROR,
    EVALUATION,
    EVALUATION_ERROR,
    FAILURE,
    GLUE,
    MERGED,
    RUN,
    TRAINING_JOB,
)

#: Tasks after the Parallel whose failure must not fail the run.
NON_FATAL_TASKS = ("Evaluate run", "Notify evaluation")


class BranchFailures(FailureHandler):
    """A failure handler for the states of a Parallel branch: it ends in a ``Fail`` inside the branch."""

    def __init__(self, scope: Construct, construct_id: str, *, fail_state: str) -> None:
        super(FailureHandler, self).__init__(scope, construct_id)  # noqa: UP008 (skip the handler's own states)
        self._scope = scope
        self.fail = sfn.Fail(scope, fail_state, comment="Ends the branch; the Parallel's Catch notifies and fails.",
                             error_path=FAILURE.error, cause_path=FAILURE.message)
        self.entry: sfn.IChainable = self.fail


class TrainBesideBaseline(Stage):
    """Reads what training and the baseline read; writes ``$.training_job``, ``$.training``, ``$.gate`` (training),
    ``$.baseline`` (the baseline's result) and ``$.evaluation`` (``report_uri``, ``summary``)."""

    def __init__(self, scope: Construct, construct_id: str, *, train: Callable[[FailureHandler], sfn.IChainable],
                 baseline: ComprehendBaseline, resources: BaselineResources, notifications: Notifications,
                 failures: FailureHandler) -> None:
        super().__init__(scope, construct_id)
        branch_failures = BranchFailures(scope, "TrainingBranchFailures", fail_state="Training failed")
        parallel = sfn.Parallel(self, "Train and run baseline", result_path=BRANCHES,
                                comment="Training and the managed baseline side by side; only training can fail.")
        parallel.branch(train(branch_failures))
        parallel.branch(baseline)
        relay = sfn.Pass(self, "Relay training failure", parameters={
            "step": "Train model", "error": sfn.JsonPath.string_at(ERROR.Error),
            "message": sfn.JsonPath.string_at(ERROR.Cause)}, result_path=FAILURE)
        relay.next(failures.entry)
        parallel.add_catch(relay, errors=["States.ALL"], result_path=ERROR)
        merge = sfn.Pass(self, "Merge branch results", parameters={"merged": sfn.JsonPath.json_merge(
            sfn.JsonPath.object_at(f"{BRANCHES}[0]"), sfn.JsonPath.object_at(f"{BRANCHES}[1]"))}, output_path=MERGED)
        evaluate, notify = self._evaluate(resources), self._notify(notifications)
        parallel.next(merge).next(evaluate).next(notify)
        self._stage(parallel, [notify])

    def _evaluate(self, resources: BaselineResources) -> tasks.LambdaInvoke:
        evaluate = tasks.LambdaInvoke(
            self, "Evaluate run",
            comment="Custom model vs Comprehend on the same reviews, the run's cost: models/<run_id>/evaluation.json.",
            lambda_function=resources.function,
            retry_on_service_exceptions=False,  # retried on the "lambda" family below, with jitter
            payload=sfn.TaskInput.from_object({
                "action": "evaluate", "run_id": sfn.JsonPath.string_at(RUN.run_id),
                "glue_job_run_id": sfn.JsonPath.string_at(GLUE.job_run_id),
                "training_job": sfn.JsonPath.object_at(TRAINING_JOB),
                "baseline": sfn.JsonPath.object_at(BASELINE)}),
            result_selector={"report_uri": sfn.JsonPath.string_at("$.Payload.report_uri"),
                             "summary": sfn.JsonPath.string_at("$.Payload.summary")},
            result_path=EVALUATION,
        )
        unavailable = sfn.Pass(self, "Evaluation unavailable", parameters={
            "report_uri": "none", "summary": sfn.JsonPath.format(
                "Evaluation report unavailable: {}: {}", sfn.JsonPath.string_at(EVALUATION_ERROR.Error),
                sfn.JsonPath.string_at(EVALUATION_ERROR.Cause))}, result_path=EVALUATION)
        for policy in transient_retries("lambda"):
            evaluate.add_retry(**vars_of(policy))
        evaluate.add_catch(unavailable, errors=["States.ALL"], result_path=EVALUATION_ERROR)
        self._after_evaluation = unavailable
        return evaluate

    def _notify(self, notifications: Notifications) -> tasks.SnsPublish:
        notify = notifications.publish(
            self, "Notify evaluation", subject="ds-on-aws: run evaluation (custom model vs Amazon Comprehend, cost)",
            message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                "Run {}: evaluation report {} -- {}", sfn.JsonPath.execution_name,
                sfn.JsonPath.string_at(EVALUATION.report_uri), sfn.JsonPath.string_at(EVALUATION.summary))))
        for policy in transient_retries("sns"):
            notify.add_retry(**vars_of(policy))
        done = sfn.Pass(self, "Evaluation notice skipped", comment="A failed notice never fails the run.",
                        result_path=sfn.JsonPath.DISCARD)
        notify.add_catch(done, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
        self._after_evaluation.next(notify)
        self._notice_skipped = done
        return notify

    @property
    def end_states(self) -> list[sfn.INextable]:
        return [*self._ends, self._notice_skipped]
