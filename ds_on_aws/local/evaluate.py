"""Validation predictions through the model's own handlers, for the report's confusion matrix and ROC curve.

Runs in a child process (``python -m ds_on_aws.local.evaluate``) with the code folder first on ``sys.path``, like a
batch transform: ``model_fn`` -> ``input_fn`` (JSON batches) -> ``predict_fn`` -> ``output_fn``. So the plots show
what the endpoint would answer, even when the model gate refuses the model and no endpoint starts.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

BATCH_SIZE = 100


def read_channel(folder: Path) -> list[dict]:
    """Every JSON object of the channel's part files (plain or .gz), in file-name order."""
    records: list[dict] = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith(("_", "."))):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            records.extend(json.loads(line) for line in handle if line.strip())
    return records


def positive_probability(prediction: dict) -> float:
    """P(positive) from one prediction: ``score`` is the probability of the predicted ``label``."""
    for key in ("positive_probability", "positive_score"):
        if isinstance(prediction.get(key), (int, float)):
            return float(prediction[key])
    score = float(prediction["score"])
    return score if prediction.get("label") == "positive" else 1.0 - score


def response_body(result) -> tuple[int, bytes]:
    """Status and body of what the handlers returned (a ``(body, mimetype)`` tuple or a response object)."""
    if isinstance(result, tuple):
        body = result[0]
        return 200, body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return int(result.status_code), result.get_data()


def predict_records(code_dir: Path, model_dir: Path, texts: list[str]) -> list[dict]:
    from ds_on_aws.local.serving import JSON, HandlerChain

    chain = HandlerChain(code_dir, model_dir)
    chain.load()
    predictions: list[dict] = []
    for start in range(0, len(texts), BATCH_SIZE):
        body = json.dumps({"instances": texts[start:start + BATCH_SIZE]})
        status, payload = response_body(chain.invoke(body, JSON, JSON))
        if status != 200:
            raise RuntimeError(f"the handlers answered {status}: {payload[:300]!r}")
        predictions.extend(json.loads(payload)["predictions"])
    return predictions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ds_on_aws.local.evaluate")
    parser.add_argument("--code-dir", required=True, type=Path)
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--channel", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    records = read_channel(args.channel)
    predictions = predict_records(args.code_dir, args.model_dir, [r["text"] for r in records])
    rows = [{"label": int(r["label"]), "predicted": 1 if p["label"] == "positive" else 0,
             "p_positive": positive_probability(p)} for r, p in zip(records, predictions, strict=True)]
    args.out.write_text(json.dumps(rows), encoding="utf-8")
    return 0


def evaluate_in_child(code_dir: Path, model_dir: Path, channel: Path, out: Path) -> list[dict]:
    """Run :func:`main` in a fresh interpreter (its own ``inference`` module) and return the rows."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    result = subprocess.run([sys.executable, "-m", "ds_on_aws.local.evaluate", "--code-dir", str(code_dir),
                             "--model-dir", str(model_dir), "--channel", str(channel), "--out", str(out)],
                            cwd=str(code_dir), env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        tail = [line for line in result.stderr.splitlines() if line.strip()][-1:] or ["no output"]
        raise RuntimeError(f"validation predictions through the handlers failed: {tail[0]}")
    return json.loads(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    sys.exit(main())
