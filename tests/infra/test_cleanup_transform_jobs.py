"""The teardown of the scoring stack: running Batch Transform jobs of this stack are stopped, nothing else is.

Transform jobs cannot be deleted; a scoring run's job still running when the stack goes is stopped so that nothing
keeps billing. Exercised against botocore's Stubber (every call and its parameters are checked), and in the template.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from stacks.app_builder import SCORING_STACK_ID
from stacks.constructs.cleanup_runtime import index as runtime

STACK = "DsOnAws-Scoring"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:transform-job/"


def job(name: str) -> dict:
    return {"TransformJobName": name, "TransformJobArn": ARN + name, "CreationTime": "2026-12-01T00:00:00Z",
            "TransformJobStatus": "InProgress"}


def tagged(stubber: Stubber, name: str, stack: str) -> None:
    stubber.add_response("list_tags", {"Tags": [{"Key": runtime.STACK_TAG_KEY, "Value": stack}]},
                         {"ResourceArn": ARN + name})


def test_stops_only_this_stacks_running_jobs_with_the_prefix():
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_transform_jobs",
            {"TransformJobSummaries": [job("ds-on-aws-aaa"), job("ds-on-aws-bbb"), job("ds-on-aws-ended"),
                                       job("other-ds-on-aws-x")]},
            {"NameContains": "ds-on-aws-", "StatusEquals": "InProgress"},
        )
        tagged(stubber, "ds-on-aws-aaa", STACK)
        stubber.add_response("stop_transform_job", {}, {"TransformJobName": "ds-on-aws-aaa"})
        tagged(stubber, "ds-on-aws-bbb", "AnotherStack")  # same prefix, another stack: left alone
        tagged(stubber, "ds-on-aws-ended", STACK)  # finished between the listing and the stop
        stubber.add_client_error("stop_transform_job", service_error_code="ValidationException",
                                 service_message="The job is not in progress.",
                                 expected_params={"TransformJobName": "ds-on-aws-ended"})
        summary = runtime.Summary()
        runtime.stop_running_transform_jobs(client, "ds-on-aws-", STACK, summary)
        stubber.assert_no_pending_responses()
    assert summary.deleted == {"transform job": ["ds-on-aws-aaa"]}


def test_other_errors_are_not_swallowed():
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_response("list_transform_jobs", {"TransformJobSummaries": [job("ds-on-aws-aaa")]})
        tagged(stubber, "ds-on-aws-aaa", STACK)
        stubber.add_client_error("stop_transform_job", service_error_code="AccessDeniedException", service_message="no")
        with pytest.raises(Exception, match="no"):
            runtime.stop_running_transform_jobs(client, "ds-on-aws-", STACK, runtime.Summary())


def test_only_the_teardown_that_asks_stops_transform_jobs():
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:  # no list_transform_jobs expected: the pipeline's teardown never calls it
        for method, key in (("list_endpoints", "Endpoints"), ("list_endpoint_configs", "EndpointConfigs"),
                            ("list_models", "Models")):
            stubber.add_response(method, {key: []})
        runtime.teardown(client, stack_tag="DsOnAws-Pipeline", name_prefix="ds-on-aws-", time_left=lambda: 600.0)
        stubber.assert_no_pending_responses()


def test_scoring_stack_teardown_stops_jobs_after_its_state_machine_is_gone(templates):
    template = templates[SCORING_STACK_ID]
    resources = template["Resources"]
    (cr_id,) = [k for k, v in resources.items() if v["Type"] == "Custom::TeardownSageMakerResources"]
    assert resources[cr_id]["Properties"]["StopTransformJobs"] == "true"
    (machine,) = [v for v in resources.values() if v["Type"] == "AWS::StepFunctions::StateMachine"]
    assert cr_id in machine["DependsOn"]
    role = next(v for v in resources.values() if v["Type"] == "AWS::IAM::Role"
                and "Teardown" in json.dumps(v["Properties"].get("Policies", [])))
    statements = {s["Sid"]: s for s in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["StopTaggedTransformJobs"]["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{runtime.STACK_TAG_KEY}": STACK}
    }
    assert "transform-job/ds-on-aws-*" in json.dumps(statements["StopTaggedTransformJobs"]["Resource"])
