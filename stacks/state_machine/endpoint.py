"""Create or update endpoint, and wait for endpoint: the hosting steps up to an InService endpoint on the new config.

Safety rules (docs/architecture.md "A failure never deletes or degrades the live endpoint"):
* the live endpoint is only ever *updated* to a new, complete endpoint config; SageMaker keeps serving the old one
  until the new one is InService, and rolls back to it if the update fails;
* an update that rolled back (InService again, but on the OLD config) is reported as a failure;
* the only delete is of an endpoint this very run created (first run) that ended ``Failed``: it serves nothing.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.deployment import WAITING_STATUSES, EndpointDeployment, production_variant
from stacks.constructs.notifications import FailureHandler
from stacks.state_machine.fragment import Continuation, Stage
from stacks.state_machine.state import ENDPOINT, LIVE, RUN, TRAINING, WAIT


class CreateOrUpdateEndpoint(Stage):
    """Create model -> Create endpoint config -> Live endpoint exists? -> Create endpoint | Update live endpoint.

    Reads ``$.run.names.model``, ``$.run.names.endpoint_config``, ``$.run.endpoint_name``, ``$.run.tags``,
    ``$.training.model_data_url`` and ``$.live.exists``; writes nothing (results discarded).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, deployment: EndpointDeployment, failures: FailureHandler
    ) -> None:
        super().__init__(scope, construct_id)
        d = deployment
        create_model, create_config = self._model_and_config(d, failures)
        create_endpoint = failures.protect(
            tasks.SageMakerCreateEndpoint(
                self,
                "Create endpoint",
                endpoint_name=sfn.JsonPath.string_at(RUN.endpoint_name),
                endpoint_config_name=sfn.JsonPath.string_at(RUN.names.endpoint_config),
                tags=sfn.TaskInput.from_json_path_at(RUN.tags),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Create endpoint",
            retry="sagemaker",
        )
        update_endpoint = failures.protect(
            tasks.SageMakerUpdateEndpoint(
                self,
                "Update live endpoint",
                endpoint_name=sfn.JsonPath.string_at(RUN.endpoint_name),
                endpoint_config_name=sfn.JsonPath.string_at(RUN.names.endpoint_config),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Update live endpoint",
            retry="sagemaker",
        )

        create_or_update = (
            sfn.Choice(self, "Live endpoint exists?")
            .when(sfn.Condition.boolean_equals(LIVE.exists, True), update_endpoint)
            .otherwise(create_endpoint)
        )
        create_model.next(create_config)
        create_config.next(create_or_update)
        self._stage(create_model, [create_endpoint, update_endpoint])

    def _model_and_config(
        self, d: EndpointDeployment, failures: FailureHandler
    ) -> tuple[sfn.TaskStateBase, sfn.TaskStateBase]:
        """Create model (the image, model.tar.gz, the model role) and Create endpoint config (one variant)."""
        create_model = failures.protect(
            tasks.SageMakerCreateModel(
                self,
                "Create model",
                model_name=sfn.JsonPath.string_at(RUN.names.model),
                primary_container=tasks.ContainerDefinition(
                    image=(tasks.DockerImage.from_json_expression(sfn.JsonPath.string_at(d.image_path))
                           if d.image_path else tasks.DockerImage.from_registry(d.image_uri)),
                    mode=tasks.Mode.SINGLE_MODEL,
                    model_s3_location=tasks.S3Location.from_json_expression(TRAINING.model_data_url),
                    # The inference code travels inside model.tar.gz (code/), so no mode downloads anything.
                    environment_variables=sfn.TaskInput.from_object(dict(d.model_spec.environment)),
                ),
                enable_network_isolation=d.model_spec.network_isolation,
                role=d.model_role.without_policy_updates(),
                tags=sfn.TaskInput.from_json_path_at(RUN.tags),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Create model",
            retry="sagemaker",
        )

        endpoint_config_parameters: dict = {
            "EndpointConfigName": sfn.JsonPath.string_at(RUN.names.endpoint_config),
            "ProductionVariants": [production_variant(d.config)],
            "Tags": sfn.JsonPath.list_at(RUN.tags),
        }
        if d.config.mode == "instance":
            # Serverless variants take no volume key; instance volumes are encrypted with the data key.
            endpoint_config_parameters["KmsKeyId"] = d.key.key_arn
        create_config = failures.protect(
            tasks.CallAwsService(
                self,
                "Create endpoint config",
                comment=f"{d.config.mode} endpoint config (the L2 task has no ServerlessConfig, hence the SDK call)",
                service="sagemaker",
                action="createEndpointConfig",
                parameters=endpoint_config_parameters,
                iam_resources=["*"],  # the state machine role is written explicitly; see PipelineStateMachine
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Create endpoint config",
            retry="sagemaker-sdk",
        )
        return create_model, create_config


class WaitForEndpoint(Stage):
    """Start waiting -> Wait for endpoint -> Describe endpoint -> Count wait attempt -> Endpoint ready?

    Reads ``$.run.endpoint_name``, ``$.run.names.endpoint_config`` and ``$.live.exists``; writes ``$.wait.attempt``
    and ``$.endpoint`` (the last DescribeEndpoint). Its end is the branch "InService on the new config"; every other
    status waits again or fails the run (``EndpointUpdateRolledBack``, ``EndpointFailed`` -- after deleting an
    endpoint this run created --, ``EndpointTimeout``, ``EndpointUnexpectedStatus``).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, deployment: EndpointDeployment, failures: FailureHandler
    ) -> None:
        super().__init__(scope, construct_id)
        d = deployment
        start_wait, wait, describe, count = self._loop(d, failures)
        ready = sfn.Choice(self, "Endpoint ready?")
        outcomes = self._outcomes(d, failures)
        start_wait.next(wait)
        wait.next(describe)
        describe.next(count)
        count.next(ready)

        def wire(next_state: sfn.IChainable) -> None:
            """The Choice's branches, in order: the first that matches wins, so "new config" comes first."""
            rolled_back, delete_failed_new, failed_update, timed_out, unexpected = outcomes
            status = ENDPOINT.EndpointStatus
            (
                ready
                .when(
                    sfn.Condition.and_(
                        sfn.Condition.string_equals(status, "InService"),
                        sfn.Condition.string_equals_json_path(
                            ENDPOINT.EndpointConfigName, RUN.names.endpoint_config
                        ),
                    ),
                    next_state,
                )
                .when(sfn.Condition.string_equals(status, "InService"), rolled_back)
                .when(
                    sfn.Condition.and_(
                        sfn.Condition.string_equals(status, "Failed"), sfn.Condition.boolean_equals(LIVE.exists, False)
                    ),
                    delete_failed_new,
                )
                .when(sfn.Condition.string_equals(status, "Failed"), failed_update)
                .when(sfn.Condition.number_greater_than_equals(WAIT.attempt, d.config.max_wait_attempts), timed_out)
                .when(sfn.Condition.or_(*[sfn.Condition.string_equals(status, s_) for s_ in WAITING_STATUSES]), wait)
                .otherwise(unexpected)
            )

        self._stage(start_wait, [Continuation(wire)])

    def _loop(self, d: EndpointDeployment, failures: FailureHandler) -> tuple[sfn.State, ...]:
        """Start waiting, Wait for endpoint (``endpoint.wait_seconds``), Describe endpoint, Count wait attempt."""
        start_wait = sfn.Pass(self, "Start waiting", parameters={"attempt": 0}, result_path=WAIT)
        wait = sfn.Wait(self, "Wait for endpoint", time=sfn.WaitTime.duration(Duration.seconds(d.config.wait_seconds)))
        describe = failures.protect(
            tasks.CallAwsService(
                self,
                "Describe endpoint",
                service="sagemaker",
                action="describeEndpoint",
                parameters={"EndpointName": sfn.JsonPath.string_at(RUN.endpoint_name)},
                iam_resources=d.endpoint_arns,
                result_path=ENDPOINT,
            ),
            "Describe endpoint",
            retry="sagemaker-sdk",
        )
        count = sfn.Pass(
            self,
            "Count wait attempt",
            parameters={"attempt": sfn.JsonPath.math_add(sfn.JsonPath.number_at(WAIT.attempt), 1)},
            result_path=WAIT,
        )
        return start_wait, wait, describe, count

    def _outcomes(self, d: EndpointDeployment, failures: FailureHandler) -> tuple[sfn.IChainable, ...]:
        """The failing outcomes of the wait: rolled back, failed (new: delete it first), timed out, unexpected."""
        delete_failed_new = failures.protect(
            tasks.CallAwsService(
                self,
                "Delete failed new endpoint",
                comment="Only an endpoint this run created (no live endpoint before) and that ended Failed: it serves nothing.",
                service="sagemaker",
                action="deleteEndpoint",
                parameters={"EndpointName": sfn.JsonPath.string_at(RUN.endpoint_name)},
                iam_resources=d.endpoint_arns,
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Delete failed new endpoint",
            retry="sagemaker-sdk",
        )
        endpoint_json = sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(ENDPOINT))
        failed_new = failures.reject(
            "Endpoint deployment",
            error="EndpointFailed",
            message=sfn.JsonPath.format("The new endpoint ended Failed and was deleted: {}", endpoint_json),
        )
        delete_failed_new.next(failed_new)
        failed_update = failures.reject(
            "Endpoint deployment",
            state_name="Endpoint update failed",
            error="EndpointFailed",
            message=sfn.JsonPath.format("The endpoint update ended Failed: {}", endpoint_json),
        )
        rolled_back = failures.reject(
            "Endpoint deployment",
            state_name="Endpoint update rolled back",
            error="EndpointUpdateRolledBack",
            message=sfn.JsonPath.format(
                "The endpoint is InService on config {} instead of {}: the update failed and SageMaker rolled back "
                "to the previous model, which keeps serving. {}",
                sfn.JsonPath.string_at(ENDPOINT.EndpointConfigName),
                sfn.JsonPath.string_at(RUN.names.endpoint_config),
                endpoint_json,
            ),
        )
        timed_out = failures.reject(
            "Endpoint deployment",
            state_name="Endpoint wait timed out",
            error="EndpointTimeout",
            message=sfn.JsonPath.format(
                "The endpoint was not InService after {} checks {} s apart; last status: {}",
                sfn.JsonPath.string_at(WAIT.attempt),
                str(d.config.wait_seconds),
                sfn.JsonPath.string_at(ENDPOINT.EndpointStatus),
            ),
        )
        unexpected = failures.reject(
            "Endpoint deployment",
            state_name="Endpoint status unexpected",
            error="EndpointUnexpectedStatus",
            message=sfn.JsonPath.format("Unexpected endpoint status: {}", endpoint_json),
        )
        return rolled_back, delete_failed_new, failed_update, timed_out, unexpected
