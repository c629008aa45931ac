"""Notifications and the ONE failure path of the state machine.

Every task of the pipeline is wired here with ``FailureHandler.protect(task, step)``: transient errors are retried
with exponential backoff and full jitter, and anything else is caught, described (step, error, cause), published on
the SNS topic and ends the execution in a ``Fail`` state whose cause names the step. Error handling is written once,
as in the aws-solutions projects (one failure fragment attached everywhere), instead of per task.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.state_machine.state import ERROR, FAILURE, NOTIFY_ERROR

# Error names Step Functions reports for transient trouble, per integration family. Errors are named
# "<Service>.<SDK exception class>" (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html).
# A service's UNMODELED error codes (SageMaker has no ThrottlingException shape at all) arrive as its generic SDK
# exception: "SageMaker.AmazonSageMakerException" from the optimized integrations (AWS SDK for Java v1 class names),
# "SageMaker.SageMakerException" from the aws-sdk integrations (SDK v2), likewise Glue/SNS/SageMakerRuntime. The generic
# class also carries permanent client errors (validation, "Could not find endpoint"), so it gets a short retry only.
#   family -> (modeled transient errors: 6 attempts, generic SDK exception: 3 attempts)
TRANSIENT_ERRORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "glue": (
        ("Glue.ConcurrentRunsExceededException", "Glue.InternalServiceException", "Glue.OperationTimeoutException"),
        ("Glue.AWSGlueException",),
    ),
    "sagemaker": ((), ("SageMaker.AmazonSageMakerException",)),  # optimized sagemaker:* integrations
    "sagemaker-sdk": ((), ("SageMaker.SageMakerException",)),  # arn:aws:states:::aws-sdk:sagemaker:*
    "sagemakerruntime": (
        (
            "SageMakerRuntime.ServiceUnavailableException",
            "SageMakerRuntime.InternalFailureException",
            "SageMakerRuntime.ModelNotReadyException",
        ),
        ("SageMakerRuntime.SageMakerRuntimeException",),
    ),
    "sns": (
        ("SNS.ThrottledException", "SNS.InternalErrorException", "SNS.KMSThrottlingException"),
        ("SNS.AmazonSNSException",),
    ),
    "s3": ((), ("S3.S3Exception",)),  # arn:aws:states:::aws-sdk:s3:* (SlowDown is unmodeled)
    "lambda": (  # the optimized lambda:invoke integration
        ("Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.SdkClientException"),
        ("Lambda.AWSLambdaException",),
    ),
    "comprehend": (  # arn:aws:states:::aws-sdk:comprehend:*
        ("Comprehend.TooManyRequestsException", "Comprehend.InternalServerException"),
        ("Comprehend.ComprehendException",),
    ),
}


# Execution ends that no Catch sees (Step Functions execution statuses).
UNCATCHABLE_STATUSES = ("TIMED_OUT", "ABORTED")


def transient_retries(family: str) -> list[sfn.RetryProps]:
    """Retry policies of ``family``: 5 s, doubling, at most 2 min apart, full jitter; 6 tries, 3 for generic errors."""
    modeled, generic = TRANSIENT_ERRORS[family]
    policies = []
    for errors, attempts in ((modeled, 6), (generic, 3)):
        if errors:
            policies.append(
                sfn.RetryProps(
                    errors=list(errors),
                    interval=Duration.seconds(5),
                    backoff_rate=2.0,
                    max_attempts=attempts,
                    max_delay=Duration.minutes(2),
                    jitter_strategy=sfn.JitterType.FULL,
                )
            )
    return policies


def error_name(step: str) -> str:
    """``"Clean reviews"`` -> ``"CleanReviewsFailed"``: a custom error name (``States.*`` names are reserved)."""
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", step) if word) + "Failed"


class Notifications(Construct):
    """The pipeline's SNS topic (KMS-encrypted with the data key), optionally with an e-mail subscription."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, project_name: str, email: str = ""
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"{project_name} pipeline",
            master_key=key,
            enforce_ssl=True,
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

    def notify_uncatchable_ends(
        self, state_machine: sfn.IStateMachine, construct_id: str = "UncatchableEnds", scope: Construct | None = None
    ) -> events.Rule:
        """Publish on the topic when an execution TIMES OUT or is ABORTED.

        Those two ends bypass every ``Catch`` (and so the state machine's own failure path), so the only way to hear
        of them is the execution status change event Step Functions sends to the default bus. Executions that fail
        through ``Run failed`` already notified from inside the state machine, so FAILED is not matched here.

        EventBridge publishes through a role of its own (sns:Publish on this topic, the data key for the encrypted
        topic), so neither the topic policy nor the key policy has to trust the ``events.amazonaws.com`` service
        for every rule in every account. The target gets an immutable view of the role: CDK's own grant would add
        ``kms:GenerateDataKey*``.
        """
        scope = scope or self  # another stack's state machine: its rule lives in that stack
        stack = Stack.of(scope)
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            description="EventBridge: publish the timed-out/aborted execution notice on the pipeline topic",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
        )
        role.add_to_policy(iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[self.topic.topic_arn]))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptNotifications", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self._key.key_arn]
            )
        )
        rule = events.Rule(
            scope,
            construct_id,
            description="Notify when a pipeline execution times out or is aborted (no Catch sees those)",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"stateMachineArn": [state_machine.state_machine_arn], "status": list(UNCATCHABLE_STATUSES)},
            ),
        )
        detail = events.EventField.from_path
        rule.add_target(
            targets.SnsTopic(
                self.topic,
                role=role.without_policy_updates(),
                message=events.RuleTargetInput.from_text(
                    f"Pipeline execution {detail('$.detail.name')} ended {detail('$.detail.status')} at "
                    f"{detail('$.time')} without reaching its failure handler, so nothing after the step it was in "
                    f"ran. Execution: {detail('$.detail.executionArn')}"
                ),
            )
        )
        return rule

    def publish(
        self,
        scope: Construct,
        construct_id: str,
        *,
        subject: str,
        message: sfn.TaskInput,
        result_path: str = sfn.JsonPath.DISCARD,
    ) -> tasks.SnsPublish:
        """An SNS publish task on this topic (the state machine role may publish to this topic only)."""
        return tasks.SnsPublish(
            scope,
            construct_id,
            topic=self.topic,
            subject=subject[:100],
            message=message,
            result_path=result_path,
        )


class FailureHandler(Construct):
    """The shared failure path: describe -> notify (SNS) -> Fail, attached to every task with ``protect``.

    Each protected task gets its own small ``Pass`` state ("<step> failed") that records which step failed, because
    a ``Catch`` does not tell the next state where the error came from; all of them continue into the same notify and
    ``Fail`` states. The ``Fail`` state's error is the original error name (e.g. ``States.TaskFailed``) and its cause
    reads "<step> failed: <error>: <cause>", which is what on-call sees in the console and the notification.
    """

    def __init__(self, scope: Construct, construct_id: str, *, notifications: Notifications) -> None:
        super().__init__(scope, construct_id)
        self._scope = scope
        self.fail = sfn.Fail(
            scope,
            "Run failed",
            comment="Ends the execution as FAILED; the cause names the failed step, error and cause.",
            error_path=FAILURE.error,
            cause_path=FAILURE.message,
        )
        self.notify = notifications.publish(
            scope,
            "Notify failure",
            subject="ds-on-aws: pipeline run FAILED",
            message=sfn.TaskInput.from_json_path_at(FAILURE.message),
        )
        for retry in transient_retries("sns"):
            self.notify.add_retry(**vars_of(retry))
        # If even the notification fails, still end as FAILED with the original cause (no loop back into the handler).
        self.notify.add_catch(self.fail, errors=["States.ALL"], result_path=NOTIFY_ERROR)
        self.notify.next(self.fail)
        self.entry: sfn.IChainable = self.notify

    def describe(
        self, step: str, *, error: str, cause: str, state_name: str | None = None, then: sfn.IChainable | None = None
    ) -> sfn.Pass:
        """A ``Pass`` that sets ``$.failure`` for ``step`` from JSONPaths ``error`` and ``cause``, then notifies.

        The execution's error is ``<Step>Failed`` (the caught name, e.g. ``States.TaskFailed``, stays in the message):
        the ``States.`` prefix is reserved for Step Functions, and a ``Fail`` state must not re-raise it.
        """
        describe = sfn.Pass(
            self._scope,
            state_name or f"{step} failed",
            parameters={
                "step": step,
                "error": error_name(step),
                "message": sfn.JsonPath.format(
                    "{} failed: {}: {}", step, sfn.JsonPath.string_at(error), sfn.JsonPath.string_at(cause)
                ),
            },
            result_path=FAILURE,
        )
        describe.next(then or self.entry)
        return describe

    def reject(
        self,
        step: str,
        *,
        error: str,
        message: str,
        state_name: str | None = None,
        then: sfn.IChainable | None = None,
    ) -> sfn.Pass:
        """A ``Pass`` that sets ``$.failure`` with a fixed error name and a message (a JSONPath or intrinsic).

        It goes on to the notification (or to ``then``, e.g. a restore step that must run first).
        """
        describe = sfn.Pass(
            self._scope,
            state_name or f"{step} failed",
            parameters={"step": step, "error": error, "message": message},
            result_path=FAILURE,
        )
        describe.next(then or self.entry)
        return describe

    def protect(
        self,
        task: sfn.TaskStateBase,
        step: str,
        *,
        retry: str | None = None,
        extra_retries: Sequence[sfn.RetryProps] = (),
        then: sfn.IChainable | None = None,
    ) -> sfn.TaskStateBase:
        """Retry ``task`` on the transient errors of integration family ``retry`` and catch everything else.

        The catch-all leads to "<step> failed" and from there to ``then`` (default: notify and fail).
        """
        for policy in [*(transient_retries(retry) if retry else []), *extra_retries]:
            task.add_retry(**vars_of(policy))
        task.add_catch(
            self.describe(step, error=ERROR.Error, cause=ERROR.Cause, then=then),
            errors=["States.ALL"],
            result_path=ERROR,
        )
        return task


def vars_of(props: sfn.RetryProps) -> dict:
    """Keyword arguments of ``add_retry`` from a ``RetryProps`` (jsii structs are not splattable directly)."""
    return {
        name: getattr(props, name)
        for name in ("errors", "interval", "backoff_rate", "max_attempts", "max_delay", "jitter_strategy")
        if getattr(props, name) is not None
    }
