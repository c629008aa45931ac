"""The voice definition: its stages, chained in execution order."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ds_on_aws.config import PipelineConfig
from stacks.constructs.notifications import FailureHandler, Notifications
from stacks.voice.prepare import PrepareVoice
from stacks.voice.score import ScoreVoiceFeedback, WriteRecords
from stacks.voice.transcribe import ListAudio, TranscribeFiles


@dataclass(frozen=True)
class VoiceParts:
    """What the stages use: the buckets, the key, the function, the scoring state machine, the notices."""

    config: PipelineConfig
    name_prefix: str
    raw: s3.IBucket
    curated: s3.IBucket
    key: kms.IKey
    function: lambda_.IFunction
    scoring: sfn.IStateMachine
    database_name: str
    notifications: Notifications
    failures: FailureHandler


def voice_definition(scope: Construct, parts: VoiceParts) -> sfn.IChainable:
    """prepare -> list audio -> transcribe each file (Map) -> write records -> score -> notify."""
    p, v = parts, parts.config.voice
    prepare = PrepareVoice(scope, "PrepareVoice", config=p.config, raw=p.raw, name_prefix=p.name_prefix,
                           failures=p.failures)
    listing = ListAudio(scope, "ListAudio", function=p.function, suffixes=v.media_suffixes, failures=p.failures)
    each = TranscribeFiles(scope, "TranscribeFiles", config=v, curated=p.curated, key=p.key, failures=p.failures)
    records = WriteRecords(scope, "WriteRecords", function=p.function, failures=p.failures)
    score = ScoreVoiceFeedback(scope, "ScoreVoice", scoring=p.scoring, notifications=p.notifications,
                               database_name=p.database_name, failures=p.failures)
    return prepare.next(listing).next(each).next(records).next(score)
