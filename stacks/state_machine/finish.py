"""Record and notify: the deployed model's accuracy on the endpoint, then the success notice."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.deployment import ACCURACY_TAG, EndpointDeployment
from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.state_machine.fragment import Stage
from stacks.state_machine.state import ENDPOINT, GATE, RUN


class RecordLiveModel(Stage):
    """Record live model accuracy: tags the endpoint with the new model's accuracy, its name and the run.

    Reads ``$.endpoint.EndpointArn``, ``$.gate.accuracy`` and ``$.run.names.model``; writes nothing. The next run's
    live-model lookup reads the accuracy tag back.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, deployment: EndpointDeployment, failures: FailureHandler
    ) -> None:
        super().__init__(scope, construct_id)
        d = deployment
        record = failures.protect(
            tasks.CallAwsService(
                self,
                "Record live model accuracy",
                comment=f"Tag {ACCURACY_TAG}: the next run's model must not be worse than this one.",
                service="sagemaker",
                action="addTags",
                parameters={
                    "ResourceArn": sfn.JsonPath.string_at(ENDPOINT.EndpointArn),
                    "Tags": [
                        {
                            "Key": ACCURACY_TAG,
                            "Value": sfn.JsonPath.format("{}", sfn.JsonPath.string_at(GATE.accuracy)),
                        },
                        {"Key": "ds-on-aws:model", "Value": sfn.JsonPath.string_at(RUN.names.model)},
                        {"Key": "ds-on-aws:deployed-by", "Value": sfn.JsonPath.execution_name},
                    ],
                },
                iam_resources=d.endpoint_arns,
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Record live model accuracy",
            retry="sagemaker-sdk",
        )
        self._stage(record, [record])


class NotifyDeployed(Stage):
    """Notify deployed -> Deployed (Succeed): the end of a successful deployment.

    Reads ``$.run.names.model``, ``$.gate.accuracy`` and ``$.run.endpoint_name``; writes nothing.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, notifications: Notifications, failures: FailureHandler
    ) -> None:
        super().__init__(scope, construct_id)
        notify_success = failures.protect(
            notifications.publish(
                self,
                "Notify deployed",
                subject="ds-on-aws: new model deployed",
                message=sfn.TaskInput.from_text(
                    sfn.JsonPath.format(
                        "Run {} deployed model {} (validation accuracy {}) to endpoint {}.",
                        sfn.JsonPath.execution_name,
                        sfn.JsonPath.string_at(RUN.names.model),
                        sfn.JsonPath.string_at(GATE.accuracy),
                        sfn.JsonPath.string_at(RUN.endpoint_name),
                    )
                ),
            ),
            "Notify deployed",
            retry="sns",
        )
        notify_success.next(sfn.Succeed(self, "Deployed"))
        self._stage(notify_success, [])
