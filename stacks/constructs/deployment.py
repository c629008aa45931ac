"""Hosting fragment of the state machine: model -> endpoint config -> create or update -> wait -> smoke test -> record.

Reads ``$.run`` (names, tags, endpoint name), ``$.training.model_data_url``, ``$.gate.accuracy`` and ``$.live``
(``exists``); ends in a success notification. Every task is protected by the shared ``FailureHandler``.

Safety rules (docs/architecture.md "A failure never deletes or degrades the live endpoint"):
* the live endpoint is only ever *updated* to a new, complete endpoint config; SageMaker keeps serving the old one
  until the new one is InService, and rolls back to it if the update fails;
* an update that rolled back (InService again, but on the OLD config) is reported as a failure;
* the only delete is of an endpoint this very run created (first run) that ended ``Failed``: it serves nothing;
* the only update in a failing run restores the previous model when the new one, already live after an update,
  fails the smoke test (its endpoint config still exists).
"""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ds_on_aws.config import EndpointConfig
from ds_on_aws.sagemaker_jobs import endpoint_model_spec
from stacks.constructs.notifications import FailureHandler, Notifications, transient_retries, vars_of
from stacks.constructs.policies import (
    SAGEMAKER_CONTAINER_APIS,
    allow,
    image_pull_statements,
    log_statement,
    no_resource_type_finding,
    run_time_prefix_findings,
    service_log_group_finding,
)
from stacks.constructs.training import sklearn_repository_arn
from stacks.state_machine.state import (
    ENDPOINT,
    FAILURE,
    GATE,
    LIVE,
    RESTORE_ERROR,
    RUN,
    SMOKE_TEST,
    TRAINING,
    WAIT,
    answer,
)

ACCURACY_TAG = "ds-on-aws:validation-accuracy"
VARIANT_NAME = "AllTraffic"
WAITING_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack")
SMOKE_TEST_BODY = json.dumps(
    {"instances": ["A wonderful film, moving and beautifully acted.", "Dull, badly written and far too long."]}
)


def production_variant(config: EndpointConfig) -> dict:
    """The one production variant: serverless by default, instance-backed when ``endpoint.mode`` is ``instance``."""
    variant: dict = {"VariantName": VARIANT_NAME, "ModelName": sfn.JsonPath.string_at(RUN.names.model)}
    if config.mode == "serverless":
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": config.serverless_memory_mb,
            "MaxConcurrency": config.serverless_max_concurrency,
        }
    else:
        variant.update(
            {
                "InstanceType": config.instance_type,
                "InitialInstanceCount": config.initial_instance_count,
                "InitialVariantWeight": 1,
            }
        )
    return variant


class EndpointDeployment(Construct):
    """Builds the hosting chain; ``start`` is its first state."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EndpointConfig,
        key: kms.IKey,
        image_uri: str,
        artifacts_bucket: s3.IBucket,
        notifications: Notifications,
        failures: FailureHandler,
        endpoint_arns: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        s = scope  # states live in the state machine's scope so their names stay readable
        protect = failures.protect
        self.model_spec = endpoint_model_spec(config.mode)
        self.model_role = self._model_role(scope, key, artifacts_bucket)
        model_role = self.model_role.without_policy_updates()

        create_model = protect(
            tasks.SageMakerCreateModel(
                s,
                "Create model",
                model_name=sfn.JsonPath.string_at(RUN.names.model),
                primary_container=tasks.ContainerDefinition(
                    image=tasks.DockerImage.from_registry(image_uri),
                    mode=tasks.Mode.SINGLE_MODEL,
                    model_s3_location=tasks.S3Location.from_json_expression(TRAINING.model_data_url),
                    # The inference code travels inside model.tar.gz (code/), so no mode downloads anything.
                    environment_variables=sfn.TaskInput.from_object(dict(self.model_spec.environment)),
                ),
                enable_network_isolation=self.model_spec.network_isolation,
                role=model_role,
                tags=sfn.TaskInput.from_json_path_at(RUN.tags),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Create model",
            retry="sagemaker",
        )

        endpoint_config_parameters: dict = {
            "EndpointConfigName": sfn.JsonPath.string_at(RUN.names.endpoint_config),
            "ProductionVariants": [production_variant(config)],
            "Tags": sfn.JsonPath.list_at(RUN.tags),
        }
        if config.mode == "instance":
            # Serverless variants take no volume key; instance volumes are encrypted with the data key.
            endpoint_config_parameters["KmsKeyId"] = key.key_arn
        create_config = protect(
            tasks.CallAwsService(
                s,
                "Create endpoint config",
                comment=f"{config.mode} endpoint config (the L2 task has no ServerlessConfig, hence the SDK call)",
                service="sagemaker",
                action="createEndpointConfig",
                parameters=endpoint_config_parameters,
                iam_resources=["*"],  # the state machine role is written explicitly; see PipelineStateMachine
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Create endpoint config",
            retry="sagemaker-sdk",
        )

        create_endpoint = protect(
            tasks.SageMakerCreateEndpoint(
                s,
                "Create endpoint",
                endpoint_name=sfn.JsonPath.string_at(RUN.endpoint_name),
                endpoint_config_name=sfn.JsonPath.string_at(RUN.names.endpoint_config),
                tags=sfn.TaskInput.from_json_path_at(RUN.tags),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Create endpoint",
            retry="sagemaker",
        )
        update_endpoint = protect(
            tasks.SageMakerUpdateEndpoint(
                s,
                "Update live endpoint",
                endpoint_name=sfn.JsonPath.string_at(RUN.endpoint_name),
                endpoint_config_name=sfn.JsonPath.string_at(RUN.names.endpoint_config),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Update live endpoint",
            retry="sagemaker",
        )

        start_wait = sfn.Pass(s, "Start waiting", parameters={"attempt": 0}, result_path=WAIT)
        wait = sfn.Wait(s, "Wait for endpoint", time=sfn.WaitTime.duration(Duration.seconds(config.wait_seconds)))
        describe = protect(
            tasks.CallAwsService(
                s,
                "Describe endpoint",
                service="sagemaker",
                action="describeEndpoint",
                parameters={"EndpointName": sfn.JsonPath.string_at(RUN.endpoint_name)},
                iam_resources=endpoint_arns,
                result_path=ENDPOINT,
            ),
            "Describe endpoint",
            retry="sagemaker-sdk",
        )
        count = sfn.Pass(
            s,
            "Count wait attempt",
            parameters={"attempt": sfn.JsonPath.math_add(sfn.JsonPath.number_at(WAIT.attempt), 1)},
            result_path=WAIT,
        )

        # A new model that fails the smoke test AFTER an update is already live: put the previous model back (its
        # endpoint config still exists). The one update a failed run makes, and only to restore what served before.
        restore = tasks.SageMakerUpdateEndpoint(
            s,
            "Restore previous model",
            comment="Smoke test failed after an update: roll the live endpoint back to the config it ran before.",
            endpoint_name=sfn.JsonPath.string_at(RUN.endpoint_name),
            endpoint_config_name=sfn.JsonPath.string_at(LIVE.config),
            result_path=sfn.JsonPath.DISCARD,
        )
        for policy in transient_retries("sagemaker"):
            restore.add_retry(**vars_of(policy))
        restored = sfn.Pass(
            s,
            "Note restore",
            parameters={
                "step": sfn.JsonPath.string_at(FAILURE.step),
                "error": sfn.JsonPath.string_at(FAILURE.error),
                "message": sfn.JsonPath.format(
                    "{} The endpoint is being rolled back to the previous model (endpoint config {}).",
                    sfn.JsonPath.string_at(FAILURE.message),
                    sfn.JsonPath.string_at(LIVE.config),
                ),
            },
            result_path=FAILURE,
        ).next(failures.entry)
        restore_failed = sfn.Pass(
            s,
            "Restore failed",
            parameters={
                "step": sfn.JsonPath.string_at(FAILURE.step),
                "error": sfn.JsonPath.string_at(FAILURE.error),
                "message": sfn.JsonPath.format(
                    "{} Restoring the previous model (endpoint config {}) also failed: {}: {}",
                    sfn.JsonPath.string_at(FAILURE.message),
                    sfn.JsonPath.string_at(LIVE.config),
                    sfn.JsonPath.string_at(RESTORE_ERROR.Error),
                    sfn.JsonPath.string_at(RESTORE_ERROR.Cause),
                ),
            },
            result_path=FAILURE,
        ).next(failures.entry)
        restore.add_catch(restore_failed, errors=["States.ALL"], result_path=RESTORE_ERROR)
        restore.next(restored)
        after_smoke_failure = (
            sfn.Choice(s, "Previous model to restore?")
            .when(sfn.Condition.boolean_equals(LIVE.exists, True), restore)
            .otherwise(failures.entry)
        )

        smoke_test = protect(
            tasks.CallAwsService(
                s,
                "Smoke test endpoint",
                comment="Two short reviews through the new model; a 4xx/5xx or a body without predictions fails the run.",
                service="sagemakerruntime",
                action="invokeEndpoint",
                iam_action="sagemaker:InvokeEndpoint",
                parameters={
                    "EndpointName": sfn.JsonPath.string_at(RUN.endpoint_name),
                    "ContentType": "application/json",
                    "Accept": "application/json",
                    "Body": SMOKE_TEST_BODY,
                },
                iam_resources=endpoint_arns,
                result_selector={"body": sfn.JsonPath.string_at(answer("Body"))},
                result_path=SMOKE_TEST,
                task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
            ),
            "Smoke test endpoint",
            retry="sagemakerruntime",
            then=after_smoke_failure,
            # A serverless endpoint's first request may time out or meet a cold worker: a few slow retries.
            extra_retries=[
                sfn.RetryProps(
                    errors=["SageMakerRuntime.ModelErrorException", "States.Timeout"],
                    interval=Duration.seconds(20),
                    backoff_rate=2.0,
                    max_attempts=3,
                    jitter_strategy=sfn.JitterType.FULL,
                )
            ],
        )

        record = protect(
            tasks.CallAwsService(
                s,
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
                iam_resources=endpoint_arns,
                result_path=sfn.JsonPath.DISCARD,
            ),
            "Record live model accuracy",
            retry="sagemaker-sdk",
        )
        notify_success = protect(
            notifications.publish(
                s,
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
        done = sfn.Succeed(s, "Deployed")

        delete_failed_new = protect(
            tasks.CallAwsService(
                s,
                "Delete failed new endpoint",
                comment="Only an endpoint this run created (no live endpoint before) and that ended Failed: it serves nothing.",
                service="sagemaker",
                action="deleteEndpoint",
                parameters={"EndpointName": sfn.JsonPath.string_at(RUN.endpoint_name)},
                iam_resources=endpoint_arns,
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
                str(config.wait_seconds),
                sfn.JsonPath.string_at(ENDPOINT.EndpointStatus),
            ),
        )
        unexpected = failures.reject(
            "Endpoint deployment",
            state_name="Endpoint status unexpected",
            error="EndpointUnexpectedStatus",
            message=sfn.JsonPath.format("Unexpected endpoint status: {}", endpoint_json),
        )
        smoke_failed = failures.reject(
            "Smoke test endpoint",
            state_name="Smoke test answer invalid",
            error="SmokeTestFailed",
            message=sfn.JsonPath.format(
                "The endpoint answered without predictions: {}",
                sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(SMOKE_TEST)),
            ),
            then=after_smoke_failure,
        )

        status = ENDPOINT.EndpointStatus
        ready = (
            sfn.Choice(s, "Endpoint ready?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.string_equals(status, "InService"),
                    sfn.Condition.string_equals_json_path(
                        ENDPOINT.EndpointConfigName, RUN.names.endpoint_config
                    ),
                ),
                smoke_test,
            )
            .when(sfn.Condition.string_equals(status, "InService"), rolled_back)
            .when(
                sfn.Condition.and_(
                    sfn.Condition.string_equals(status, "Failed"), sfn.Condition.boolean_equals(LIVE.exists, False)
                ),
                delete_failed_new,
            )
            .when(sfn.Condition.string_equals(status, "Failed"), failed_update)
            .when(sfn.Condition.number_greater_than_equals(WAIT.attempt, config.max_wait_attempts), timed_out)
            .when(sfn.Condition.or_(*[sfn.Condition.string_equals(status, s_) for s_ in WAITING_STATUSES]), wait)
            .otherwise(unexpected)
        )
        smoke_ok = (
            sfn.Choice(s, "Smoke test answered?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_string(SMOKE_TEST.body),
                    sfn.Condition.string_matches(SMOKE_TEST.body, "*predictions*"),
                ),
                record,
            )
            .otherwise(smoke_failed)
        )
        smoke_test.next(smoke_ok)
        record.next(notify_success)
        notify_success.next(done)

        start_wait.next(wait)
        wait.next(describe)
        describe.next(count)
        count.next(ready)
        create_endpoint.next(start_wait)
        update_endpoint.next(start_wait)
        create_or_update = (
            sfn.Choice(s, "Live endpoint exists?")
            .when(sfn.Condition.boolean_equals(LIVE.exists, True), update_endpoint)
            .otherwise(create_endpoint)
        )
        create_model.next(create_config)
        create_config.next(create_or_update)
        self.start: sfn.IChainable = create_model

    @staticmethod
    def _model_role(scope: Construct, key: kms.IKey, artifacts: s3.IBucket) -> iam.Role:
        """Role the endpoint's model runs as: read its model.tar.gz (which carries the inference code), use the key,
        write logs, pull the image.

        Created in the state machine's scope (``<pipeline>/ModelRole``), where it has always been, so its logical
        ids stay as they are.
        """
        role = iam.Role(
            scope,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker model (endpoint) of the review-sentiment pipeline",
        )
        allow(
            role,
            [iam.PolicyStatement(sid="ReadModels", actions=["s3:GetObject"], resources=[artifacts.arn_for_objects("models/*")])],
            run_time_prefix_findings(artifacts, ["models/*"]),
        )
        allow(
            role,
            [iam.PolicyStatement(sid="DecryptModels", actions=["kms:Decrypt", "kms:DescribeKey"], resources=[key.key_arn])],
        )
        allow(
            role,
            [log_statement(scope, "/aws/sagemaker/Endpoints/*")],
            service_log_group_finding("/aws/sagemaker/Endpoints/*", "SageMaker hosting"),
        )
        allow(role, image_pull_statements(sklearn_repository_arn(scope)), no_resource_type_finding(SAGEMAKER_CONTAINER_APIS))
        return role
