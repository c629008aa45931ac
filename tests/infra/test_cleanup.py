"""The teardown custom resource: its Lambda logic against moto's SageMaker, its waiting loop against botocore's
Stubber, its CloudFormation answers, and the construct's template (IAM scope, deletion order).

The logic is what keeps ``cdk destroy`` from leaving a billing endpoint behind, and from deleting anything that is
not this stack's: both directions are tested.
"""

from __future__ import annotations

import io
import json
import os

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from stacks.constructs.cleanup_runtime import index as runtime

STACK = "DsOnAws-Pipeline"
PREFIX = "ds-on-aws-"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def tags(stack: str | None) -> list[dict]:
    return [{"Key": runtime.STACK_TAG_KEY, "Value": stack}] if stack else [{"Key": "team", "Value": "other"}]


def create_chain(client, name: str, stack: str | None) -> None:
    """A model, an endpoint config and an endpoint named ``name``, tagged for ``stack`` (or with another tag)."""
    client.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}, Tags=tags(stack))
    client.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 5},
            }
        ],
        Tags=tags(stack),
    )
    client.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags(stack))


def names(client) -> dict[str, set[str]]:
    return {
        "models": {m["ModelName"] for m in client.list_models()["Models"]},
        "configs": {c["EndpointConfigName"] for c in client.list_endpoint_configs()["EndpointConfigs"]},
        "endpoints": {e["EndpointName"] for e in client.list_endpoints()["Endpoints"]},
    }


@pytest.fixture
def sagemaker():
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with mock_aws():
            yield boto3.client("sagemaker", region_name="us-east-1")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def event(request_type: str, *, stack_tag: str = STACK, prefix: str = PREFIX, physical_id: str | None = None) -> dict:
    e = {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/presigned",
        "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/guid",
        "RequestId": "request-1",
        "LogicalResourceId": "TeardownSageMaker",
        "ResourceType": "Custom::TeardownSageMakerResources",
        "ResourceProperties": {"StackTag": stack_tag, "NamePrefix": prefix},
    }
    if physical_id:
        e["PhysicalResourceId"] = physical_id
    return e


def plenty_of_time() -> float:
    return 600.0


# --- what gets deleted ----------------------------------------------------------------------------------------------


def test_delete_removes_only_resources_with_this_stacks_tag_and_the_prefix(sagemaker):
    create_chain(sagemaker, "ds-on-aws-run-1", STACK)  # ours
    create_chain(sagemaker, "ds-on-aws-sentiment", STACK)  # ours (the live endpoint)
    create_chain(sagemaker, "ds-on-aws-other", "AnotherStack")  # same prefix, other stack's tag
    create_chain(sagemaker, "ds-on-aws-untagged", None)  # same prefix, no stack tag
    create_chain(sagemaker, "someone-elses-model", STACK)  # right tag, wrong prefix: the prefix is required too

    data = runtime.handle(event("Delete"), sagemaker, time_left=plenty_of_time, sleep=lambda s: None)

    kept = {"ds-on-aws-other", "ds-on-aws-untagged", "someone-elses-model"}
    assert names(sagemaker) == {"models": kept, "configs": kept, "endpoints": kept}
    assert data["Count"] == "6"
    assert set(data["endpoint"].split(",")) == {"ds-on-aws-run-1", "ds-on-aws-sentiment"}
    assert set(data["model"].split(",")) == {"ds-on-aws-run-1", "ds-on-aws-sentiment"}


def test_delete_is_idempotent(sagemaker):
    create_chain(sagemaker, "ds-on-aws-run-1", STACK)
    runtime.handle(event("Delete"), sagemaker, time_left=plenty_of_time, sleep=lambda s: None)
    again = runtime.handle(event("Delete"), sagemaker, time_left=plenty_of_time, sleep=lambda s: None)
    assert again == {"Count": "0"}
    assert names(sagemaker) == {"models": set(), "configs": set(), "endpoints": set()}


def test_already_deleted_resources_count_as_done(sagemaker):
    create_chain(sagemaker, "ds-on-aws-run-1", STACK)
    sagemaker.delete_model(ModelName="ds-on-aws-run-1")
    assert runtime.delete_quietly(sagemaker, runtime.MODEL, "ds-on-aws-run-1") is False
    assert runtime.delete_quietly(sagemaker, runtime.ENDPOINT_CONFIG, "ds-on-aws-run-1") is True


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_touch_nothing(sagemaker, request_type):
    create_chain(sagemaker, "ds-on-aws-run-1", STACK)
    assert runtime.handle(event(request_type), sagemaker, time_left=plenty_of_time) == {}
    assert names(sagemaker)["endpoints"] == {"ds-on-aws-run-1"}


@pytest.mark.parametrize("stack_tag,prefix", [("", PREFIX), (STACK, "")])
def test_refuses_to_run_without_tag_and_prefix(sagemaker, stack_tag, prefix):
    create_chain(sagemaker, "ds-on-aws-run-1", STACK)
    with pytest.raises(runtime.TeardownError, match="refusing to tear down"):
        runtime.handle(event("Delete", stack_tag=stack_tag, prefix=prefix), sagemaker, time_left=plenty_of_time)
    assert names(sagemaker)["endpoints"] == {"ds-on-aws-run-1"}


def test_unknown_request_type_is_an_error(sagemaker):
    with pytest.raises(runtime.TeardownError, match="unknown RequestType 'Replace'"):
        runtime.handle(event("Replace"), sagemaker, time_left=plenty_of_time)


# --- waiting for endpoint deletion (Stubber: real SageMaker takes minutes and refuses some states) --------------------


def not_found(stubber: Stubber, method: str, name: str) -> None:
    stubber.add_client_error(
        method,
        service_error_code="ValidationException",
        service_message=f'Could not find endpoint "{name}".',
        expected_params={"EndpointName": name},
    )


def described(stubber: Stubber, name: str, status: str) -> None:
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": name,
            "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}",
            "EndpointStatus": status,
            "CreationTime": "2026-01-01T00:00:00Z",
            "LastModifiedTime": "2026-01-01T00:00:00Z",
        },
        {"EndpointName": name},
    )


def test_waits_for_an_endpoint_that_is_still_creating_then_deleting():
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    name = "ds-on-aws-run-1"
    sleeps: list[float] = []
    with Stubber(client) as stubber:
        # poll 1: Creating -> delete refused -> still there
        described(stubber, name, "Creating")
        stubber.add_client_error(
            "delete_endpoint",
            service_error_code="ValidationException",
            service_message="Cannot update in-progress endpoint",
            expected_params={"EndpointName": name},
        )
        described(stubber, name, "Creating")
        # poll 2: InService -> delete accepted -> Deleting
        described(stubber, name, "InService")
        stubber.add_response("delete_endpoint", {}, {"EndpointName": name})
        described(stubber, name, "Deleting")
        # poll 3: gone
        not_found(stubber, "describe_endpoint", name)
        summary = runtime.Summary()
        runtime.delete_endpoints_and_wait(
            client, [name], summary, time_left=plenty_of_time, sleep=sleeps.append, poll_seconds=5
        )
        stubber.assert_no_pending_responses()
    assert summary.deleted == {"endpoint": [name]}
    assert sleeps == [5, 5]


def test_gives_up_with_a_message_naming_the_endpoint_when_time_runs_out():
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    name = "ds-on-aws-stuck"
    with Stubber(client) as stubber:
        described(stubber, name, "Deleting")
        described(stubber, name, "Deleting")
        with pytest.raises(runtime.TeardownError, match="ds-on-aws-stuck"):
            runtime.delete_endpoints_and_wait(
                client, [name], runtime.Summary(), time_left=lambda: 1.0, sleep=lambda s: None
            )


def test_unexpected_sagemaker_errors_are_not_swallowed():
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_client_error("delete_model", service_error_code="AccessDeniedException", service_message="denied")
        with pytest.raises(Exception, match="denied"):
            runtime.delete_quietly(client, runtime.MODEL, "ds-on-aws-run-1")


# --- answering CloudFormation ---------------------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    status = 200


def capture(requests: list):
    def opener(request, timeout):
        requests.append(request)
        return FakeResponse()

    return opener


def test_response_is_a_put_to_the_presigned_url_with_a_stable_physical_id():
    requests: list = []
    runtime.send_response(
        event("Update", physical_id="teardown-sagemaker-X"), "SUCCESS", data={"Count": "0"}, opener=capture(requests)
    )
    (request,) = requests
    body = json.loads(request.data)
    assert request.get_method() == "PUT" and request.full_url.startswith("https://cloudformation-custom-resource")
    assert request.get_header("Content-type") == ""
    assert body["PhysicalResourceId"] == "teardown-sagemaker-X"  # never changes on update (a change would delete)
    assert body["Status"] == "SUCCESS" and body["Data"] == {"Count": "0"}
    assert body["RequestId"] == "request-1" and body["LogicalResourceId"] == "TeardownSageMaker"


def test_create_gets_a_physical_id_derived_from_the_stack_tag():
    assert runtime.physical_id(event("Create")) == f"teardown-sagemaker-{STACK}"


class FakeContext:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def test_handler_answers_failed_with_the_cause_and_success_after_a_teardown(sagemaker, monkeypatch):
    requests: list = []
    monkeypatch.setattr(runtime.urllib.request, "urlopen", capture(requests))
    create_chain(sagemaker, "ds-on-aws-run-1", STACK)

    runtime.handler(event("Delete", prefix=""), FakeContext())
    runtime.handler(event("Delete"), FakeContext())

    failed, succeeded = (json.loads(r.data) for r in requests)
    assert failed["Status"] == "FAILED" and "TeardownError: refusing to tear down" in failed["Reason"]
    assert succeeded["Status"] == "SUCCESS" and succeeded["Data"]["Count"] == "3"
    assert names(sagemaker)["endpoints"] == set()


# --- the construct's template ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def teardown_template(cdk_context, tmp_path_factory) -> dict:
    """The construct alone in a stack, with a stand-in for the state machine that must be deleted before it."""
    from aws_cdk import App, CfnWaitConditionHandle, Stack

    from stacks.constructs.cleanup import TeardownSageMakerResources
    from stacks.nag import enable_nag_checks
    from tests.cdk_support import synthesize_or_explain

    outdir = tmp_path_factory.mktemp("cdk.out.teardown")
    app = App(context=cdk_context, outdir=str(outdir))
    stack = Stack(app, "TeardownProbe")
    teardown = TeardownSageMakerResources(stack, "TeardownSageMaker", stack_tag=stack.stack_name, name_prefix=PREFIX)
    teardown.runs_after_deletion_of(CfnWaitConditionHandle(stack, "StandInStateMachine"))
    enable_nag_checks(app)  # the construct's own acknowledgments must cover its findings
    synthesize_or_explain(app, outdir)
    return json.loads((outdir / "TeardownProbe.template.json").read_text())


def of_type(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def test_custom_resource_passes_tag_and_prefix_and_is_served_by_the_function(teardown_template):
    ((cr_id, cr),) = of_type(teardown_template, "Custom::TeardownSageMakerResources").items()
    ((fn_id, fn),) = of_type(teardown_template, "AWS::Lambda::Function").items()
    props = cr["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert props["StackTag"] == "TeardownProbe" and props["NamePrefix"] == PREFIX
    assert str(props["ServiceTimeout"]) == "960"  # CloudFormation gives up after 16 min, not the default hour
    assert fn["Properties"]["Runtime"] == "python3.14" and fn["Properties"]["Handler"] == "index.handler"
    assert fn["Properties"]["Timeout"] == 900
    assert teardown_template["Resources"]["StandInStateMachine"]["DependsOn"] == [cr_id]


def test_teardown_role_is_inline_and_scoped_to_prefix_and_tag(teardown_template):
    assert not of_type(teardown_template, "AWS::IAM::Policy"), "a separate policy could be deleted before the teardown"
    ((_, role),) = of_type(teardown_template, "AWS::IAM::Role").items()
    assert "ManagedPolicyArns" not in role["Properties"]
    (policy,) = role["Properties"]["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {
        "ListSageMakerResources",
        "ReadPipelineResources",
        "DeleteTaggedPipelineEndpoints",
        "DeleteTaggedPipelineEndpointConfigs",
        "DeleteTaggedPipelineModels",
        "WriteOwnLogs",
    }
    listing = statements.pop("ListSageMakerResources")
    assert listing["Resource"] == "*"
    assert sorted(listing["Action"]) == [
        "sagemaker:ListEndpointConfigs",
        "sagemaker:ListEndpoints",
        "sagemaker:ListModels",
    ]
    for sid, kind, action in (
        ("DeleteTaggedPipelineEndpoints", "endpoint", "sagemaker:DeleteEndpoint"),
        ("DeleteTaggedPipelineEndpointConfigs", "endpoint-config", "sagemaker:DeleteEndpointConfig"),
        ("DeleteTaggedPipelineModels", "model", "sagemaker:DeleteModel"),
    ):
        statement = statements[sid]
        assert statement["Action"] == action
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/ds-on-aws:stack": "TeardownProbe"}}
        assert json.dumps(statement["Resource"]).endswith(f':{kind}/{PREFIX}*"]]}}')
    for statement in statements.values():
        assert statement["Resource"] != "*", statement["Sid"]


def test_teardown_logs_are_kept_for_a_limited_time(teardown_template):
    ((_, group),) = of_type(teardown_template, "AWS::Logs::LogGroup").items()
    assert group["Properties"]["RetentionInDays"] == 30


# --- wired into the real pipeline stack -----------------------------------------------------------------------------


def test_the_pipeline_stack_tears_down_its_own_resources_after_the_state_machine_is_gone(templates):
    from stacks.app_builder import PIPELINE_STACK_ID
    from stacks.constructs import cleanup, state_machine

    template = templates[PIPELINE_STACK_ID]
    ((cr_id, cr),) = of_type(template, cleanup.RESOURCE_TYPE).items()
    assert cr["Properties"]["StackTag"] == PIPELINE_STACK_ID
    assert cr["Properties"]["NamePrefix"] == PREFIX
    # The tag the state machine puts on what it creates is the one the teardown looks for.
    assert state_machine.STACK_TAG_KEY == cleanup.STACK_TAG_KEY == runtime.STACK_TAG_KEY
    machines = of_type(template, "AWS::StepFunctions::StateMachine")
    assert machines
    for machine in machines.values():
        assert cr_id in machine.get("DependsOn", []), "the state machine must be deleted before the teardown runs"
    ((_, group),) = {
        k: v for k, v in of_type(template, "AWS::Logs::LogGroup").items() if k.startswith("TeardownSageMaker")
    }.items()
    assert "KmsKeyId" in group["Properties"], "the teardown's logs are encrypted with the data key"
