"""Model gate: the new model against the threshold and (configurable) the live model; then deploy or stop."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ds_on_aws.config import ModelQualityConfig
from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.state_machine.fragment import ChoiceBranch, Stage
from stacks.state_machine.state import GATE, LIVE, REJECTION, RUN, TRAINING


class ModelGate(Stage):
    """Model-quality gate -> Deploy?; a rejection notifies and fails (``ModelRejected``), deploy=false notifies and
    succeeds.

    Reads ``$.gate.accuracy``, ``$.run.min_accuracy``, ``$.live.has_accuracy``, ``$.live.accuracy``,
    ``$.run.endpoint_name``, ``$.training.job_name`` and ``$.run.deploy``; writes ``$.rejection.message`` on a
    rejection. Its end is the ``Deploy?`` branch taken when ``$.run.deploy`` is true.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelQualityConfig,
        notifications: Notifications,
        failures: FailureHandler,
    ) -> None:
        super().__init__(scope, construct_id)
        below, worse = self._rejections(notifications, failures)
        deploy = sfn.Choice(self, "Deploy?")
        deploy_branch = ChoiceBranch(deploy, sfn.Condition.boolean_equals(RUN.deploy, True))
        deploy.otherwise(self._not_deployed(notifications, failures))
        gate = sfn.Choice(self, "Model-quality gate").when(
            sfn.Condition.number_less_than_json_path(GATE.accuracy, RUN.min_accuracy), below
        )
        if config.compare_with_live:
            gate.when(
                sfn.Condition.and_(
                    sfn.Condition.boolean_equals(LIVE.has_accuracy, True),
                    sfn.Condition.number_less_than_json_path(GATE.accuracy, LIVE.accuracy),
                ),
                worse,
            )
        gate.otherwise(deploy)
        self._stage(gate, [deploy_branch])

    def _rejections(self, notifications: Notifications, failures: FailureHandler) -> tuple[sfn.Pass, sfn.Pass]:
        """Below threshold / Worse than live model -> Notify rejection -> Model rejected."""
        rejected = sfn.Fail(
            self,
            "Model rejected",
            comment="The live endpoint was not touched.",
            error="ModelRejected",
            cause_path=REJECTION.message,
        )
        notify_rejected = failures.protect(
            notifications.publish(
                self,
                "Notify rejection",
                subject="ds-on-aws: model REJECTED",
                message=sfn.TaskInput.from_json_path_at(REJECTION.message),
            ),
            "Notify rejection",
            retry="sns",
        )
        notify_rejected.next(rejected)
        below = sfn.Pass(
            self,
            "Below threshold",
            parameters={
                "message": sfn.JsonPath.format(
                    "Model rejected: validation accuracy {} is below the threshold {} (training job {}). "
                    "The live endpoint was not touched.",
                    sfn.JsonPath.string_at(GATE.accuracy),
                    sfn.JsonPath.string_at(RUN.min_accuracy),
                    sfn.JsonPath.string_at(TRAINING.job_name),
                )
            },
            result_path=REJECTION,
        ).next(notify_rejected)
        worse = sfn.Pass(
            self,
            "Worse than live model",
            parameters={
                "message": sfn.JsonPath.format(
                    "Model rejected: validation accuracy {} is below the live model accuracy {} on endpoint {} "
                    "(training job {}). The live endpoint was not touched.",
                    sfn.JsonPath.string_at(GATE.accuracy),
                    sfn.JsonPath.string_at(LIVE.accuracy),
                    sfn.JsonPath.string_at(RUN.endpoint_name),
                    sfn.JsonPath.string_at(TRAINING.job_name),
                )
            },
            result_path=REJECTION,
        ).next(notify_rejected)

        return below, worse

    def _not_deployed(self, notifications: Notifications, failures: FailureHandler) -> sfn.TaskStateBase:
        """deploy = false: Notify accepted, not deployed -> Accepted, not deployed."""
        not_deployed = failures.protect(
            notifications.publish(
                self,
                "Notify accepted, not deployed",
                subject="ds-on-aws: model accepted (not deployed)",
                message=sfn.TaskInput.from_text(
                    sfn.JsonPath.format(
                        "Run {} trained {} with validation accuracy {}; deploy was false, so no endpoint changed.",
                        sfn.JsonPath.execution_name,
                        sfn.JsonPath.string_at(TRAINING.job_name),
                        sfn.JsonPath.string_at(GATE.accuracy),
                    )
                ),
            ),
            "Notify accepted, not deployed",
            retry="sns",
        )
        not_deployed.next(sfn.Succeed(self, "Accepted, not deployed"))
        return not_deployed
