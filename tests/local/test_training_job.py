"""The training launcher renders hyperparameters, environment and channels as the SageMaker container does."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from ds_on_aws.local import training_job
from ds_on_aws.local.errors import EndpointError, TrainingError, UsageError
from ds_on_aws.sagemaker_jobs import (
    ChannelSpec,
    CodeDeliveryError,
    ModelSpec,
    TrainingJobSpec,
    endpoint_model_spec,
    training_job_spec,
)
from tests.local.fakes import make_training_dir


def test_hyperparameters_are_rendered_like_the_sagemaker_launcher():
    rendered = training_job.render_hyperparameters({
        "ngram_max": "3", "C": "2", "use_chars": "true", "name": "abc", "alpha": "1e3",
        "sagemaker_program": "train.py", "sagemaker_submit_directory": "s3://b/k"})
    # sorted keys (upper case first), one dash for one-letter keys, JSON-decoded values rendered with str()
    assert rendered == ["-C", "2", "--alpha", "1000.0", "--name", "abc", "--ngram_max", "3", "--use_chars", "True"]


def test_mapping_values_are_rendered_as_key_value_pairs():
    assert training_job.render_hyperparameters({"opts": '{"b": 2, "a": 1}'}) == ["--opts", "a=1,b=2"]


def test_hyperparameter_flags_need_key_equals_value():
    assert training_job.parse_hyperparameter_flags(["C=0.5", "x=a=b"]) == {"C": "0.5", "x": "a=b"}
    with pytest.raises(UsageError, match="KEY=VALUE"):
        training_job.parse_hyperparameter_flags(["C"])


def test_metrics_are_parsed_with_the_metric_definitions_last_value_wins():
    metrics = training_job.parse_metrics([
        "validation:accuracy=0.5\n", "log prefix validation:accuracy=0.91 validation:f1=0.90\n",
        "test:roc_auc=0.97", "validation:accuracy=abc", "train:loss=0.1"])
    assert metrics == {"validation:accuracy": 0.91, "validation:f1": 0.90, "test:roc_auc": 0.97}


@pytest.fixture()
def channels(tmp_path):
    result = {}
    for name in ("train", "validation"):
        folder = tmp_path / "curated" / name
        folder.mkdir(parents=True)
        (folder / "part-00000.json").write_text('{"text": "x", "label": 1}\n')
        result[name] = folder
    return result


def test_train_py_runs_in_the_code_folder_with_the_container_environment(tmp_path, channels):
    training_dir = make_training_dir(tmp_path / "training")
    layout = training_job.TrainingLayout(tmp_path / "run" / "sagemaker", tmp_path / "run" / "model")
    lines: list[str] = []
    result = training_job.run_training(layout, {"C": "2.0", "ngram_max": "2"}, channels, echo=lines.append,
                                       training_dir=training_dir)
    launch = json.loads((layout.model_dir / "launch.json").read_text())
    assert launch["argv"] == ["-C", "2.0", "--ngram_max", "2"]
    assert launch["cwd"] == str(layout.code_dir)
    assert launch["normalized"] == "a b"  # review_text is importable from the code folder
    env = launch["env"]
    assert env["SM_CHANNEL_TRAIN"] == str(channels["train"])
    assert env["SM_CHANNEL_VALIDATION"] == str(channels["validation"])
    assert "SM_CHANNEL_TEST" not in env
    assert env["SM_MODEL_DIR"] == str(layout.model_dir)
    assert json.loads(env["SM_HPS"]) == {"C": 2.0, "ngram_max": 2}
    # The code arrives as the job's "code" channel (network isolation), as the state machine's spec says.
    assert json.loads(env["SM_CHANNELS"]) == ["code", "train", "validation"]
    assert (layout.input_dir / "data" / "code" / "sourcedir.tar.gz").is_file()
    assert env["SM_MODULE_DIR"] == str(layout.input_dir / "data" / "code" / "sourcedir.tar.gz")
    assert env["SM_CURRENT_HOST"] == "algo-1" and int(env["SM_NUM_CPUS"]) >= 1
    assert (layout.code_dir / "review_text.py").is_file() and (layout.code_dir / "inference.py").is_file()
    assert json.loads((layout.input_dir / "config" / "hyperparameters.json").read_text()) == {
        "C": "2.0", "ngram_max": "2", "sagemaker_program": "train.py",
        "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz"}
    assert result.metrics == {"validation:accuracy": 0.91, "validation:f1": 0.905, "validation:roc_auc": 0.97}
    assert any("validation:accuracy=0.9100" in line for line in lines)  # output streamed
    assert "validation:roc_auc=0.97" in layout.log_file.read_text()


def test_a_failing_training_script_reports_its_failure_file(tmp_path, channels):
    training_dir = make_training_dir(tmp_path / "training")
    layout = training_job.TrainingLayout(tmp_path / "run" / "sagemaker", tmp_path / "run" / "model")
    with pytest.raises(TrainingError, match="--fail was asked for"):
        training_job.run_training(layout, {"fail": ""}, channels, echo=lambda line: None, training_dir=training_dir)


def test_model_tarball_holds_the_model_dir_at_its_root_and_is_reproducible(tmp_path):
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.joblib").write_bytes(b"weights")
    (model / "metrics.json").write_text("{}")
    (model / "sub" / "extra.txt").write_text("x")
    first = training_job.package_model(model, tmp_path / "a" / "model.tar.gz")
    second = training_job.package_model(model, tmp_path / "b" / "model.tar.gz")
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        assert sorted(tar.getnames()) == ["metrics.json", "model.joblib", "sub/extra.txt"]
        assert tar.extractfile("model.joblib").read() == b"weights"


def test_an_empty_model_dir_is_an_error(tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(TrainingError, match="no files"):
        training_job.package_model(tmp_path / "model", tmp_path / "model.tar.gz")


def test_environment_paths_are_absolute_even_for_a_relative_run_folder(tmp_path, monkeypatch):
    # The script runs with the code folder as its working directory: a relative channel or model path
    # (``ds-on-aws run --output-dir runs``, the default) would point into the code folder instead.
    monkeypatch.chdir(tmp_path)
    layout = training_job.TrainingLayout(root=Path("runs/r1/sagemaker"),
                                         model_dir=Path("runs/r1/model"))
    env = training_job.training_environment(layout, {"train": Path("runs/r1/curated/train")}, {}, [])
    for key in ("SM_MODEL_DIR", "SM_INPUT_DIR", "SM_OUTPUT_DIR", "SM_OUTPUT_DATA_DIR", "SM_CHANNEL_TRAIN"):
        assert env[key].startswith("/"), (key, env[key])
    assert env["SM_CHANNEL_TRAIN"] == str(tmp_path / "runs/r1/curated/train")
    assert env["SM_MODEL_DIR"] == str(tmp_path / "runs/r1/model")


# --- code delivery: the offline job fails where the cloud job fails -------------------------------------------


def test_an_isolated_job_with_s3_code_is_refused_by_the_builder():
    with pytest.raises(CodeDeliveryError, match="network-isolated training job.*'code' input channel"):
        from ds_on_aws.sagemaker_jobs import check_training_spec

        check_training_spec(TrainingJobSpec(
            channels=(),
            script_mode={"sagemaker_program": "train.py", "sagemaker_submit_directory": "s3://assets/abc.gz"},
            network_isolation=True))


def test_an_isolated_job_with_s3_code_fails_offline_like_the_container(tmp_path, channels):
    # What every deployed run did before the code channel: the launcher cannot download s3:// code without
    # network or credentials. A spec built by hand (bypassing the builder's check) fails here the same way,
    # before train.py runs at all.
    training_dir = make_training_dir(tmp_path / "training")
    layout = training_job.TrainingLayout(tmp_path / "run" / "sagemaker", tmp_path / "run" / "model")
    spec = TrainingJobSpec(
        channels=tuple(ChannelSpec(name, str(path)) for name, path in channels.items()),
        script_mode={"sagemaker_program": "train.py", "sagemaker_submit_directory": "s3://assets/abc.gz"},
        network_isolation=True)
    with pytest.raises(TrainingError, match="NoCredentialsError.*network-isolated"):
        training_job.run_training(layout, {}, channels, echo=lambda line: None, training_dir=training_dir,
                                  spec=spec)
    assert not (layout.model_dir / "launch.json").exists()
    assert not any(layout.code_dir.glob("*.py"))  # empty /opt/ml/code, as in the failed job


def test_the_code_is_taken_from_the_code_channel_not_from_a_local_folder(tmp_path, channels):
    training_dir = make_training_dir(tmp_path / "training")
    layout = training_job.TrainingLayout(tmp_path / "run" / "sagemaker", tmp_path / "run" / "model")
    spec = training_job.offline_training_spec(layout, channels, training_dir)
    assert spec.network_isolation and spec.channel("code").s3_uri == str(layout.sourcedir.resolve())
    # A channel whose object is missing leaves the container without code: the run fails, nothing is substituted.
    layout.sourcedir.unlink()
    with pytest.raises(UsageError, match="channel 'code'.*does not exist"):
        training_job.run_training(layout, {}, channels, echo=lambda line: None, training_dir=training_dir,
                                  spec=spec)


def test_a_data_channel_cannot_take_the_code_channel_name():
    with pytest.raises(CodeDeliveryError, match="reserved"):
        training_job_spec(code_uri="s3://a/b.gz", data_channels={"code": "s3://c/d/"})


def test_the_submit_directory_must_lie_in_a_channel():
    from ds_on_aws.sagemaker_jobs import check_training_spec

    with pytest.raises(CodeDeliveryError, match="not inside an input channel"):
        check_training_spec(TrainingJobSpec(
            channels=(), script_mode={"sagemaker_program": "train.py",
                                      "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz"}))


@pytest.mark.parametrize("mode, isolated", [("serverless", False), ("instance", True)])
def test_both_endpoint_modes_serve_the_code_inside_the_model(tmp_path, mode, isolated):
    spec = endpoint_model_spec(mode)
    assert spec.network_isolation is isolated
    assert spec.environment["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    code = training_job.resolve_serving_code(model, spec, tmp_path / "endpoint" / "code")
    assert (code / "inference.py").read_text().startswith("def model_fn")


def test_a_model_without_its_code_does_not_serve(tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(EndpointError, match="inference.py is not in the model"):
        training_job.resolve_serving_code(tmp_path / "model", endpoint_model_spec("instance"), tmp_path / "code")


def test_an_isolated_model_with_s3_code_is_refused_offline_and_by_the_builder(tmp_path):
    spec = ModelSpec(environment={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "s3://a/b.gz"},
                     network_isolation=True)
    with pytest.raises(EndpointError, match="cannot be downloaded.*network-isolated"):
        training_job.resolve_serving_code(tmp_path, spec, tmp_path / "code")
    from ds_on_aws.sagemaker_jobs import check_model_spec

    with pytest.raises(CodeDeliveryError, match="never answers /ping"):
        check_model_spec(spec)


def test_an_unknown_endpoint_mode_is_named():
    with pytest.raises(ValueError, match="'serverles'"):
        endpoint_model_spec("serverles")
