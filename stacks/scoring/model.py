"""Find the model: the one named in the input, or the one the live endpoint serves."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.notifications import FailureHandler, transient_retries, vars_of
from stacks.scoring.state import LIVE, MODEL, MODEL_ERROR, RUN
from stacks.state_machine.fragment import Stage
from stacks.state_machine.live_lookup import NOT_FOUND_ERRORS
from stacks.state_machine.state import answer, first

MODEL_NOT_FOUND_CAUSE = "*Could not find model*"
ENDPOINT_NOT_FOUND_CAUSE = "*Could not find endpoint*"


class FindModel(Stage):
    """Model named? -> Check named model | Look up live endpoint for scoring -> Read live endpoint config.

    Reads ``$.run.model_name``; writes ``$.model`` = {``name``, ``source``} (and ``$.live`` on the live path).
    The live endpoint is the one the training pipeline deploys (``endpoint.name``); its current endpoint config
    names the model it serves, which is the model a scoring run uses when none is named. No live endpoint ends the
    run as ``NoLiveModel``, a named model that does not exist as ``ModelNotFound``; nothing has been scored then.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        read_arns: dict[str, list[str]],
        failures: FailureHandler,
    ) -> None:
        super().__init__(scope, construct_id)
        check_named = self._check_named(read_arns["model"], failures)
        describe = self._describe_live(endpoint_name, read_arns["endpoint"], failures)
        read_config = failures.protect(
            tasks.CallAwsService(
                self,
                "Read live endpoint config",
                service="sagemaker",
                action="describeEndpointConfig",
                parameters={"EndpointConfigName": sfn.JsonPath.string_at(LIVE.config)},
                iam_resources=read_arns["endpoint-config"],
                result_selector={"variant": sfn.JsonPath.object_at(first(answer("ProductionVariants")))},
                result_path=LIVE.variant,
            ),
            "Read live endpoint config",
            retry="sagemaker-sdk",
        )
        served = sfn.Pass(
            self,
            "Use the served model",
            comment="The model the live endpoint's (single) production variant serves.",
            parameters={
                "name": sfn.JsonPath.string_at(LIVE.variant.variant.ModelName),
                "source": sfn.JsonPath.format("live endpoint config {}", sfn.JsonPath.string_at(LIVE.config)),
            },
            result_path=MODEL,
        )
        read_config.next(served)
        describe.next(read_config)
        named = (
            sfn.Choice(self, "Model named?")
            .when(sfn.Condition.string_equals(RUN.model_name, ""), describe)
            .otherwise(check_named)
        )
        self._stage(named, [served, check_named])

    def _describe_live(self, endpoint_name: str, endpoint_arns: list[str], failures: FailureHandler):
        describe = tasks.CallAwsService(
            self,
            "Look up live endpoint for scoring",
            service="sagemaker",
            action="describeEndpoint",
            parameters={"EndpointName": endpoint_name},
            iam_resources=endpoint_arns,
            result_selector={
                "name": sfn.JsonPath.string_at(answer("EndpointName")),
                "config": sfn.JsonPath.string_at(answer("EndpointConfigName")),
                "status": sfn.JsonPath.string_at(answer("EndpointStatus")),
            },
            result_path=LIVE,
        )
        no_live = failures.reject(
            "Look up live endpoint for scoring",
            state_name="No live model",
            error="NoLiveModel",
            message=f"No live endpoint {endpoint_name}, so no model to score with: deploy one with the training "
            "pipeline first, or name a model in the input (model_name).",
        )
        self._not_found(describe, ENDPOINT_NOT_FOUND_CAUSE, no_live, "Live endpoint found?", failures,
                        "Look up live endpoint for scoring", "Live endpoint lookup for scoring failed")
        return describe

    def _check_named(self, model_arns: list[str], failures: FailureHandler) -> tasks.CallAwsService:
        check = tasks.CallAwsService(
            self,
            "Check named model",
            service="sagemaker",
            action="describeModel",
            parameters={"ModelName": sfn.JsonPath.string_at(RUN.model_name)},
            iam_resources=model_arns,
            result_selector={"name": sfn.JsonPath.string_at(answer("ModelName")), "source": "execution input"},
            result_path=MODEL,
        )
        missing = failures.reject(
            "Check named model",
            state_name="Named model missing",
            error="ModelNotFound",
            message=sfn.JsonPath.format(
                "Model {} (model_name of the input) does not exist; list the models with "
                "`aws sagemaker list-models --name-contains <project>`.",
                sfn.JsonPath.string_at(RUN.model_name),
            ),
        )
        self._not_found(check, MODEL_NOT_FOUND_CAUSE, missing, "Named model found?", failures,
                        "Check named model", "Named model check failed")
        return check

    def _not_found(self, task, cause: str, missing: sfn.IChainable, choice: str, failures: FailureHandler,
                   step: str, failed_state: str) -> None:
        """Retry throttling briefly; a "Could not find" cause goes to ``missing``, any other error fails the run."""
        for policy in transient_retries("sagemaker-sdk"):
            task.add_retry(**vars_of(policy))
        other = failures.describe(step, error=MODEL_ERROR.Error, cause=MODEL_ERROR.Cause, state_name=failed_state)
        task.add_catch(
            sfn.Choice(self, choice)
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present(MODEL_ERROR.Cause), sfn.Condition.string_matches(MODEL_ERROR.Cause, cause)
                ),
                missing,
            )
            .otherwise(other),
            errors=list(NOT_FOUND_ERRORS),
            result_path=MODEL_ERROR,
        )
        failures.protect(task, step)
