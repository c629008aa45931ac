"""The one source of truth for pipeline defaults: the ``ds-on-aws`` key of ``cdk.json``'s context.

Both the CDK stacks (``stacks/``) and the offline runner (``ds_on_aws.local``) read their
configuration through this module, so a threshold changed in ``cdk.json`` changes the deployed
state machine and the laptop run alike. This module must stay free of aws_cdk imports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path
from typing import Any

from pipeline_contracts import (
    CONTEXT_COLUMN_PATTERN,
    DATA_QUALITY_DEFAULTS,
    RESERVED_CONTEXT_COLUMNS,
    SCORING_CONTEXT_COLUMNS,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = PROJECT_ROOT / "cdk.json"
CONTEXT_KEY = "ds-on-aws"


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


def load_cdk_context(path: Path | str = CDK_JSON) -> dict[str, Any]:
    """Return the whole ``context`` object of ``cdk.json`` (feature flags included).

    Tests pass this to ``aws_cdk.App(context=...)`` so that they synthesize exactly the
    template that ``cdk synth`` does.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    context = document.get("context")
    if not isinstance(context, dict):
        raise ConfigError(f"{path}: has no 'context' object")
    return context


def _section(cls, raw: Mapping[str, Any] | None, where: str):
    """Build dataclass ``cls`` from ``raw``, rejecting unknown keys and wrong types."""
    raw = dict(raw or {})
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    values = {}
    for name, f in known.items():
        if name not in raw:
            continue
        value = raw[name]
        type_name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if type_name == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif type_name == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}.{name}: expected an integer, got {value!r}")
        elif type_name == "float" and not isinstance(value, float):
            raise ConfigError(f"{where}.{name}: expected a number, got {value!r}")
        elif type_name == "bool" and not isinstance(value, bool):
            raise ConfigError(f"{where}.{name}: expected true or false, got {value!r}")
        elif type_name == "str" and not isinstance(value, str):
            raise ConfigError(f"{where}.{name}: expected a string, got {value!r}")
        elif type_name == "dict" and not isinstance(value, dict):
            raise ConfigError(f"{where}.{name}: expected an object, got {value!r}")
        elif type_name.startswith("tuple"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}.{name}: expected a list of strings, got {value!r}")
            value = tuple(value)
        values[name] = value
    return cls(**values)


@dataclass(frozen=True)
class GlueConfig:
    glue_version: str = "5.1"
    worker_type: str = "G.1X"
    number_of_workers: int = 2
    timeout_minutes: int = 60
    max_retries: int = 0


def _job_argument(value: Any) -> str:
    """A value as the Glue job receives it: a string (booleans as ``true``/``false``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _data_quality_as_job_arguments(self) -> dict[str, str]:
    """The settings as Glue job arguments (``--min_rows`` ...): strings, as Glue passes them.

    Underscores, not dashes: ``awsglue.utils.getResolvedOptions`` looks options up by these exact names.
    """
    return {f"--{f.name}": _job_argument(getattr(self, f.name)) for f in fields(self)}


# The data-quality gate's thresholds and the cleaning rules' switches (passed to the Glue job as arguments): one
# field per entry of pipeline_contracts.DATA_QUALITY_DEFAULTS, with its type and default, so the two cannot drift.
DataQualityConfig = make_dataclass(
    "DataQualityConfig",
    [(name, type(value), field(default=value)) for name, value in DATA_QUALITY_DEFAULTS.items()],
    frozen=True,
    namespace={"as_job_arguments": _data_quality_as_job_arguments,
               "__doc__": "Data-quality thresholds and cleaning rules; defaults from pipeline_contracts."},
)
DataQualityConfig.__module__ = __name__


@dataclass(frozen=True)
class StorageConfig:
    """Lifecycle of the data buckets (the deployed stack only; the offline runner keeps ``runs/``)."""

    noncurrent_version_expiration_days: int = 30
    abort_incomplete_multipart_upload_days: int = 7
    access_logs_expiration_days: int = 365


@dataclass(frozen=True)
class TrainingConfig:
    framework_version: str = "1.9-0"
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    volume_size_gb: int = 30
    use_spot: bool = True
    max_runtime_seconds: int = 3600
    max_wait_seconds: int = 7200
    hyperparameters: dict = field(default_factory=dict)
    recipe: str = "linear"  # the default recipe of a run: "linear" or "transformer" (an execution input may choose)


RECIPES = ("linear", "transformer")


@dataclass(frozen=True)
class TransformerConfig:
    """The transformer recipe (training/transformer/): Hugging Face PyTorch images, a GPU, managed spot + checkpoints.

    ``framework_version`` / ``serving_version`` are the image tags' ``<pytorch>-transformers<version>`` parts;
    ``model_name`` is the pretrained encoder staged with ``ds-on-aws stage-model`` (``pretrained/<name>/``).
    """

    framework_version: str = "2.9.0-transformers5.3.0"
    python_cuda: str = "py312-cu130-ubuntu22.04"
    serving_version: str = "2.6.0-transformers5.5.3"
    serving_python: str = "py312-ubuntu22.04"
    model_name: str = "distilbert-base-uncased"
    instance_type: str = "ml.g5.xlarge"
    instance_count: int = 1
    volume_size_gb: int = 50
    use_spot: bool = True
    max_runtime_seconds: int = 14400
    max_wait_seconds: int = 28800
    hyperparameters: dict = field(default_factory=dict)
    endpoint_instance_type: str = "ml.m5.xlarge"


@dataclass(frozen=True)
class ModelQualityConfig:
    min_accuracy: float = 0.88
    compare_with_live: bool = True


@dataclass(frozen=True)
class EndpointConfig:
    name: str = "ds-on-aws-sentiment"
    mode: str = "serverless"  # "serverless" or "instance"
    serverless_memory_mb: int = 3072
    serverless_max_concurrency: int = 5
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    wait_seconds: int = 30
    max_wait_attempts: int = 60


@dataclass(frozen=True)
class ScoringConfig:
    """The scoring state machine: what it reads, the Batch Transform fleet, the publish job, the upload trigger.

    Batch Transform has no managed spot (CreateTransformJob takes no spot option): it runs on demand.
    """

    input_prefix: str = "feedback/"  # raw-bucket prefix of the feedback to score ({} scores all of it)
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    max_payload_mb: int = 6
    max_concurrent_transforms: int = 2
    invocation_timeout_seconds: int = 600
    min_rows: int = 1  # the data-quality gate's row minimum for a scoring run (a week's feedback may be small)
    publish_max_capacity: float = 0.0625  # DPU of the Glue Python shell job: 0.0625 or 1.0
    timeout_minutes: int = 240  # the whole scoring run
    trigger_on_upload: bool = False  # start a scoring run when a file lands under input_prefix
    # input columns carried to the predictions table when present (source -> `source`, the rest -> `context`)
    context_columns: tuple[str, ...] = SCORING_CONTEXT_COLUMNS


@dataclass(frozen=True)
class ModerationConfig:
    """Moderation in the scoring pipeline: Comprehend toxicity on the cleaned texts, Rekognition moderation labels on
    the images records reference (keys in the raw bucket under ``image_prefix``). Both off by default."""

    toxicity: bool = False
    toxicity_threshold: float = 0.5  # flagged when the record's toxicity (0-1) is at or above this
    toxicity_language: str = "en"  # DetectToxicContent supports English only
    images: bool = False
    image_column: str = "image_key"  # the input column naming each record's image (a key or s3://<raw bucket>/key)
    image_prefix: str = "images/"  # raw-bucket prefix images may be read from (the function's only image grant)
    image_min_confidence: float = 50.0  # Rekognition MinConfidence (percent)
    max_text_records: int = 20000  # per run; records beyond are recorded as not checked
    max_image_records: int = 2000
    concurrency: int = 4  # requests in flight

    def as_settings(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


MODERATION_LANGUAGES = ("en",)  # DetectToxicContent: "Currently, English is the only supported language"


TRANSCRIBE_FORMATS = ("wav", "mp3", "flac", "ogg", "m4a", "mp4", "webm", "amr")


@dataclass(frozen=True)
class VoiceConfig:
    """Voice feedback: Amazon Transcribe batch jobs on uploaded calls, their transcripts scored as feedback."""

    audio_prefix: str = "voice/incoming/"  # raw-bucket prefix of the audio files ({} transcribes all of it)
    records_prefix: str = "feedback/voice/"  # raw-bucket prefix of the records written (under scoring.input_prefix)
    language_code: str = "en-US"
    max_speakers: int = 2  # speaker separation (MaxSpeakerLabels, 2-30) for files that are not two-channel
    customer_channel: str = "ch_1"  # on two-channel calls, the channel whose turns are feedback
    max_concurrency: int = 10  # transcription jobs in flight (Map MaxConcurrency)
    max_files: int = 250  # audio files one run accepts (the Map's item list stays within Step Functions' payload)
    poll_seconds: int = 30
    max_wait_seconds: int = 3600  # per file: a job still running then is recorded as timed out
    timeout_minutes: int = 480  # the whole voice run (the scoring run included)
    trigger_on_upload: bool = False  # start a voice run for each audio file uploaded under audio_prefix
    media_suffixes: tuple[str, ...] = TRANSCRIBE_FORMATS


@dataclass(frozen=True)
class BaselineConfig:
    """The managed baseline (Amazon Comprehend batch sentiment) run beside training on a validation sample."""

    enabled: bool = True
    sample_size: int = 500
    language_code: str = "en"
    poll_seconds: int = 60
    max_wait_seconds: int = 3600


def _default_instance_prices() -> dict:
    return {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461, "ml.c5.xlarge": 0.204,
            "ml.g4dn.xlarge": 0.736, "ml.g5.xlarge": 1.408}


@dataclass(frozen=True)
class PriceTable:
    """On-demand list prices of one region, read on ``as_of``; update them (and the date) in cdk.json."""

    as_of: str = "2026-12-01"
    region: str = "us-east-1"
    currency: str = "USD"
    source: str = ("on-demand list prices as published by AWS, entered without network access: check them on the "
                   "AWS pricing pages before quoting a figure")
    glue_dpu_hour: float = 0.44
    glue_minimum_seconds: int = 60
    sagemaker_training_instance_hour: dict = field(default_factory=_default_instance_prices)
    sagemaker_hosting_instance_hour: dict = field(default_factory=_default_instance_prices)
    sagemaker_serverless_gb_second: float = 0.00002
    comprehend_unit: float = 0.0001
    kms_key_month: float = 1.0
    s3_gb_month: float = 0.023

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class CostAssumptions:
    """What ``ds-on-aws cost`` assumes for a default run before any run has measured it."""

    glue_minutes: float = 6.0
    training_minutes: float = 10.0
    spot_savings: float = 0.6
    review_characters: int = 1300
    custom_seconds_per_review: float = 0.0005
    stored_gb: float = 1.0


@dataclass(frozen=True)
class PipelineConfig:
    project_name: str = "ds-on-aws"
    raw_prefix: str = "imdb/"
    retain_data_on_destroy: bool = True
    trigger_on_upload: bool = False
    notification_email: str = ""
    storage: StorageConfig = field(default_factory=StorageConfig)
    glue: GlueConfig = field(default_factory=GlueConfig)
    data_quality: DataQualityConfig = field(default_factory=DataQualityConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    model_quality: ModelQualityConfig = field(default_factory=ModelQualityConfig)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)
    prices: PriceTable = field(default_factory=PriceTable)
    cost_assumptions: CostAssumptions = field(default_factory=CostAssumptions)

    @classmethod
    def from_context(cls, raw: Mapping[str, Any] | None) -> PipelineConfig:
        """Build the configuration from the ``ds-on-aws`` context object (missing keys keep defaults)."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{CONTEXT_KEY}: expected an object, got {raw!r}")
        raw = dict(raw)
        sections = {
            "storage": StorageConfig,
            "glue": GlueConfig,
            "data_quality": DataQualityConfig,
            "training": TrainingConfig,
            "transformer": TransformerConfig,
            "model_quality": ModelQualityConfig,
            "endpoint": EndpointConfig,
            "scoring": ScoringConfig,
            "voice": VoiceConfig,
            "baseline": BaselineConfig,
            "moderation": ModerationConfig,
            "prices": PriceTable,
            "cost_assumptions": CostAssumptions,
        }
        nested = {name: _section(kind, raw.pop(name, None), f"{CONTEXT_KEY}.{name}") for name, kind in sections.items()}
        top = _section(_TopLevel, raw, CONTEXT_KEY)
        config = cls(**{f.name: getattr(top, f.name) for f in fields(_TopLevel)}, **nested)
        config.validate()
        return config

    def validate(self) -> None:
        dq, ep, mq = self.data_quality, self.endpoint, self.model_quality
        if ep.mode not in ("serverless", "instance"):
            raise ConfigError(f"{CONTEXT_KEY}.endpoint.mode: must be 'serverless' or 'instance', got {ep.mode!r}")
        if not 0.0 <= mq.min_accuracy <= 1.0:
            raise ConfigError(f"{CONTEXT_KEY}.model_quality.min_accuracy: must be in [0, 1], got {mq.min_accuracy}")
        for name in ("max_quarantine_share", "min_class_share", "max_duplicate_share", "validation_share"):
            value = getattr(dq, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{CONTEXT_KEY}.data_quality.{name}: must be in [0, 1], got {value}")
        if dq.min_class_share > 0.5:
            raise ConfigError(f"{CONTEXT_KEY}.data_quality.min_class_share: must be at most 0.5, got {dq.min_class_share}")
        if dq.min_text_chars >= dq.max_text_chars:
            raise ConfigError(f"{CONTEXT_KEY}.data_quality: min_text_chars must be below max_text_chars")
        if not self.project_name or not self.project_name.replace("-", "").isalnum():
            raise ConfigError(f"{CONTEXT_KEY}.project_name: letters, digits and '-' only, got {self.project_name!r}")
        for name in ("noncurrent_version_expiration_days", "abort_incomplete_multipart_upload_days",
                     "access_logs_expiration_days"):
            if getattr(self.storage, name) < 1:
                raise ConfigError(f"{CONTEXT_KEY}.storage.{name}: must be at least 1 day, got {getattr(self.storage, name)}")
        if self.training.max_wait_seconds < self.training.max_runtime_seconds:
            raise ConfigError(f"{CONTEXT_KEY}.training.max_wait_seconds must be >= max_runtime_seconds")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.training.hyperparameters.items()):
            raise ConfigError(f"{CONTEXT_KEY}.training.hyperparameters: keys and values must be strings")
        self.scoring_problems()
        self.voice_problems()
        self.moderation_problems()
        self._validate_baseline_and_prices()
        self._validate_transformer()

    def scoring_problems(self) -> None:
        """The ``scoring`` section's checks (its prefix must not overlap the raw prefix training cleans)."""
        sc, where = self.scoring, f"{CONTEXT_KEY}.scoring"
        prefix = sc.input_prefix
        if not prefix.endswith("/") or prefix.startswith("/") or prefix == "/":
            raise ConfigError(f"{where}.input_prefix: a folder like 'feedback/' (ending with '/'), got {prefix!r}")
        if prefix.startswith(self.raw_prefix) or self.raw_prefix.startswith(prefix):
            raise ConfigError(
                f"{where}.input_prefix {prefix!r} overlaps raw_prefix {self.raw_prefix!r}: training cleans everything "
                "under raw_prefix, so feedback to score must live beside it, not inside it"
            )
        if not sc.instance_type.startswith("ml."):
            raise ConfigError(f"{where}.instance_type: a SageMaker instance type like 'ml.m5.large', got {sc.instance_type!r}")
        for name in ("instance_count", "max_concurrent_transforms", "min_rows", "timeout_minutes"):
            if getattr(sc, name) < 1:
                raise ConfigError(f"{where}.{name}: must be at least 1, got {getattr(sc, name)}")
        if not 1 <= sc.max_payload_mb <= 100:
            raise ConfigError(f"{where}.max_payload_mb: must be 1-100 (Batch Transform's limit), got {sc.max_payload_mb}")
        if sc.max_payload_mb * sc.max_concurrent_transforms > 100:
            raise ConfigError(f"{where}: max_payload_mb x max_concurrent_transforms must be at most 100 (Batch Transform)")
        if not 1 <= sc.invocation_timeout_seconds <= 3600:
            raise ConfigError(f"{where}.invocation_timeout_seconds: must be 1-3600, got {sc.invocation_timeout_seconds}")
        bad = [c for c in sc.context_columns if not re.match(CONTEXT_COLUMN_PATTERN, c) or c in RESERVED_CONTEXT_COLUMNS]
        if bad or len(set(sc.context_columns)) != len(sc.context_columns):
            raise ConfigError(f"{where}.context_columns: distinct lower-case names (letters, digits, '_'), not "
                              f"{list(RESERVED_CONTEXT_COLUMNS)}; got {list(sc.context_columns)}")
        if sc.publish_max_capacity not in (0.0625, 1.0):
            raise ConfigError(f"{where}.publish_max_capacity: 0.0625 or 1.0 (Glue Python shell DPU), got {sc.publish_max_capacity}")

    def voice_problems(self) -> None:
        """The ``voice`` section's checks: its prefixes, Transcribe's limits, the polling and concurrency bounds."""
        v, where = self.voice, f"{CONTEXT_KEY}.voice"
        for name in ("audio_prefix", "records_prefix"):
            prefix = getattr(v, name)
            if not prefix.endswith("/") or prefix.startswith("/") or prefix == "/":
                raise ConfigError(f"{where}.{name}: a folder like 'voice/incoming/' (ending with '/'), got {prefix!r}")
        for other, what in ((self.raw_prefix, "raw_prefix (training cleans all of it)"),
                            (self.scoring.input_prefix, "scoring.input_prefix (scoring reads all of it)")):
            if v.audio_prefix.startswith(other) or other.startswith(v.audio_prefix):
                raise ConfigError(f"{where}.audio_prefix {v.audio_prefix!r} overlaps {what}: audio must live beside it")
        if not v.records_prefix.startswith(self.scoring.input_prefix):
            raise ConfigError(f"{where}.records_prefix {v.records_prefix!r} must lie under scoring.input_prefix "
                              f"{self.scoring.input_prefix!r}: the scoring run reads only there")
        if not re.fullmatch(r"[a-z]{2,3}-[A-Z]{2}", v.language_code):
            raise ConfigError(f"{where}.language_code: a Transcribe language code like 'en-US', got {v.language_code!r}")
        if not 2 <= v.max_speakers <= 30:
            raise ConfigError(f"{where}.max_speakers: must be 2-30 (Transcribe's MaxSpeakerLabels), got {v.max_speakers}")
        if v.customer_channel not in ("ch_0", "ch_1"):
            raise ConfigError(f"{where}.customer_channel: 'ch_0' or 'ch_1', got {v.customer_channel!r}")
        for name, low, high in (("max_concurrency", 1, 100), ("max_files", 1, 500), ("timeout_minutes", 1, 525600)):
            if not low <= getattr(v, name) <= high:
                raise ConfigError(f"{where}.{name}: must be {low}-{high}, got {getattr(v, name)}")
        if not 5 <= v.poll_seconds <= v.max_wait_seconds:
            raise ConfigError(f"{where}: poll_seconds must be 5..max_wait_seconds, got {v.poll_seconds}")
        if v.max_wait_seconds > v.timeout_minutes * 60:
            raise ConfigError(f"{where}.max_wait_seconds ({v.max_wait_seconds}) must not exceed timeout_minutes x 60")
        unknown = sorted({s.lower() for s in v.media_suffixes} - set(TRANSCRIBE_FORMATS)) or not v.media_suffixes
        if unknown:
            raise ConfigError(f"{where}.media_suffixes: a non-empty list of {', '.join(TRANSCRIBE_FORMATS)} (what "
                              f"Transcribe accepts), got {list(v.media_suffixes)!r}")

    def moderation_problems(self) -> None:
        """The ``moderation`` section's checks (the services' limits, where images may come from)."""
        m, where = self.moderation, f"{CONTEXT_KEY}.moderation"
        if m.toxicity_language not in MODERATION_LANGUAGES:
            raise ConfigError(f"{where}.toxicity_language: Comprehend DetectToxicContent supports "
                              f"{', '.join(MODERATION_LANGUAGES)} only, got {m.toxicity_language!r}")
        if not 0.0 <= m.toxicity_threshold <= 1.0:
            raise ConfigError(f"{where}.toxicity_threshold: must be in [0, 1], got {m.toxicity_threshold}")
        if not 0.0 <= m.image_min_confidence <= 100.0:
            raise ConfigError(f"{where}.image_min_confidence: a percentage 0-100, got {m.image_min_confidence}")
        if not m.image_column.strip():
            raise ConfigError(f"{where}.image_column: the name of the input column holding image keys, got ''")
        prefix = m.image_prefix
        if not prefix.endswith("/") or prefix.startswith("/") or "*" in prefix:
            raise ConfigError(f"{where}.image_prefix: a raw-bucket folder like 'images/' (ending with '/'), got {prefix!r}")
        for name in ("max_text_records", "max_image_records"):
            if not 1 <= getattr(m, name) <= 1_000_000:
                raise ConfigError(f"{where}.{name}: must be 1..1000000, got {getattr(m, name)}")
        if not 1 <= m.concurrency <= 32:
            raise ConfigError(f"{where}.concurrency: must be 1..32 requests in flight, got {m.concurrency}")
        context_columns = getattr(self.scoring, "context_columns", None)
        if m.images and context_columns is not None and m.image_column not in context_columns:
            raise ConfigError(f"{where}.image_column {m.image_column!r} is not among scoring.context_columns "
                              f"{list(context_columns)}: the cleaning job would not carry it to the moderation step")

    def _validate_baseline_and_prices(self) -> None:
        b, p = self.baseline, self.prices
        if not 1 <= b.sample_size <= 25000:
            raise ConfigError(f"{CONTEXT_KEY}.baseline.sample_size: must be 1..25000 reviews, got {b.sample_size}")
        if not 10 <= b.poll_seconds <= b.max_wait_seconds:
            raise ConfigError(f"{CONTEXT_KEY}.baseline: poll_seconds must be 10..max_wait_seconds, got {b.poll_seconds}")
        if b.max_wait_seconds > self.training.max_wait_seconds:
            raise ConfigError(
                f"{CONTEXT_KEY}.baseline.max_wait_seconds ({b.max_wait_seconds}) must not exceed "
                f"training.max_wait_seconds ({self.training.max_wait_seconds}): the baseline runs beside training"
            )
        for name in ("sagemaker_training_instance_hour", "sagemaker_hosting_instance_hour"):
            table = getattr(p, name)
            bad = {k: v for k, v in table.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0}
            if bad:
                raise ConfigError(f"{CONTEXT_KEY}.prices.{name}: prices must be numbers >= 0, got {bad}")
        for f in fields(p):
            value = getattr(p, f.name)
            if isinstance(value, float) and value < 0:
                raise ConfigError(f"{CONTEXT_KEY}.prices.{f.name}: must be >= 0, got {value}")

    def _validate_transformer(self) -> None:
        tf = self.transformer
        if self.training.recipe not in RECIPES:
            raise ConfigError(f"{CONTEXT_KEY}.training.recipe: must be one of {', '.join(RECIPES)}, got {self.training.recipe!r}")
        if tf.max_wait_seconds < tf.max_runtime_seconds:
            raise ConfigError(f"{CONTEXT_KEY}.transformer.max_wait_seconds must be >= max_runtime_seconds")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in tf.hyperparameters.items()):
            raise ConfigError(f"{CONTEXT_KEY}.transformer.hyperparameters: keys and values must be strings")
        for name in ("instance_type", "endpoint_instance_type"):
            if not getattr(tf, name).startswith("ml."):
                raise ConfigError(f"{CONTEXT_KEY}.transformer.{name}: a SageMaker instance type (ml.*), got {getattr(tf, name)!r}")
        if tf.instance_count < 1:
            raise ConfigError(f"{CONTEXT_KEY}.transformer.instance_count: must be at least 1, got {tf.instance_count}")


@dataclass(frozen=True)
class _TopLevel:
    project_name: str = "ds-on-aws"
    raw_prefix: str = "imdb/"
    retain_data_on_destroy: bool = True
    trigger_on_upload: bool = False
    notification_email: str = ""


def load_config(path: Path | str = CDK_JSON) -> PipelineConfig:
    """The pipeline configuration as ``cdk.json`` declares it."""
    return PipelineConfig.from_context(load_cdk_context(path).get(CONTEXT_KEY))
