"""Security gates over every synthesized template of the app.

- cdk-nag AwsSolutions: zero unacknowledged findings (synthesis itself fails otherwise; the fixture prints the
  findings), proven live by a canary that must be caught; every acknowledgment is one rule on one resource with a
  real reason.
- No IAM policy statement allows ``*`` or ``<service>:*`` actions (or uses NotAction/NotResource to get there).
- cfn-lint: zero errors and zero warnings; the only ignored rules are in ``.cfnlintrc.yaml``, each with its reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_cdk import App, CfnWaitConditionHandle, Stack
from aws_cdk import aws_s3 as s3
from cfnlint.config import ConfigMixIn
from cfnlint.runner import Runner

from ds_on_aws.config import PROJECT_ROOT
from stacks.app_builder import build_app
from stacks.nag import METADATA_TYPE, MIN_REASON_CHARS, NAG_SOURCE, AcknowledgmentError, acknowledge
from tests.cdk_support import synthesize_or_explain

CFN_LINT_CONFIG = PROJECT_ROOT / ".cfnlintrc.yaml"
ACK_ID = re.compile(r"^AwsSolutions::AwsSolutions-[A-Z]+[0-9]+(\[[^\]]+\])?$")
IAM_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role")


# --- cdk-nag --------------------------------------------------------------------------------------------------------


def test_cdk_nag_reports_no_findings(assembly_dir):
    """The session synthesis passed cdk-nag; the report it leaves in the assembly lists no violation either."""
    report = json.loads((assembly_dir / "validation-report.json").read_text())
    violations = [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]
    assert violations == []


def test_a_new_finding_fails_synthesis_and_is_named(cdk_context, tmp_path):
    """Canary: the app exactly as built for cdk synth, plus one bucket without logging or SSL policy, must fail."""
    app = App(context=cdk_context, outdir=str(tmp_path))
    built = build_app(app)
    s3.Bucket(built.data, "CanaryBucket", encryption=s3.BucketEncryption.S3_MANAGED, versioned=True)
    with pytest.raises(pytest.fail.Exception) as failure:
        synthesize_or_explain(app, tmp_path)
    message = str(failure.value)
    assert "AwsSolutions-S1  DsOnAws-Data/CanaryBucket/Resource" in message
    assert "AwsSolutions-S10  DsOnAws-Data/CanaryBucket/Resource" in message


def acknowledgments(assembly_dir: Path) -> list[tuple[str, str, str]]:
    """(construct path, acknowledged id, reason) for every acknowledgment recorded in the cloud assembly."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    found = []
    for artifact in manifest["artifacts"].values():
        metadata = dict(artifact.get("metadata", {}))
        metadata_file = artifact.get("additionalMetadataFile")
        if metadata_file and (assembly_dir / metadata_file).is_file():
            metadata.update(json.loads((assembly_dir / metadata_file).read_text()))
        for path, entries in metadata.items():
            for entry in entries:
                if entry["type"] == METADATA_TYPE:
                    found.extend((path, rule, reason) for rule, reason in entry["data"].items())
    return found


def resource_paths(assembly_dir: Path) -> dict[str, str]:
    """Construct path (with the leading ``/`` the metadata uses) -> logical id, for every CloudFormation resource."""
    tree = json.loads((assembly_dir / "tree.json").read_text())["tree"]
    paths, todo = {}, [tree]
    while todo:
        node = todo.pop()
        logical_id = node.get("attributes", {}).get("aws:cdk:cloudformation:logicalId")
        if logical_id:
            paths["/" + node["path"]] = logical_id
        todo.extend(node.get("children", {}).values())
    return paths


def test_every_acknowledgment_is_one_nag_rule_on_one_resource_with_a_reason(assembly_dir, templates):
    acks = acknowledgments(assembly_dir)
    assert acks, "expected the app's acknowledged findings in the assembly metadata (none found: metadata moved?)"
    paths = resource_paths(assembly_dir)
    logical_ids = {lid for t in templates.values() for lid in t["Resources"]}
    assert set(paths.values()) <= logical_ids | {"CDKMetadata"}
    problems = []
    for path, rule, reason in acks:
        if not ACK_ID.match(rule):
            problems.append(f"{path}: {rule!r} is not one AwsSolutions rule id with the {NAG_SOURCE!r} source")
        if len(" ".join(reason.split())) < MIN_REASON_CHARS:
            problems.append(f"{path}: {rule}: reason too short: {reason!r}")
        if path not in paths:
            problems.append(f"{path}: {rule}: acknowledged on a construct that is not a single CloudFormation resource")
    assert problems == [], "\n".join(problems)
    listing = "\n".join(
        f"{rule}  {path}\n    {reason}" for path, rule, reason in sorted(acks, key=lambda a: (a[1], a[0]))
    )
    print(f"{len(acks)} acknowledged cdk-nag findings:\n{listing}")


def test_acknowledge_refuses_vague_rules_and_reasons_and_non_resources(tmp_path):
    stack = Stack(App(outdir=str(tmp_path)), "Probe")
    bucket = s3.Bucket(stack, "B")
    with pytest.raises(AcknowledgmentError, match="expected one AwsSolutions rule id"):
        acknowledge(bucket, "AwsSolutions-IAM*", "x" * 60)
    with pytest.raises(AcknowledgmentError, match="expected one AwsSolutions rule id"):
        acknowledge(bucket, "AwsSolutions::AwsSolutions-S1", "x" * 60)
    with pytest.raises(AcknowledgmentError, match="reason must explain"):
        acknowledge(bucket, "AwsSolutions-S1", "ok")
    with pytest.raises(AcknowledgmentError, match="not a CloudFormation resource"):
        acknowledge(stack, "AwsSolutions-S1", "A reason long enough to pass the length check, honestly.")
    resource = acknowledge(bucket, "AwsSolutions-S1", "A reason long enough to pass the length check, honestly.")
    assert resource.node.path == bucket.node.default_child.node.path == "Probe/B/Resource"
    handle = CfnWaitConditionHandle(stack, "H")
    assert (
        acknowledge(handle, "AwsSolutions-S1", "A reason long enough to pass the length check, honestly.").node.path
        == "Probe/H"
    )


# --- IAM: no wildcard actions ---------------------------------------------------------------------------------------


def policy_documents(template: dict):
    """(resource id, document) for every identity policy in the template: policies, managed policies, role inlines."""
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield logical_id, props["PolicyDocument"]
        elif resource["Type"] == "AWS::IAM::Role":
            for inline in props.get("Policies", []):
                yield f"{logical_id}.{inline['PolicyName']}", inline["PolicyDocument"]


def wildcard_action_problems(templates: dict[str, dict]) -> list[str]:
    problems = []
    for stack_id, template in templates.items():
        for where, document in policy_documents(template):
            statements = document["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                if "NotAction" in statement or "NotResource" in statement:
                    problems.append(f"{stack_id}/{where}: NotAction/NotResource in {statement}")
                actions = statement.get("Action", [])
                for action in actions if isinstance(actions, list) else [actions]:
                    if not isinstance(action, str) or action == "*" or action.endswith(":*"):
                        problems.append(f"{stack_id}/{where}: {statement.get('Effect')} action {action!r}")
    return problems


def test_no_iam_statement_allows_wildcard_actions(templates):
    documents = [d for t in templates.values() for d in policy_documents(t)]
    assert len(documents) >= 2, "expected the app's roles and policies to be found"
    assert wildcard_action_problems(templates) == []


def test_the_wildcard_check_catches_what_it_must():
    template = {
        "Resources": {
            "P": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
                },
            },
            "R": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [
                        {
                            "PolicyName": "i",
                            "PolicyDocument": {
                                "Statement": [
                                    {"Effect": "Allow", "Action": ["logs:PutLogEvents", "*"], "Resource": "*"},
                                    {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
                                ]
                            },
                        }
                    ]
                },
            },
        }
    }
    problems = wildcard_action_problems({"S": template})
    assert len(problems) == 3, problems


# --- cfn-lint -------------------------------------------------------------------------------------------------------


def cfn_lint(template_path: Path) -> list[str]:
    config = ConfigMixIn(["--template", str(template_path), "--config-file", str(CFN_LINT_CONFIG)])
    return [f"{m.rule.id} {m.message} ({m.filename}:{m.linenumber})" for m in Runner(config).run()]


def test_cfn_lint_config_ignores_only_documented_rules():
    text = CFN_LINT_CONFIG.read_text()
    ignored = re.findall(r"^\s+-\s+([EWI]\d{4})\s*$", text, flags=re.M)
    assert ignored == ["W3005"]
    for rule in ignored:
        assert re.search(rf"#\s*{rule} ", text), f"{rule} is ignored without a written reason"


def test_cfn_lint_reports_nothing_on_any_template(assembly_dir, templates):
    assert set(templates) >= {"DsOnAws-Data"}
    findings = {}
    for template_file in sorted(assembly_dir.glob("*.template.json")):
        if matches := cfn_lint(template_file):
            findings[template_file.name] = matches
    assert findings == {}, json.dumps(findings, indent=2)


def test_cfn_lint_would_report_a_broken_template(tmp_path):
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps({"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"Versioning": "on"}}}}))
    assert any(m.startswith("E3002") for m in cfn_lint(broken))


def test_synthesis_writes_one_template_per_stack(assembly_dir, templates):
    assert {p.name for p in assembly_dir.glob("*.template.json")} == {f"{s}.template.json" for s in templates}
