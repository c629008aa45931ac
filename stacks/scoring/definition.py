"""The scoring definition: its stages, chained in execution order."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.scoring.clean import CleanForScoring
from stacks.scoring.model import FindModel
from stacks.scoring.moderate import ScoreBesideModeration
from stacks.scoring.prepare import PrepareScoring
from stacks.scoring.publish import NotifyScored, PublishPredictions
from stacks.scoring.transform import ScoreWithBatchTransform


@dataclass(frozen=True)
class ScoringParts:
    """What the stages run: the buckets, the two Glue jobs, the key, what the model lookup may read, the notices."""

    config: PipelineConfig
    name_prefix: str
    raw: s3.IBucket
    curated: s3.IBucket
    key: kms.IKey
    cleaning_job: glue.IJob
    publish_job: glue.IJob
    read_arns: dict
    database_name: str
    notifications: Notifications
    failures: FailureHandler
    moderation_function: lambda_.IFunction | None = None  # set when moderation is on


def scoring_definition(scope: Construct, parts: ScoringParts) -> sfn.IChainable:
    """prepare -> clean (score mode) -> find the model -> Batch Transform (beside moderation when it is on) -> publish
    -> notify."""
    p, failures = parts, parts.failures
    prepare = PrepareScoring(
        scope, "PrepareScoring", config=p.config, raw=p.raw, curated=p.curated, name_prefix=p.name_prefix,
        failures=failures,
    )
    clean = CleanForScoring(
        scope, "CleanForScoring", glue_job=p.cleaning_job, min_rows=p.config.scoring.min_rows,
        context_columns=p.config.scoring.context_columns, failures=failures,
    )
    find_model = FindModel(
        scope, "FindModel", endpoint_name=p.config.endpoint.name, read_arns=p.read_arns, failures=failures
    )
    moderated = p.moderation_function is not None
    if moderated:
        transform = ScoreBesideModeration(scope, "ScoreAndModerate", config=p.config, key=p.key,
                                          function=p.moderation_function, failures=failures)
    else:
        transform = ScoreWithBatchTransform(scope, "Transform", config=p.config.scoring, key=p.key, failures=failures)
    publish = PublishPredictions(scope, "Publish", publish_job=p.publish_job, curated=p.curated, failures=failures,
                                 moderation=moderated)
    notify = NotifyScored(
        scope, "NotifyScored", notifications=p.notifications, database_name=p.database_name, failures=failures
    )
    return prepare.next(clean).next(find_model).next(transform).next(publish).next(notify)
