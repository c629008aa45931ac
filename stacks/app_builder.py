"""Builds the whole CDK app: the one function ``app.py`` and the tests both call, so they synthesize the same thing.

``build_app(app)`` reads the configuration from the app's context (cdk.json's ``ds-on-aws`` key), adds the
stacks (data, pipeline, scoring, voice) and registers cdk-nag; ``synthesize(app)`` synthesizes (cdk-nag raises ``ValidationFailed`` on any
unacknowledged finding) and writes the state machines' review artifacts next to the templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App, cx_api
from constructs import Construct

from ds_on_aws.config import CONTEXT_KEY, PipelineConfig
from stacks.data_stack import DataStack
from stacks.nag import enable_nag_checks
from stacks.pipeline_stack import PipelineStack
from stacks.review_artifacts import write_review_artifacts
from stacks.scoring_stack import ScoringStack
from stacks.voice_stack import VoiceStack

DATA_STACK_ID = "DsOnAws-Data"
PIPELINE_STACK_ID = "DsOnAws-Pipeline"
SCORING_STACK_ID = "DsOnAws-Scoring"
VOICE_STACK_ID = "DsOnAws-Voice"


@dataclass(frozen=True)
class BuiltApp:
    config: PipelineConfig
    data: DataStack
    pipeline: PipelineStack
    scoring: ScoringStack | None = None
    voice: VoiceStack | None = None


def config_from(scope: Construct) -> PipelineConfig:
    """The pipeline configuration of the app's context (``cdk.json`` when run by the CDK CLI or the tests)."""
    return PipelineConfig.from_context(scope.node.try_get_context(CONTEXT_KEY))


def build_app(app: App) -> BuiltApp:
    """Add the data and pipeline stacks to ``app`` (environment-agnostic: no ``env=``) and enable cdk-nag."""
    config = config_from(app)
    data = DataStack(app, DATA_STACK_ID, config=config)
    pipeline = PipelineStack(app, PIPELINE_STACK_ID, config=config, data=data)
    scoring = ScoringStack(app, SCORING_STACK_ID, config=config, data=data, pipeline=pipeline)
    voice = VoiceStack(app, VOICE_STACK_ID, config=config, data=data, pipeline=pipeline, scoring=scoring)
    enable_nag_checks(app)
    return BuiltApp(config=config, data=data, pipeline=pipeline, scoring=scoring, voice=voice)


def synthesize(app: App) -> cx_api.CloudAssembly:
    """Synthesize ``app`` (raises on cdk-nag findings) and write the review artifacts into the assembly directory."""
    assembly = app.synth()
    write_review_artifacts(Path(assembly.directory))
    return assembly
