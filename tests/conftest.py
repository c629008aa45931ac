"""Session fixtures shared by every test directory.

The CDK app is synthesized ONCE per test session, with exactly cdk.json's context (feature flags and the
``ds-on-aws`` configuration), so tests/infra and tests/statemachine check the very templates ``cdk synth``
produces. Fixtures (see stacks/README-interface.md): ``cdk_context``, ``built_app``, ``assembly_dir``,
``templates``, ``template_of``. aws_cdk is imported lazily, so test runs that need no synthesis do not pay
for jsii's start-up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ds_on_aws.config import load_cdk_context
from tests.cdk_support import stack_templates, synthesize_or_explain


@pytest.fixture(scope="session")
def cdk_context() -> dict:
    return load_cdk_context()


@pytest.fixture(scope="session")
def _synthesized(cdk_context, tmp_path_factory):
    from aws_cdk import App

    from stacks.app_builder import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(context=cdk_context, outdir=str(outdir))
    built = build_app(app)
    assembly = synthesize_or_explain(app, outdir)
    return built, Path(assembly.directory)


@pytest.fixture(scope="session")
def built_app(_synthesized):
    return _synthesized[0]


@pytest.fixture(scope="session")
def assembly_dir(_synthesized) -> Path:
    return _synthesized[1]


@pytest.fixture(scope="session")
def templates(assembly_dir) -> dict[str, dict]:
    """Stack id -> synthesized template (as JSON), for every stack of the app."""
    return stack_templates(assembly_dir)


@pytest.fixture(scope="session")
def template_of(templates):
    """``template_of("DsOnAws-Data")`` -> ``aws_cdk.assertions.Template`` of that stack."""
    from aws_cdk.assertions import Template

    def _template(stack_id: str):
        if stack_id not in templates:
            raise KeyError(f"no stack {stack_id!r}; synthesized stacks: {sorted(templates)}")
        return Template.from_json(templates[stack_id])

    return _template


# The fine-tuned tiny transformer (trained once per session; skipped without torch): tests/transformer/fixtures.py.
from tests.transformer.fixtures import tiny_pretrained, trained_transformer, transformer_channels  # noqa: E402,F401


@pytest.fixture(scope="session")
def moderation_templates(cdk_context, tmp_path_factory) -> dict[str, dict]:
    """Stack id -> template of the app synthesized with moderation on (``moderation.toxicity`` and ``images``): the
    non-default variant of the scoring stack (one more synthesis, ~10-25 s; shared by tests/infra and statemachine)."""
    import copy

    from aws_cdk import App

    from stacks.app_builder import build_app

    context = copy.deepcopy(cdk_context)
    context["ds-on-aws"]["moderation"].update(toxicity=True, images=True)
    outdir = tmp_path_factory.mktemp("cdk.out-moderation")
    app = App(context=context, outdir=str(outdir))
    build_app(app)
    return stack_templates(Path(synthesize_or_explain(app, outdir).directory))
