"""The scoring stack with moderation on: the moderation function, its least-privilege role, the state machine's
grant to invoke it; cfn-lint and the wildcard-action check on that variant (cdk-nag ran when it was synthesized:
an unacknowledged finding fails the synthesis). With moderation off (cdk.json's default) none of it exists."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from ds_on_aws.config import ModerationConfig
from stacks.app_builder import SCORING_STACK_ID
from stacks.constructs.moderation import ModerationResources
from tests.infra.test_pipeline_stack import resources_of
from tests.infra.test_scoring_stack import policy_statements
from tests.infra.test_security import cfn_lint, wildcard_action_problems

pytestmark = pytest.mark.slow  # the moderated variant is one more synthesis


@pytest.fixture(scope="module")
def scoring(moderation_templates) -> dict:
    return moderation_templates[SCORING_STACK_ID]


def arn_suffix(resource) -> str:
    """The literal tail of an ARN written as Fn::Join (``/scoring/*/input/*``), or the string itself."""
    if isinstance(resource, dict) and "Fn::Join" in resource:
        return "".join(p for p in resource["Fn::Join"][1] if isinstance(p, str))
    return resource if isinstance(resource, str) else json.dumps(resource)


def test_the_function_role_may_detect_and_read_only_what_moderation_needs(scoring):
    statements = policy_statements(scoring, "ScoringModerationFunctionRole")
    assert sorted(statements) == ["DetectModeration", "ListScoringInput", "ReadImagesForRekognition",
                                  "ReadScoringInput", "UseDataKey", "WriteModerationResults", "WriteOwnLogs"]
    detect = statements["DetectModeration"]
    assert sorted(detect["Action"]) == ["comprehend:DetectToxicContent", "rekognition:DetectModerationLabels"]
    assert detect["Resource"] == "*"  # no resource type; acknowledged with its reason next to the statement
    assert [s for sid, s in statements.items() if s["Resource"] == "*"] == [detect]
    assert arn_suffix(statements["ReadImagesForRekognition"]["Resource"]) == "/images/*"
    assert "RawBucket" in json.dumps(statements["ReadImagesForRekognition"]["Resource"])
    assert arn_suffix(statements["ReadScoringInput"]["Resource"]) == "/scoring/*/input/*"
    assert statements["WriteModerationResults"]["Action"] == "s3:PutObject"
    assert arn_suffix(statements["WriteModerationResults"]["Resource"]) == "/scoring/*/moderation/*"


def test_the_function_runs_the_moderation_module_within_lambdas_limit(scoring):
    (function,) = [r for r in resources_of(scoring, "AWS::Lambda::Function").values()
                   if "moderates a scoring run" in r["Properties"].get("Description", "")]
    p = function["Properties"]
    assert p["Timeout"] == 900 and p["Handler"] == "index.handler" and p["Runtime"].startswith("python3.")
    settings = json.loads(p["Environment"]["Variables"]["MODERATION"])
    assert settings["toxicity"] is settings["images"] is True and settings["image_prefix"] == "images/"
    assert {"CURATED_BUCKET", "RAW_BUCKET", "KMS_KEY_ARN"} <= set(p["Environment"]["Variables"])


def test_the_state_machine_may_invoke_the_function_and_nothing_else_new(scoring):
    statements = policy_statements(scoring, "ScoringPolicy")
    invoke = statements["RunModeration"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert "ScoringModerationFunction" in json.dumps(invoke["Resource"])


def test_cfn_lint_and_wildcard_check_are_clean_on_the_moderated_variant(moderation_templates, tmp_path):
    path = tmp_path / f"{SCORING_STACK_ID}.template.json"
    path.write_text(json.dumps(moderation_templates[SCORING_STACK_ID]), encoding="utf-8")
    assert cfn_lint(path) == []
    assert wildcard_action_problems(moderation_templates) == []


def test_moderation_off_deploys_nothing_of_it(templates):
    text = json.dumps(templates[SCORING_STACK_ID])
    assert "DetectToxicContent" not in text and "DetectModerationLabels" not in text
    assert "ScoringModeration" not in text


@pytest.mark.parametrize(("toxicity", "images", "actions"), [
    (True, False, ["comprehend:DetectToxicContent"]),
    (False, True, ["rekognition:DetectModerationLabels"]),
])
def test_only_the_switched_on_service_is_granted(toxicity, images, actions):
    stack = Stack(App(), "Moderation")
    key = kms.Key(stack, "Key")
    ModerationResources(stack, "M", config=ModerationConfig(toxicity=toxicity, images=images), key=key,
                        raw_bucket=s3.Bucket(stack, "Raw"), curated_bucket=s3.Bucket(stack, "Curated"))
    statements = [s for policy in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
                  for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    detect = [s for s in statements if s["Sid"] == "DetectModeration"]
    assert len(detect) == 1 and (detect[0]["Action"] if isinstance(detect[0]["Action"], list)
                                 else [detect[0]["Action"]]) == actions
    assert any(s["Sid"] == "ReadImagesForRekognition" for s in statements) is images
