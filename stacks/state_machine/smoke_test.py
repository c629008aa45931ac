"""Smoke test and restore: two reviews through the new model; after an update, a failure puts the previous one back.

The only update in a failing run restores the previous model when the new one, already live after an update,
fails the smoke test (its endpoint config still exists).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.deployment import SMOKE_TEST_BODY, EndpointDeployment
from stacks.constructs.notifications import FailureHandler, transient_retries, vars_of
from stacks.state_machine.fragment import ChoiceBranch, Stage
from stacks.state_machine.state import FAILURE, LIVE, RESTORE_ERROR, RUN, SMOKE_TEST, answer


class SmokeTestAndRestore(Stage):
    """Smoke test endpoint -> Smoke test answered?; on failure: Previous model to restore? -> Restore previous model.

    Reads ``$.run.endpoint_name``, ``$.live.exists``, ``$.live.config`` and, on the failure path, ``$.failure``;
    writes ``$.smoke_test.body``, and on a restore ``$.restore_error`` and an amended ``$.failure.message``. A body
    without predictions fails the run (``SmokeTestFailed``). Its end is the branch "answered with predictions".
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, deployment: EndpointDeployment, failures: FailureHandler
    ) -> None:
        super().__init__(scope, construct_id)
        d = deployment
        after_smoke_failure = self._restore(failures)
        smoke_test = self._smoke_test(d, failures, after_smoke_failure)
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

        smoke_ok = sfn.Choice(self, "Smoke test answered?").otherwise(smoke_failed)
        answered = ChoiceBranch(
            smoke_ok,
            sfn.Condition.and_(
                sfn.Condition.is_string(SMOKE_TEST.body),
                sfn.Condition.string_matches(SMOKE_TEST.body, "*predictions*"),
            ),
        )
        smoke_test.next(smoke_ok)
        self._stage(smoke_test, [answered])

    def _smoke_test(
        self, d: EndpointDeployment, failures: FailureHandler, after_failure: sfn.IChainable
    ) -> sfn.TaskStateBase:
        """Smoke test endpoint: invokeEndpoint with two reviews; slow retries for a cold serverless worker."""
        return failures.protect(
            tasks.CallAwsService(
                self,
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
                iam_resources=d.endpoint_arns,
                result_selector={"body": sfn.JsonPath.string_at(answer("Body"))},
                result_path=SMOKE_TEST,
                task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
            ),
            "Smoke test endpoint",
            retry="sagemakerruntime",
            then=after_failure,
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

    def _restore(self, failures: FailureHandler) -> sfn.Choice:
        """Previous model to restore? -> Restore previous model -> Note restore | Restore failed -> notify and fail."""
        # A new model that fails the smoke test AFTER an update is already live: put the previous model back (its
        # endpoint config still exists). The one update a failed run makes, and only to restore what served before.
        restore = tasks.SageMakerUpdateEndpoint(
            self,
            "Restore previous model",
            comment="Smoke test failed after an update: roll the live endpoint back to the config it ran before.",
            endpoint_name=sfn.JsonPath.string_at(RUN.endpoint_name),
            endpoint_config_name=sfn.JsonPath.string_at(LIVE.config),
            result_path=sfn.JsonPath.DISCARD,
        )
        for policy in transient_retries("sagemaker"):
            restore.add_retry(**vars_of(policy))
        restored = sfn.Pass(
            self,
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
            self,
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
            sfn.Choice(self, "Previous model to restore?")
            .when(sfn.Condition.boolean_equals(LIVE.exists, True), restore)
            .otherwise(failures.entry)
        )

        return after_smoke_failure
