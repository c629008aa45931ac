"""The transformer recipe as the container runs it: train through the SM_* contract, checkpoints, resume, serve.

Everything runs on CPU with the tiny model of ``tiny_model.py`` (built here, nothing downloaded).
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.transformer.fixtures import (
    TINY_HYPERPARAMETERS,
    load_handlers,
    require_transformer_stack,
    run_transformer_job,
)

require_transformer_stack()

from ds_on_aws.local.endpoint import http_request, smoke_test, start_endpoint  # noqa: E402
from ds_on_aws.local.errors import TrainingError  # noqa: E402

pytestmark = pytest.mark.slow


def test_training_prints_the_metric_lines_and_saves_model_tokenizer_and_code(trained_transformer):
    job = trained_transformer
    assert job.metrics["validation:accuracy"] >= 0.9, job.log[-2000:]
    assert set(job.metrics) == {"validation:accuracy", "validation:f1", "validation:roc_auc"}
    names = {p.name for p in job.model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "metrics.json"} <= names
    assert "training_args.bin" not in names
    code = {p.name for p in (job.model_dir / "code").iterdir()}
    assert {"inference.py", "review_text.py", "channels.py", "serving_contract.py"} <= code and "train.py" not in code
    assert {"ftfy", "wcwidth"} <= code  # review_text's libraries: the Hugging Face image has neither
    report = json.loads((job.model_dir / "metrics.json").read_text())
    assert report["metrics"]["validation"]["accuracy"] == pytest.approx(job.metrics["validation:accuracy"], abs=1e-6)
    assert report["global_step"] == 40 and report["resumed_from"] is None
    assert report["hyperparameters"]["learning_rate"] == 0.005  # the launcher's flags reached the script
    assert report["train_examples_per_second"] > 0 and report["epoch_seconds"]
    assert report["peak_memory"]["process_rss_mib"] > 0
    config = json.loads((job.model_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}


def test_checkpoints_are_written_every_checkpoint_steps(trained_transformer):
    folders = sorted(p.name for p in trained_transformer.checkpoint_dir.iterdir())
    assert folders == ["checkpoint-20", "checkpoint-40", "job_signature.json"]


def _validation_predictions(model_dir, texts):
    handlers = load_handlers(model_dir / "code", f"transformer_inference_{model_dir.parent.name}")
    return handlers.model_fn(str(model_dir)).positive_probability(texts).tolist()


def test_a_restarted_job_resumes_from_its_last_checkpoint(trained_transformer, tmp_path):
    """A spot interruption after step 20: the restarted job finds checkpoint-20 and trains steps 21-40 only."""
    job = trained_transformer
    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(job.checkpoint_dir, checkpoints)
    shutil.rmtree(checkpoints / "checkpoint-40")  # what the interrupted job had copied to S3
    result, log = run_transformer_job(tmp_path / "restart", job.channels, TINY_HYPERPARAMETERS, checkpoints)
    assert "resuming from checkpoint-20 (step 20)" in log
    report = json.loads((result.model_dir / "metrics.json").read_text())
    assert report["resumed_from"] == "checkpoint-20" and report["global_step"] == 40
    texts = ["superb and touching", "awful waste of time", "the plot was dull"]
    resumed = _validation_predictions(result.model_dir, texts)
    straight = _validation_predictions(job.model_dir, texts)
    # The same model as the uninterrupted job, up to float summation order (about 1e-3 here on CPU).
    assert resumed == pytest.approx(straight, abs=0.01)


def test_a_checkpoint_of_another_job_is_refused(trained_transformer, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(trained_transformer.checkpoint_dir, checkpoints)
    with pytest.raises(TrainingError, match=r"exit 2\).*another job \(differs in: hyperparameters.learning_rate\)"):
        run_transformer_job(tmp_path / "other", trained_transformer.channels,
                            {**TINY_HYPERPARAMETERS, "learning_rate": "0.001"}, checkpoints)


def test_missing_pretrained_weights_name_the_staging_command(trained_transformer, tmp_path):
    channels = {k: v for k, v in trained_transformer.channels.items() if k != "pretrained"}
    with pytest.raises(TrainingError, match=r"exit 2\).*no pretrained weights.*ds-on-aws stage-model"):
        run_transformer_job(tmp_path / "nopre", channels, TINY_HYPERPARAMETERS, tmp_path / "ck")


def test_a_precision_this_machine_cannot_run_is_refused_with_exit_2(trained_transformer, tmp_path):
    with pytest.raises(TrainingError, match=r"exit 2\).*mixed_precision=fp16 needs a GPU"):
        run_transformer_job(tmp_path / "bad", trained_transformer.channels,
                            {**TINY_HYPERPARAMETERS, "mixed_precision": "fp16"}, tmp_path / "ck")


def test_the_local_endpoint_serves_the_fine_tuned_model(trained_transformer, tmp_path):
    model_dir = trained_transformer.model_dir
    with start_endpoint(model_dir / "code", model_dir, log_file=tmp_path / "endpoint.log") as endpoint:
        smoke = smoke_test(endpoint.url)
        assert smoke.passed, smoke.failures()
        body = json.dumps({"instances": ["superb and touching", "awful waste", "great brilliant film"]}).encode()
        answer = http_request(f"{endpoint.url}/invocations", body, {"Content-Type": "application/json"})
        assert answer.status == 200
        assert [p["label"] for p in answer.json()["predictions"]] == ["positive", "negative", "positive"]
        for headers, status in (({"Content-Type": "application/xml"}, 415),
                                ({"Content-Type": "application/json", "Accept": "application/xml"}, 406)):
            answer = http_request(f"{endpoint.url}/invocations", b'["great"]', headers)
            assert answer.status == status and answer.json()["error"]
        # Batch Transform's mini-batch (SplitType=Line, MultiRecord): one answer line per record, a bad one its own
        lines = b'"superb and touching"\n{"text": "awful waste"}\n{"review": "no text field"}\n"great brilliant film"'
        answer = http_request(f"{endpoint.url}/invocations", lines,
                              {"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"})
        assert answer.status == 200
        records = [json.loads(line) for line in answer.body.decode("utf-8").split("\n")]
        assert [r.get("label") for r in records] == ["positive", "negative", None, "positive"]
        assert "text" in records[2]["error"]


def test_model_fn_names_a_missing_model(trained_transformer, tmp_path):
    handlers = load_handlers(trained_transformer.model_dir / "code", "transformer_inference_missing")
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"config.json not found .*metrics.json"):
        handlers.model_fn(str(tmp_path))
