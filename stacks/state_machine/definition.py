"""The pipeline's definition: its stages, chained in execution order."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.baseline import BaselineResources
from stacks.constructs.deployment import EndpointDeployment
from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.constructs.training import TrainingStep
from stacks.constructs.transformer_training import TransformerTrainingStep
from stacks.state_machine.baseline import ComprehendBaseline
from stacks.state_machine.beside_training import TrainBesideBaseline
from stacks.state_machine.clean import CleanReviews
from stacks.state_machine.endpoint import CreateOrUpdateEndpoint, WaitForEndpoint
from stacks.state_machine.finish import NotifyDeployed, RecordLiveModel
from stacks.state_machine.gate import ModelGate
from stacks.state_machine.live_lookup import LiveModelLookup
from stacks.state_machine.prepare import PrepareRun
from stacks.state_machine.smoke_test import SmokeTestAndRestore
from stacks.state_machine.train import TrainModel


@dataclass(frozen=True)
class PipelineParts:
    """What the stages run: the buckets, the Glue job, the training step, the endpoint and the failure path."""

    config: PipelineConfig
    name_prefix: str
    raw: s3.IBucket
    curated: s3.IBucket
    artifacts: s3.IBucket
    glue_job: glue.IJob
    training: TrainingStep
    deployment: EndpointDeployment
    notifications: Notifications
    failures: FailureHandler
    baseline: BaselineResources
    transformer: TransformerTrainingStep | None = None  # the second recipe, chosen per run ($.run.recipe)


def pipeline_definition(scope: Construct, parts: PipelineParts) -> sfn.IChainable:
    """prepare -> clean -> train (beside the managed baseline, then the evaluation report) -> live-model lookup -> model gate -> create or update endpoint -> wait for it
    -> smoke test (and restore) -> record -> notify. Every failure goes to ``parts.failures``."""
    p, failures = parts, parts.failures
    hosting = {"deployment": p.deployment, "failures": failures}
    # Built first, although it runs later: CDK renders the States in the order it discovers them, and that order
    # follows the order in which the failure path's transitions were created. Creating this stage's failure
    # states first keeps the rendered definition byte for byte what it has always been.
    deploy = CreateOrUpdateEndpoint(scope, "CreateOrUpdateEndpoint", **hosting)
    prepare = PrepareRun(
        scope,
        "PrepareRun",
        config=p.config,
        raw=p.raw,
        curated=p.curated,
        artifacts=p.artifacts,
        name_prefix=p.name_prefix,
        script_mode=p.training.spec.script_mode,
        failures=failures,
        transformer_script_mode=p.transformer.spec.script_mode if p.transformer else None,
    )
    clean = CleanReviews(scope, "Clean", glue_job=p.glue_job, failures=failures)
    train = TrainBesideBaseline(
        scope,
        "TrainBesideBaseline",
        # The training stage runs in a Parallel branch: its failures end there and are relayed to ``failures``.
        train=lambda branch_failures: TrainModel(scope, "Train", training=p.training, failures=branch_failures,
                                                 transformer=p.transformer, linear_serving_image=p.training.image_uri),
        baseline=ComprehendBaseline(scope, "BaselineBranch", config=p.config.baseline, resources=p.baseline),
        resources=p.baseline,
        notifications=p.notifications,
        failures=failures,
    )
    lookup = LiveModelLookup(scope, "LiveModelLookup", endpoint_arns=p.deployment.endpoint_arns, failures=failures)
    gate = ModelGate(
        scope, "ModelGate", config=p.config.model_quality, notifications=p.notifications, failures=failures
    )
    wait = WaitForEndpoint(scope, "WaitForEndpoint", **hosting)
    smoke_test = SmokeTestAndRestore(scope, "SmokeTest", **hosting)
    record = RecordLiveModel(scope, "Record", **hosting)
    notify = NotifyDeployed(scope, "Notify", notifications=p.notifications, failures=failures)
    return (
        prepare.next(clean).next(train).next(lookup).next(gate)
        .next(deploy).next(wait).next(smoke_test).next(record).next(notify)
    )
