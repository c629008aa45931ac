"""``ds-on-aws stage-model``: a local model folder lands where the transformer recipe's job reads it (moto S3)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from ds_on_aws import cli
from ds_on_aws.sagemaker_jobs import pretrained_model_prefix

BUCKET = "artifacts-bucket"


def model_folder(root, files=("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")):
    root.mkdir(parents=True, exist_ok=True)
    for name in files:
        (root / name).write_bytes(b"{}" if name.endswith(".json") else b"\x00weights")
    (root / "tf_model.h5").write_bytes(b"tensorflow weights, never read by the recipe")
    return root


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def keys(client):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_a_local_folder_is_uploaded_under_the_prefix_the_recipe_reads(s3, tmp_path, capsys):
    folder = model_folder(tmp_path / "distilbert-base-uncased")
    assert cli.main(["stage-model", str(folder), "--bucket", BUCKET]) == 0
    prefix = pretrained_model_prefix("distilbert-base-uncased")
    assert prefix == "pretrained/distilbert-base-uncased/"
    assert keys(s3) == [prefix + n for n in ("config.json", "model.safetensors", "tokenizer.json",
                                             "tokenizer_config.json")]
    assert s3.get_object(Bucket=BUCKET, Key=prefix + "model.safetensors")["Body"].read() == b"\x00weights"
    assert '"model_name": "distilbert-base-uncased"' in capsys.readouterr().out


def test_a_hub_style_name_keeps_its_slash_as_the_state_machine_reads_it(s3, tmp_path):
    folder = model_folder(tmp_path / "local")
    assert cli.main(["stage-model", str(folder), "--bucket", BUCKET, "--name", "org/roberta-base"]) == 0
    assert keys(s3) and all(key.startswith("pretrained/org/roberta-base/") for key in keys(s3))


def test_a_folder_that_is_not_a_model_is_refused_by_name(s3, tmp_path, capsys):
    folder = model_folder(tmp_path / "half", files=("config.json",))
    assert cli.main(["stage-model", str(folder), "--bucket", BUCKET]) == 2
    error = capsys.readouterr().err
    assert "is not a model folder, it lacks: weights (model.safetensors, pytorch_model.bin); a tokenizer" in error
    assert keys(s3) == []


@pytest.mark.parametrize("name", ["../escape", "a b", "", "x/y/z", "/abs", "org/", ".hidden"])
def test_unsafe_model_names_are_refused(name):
    with pytest.raises(ValueError, match="model name"):
        pretrained_model_prefix(name)
