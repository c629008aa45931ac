"""Session-scoped synthesis of the whole CDK app, shared by every infrastructure test.

The app is synthesized ONCE per test session, with exactly cdk.json's context (feature flags and the ``ds-on-aws``
configuration), so the tests check the very templates ``cdk synth`` produces. Fixtures (see
stacks/README-interface.md): ``cdk_context``, ``built_app``, ``assembly_dir``, ``templates``, ``template_of``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Before aws_cdk is imported: jsii's Node 20 end-of-life banner (the value must name the major version).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from ds_on_aws.config import load_cdk_context  # noqa: E402
from stacks.app_builder import BuiltApp, build_app, synthesize  # noqa: E402
from stacks.nag import format_validation_report  # noqa: E402


def synthesize_or_explain(app: App, outdir: Path):
    """Synthesize; on a validation failure (cdk-nag finding) fail with the findings listed one per line."""
    try:
        return synthesize(app)
    except Exception as exc:  # jsii surfaces ValidationFailed as RuntimeError
        report_path = outdir / "validation-report.json"
        if "ValidationFailed" in str(exc) and report_path.is_file():
            findings = format_validation_report(json.loads(report_path.read_text()))
            pytest.fail(f"cdk-nag / CDK validation reported unacknowledged findings:\n{findings}", pytrace=False)
        raise


@pytest.fixture(scope="session")
def cdk_context() -> dict:
    return load_cdk_context()


@pytest.fixture(scope="session")
def _synthesized(cdk_context, tmp_path_factory) -> tuple[BuiltApp, Path]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(context=cdk_context, outdir=str(outdir))
    built = build_app(app)
    assembly = synthesize_or_explain(app, outdir)
    return built, Path(assembly.directory)


@pytest.fixture(scope="session")
def built_app(_synthesized) -> BuiltApp:
    return _synthesized[0]


@pytest.fixture(scope="session")
def assembly_dir(_synthesized) -> Path:
    return _synthesized[1]


@pytest.fixture(scope="session")
def templates(assembly_dir) -> dict[str, dict]:
    """Stack id -> synthesized template (as JSON), for every stack of the app."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    result = {}
    for artifact_id, artifact in manifest["artifacts"].items():
        if artifact.get("type") == "aws:cloudformation:stack":
            template_file = artifact["properties"]["templateFile"]
            result[artifact_id] = json.loads((assembly_dir / template_file).read_text())
    return result


@pytest.fixture(scope="session")
def template_of(templates):
    """``template_of("DsOnAws-Data")`` -> ``aws_cdk.assertions.Template`` of that stack."""

    def _template(stack_id: str) -> Template:
        if stack_id not in templates:
            raise KeyError(f"no stack {stack_id!r}; synthesized stacks: {sorted(templates)}")
        return Template.from_json(templates[stack_id])

    return _template
