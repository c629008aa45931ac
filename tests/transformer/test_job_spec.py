"""The transformer recipe's job spec (``ds_on_aws.sagemaker_jobs``): pretrained channel, torchrun, spot + checkpoints."""

from __future__ import annotations

import pytest

from ds_on_aws.sagemaker_jobs import (
    CHECKPOINT_LOCAL_PATH,
    CodeDeliveryError,
    managed_spot_parameters,
    transformer_training_job_spec,
)


def spec(**kwargs):
    return transformer_training_job_spec(code_uri="s3://assets/code.tar.gz",
                                         data_channels={"train": "$.run.channels.train", "validation": "s3://c/v/"},
                                         pretrained_uri="s3://artifacts/pretrained/distilbert-base-uncased/", **kwargs)


def test_the_weights_arrive_as_a_channel_of_the_isolated_job():
    job = spec()
    assert job.network_isolation is True
    assert [c.name for c in job.channels] == ["train", "validation", "pretrained", "code"]
    pretrained = job.channel("pretrained").as_api()["DataSource"]["S3DataSource"]
    assert pretrained["S3Uri"] == "s3://artifacts/pretrained/distilbert-base-uncased/"
    assert job.script_mode["sagemaker_torch_distributed_enabled"] == "true"
    assert job.submit_directory == "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert "sagemaker_torch_distributed_enabled" not in spec(distributed=False).script_mode


def test_pretrained_is_a_reserved_channel_name():
    with pytest.raises(CodeDeliveryError, match="reserved for the pretrained weights"):
        transformer_training_job_spec(code_uri="s3://a/c.tar.gz", data_channels={"pretrained": "s3://x/"},
                                      pretrained_uri="s3://y/")


def test_managed_spot_keys_with_a_checkpoint_location():
    keys = managed_spot_parameters(max_runtime_seconds=3600, max_wait_seconds=7200,
                                   checkpoint_s3_uri="$.run.checkpoint_uri")
    assert keys == {"EnableManagedSpotTraining": True,
                    "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
                    "CheckpointConfig": {"S3Uri.$": "$.run.checkpoint_uri", "LocalPath": CHECKPOINT_LOCAL_PATH}}
    with pytest.raises(ValueError, match="must be >= MaxRuntimeInSeconds"):
        managed_spot_parameters(max_runtime_seconds=3600, max_wait_seconds=60, checkpoint_s3_uri="s3://a/b/")
