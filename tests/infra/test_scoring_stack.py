"""The scoring stack as synthesized: state machine, roles, publish job, predictions table, trigger and outputs.

cdk-nag, cfn-lint, the wildcard-action check and the acknowledgment audit cover this stack with the others
(test_security.py); asl-validator and the path tests cover its definition (tests/statemachine).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from aws_cdk import App
from pipeline_contracts import PREDICTIONS_TABLE
from predictions_table import PREDICTION_COLUMNS

from ds_on_aws.config import CONTEXT_KEY, ConfigError, PipelineConfig, load_config
from stacks.app_builder import SCORING_STACK_ID, build_app
from stacks.review_artifacts import resolve_definition, state_machines
from tests.cdk_support import stack_templates, synthesize_or_explain
from tests.infra.test_pipeline_stack import as_list, resource_strings, resources_of, rules_on

CONFIG = load_config()


@pytest.fixture(scope="module")
def scoring(templates) -> dict:
    return templates[SCORING_STACK_ID]


@pytest.fixture(scope="module")
def definition(templates, scoring) -> dict:
    (logical_id,) = state_machines(scoring)
    return resolve_definition(scoring, logical_id, None, stack_name=SCORING_STACK_ID, other_templates=templates)


def policy_statements(template: dict, prefix: str) -> dict[str, dict]:
    found = {}
    for logical_id, resource in resources_of(template, "AWS::IAM::Policy").items():
        if logical_id.startswith(prefix):
            found.update({s["Sid"]: s for s in resource["Properties"]["PolicyDocument"]["Statement"]})
    assert found, f"no policy {prefix}*"
    return found


def test_state_machine_logs_traces_and_times_out(scoring, definition):
    (machine,) = resources_of(scoring, "AWS::StepFunctions::StateMachine").values()
    properties = machine["Properties"]
    assert properties["StateMachineName"] == f"{CONFIG.project_name}-scoring"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    assert definition["TimeoutSeconds"] == CONFIG.scoring.timeout_minutes * 60


def test_transform_runs_on_the_configured_fleet_encrypted(definition):
    state = definition["States"]["Score with Batch Transform"]
    assert state["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
    p = state["Parameters"]
    assert p["TransformResources"]["InstanceType"] == CONFIG.scoring.instance_type
    assert p["TransformResources"]["InstanceCount"] == CONFIG.scoring.instance_count
    assert p["MaxPayloadInMB"] == CONFIG.scoring.max_payload_mb
    assert p["TransformOutput"]["KmsKeyId"] == p["TransformResources"]["VolumeKmsKeyId"] != ""
    assert p["DataProcessing"]["JoinSource"] == "Input"
    assert p["Environment"]["SENTIMENT_MAX_BODY_BYTES"] == str(CONFIG.scoring.max_payload_mb * 1024 * 1024)


def test_state_machine_role_is_scoped_to_this_project(scoring):
    statements = policy_statements(scoring, "ScoringPolicy")
    prefix = f"{CONFIG.project_name}-"
    for statement in statements.values():
        actions = as_list(statement["Action"])
        assert all("*" not in a for a in actions), statement
        for resource in resource_strings(statement):
            if any(a.startswith("sagemaker:") for a in actions):
                assert f"/{prefix}" in resource or f"/{CONFIG.endpoint.name}" in resource, (statement["Sid"], resource)
        if statement["Resource"] == "*":
            assert all(a.startswith(("logs:", "xray:")) for a in actions), statement
    assert "iam:PassRole" not in json.dumps(statements)  # CreateTransformJob passes no role
    assert "transform-job/" in json.dumps(statements["RunTransformJob"]["Resource"])
    assert "StepFunctionsGetEventsForSageMakerTransformJobsRule" in json.dumps(statements["TransformJobCompletionEvents"])


def test_grants_to_the_pipeline_roles_are_this_stacks_own_policies(scoring):
    model = policy_statements(scoring, "ScoringModelRolePolicy")
    assert "scoring/*/input/*" in resource_strings(model["ReadScoringInput"])[0]
    assert "scoring/*/transform/*" in resource_strings(model["WriteTransformOutput"])[0]
    assert "TransformJobs" in resource_strings(model["TransformJobLogs"])[0]
    cleaning = policy_statements(scoring, "ScoringCleaningReadsFeedback")
    assert f"/{CONFIG.scoring.input_prefix}*" in resource_strings(cleaning["ReadFeedback"])[0]
    assert cleaning["ListFeedback"]["Condition"] == {"StringLike": {"s3:prefix": [f"{CONFIG.scoring.input_prefix}*"]}}


def test_publish_job_is_a_small_python_shell_job_with_kms(scoring):
    (job,) = resources_of(scoring, "AWS::Glue::Job").values()
    properties = job["Properties"]
    assert properties["Command"]["Name"] == "pythonshell" and properties["Command"]["PythonVersion"] == "3.9"
    assert properties["MaxCapacity"] == CONFIG.scoring.publish_max_capacity
    assert properties["DefaultArguments"]["library-set"] == "analytics"
    assert "--curated_uri" in properties["DefaultArguments"] and "--kms_key_arn" in properties["DefaultArguments"]
    (security,) = resources_of(scoring, "AWS::Glue::SecurityConfiguration").values()
    encryption = security["Properties"]["EncryptionConfiguration"]
    assert encryption["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    role = policy_statements(scoring, "ScoringPublishRole")
    written = " ".join(resource_strings(role["WritePredictions"]))
    assert "tables/predictions/*" in written and "raw" not in written.lower()


def test_predictions_table_matches_the_parquet_schema(scoring):
    (table,) = resources_of(scoring, "AWS::Glue::Table").values()
    table_input = table["Properties"]["TableInput"]
    assert table_input["Name"] == PREDICTIONS_TABLE
    columns = [(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]]
    assert columns == list(PREDICTION_COLUMNS)
    assert table_input["PartitionKeys"] == [{"Name": "run_id", "Type": "string"}]
    assert table_input["Parameters"]["projection.run_id.type"] == "injected"
    assert "tables/predictions/run_id=${!run_id}/" in json.dumps(table_input["Parameters"]["storage.location.template"])


def test_outputs_give_the_console_link_and_a_ready_start_command(scoring):
    outputs = scoring["Outputs"]
    assert "console.aws.amazon.com/states" in json.dumps(outputs["ScoringStateMachineConsoleUrl"])
    start = json.dumps(outputs["StartScoringCommand"]["Value"])
    assert "aws stepfunctions start-execution --state-machine-arn " in start and "--input '{}'" in start
    assert CONFIG.scoring.input_prefix in json.dumps(outputs["FeedbackUploadCommand"])


def test_upload_trigger_only_with_the_flag(scoring, cdk_context, tmp_path):
    assert rules_on(scoring, "aws.s3") == []
    context = copy.deepcopy(cdk_context)
    context[CONTEXT_KEY]["scoring"]["trigger_on_upload"] = True
    app = App(context=context, outdir=str(tmp_path))
    build_app(app)
    templates = stack_templates(Path(synthesize_or_explain(app, tmp_path).directory))
    (rule,) = rules_on(templates[SCORING_STACK_ID], "aws.s3")
    assert rule["Properties"]["EventPattern"]["detail"]["object"]["key"] == [{"prefix": CONFIG.scoring.input_prefix}]
    assert "input_s3_uri" in json.dumps(rule["Properties"]["Targets"])
    buckets = resources_of(templates["DsOnAws-Data"], "AWS::S3::Bucket").values()
    assert any("EventBridgeConfiguration" in json.dumps(b["Properties"]) for b in buckets)


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        ({"input_prefix": "imdb/new/"}, "overlaps raw_prefix"),
        ({"input_prefix": "feedback"}, "ending with '/'"),
        ({"max_payload_mb": 60, "max_concurrent_transforms": 2}, "at most 100"),
        ({"instance_type": "m5.large"}, "SageMaker instance type"),
        ({"publish_max_capacity": 0.5}, "0.0625 or 1.0"),
        ({"instance_count": 0}, "at least 1"),
    ],
)
def test_bad_scoring_settings_are_named(scoring, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.from_context({"scoring": scoring})
