"""What the three stacks that users start share: the optional upload trigger and the console link of a state machine.

The trigger is an EventBridge rule on the raw bucket's ``Object Created`` events (the data stack turns on its
EventBridge notifications): an object under ``prefix`` whose key ends with one of ``suffixes`` starts an execution
whose input is ``{<input_field>: "s3://<raw>/<key>"}``, the same field a person would give from the console.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Fn
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.data_stack import DataStack


def start_on_upload(
    scope: Construct,
    construct_id: str,
    *,
    data: DataStack,
    prefix: str,
    suffixes: Sequence[str],
    state_machine: sfn.IStateMachine,
    input_field: str,
    description: str,
) -> events.Rule:
    """Start ``state_machine`` for each object created under ``prefix`` with one of ``suffixes`` in the raw bucket."""
    data.send_raw_events_to_eventbridge()
    rule = events.Rule(
        scope,
        construct_id,
        description=description,
        event_pattern=events.EventPattern(
            source=["aws.s3"],
            detail_type=["Object Created"],
            detail={
                "bucket": {"name": [data.raw_bucket.bucket_name]},
                "object": {
                    "key": [{"prefix": prefix}],
                    "$or": [{"key": [{"suffix": suffix}]} for suffix in suffixes],
                },
            },
        ),
    )
    uri = f"s3://{data.raw_bucket.bucket_name}/" + events.EventField.from_path("$.detail.object.key")
    rule.add_target(targets.SfnStateMachine(state_machine, input=events.RuleTargetInput.from_object({input_field: uri})))
    return rule


def console_url(state_machine: sfn.IStateMachine) -> str:
    """The state machine's page in the Step Functions console of the deployment region."""
    return Fn.join("", ["https://", Aws.REGION, ".console.aws.amazon.com/states/home?region=", Aws.REGION,
                        "#/statemachines/view/", state_machine.state_machine_arn])
