"""The managed baseline's resources in the synthesized pipeline stack: Comprehend's role, the function's role, the
state machine's Comprehend permissions, the function's asset and configuration."""

from __future__ import annotations

import json

import pytest

from ds_on_aws.config import load_config
from stacks.app_builder import PIPELINE_STACK_ID
from stacks.constructs.baseline import RUNTIME_DIR, SHARED_MODULES, stage_runtime
from tests.infra.test_pipeline_stack import as_list, resources_of, statements_of


@pytest.fixture(scope="module")
def pipeline(templates) -> dict:
    return templates[PIPELINE_STACK_ID]


def role(template: dict, fragment: str) -> tuple[str, dict]:
    (found,) = [(k, v) for k, v in resources_of(template, "AWS::IAM::Role").items() if fragment in k]
    return found


def actions_of(statements: list[dict]) -> set[str]:
    return {action for s in statements for action in as_list(s["Action"])}


def test_comprehends_role_is_assumable_by_comprehend_from_this_account_only(pipeline):
    _, resource = role(pipeline, "ComprehendDataAccessRole")
    (trust,) = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "comprehend.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "sentiment-detection-job/*" in json.dumps(trust["Condition"]["ArnLike"])


def test_comprehends_role_reads_the_baseline_input_writes_its_output_and_uses_the_key_only(pipeline):
    statements = statements_of(pipeline, "PipelineBaselineComprehendDataAccessRoleDefaultPolicy")
    assert actions_of(statements) == {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "kms:Decrypt", "kms:Encrypt",
                                      "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"}
    resources = json.dumps([s["Resource"] for s in statements if s["Action"] in ("s3:GetObject", "s3:PutObject")])
    assert "/baseline/*/input/*" in resources and "/baseline/*/output/*" in resources
    assert "curated/" not in resources and "models/" not in resources


def test_the_function_writes_only_baseline_objects_and_evaluation_reports(pipeline):
    statements = statements_of(pipeline, "PipelineBaselineFunctionRoleDefaultPolicy")
    writes = [s for s in statements if "s3:PutObject" in as_list(s["Action"])]
    assert "/baseline/*" in json.dumps(writes) and "/models/*/evaluation.json" in json.dumps(writes)
    assert '/models/*"' not in json.dumps(writes)  # never the model artifacts themselves
    assert "glue:GetJobRun" in actions_of(statements)
    assert not any("*" in a for a in actions_of(statements))


def test_the_state_machine_starts_comprehend_jobs_with_the_data_key_only_and_passes_only_its_role(pipeline):
    statements = statements_of(pipeline, "PipelinePolicyEB")
    (start,) = [s for s in statements if "comprehend:StartSentimentDetectionJob" in as_list(s["Action"])]
    assert set(start["Condition"]["StringEquals"]) == {"comprehend:VolumeKmsKey", "comprehend:OutputKmsKey"}
    (passing,) = [s for s in statements if s.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
                  == "comprehend.amazonaws.com"]
    assert "ComprehendDataAccessRole" in json.dumps(passing["Resource"])
    (invoke,) = [s for s in statements if "lambda:InvokeFunction" in as_list(s["Action"])]
    assert "BaselineFunction" in json.dumps(invoke["Resource"])


def test_the_function_gets_the_configured_sample_size_and_price_table(pipeline):
    config = load_config()
    (function,) = [v for k, v in resources_of(pipeline, "AWS::Lambda::Function").items() if "BaselineFunction" in k]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["SAMPLE_SIZE"] == str(config.baseline.sample_size)
    assert json.loads(env["PRICES"]) == config.prices.as_dict()
    assert function["Properties"]["Runtime"].startswith("python3.")


def test_the_staged_runtime_is_index_plus_the_shared_modules_byte_for_byte(tmp_path):
    staged = stage_runtime(tmp_path / "runtime")
    (staged / "stale.py").write_text("left over")
    staged = stage_runtime(tmp_path / "runtime")  # a second build removes what is not part of the runtime
    names = sorted(p.name for p in staged.iterdir())
    assert names == sorted(["index.py", *SHARED_MODULES])
    assert (staged / "index.py").read_bytes() == (RUNTIME_DIR / "index.py").read_bytes()
