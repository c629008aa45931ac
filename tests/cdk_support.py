"""Helpers shared by the tests that synthesize the CDK app (tests/infra, tests/statemachine)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Before aws_cdk is imported: jsii's Node 20 end-of-life banner (the value must name the major version).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def synthesize_or_explain(app, outdir: Path):
    """Synthesize; on a validation failure (cdk-nag finding) fail with the findings listed one per line."""
    from stacks.app_builder import synthesize
    from stacks.nag import format_validation_report

    try:
        return synthesize(app)
    except Exception as exc:  # jsii surfaces ValidationFailed as RuntimeError
        report_path = outdir / "validation-report.json"
        if "ValidationFailed" in str(exc) and report_path.is_file():
            findings = format_validation_report(json.loads(report_path.read_text()))
            pytest.fail(f"cdk-nag / CDK validation reported unacknowledged findings:\n{findings}", pytrace=False)
        raise


def stack_templates(assembly_dir: Path) -> dict[str, dict]:
    """Stack id -> synthesized template (as JSON), for every stack of a cloud assembly."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    return {
        artifact_id: json.loads((assembly_dir / artifact["properties"]["templateFile"]).read_text())
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
