"""``stacks.review_artifacts``: token resolution, the Mermaid graph, the files, and asl-validator on the result."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ds_on_aws.config import PROJECT_ROOT
from stacks.app_builder import PIPELINE_STACK_ID
from stacks.review_artifacts import (
    ResolveError,
    describe_rule,
    resolve_definition,
    state_machines,
    to_mermaid,
    write_review_artifacts,
)

ASL_VALIDATOR = PROJECT_ROOT / "node_modules" / ".bin" / "asl-validator"


def machine(definition_string) -> dict:
    """A template with one state machine whose DefinitionString is ``definition_string``."""
    return {
        "Mappings": {"Accounts": {"us-east-1": {"account": "683313688378"}, "eu-west-1": {"account": "141502667606"}}},
        "Parameters": {"Stage": {"Type": "String", "Default": "prod"}},
        "Resources": {
            "Bucket1": {"Type": "AWS::S3::Bucket"},
            "Named": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "my-named-bucket"}},
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Role": {"Type": "AWS::IAM::Role"},
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": definition_string},
            },
        },
    }


def join(*parts) -> dict:
    return {"Fn::Join": ["", list(parts)]}


def test_resolves_pseudo_parameters_refs_getatts_mappings_and_sub():
    definition_string = join(
        '{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"bucket":"',
        {"Ref": "Bucket1"},
        '","named":"',
        {"Ref": "Named"},
        '","arn":"',
        {"Fn::GetAtt": ["Named", "Arn"]},
        '","topic":"',
        {"Ref": "Topic"},
        '","role":"',
        {"Fn::GetAtt": ["Role", "Arn"]},
        '","image":"',
        {"Fn::FindInMap": ["Accounts", {"Ref": "AWS::Region"}, "account"]},
        ".dkr.ecr.",
        {"Ref": "AWS::Region"},
        ".",
        {"Ref": "AWS::URLSuffix"},
        '","sub":"',
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Named}/${Stage}/x"},
        '"},"End":true}}}',
    )
    template = machine(definition_string)
    params = resolve_definition(template, "Machine", stack_name="Demo")["States"]["A"]["Parameters"]
    assert params == {
        "bucket": "demo-bucket1",
        "named": "my-named-bucket",
        "arn": "arn:aws:s3:::my-named-bucket",
        "topic": "arn:aws:sns:us-east-1:123456789012:demo-topic",
        "role": "arn:aws:iam::123456789012:role/demo-role",
        "image": "683313688378.dkr.ecr.us-east-1.amazonaws.com",
        "sub": "arn:aws:s3:::my-named-bucket/prod/x",
    }
    # samples override pseudo parameters and resources: the mapping follows the region
    params = resolve_definition(
        template, "Machine", {"AWS::Region": "eu-west-1", "Ref:Bucket1": "b"}, stack_name="Demo"
    )
    assert params["States"]["A"]["Parameters"]["image"] == "141502667606.dkr.ecr.eu-west-1.amazonaws.com"
    assert params["States"]["A"]["Parameters"]["bucket"] == "b"


def test_cross_stack_outputs_resolve_through_the_producer_template():
    reference = {
        "Fn::GetStackOutput": {
            "StackName": "Data",
            "Region": {"Ref": "AWS::Region"},
            "OutputName": "PublishOutputRefRawBucketABC",
        }
    }
    template = machine(join('{"StartAt":"A","States":{"A":{"Type":"Pass","Result":"', reference, '","End":true}}}'))
    producer = {
        "Resources": {"RawBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {"PublishOutputRefRawBucketABC": {"Value": {"Ref": "RawBucket"}}},
    }
    with_producer = resolve_definition(template, "Machine", other_templates={"Data": producer})
    assert with_producer["States"]["A"]["Result"] == "data-rawbucket"
    without = resolve_definition(template, "Machine")
    assert without["States"]["A"]["Result"].endswith("-bucket")  # plausible even without the producer


def test_unknown_reference_and_non_machine_fail_with_a_clear_message():
    template = machine(
        join('{"StartAt":"A","States":{"A":{"Type":"Pass","Result":"', {"Ref": "Missing"}, '","End":true}}}')
    )
    with pytest.raises(ResolveError, match="state machine Machine: Ref to unknown 'Missing'"):
        resolve_definition(template, "Machine")
    with pytest.raises(ResolveError, match="'Bucket1' is not an AWS::StepFunctions::StateMachine"):
        resolve_definition(template, "Bucket1")
    with pytest.raises(ResolveError, match="not JSON"):
        resolve_definition(machine(join('{"StartAt": ', {"Ref": "AWS::Region"})), "Machine")
    assert state_machines(template) == ["Machine"]


SMALL = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.accuracy", "NumericLessThanPath": "$.min", "Next": "Rejected"}],
            "Default": "Work",
        },
        "Work": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Rejected"}],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "Rejected": {"Type": "Fail", "Error": "ModelRejected"},
    },
}


def test_mermaid_draws_every_state_and_edge_kind():
    graph = to_mermaid(SMALL)
    lines = graph.splitlines()
    assert lines[0] == "flowchart TD"
    assert 's0{"Check"}' in graph and 's2["Work"]' in graph and 's3(["Done"])' in graph and 's1[["Rejected"]]' in graph
    assert any(line.strip() == 's0 -->|"$.accuracy < $.min"| s1' for line in lines)
    assert any(line.strip() == 's0 -->|"default"| s2' for line in lines)
    assert any(line.strip() == 's2 -.->|"catch: States.ALL"| s1' for line in lines)
    assert any(line.strip() == "s2 --> s3" for line in lines)
    assert any(line.strip() == "s3 --> stop" for line in lines)


def test_rule_descriptions_read_like_conditions():
    assert describe_rule({"Not": {"Variable": "$.x", "IsString": True}}) == "not ($.x is string)"
    assert describe_rule(
        {"And": [{"Variable": "$.s", "StringEquals": "InService"}, {"Variable": "$.n", "NumericGreaterThanEquals": 3}]}
    ) == ('($.s == "InService") and ($.n >= 3)')


def test_write_review_artifacts_for_an_assembly(tmp_path):
    template = machine(json.dumps(SMALL))
    (tmp_path / "Demo.template.json").write_text(json.dumps(template))
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "Demo": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "Demo.template.json"}}
                }
            }
        )
    )
    written = write_review_artifacts(tmp_path)
    assert [p.name for p in written] == ["Demo-Machine.asl.json", "Demo-Machine.mmd"]
    assert json.loads(written[0].read_text()) == SMALL
    assert written[0].read_text().startswith('{\n  "StartAt"')  # pretty-printed
    assert written[1].read_text() == to_mermaid(SMALL)


@pytest.mark.skipif(
    not ASL_VALIDATOR.exists() or shutil.which("node") is None, reason="asl-validator (npm) not installed"
)
def test_synthesized_definition_passes_asl_validator(assembly_dir, tmp_path):
    (asl,) = sorted((assembly_dir / "review").glob(f"{PIPELINE_STACK_ID}-*.asl.json"))
    result = subprocess.run([str(ASL_VALIDATOR), "--json-path", str(asl)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = json.loads(asl.read_text())
    broken["States"]["Load defaults"]["Next"] = "No such state"
    bad = tmp_path / "broken.asl.json"
    bad.write_text(json.dumps(broken))
    result = subprocess.run([str(ASL_VALIDATOR), "--json-path", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0  # the validator really checks: a dangling Next is refused
