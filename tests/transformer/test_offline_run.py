"""``ds-on-aws run --recipe transformer`` offline on CPU: the real pipeline with the tiny model as pretrained weights."""

from __future__ import annotations

import json
import tarfile

import pytest

from tests.transformer.fixtures import TINY_HYPERPARAMETERS, require_transformer_stack

require_transformer_stack()

from ds_on_aws import cli  # noqa: E402
from ds_on_aws.local.endpoint import SMOKE_NEGATIVE, SMOKE_POSITIVE, http_request, predict  # noqa: E402
from ds_on_aws.local.pipeline import RunOptions, run_pipeline  # noqa: E402
from tests.local.test_end_to_end import synthetic_reviews  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_the_offline_run_trains_gates_packages_and_serves_the_transformer(tmp_path, tiny_pretrained):
    # Twice the steps of the recipe tests: the run's own smoke test needs a model that is sure of its probes, and at
    # 40 steps the tiny model's answer on them depended on which reviews the seeded split put in train.
    # The run's smoke test asks about two fixed reviews whose words the synthetic vocabulary lacks; a tiny model
    # trained from scratch answers them by chance (it flipped between runs). Reviews in their words are added, so
    # this test proves the pipeline and serving, not how a 2-layer model generalizes.
    hyperparameters = {**TINY_HYPERPARAMETERS, "max_steps": "80"}
    reviews = synthetic_reviews(tmp_path / "reviews.csv", rows=1200)
    with reviews.open("a", encoding="utf-8") as handle:
        for i in range(150):
            handle.write(f'"{SMOKE_POSITIVE} Seen {i}.",positive,9\n"{SMOKE_NEGATIVE} Seen {i}.",negative,2\n')
    options = RunOptions(input=str(reviews), output_dir=tmp_path / "runs",
                         recipe="transformer", pretrained=tiny_pretrained, hyperparameters=hyperparameters,
                         data_quality={"min_rows": "100"}, min_accuracy=0.8, compare_with_live=False, keep_serving=True)
    result = run_pipeline(options, echo=lambda line: None)
    try:
        summary = result.summary
        assert summary["outcome"] == "succeeded" and summary["recipe"] == "transformer", summary
        assert summary["accuracy"] >= 0.8 and summary["smoke_test"] == "passed"
        labels = [p["label"] for p in predict(result.endpoint.url, ["wonderful brilliant film", "dull awful mess"])]
        assert labels == ["positive", "negative"]
        answer = http_request(f"{result.endpoint.url}/invocations", b"[]", {"Content-Type": "application/json"})
        assert answer.status == 400 and "no review texts" in answer.json()["error"]
    finally:
        result.endpoint.stop()
    with tarfile.open(result.run_dir / "model.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"config.json", "model.safetensors", "tokenizer.json", "code/inference.py", "metrics.json"} <= names
    checkpoints = result.run_dir / "sagemaker" / "checkpoints"
    assert (checkpoints / "checkpoint-80").is_dir()  # /opt/ml/checkpoints of the job, inside the run folder
    assert json.loads((result.run_dir / "summary.json").read_text())["recipe"] == "transformer"


def test_the_transformer_recipe_without_weights_is_refused_before_anything_runs(tmp_path, capsys):
    code = cli.main(["run", "--recipe", "transformer", "--pretrained", str(tmp_path / "nothing"),
                     "--output-dir", str(tmp_path / "runs")])
    assert code == 2 and "needs pretrained weights offline" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
