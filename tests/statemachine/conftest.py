"""Fixtures of the state-machine tests: the synthesized app (once per session) and its state machines.

The definitions come from the cloud assembly ``cdk synth`` would write (``App(context=cdk.json's
context)`` through ``stacks.app_builder``, exactly as ``app.py`` and tests/infra do), resolved
from their ``Fn::Join`` with ``stacks.review_artifacts.resolve_definition`` (tokens -> sample
values). Nothing here is a hand-written copy of a definition.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from ds_on_aws.config import PipelineConfig, load_cdk_context  # noqa: E402

PIPELINE_STACK_ID = "DsOnAws-Pipeline"


@dataclass(frozen=True)
class SynthesizedStateMachine:
    stack_id: str
    logical_id: str
    definition: dict  # resolved ASL (CloudFormation tokens replaced by sample values)
    template: dict


def _synthesize(context: dict, outdir: Path) -> dict[str, dict]:
    """Synthesize the app with ``context``; return stack id -> template."""
    from aws_cdk import App

    from stacks.app_builder import build_app
    from tests.cdk_support import stack_templates, synthesize_or_explain

    app = App(context=context, outdir=str(outdir))
    build_app(app)
    return stack_templates(Path(synthesize_or_explain(app, outdir).directory))


def state_machines_of(templates: dict[str, dict]) -> list[SynthesizedStateMachine]:
    """Every ``AWS::StepFunctions::StateMachine`` of every template, with its resolved definition."""
    try:
        from stacks.review_artifacts import resolve_definition
    except ModuleNotFoundError as exc:
        if exc.name != "stacks.review_artifacts":
            raise
        pytest.skip("stacks/review_artifacts.py (resolve_definition) is not committed yet")
    found = []
    for stack_id, template in sorted(templates.items()):
        for logical_id, resource in sorted(template.get("Resources", {}).items()):
            if resource.get("Type") == "AWS::StepFunctions::StateMachine":
                found.append(
                    SynthesizedStateMachine(stack_id, logical_id, resolve_definition(template, logical_id), template)
                )
    return found


@pytest.fixture(scope="session")
def cdk_context_for_statemachine() -> dict:
    return load_cdk_context()


@pytest.fixture(scope="session")
def pipeline_config(cdk_context_for_statemachine) -> PipelineConfig:
    return PipelineConfig.from_context(cdk_context_for_statemachine.get("ds-on-aws"))


@pytest.fixture(scope="session")
def synthesized_templates(templates) -> dict[str, dict]:
    """The session's one synthesis of the app (tests/conftest.py), shared with tests/infra."""
    return templates


@pytest.fixture(scope="session")
def synthesized_state_machines(synthesized_templates) -> list[SynthesizedStateMachine]:
    machines = state_machines_of(synthesized_templates)
    if not any(m.stack_id == PIPELINE_STACK_ID for m in machines):
        pytest.skip(f"no state machine in stack {PIPELINE_STACK_ID} yet (stacks/pipeline_stack.py not committed)")
    return machines


@pytest.fixture(scope="session")
def pipeline_definition(synthesized_state_machines) -> dict:
    """The pipeline's state machine definition, as synthesized and resolved."""
    pipeline = [m for m in synthesized_state_machines if m.stack_id == PIPELINE_STACK_ID]
    assert len(pipeline) == 1, (
        f"expected one state machine in {PIPELINE_STACK_ID}, found {[m.logical_id for m in pipeline]}"
    )
    return pipeline[0].definition


@pytest.fixture(scope="session")
def path_results(pipeline_definition) -> dict:
    """Every path of scenarios.PATHS executed once per session: name -> ExecutionResult."""
    from tests.statemachine import scenarios
    from tests.statemachine.harness import Interpreter

    with Interpreter(pipeline_definition) as interpreter:
        return {name: interpreter.run(make(), execution_name=f"run-{name}") for name, make in scenarios.PATHS.items()}


@pytest.fixture(scope="session")
def instance_mode_definition(cdk_context_for_statemachine, tmp_path_factory) -> dict:
    """The pipeline definition synthesized with ``endpoint.mode = "instance"`` (the non-default variant)."""
    import copy

    context = copy.deepcopy(cdk_context_for_statemachine)
    context["ds-on-aws"]["endpoint"]["mode"] = "instance"
    templates = _synthesize(context, tmp_path_factory.mktemp("statemachine-instance-cdk.out"))
    machines = [m for m in state_machines_of(templates) if m.stack_id == PIPELINE_STACK_ID]
    assert len(machines) == 1, [m.logical_id for m in machines]
    return machines[0].definition


SCORING_STACK_ID = "DsOnAws-Scoring"


@pytest.fixture(scope="session")
def scoring_definition(synthesized_state_machines) -> dict:
    """The scoring state machine's definition (its own stack), as synthesized and resolved."""
    scoring = [m for m in synthesized_state_machines if m.stack_id == SCORING_STACK_ID]
    assert len(scoring) == 1, f"expected one state machine in {SCORING_STACK_ID}, found {[m.logical_id for m in scoring]}"
    return scoring[0].definition
