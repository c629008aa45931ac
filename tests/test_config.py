"""The configuration loader: cdk.json is the one source of defaults, and bad values are named."""

import json

import pytest

from ds_on_aws.config import CONTEXT_KEY, ConfigError, PipelineConfig, load_cdk_context, load_config


def test_cdk_json_defaults_load_and_match_the_context():
    context = load_cdk_context()
    config = load_config()
    raw = context[CONTEXT_KEY]
    assert config.endpoint.mode == raw["endpoint"]["mode"]
    assert config.model_quality.min_accuracy == raw["model_quality"]["min_accuracy"]
    assert config.data_quality.min_rows == raw["data_quality"]["min_rows"]
    assert config.training.use_spot is raw["training"]["use_spot"]
    assert config.training.recipe == raw["training"]["recipe"] == "linear"
    assert config.transformer.instance_type == raw["transformer"]["instance_type"]
    # The CLI's own settings that keep synthesis offline live in the same file.
    assert context["cli-telemetry"] is False


def test_missing_keys_keep_defaults():
    config = PipelineConfig.from_context({"endpoint": {"mode": "instance"}})
    assert config.endpoint.mode == "instance"
    assert config.endpoint.name == PipelineConfig().endpoint.name


def test_job_arguments_are_strings_named_like_flags():
    args = PipelineConfig.from_context({"data_quality": {"min_rows": 7}}).data_quality.as_job_arguments()
    assert args["--min_rows"] == "7"
    assert all(key.startswith("--") and isinstance(value, str) for key, value in args.items())


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"endpoint": {"mode": "gpu"}}, "endpoint.mode"),
        ({"endpoint": {"nme": "x"}}, "unknown key"),
        ({"model_quality": {"min_accuracy": 1.5}}, "min_accuracy"),
        ({"data_quality": {"min_rows": "10"}}, "data_quality.min_rows"),
        ({"data_quality": {"min_class_share": 0.7}}, "min_class_share"),
        ({"training": {"use_spot": "yes"}}, "training.use_spot"),
        ({"training": {"hyperparameters": {"C": 1}}}, "hyperparameters"),
        ({"project_name": "has space"}, "project_name"),
        ({"training": {"recipe": "xgboost"}}, "training.recipe: must be one of linear, transformer"),
        ({"transformer": {"max_runtime_seconds": 100, "max_wait_seconds": 50}}, "transformer.max_wait_seconds"),
        ({"transformer": {"instance_type": "g5.xlarge"}}, "transformer.instance_type"),
        ({"transformer": {"hyperparameters": {"epochs": 3}}}, "transformer.hyperparameters"),
        ({"transformer": {"use_spot": 1}}, "transformer.use_spot"),
        ({"scoring": {"context_columns": "source"}}, r"scoring\.context_columns: expected a list of strings"),
        ({"scoring": {"context_columns": ["source", "Image Key"]}}, r"scoring\.context_columns: distinct lower-case"),
        ({"scoring": {"context_columns": ["source", "source"]}}, r"scoring\.context_columns: distinct"),
        ({"scoring": {"context_columns": ["review_id"]}}, r"scoring\.context_columns"),
        ("not an object", CONTEXT_KEY),
    ],
)
def test_bad_values_raise_a_message_naming_the_key(raw, named):
    with pytest.raises(ConfigError, match=named):
        PipelineConfig.from_context(raw)


def test_unreadable_cdk_json_is_named(tmp_path):
    broken = tmp_path / "cdk.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_cdk_context(broken)
    with pytest.raises(ConfigError, match="file not found"):
        load_cdk_context(tmp_path / "missing.json")
    broken.write_text(json.dumps({"app": "x"}))
    with pytest.raises(ConfigError, match="no 'context'"):
        load_cdk_context(broken)


def test_storage_lifecycle_comes_from_cdk_json_and_rejects_zero_days():
    raw = load_cdk_context()[CONTEXT_KEY]["storage"]
    assert load_config().storage.noncurrent_version_expiration_days == raw["noncurrent_version_expiration_days"]
    assert load_config().storage.access_logs_expiration_days == raw["access_logs_expiration_days"]
    with pytest.raises(ConfigError, match=r"storage\.access_logs_expiration_days"):
        PipelineConfig.from_context({"storage": {"access_logs_expiration_days": 0}})


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"toxicity_language": "de"}, r"moderation\.toxicity_language: Comprehend DetectToxicContent supports en only"),
        ({"toxicity_threshold": 1.5}, r"moderation\.toxicity_threshold: must be in \[0, 1\]"),
        ({"image_min_confidence": 120}, r"moderation\.image_min_confidence: a percentage 0-100"),
        ({"image_prefix": "images"}, r"moderation\.image_prefix: a raw-bucket folder"),
        ({"image_prefix": "*/"}, r"moderation\.image_prefix"),
        ({"max_text_records": 0}, r"moderation\.max_text_records: must be 1\.\.1000000"),
        ({"concurrency": 64}, r"moderation\.concurrency: must be 1\.\.32"),
        ({"images": True, "image_column": "photo"}, r"moderation\.image_column 'photo' is not among scoring"),
        ({"toxicity": "yes"}, r"moderation\.toxicity: expected true or false"),
        ({"spam": True}, r"moderation: unknown key"),
    ],
)
def test_moderation_settings_are_validated_with_the_key_named(raw, named):
    with pytest.raises(ConfigError, match=named):
        PipelineConfig.from_context({"moderation": raw})


def test_moderation_is_off_by_default_and_its_image_column_rides_as_context():
    config = load_config()
    assert not config.moderation.toxicity and not config.moderation.images
    assert config.moderation.image_column in config.scoring.context_columns
    on = PipelineConfig.from_context({"moderation": {"images": True, "image_column": "photo"},
                                      "scoring": {"context_columns": ["source", "photo"]}})
    assert on.moderation.as_settings()["image_column"] == "photo"
