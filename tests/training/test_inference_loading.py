"""model_fn: the linear scorer first, joblib as the fallback, one load per process, no scikit-learn on import."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import inference
import joblib
import linear_scorer
import pytest
import sentiment_model

from tests.training.sm_helpers import invoke

ROOT = Path(__file__).resolve().parents[2]
BODY = json.dumps({"instances": ["superb and touching", "awful waste", "a masterpiece, loved it", "dull plot"]})


@pytest.fixture
def model_dir(tmp_path, small_model):
    joblib.dump(small_model, tmp_path / inference.MODEL_FILENAME, compress=3)
    linear_scorer.export(small_model, tmp_path)
    return tmp_path


def answer(model) -> dict:
    response = invoke(inference, model, BODY.encode(), "application/json", "application/json")
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


def test_model_fn_prefers_the_linear_scorer_and_answers_like_the_pipeline(model_dir, small_model):
    model = inference.model_fn(str(model_dir))
    assert isinstance(model, linear_scorer.LinearScorer)
    assert answer(model) == answer(small_model)


def test_model_fn_falls_back_to_joblib_without_the_scorer_file(tmp_path, small_model):
    joblib.dump(small_model, tmp_path / inference.MODEL_FILENAME, compress=3)
    model = inference.model_fn(str(tmp_path))
    assert type(model).__name__ == "Pipeline"
    assert answer(model) == answer(small_model)


def test_a_damaged_scorer_file_is_an_error_naming_it(tmp_path, small_model):
    joblib.dump(small_model, tmp_path / inference.MODEL_FILENAME, compress=3)
    (tmp_path / linear_scorer.SCORER_FILENAME).write_bytes(b"damaged")
    with pytest.raises(linear_scorer.ScorerFileError, match="linear_scorer.npz is unreadable"):
        inference.model_fn(str(tmp_path))


def test_model_fn_loads_once_per_folder(model_dir, tmp_path_factory, small_model):
    first = inference.model_fn(str(model_dir))
    assert inference.model_fn(str(model_dir) + "/") is first
    other = tmp_path_factory.mktemp("other")
    linear_scorer.export(small_model, other)
    assert inference.model_fn(str(other)) is not first


def test_concurrent_first_requests_load_the_model_once(model_dir, monkeypatch):
    loads = []
    real_load = inference._load_model

    def slow_load(folder):
        loads.append(folder)
        time.sleep(0.2)  # long enough for every thread to arrive while the first one loads
        return real_load(folder)

    monkeypatch.setattr(inference, "_load_model", slow_load)
    results = []
    threads = [threading.Thread(target=lambda: results.append(inference.model_fn(str(model_dir)))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(results) == 8 and all(result is results[0] for result in results)


def test_importing_inference_and_loading_the_scorer_import_no_scikit_learn(model_dir):
    """In a fresh interpreter, as in a serving worker: no sklearn, scipy, pandas or joblib on the fast path."""
    code = (
        "import sys, inference, json\n"
        "heavy = ('sklearn', 'scipy', 'pandas', 'joblib')\n"
        "after_import = sorted(m for m in heavy if m in sys.modules)\n"
        f"model = inference.model_fn({str(model_dir)!r})\n"
        "p = inference.positive_probability(model, ['superb and touching'])\n"
        "print(json.dumps([after_import, sorted(m for m in heavy if m in sys.modules), type(model).__name__]))\n"
    )
    paths = [str(ROOT / "training"), str(ROOT / "common")]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ":".join(paths), "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )
    after_import, after_predict, kind = json.loads(done.stdout.strip().splitlines()[-1])
    assert after_import == [] and after_predict == [] and kind == "LinearScorer"


def test_the_common_positive_probability_serves_both_models(model_dir, small_model):
    texts = ["superb and touching", "awful waste"]
    expected = sentiment_model.positive_probability(small_model, texts)
    scorer = inference.model_fn(str(model_dir))
    assert inference.positive_probability(scorer, texts) == pytest.approx(expected, abs=1e-9)
    assert inference.positive_probability(small_model, texts) == pytest.approx(expected, abs=1e-12)
