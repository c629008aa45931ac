"""Live-model lookup: the live endpoint, if any, and the accuracy its model was deployed with."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.deployment import ACCURACY_TAG
from stacks.constructs.notifications import FailureHandler, transient_retries, vars_of
from stacks.state_machine.fragment import ChoiceBranch, Stage
from stacks.state_machine.state import LIVE, LIVE_ERROR, LIVE_TAGS, RUN, answer, first, tag_values

NOT_FOUND_ERRORS = (
    "SageMaker.AmazonSageMakerException",
    "SageMaker.ValidationException",
    "SageMaker.SageMakerException",
)
NOT_FOUND_CAUSE = "*Could not find endpoint*"


class LiveModelLookup(Stage):
    """Look up live endpoint -> Live endpoint in service? -> Read live model accuracy -> Tags listed?
    -> Find accuracy tag -> Live accuracy recorded? -> Keep live accuracy.

    Reads ``$.run.endpoint_name``. Writes ``$.live`` = {``exists``, ``has_accuracy``, ``accuracy`` (always present),
    ``name``, ``arn``, ``status``, ``config``} and, on the way, ``$.live_error`` and ``$.live_tags``.
    A ``describeEndpoint`` "Could not find endpoint" error means first run (no live endpoint); any other error fails
    the run. An endpoint that exists but is not InService (another deployment running, or Failed) stops the run
    without touching it (``LiveEndpointNotReady``).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, endpoint_arns: list[str], failures: FailureHandler
    ) -> None:
        super().__init__(scope, construct_id)
        describe, first_run = self._describe(endpoint_arns, failures)
        keep_live = self._read_accuracy(describe, endpoint_arns, failures)
        # Every successful outcome continues with the next stage (the gate), in this order.
        self._stage(describe, [first_run, keep_live, ChoiceBranch(self._recorded), ChoiceBranch(self._tags_listed)])

    def _describe(self, endpoint_arns: list[str], failures: FailureHandler) -> tuple[tasks.CallAwsService, sfn.Pass]:
        """Look up live endpoint; "Could not find endpoint" -> No live endpoint (first run), else the run fails."""
        describe = tasks.CallAwsService(
            self,
            "Look up live endpoint",
            service="sagemaker",
            action="describeEndpoint",
            parameters={"EndpointName": sfn.JsonPath.string_at(RUN.endpoint_name)},
            iam_resources=endpoint_arns,
            result_selector={
                "exists": True,
                "has_accuracy": False,
                "accuracy": 0,  # always present, so no Choice ever reads a missing path
                "name": sfn.JsonPath.string_at(answer("EndpointName")),
                "arn": sfn.JsonPath.string_at(answer("EndpointArn")),
                "status": sfn.JsonPath.string_at(answer("EndpointStatus")),
                "config": sfn.JsonPath.string_at(answer("EndpointConfigName")),
            },
            result_path=LIVE,
        )
        first_run = sfn.Pass(
            self,
            "No live endpoint",
            comment="First run: nothing to compare with, the endpoint will be created.",
            parameters={"exists": False, "has_accuracy": False, "accuracy": 0},
            result_path=LIVE,
        )
        lookup_failed = failures.describe(
            "Look up live endpoint",
            error=LIVE_ERROR.Error,
            cause=LIVE_ERROR.Cause,
            state_name="Live endpoint lookup failed",
        )
        not_found = (
            sfn.Choice(self, "Endpoint not found?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present(LIVE_ERROR.Cause),
                    sfn.Condition.string_matches(LIVE_ERROR.Cause, NOT_FOUND_CAUSE),
                ),
                first_run,
            )
            .otherwise(lookup_failed)
        )
        # Specific catch first: a not-found answer is a normal first run, not a failure.
        # Throttling arrives as the same generic SageMakerException as "not found": retried briefly (3 tries), then
        # the cause text decides (a real not-found costs ~15 s of retries, a throttled lookup does not fail the run).
        for policy in transient_retries("sagemaker-sdk"):
            describe.add_retry(**vars_of(policy))
        describe.add_catch(not_found, errors=list(NOT_FOUND_ERRORS), result_path=LIVE_ERROR)
        failures.protect(describe, "Look up live endpoint")
        return describe, first_run

    def _read_accuracy(
        self, describe: tasks.CallAwsService, endpoint_arns: list[str], failures: FailureHandler
    ) -> sfn.Pass:
        """In service? -> Read live model accuracy (its tags) -> Keep live accuracy, when the tag is there."""
        busy = failures.reject(
            "Live endpoint check",
            error="LiveEndpointNotReady",
            message=sfn.JsonPath.format(
                "Endpoint {} is {} (not InService): another deployment may be running or it needs attention; "
                "it was not touched.",
                sfn.JsonPath.string_at(LIVE.name),
                sfn.JsonPath.string_at(LIVE.status),
            ),
        )
        list_tags = failures.protect(
            tasks.CallAwsService(
                self,
                "Read live model accuracy",
                service="sagemaker",
                action="listTags",
                parameters={"ResourceArn": sfn.JsonPath.string_at(LIVE.arn)},
                iam_resources=endpoint_arns,
                result_path=LIVE_TAGS,  # whole answer: Tags is optional in the API, a selector must not read it
            ),
            "Read live model accuracy",
            retry="sagemaker-sdk",
        )
        keep_live = sfn.Pass(
            self,
            "Keep live accuracy",
            parameters={
                "exists": True,
                "has_accuracy": True,
                "name": sfn.JsonPath.string_at(LIVE.name),
                "arn": sfn.JsonPath.string_at(LIVE.arn),
                "status": sfn.JsonPath.string_at(LIVE.status),
                "config": sfn.JsonPath.string_at(LIVE.config),
                "accuracy": sfn.JsonPath.string_to_json(sfn.JsonPath.string_at(first(LIVE_TAGS.values))),
            },
            result_path=LIVE,
        )
        find_tag = sfn.Pass(
            self,
            "Find accuracy tag",
            parameters={"values": sfn.JsonPath.list_at(tag_values(ACCURACY_TAG))},
            result_path=LIVE_TAGS,
        )
        self._tags_listed = sfn.Choice(self, "Tags listed?")
        self._tags_listed.when(sfn.Condition.is_present(LIVE_TAGS.Tags), find_tag)
        self._recorded = sfn.Choice(self, "Live accuracy recorded?")
        self._recorded.when(sfn.Condition.is_present(first(LIVE_TAGS.values)), keep_live)
        find_tag.next(self._recorded)
        in_service = (
            sfn.Choice(self, "Live endpoint in service?")
            .when(sfn.Condition.string_equals(LIVE.status, "InService"), list_tags)
            .otherwise(busy)
        )
        describe.next(in_service)
        list_tags.next(self._tags_listed)
        return keep_live
