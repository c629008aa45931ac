"""Serving benchmark: the default model's scikit-learn pipeline vs its exported linear scorer, same reviews, one run.

    .venv/bin/python benchmarks/bench_scorer.py [--imdb-dir ../shared/data/imdb] [--quick]

Protocol (docs/model.md, "Serving without scikit-learn"):
1. The split of ``bench_train.load_split`` (``train.csv.gz``, normalized, de-duplicated, grouped by movie url,
   seed 42); the default model is fitted on the train part, compacted, saved as ``model.joblib`` and exported
   with ``linear_scorer.export`` into one scratch model folder.
2. Throughput, in this process, on the validation reviews: batches of 1,000 (every validation review, ``--rounds``
   times, contenders interleaved; median) and batch 1 (the first ``--single`` reviews one at a time).
3. Cold load, each contender in a fresh interpreter: wall time of its imports plus the model load (what the
   container's ``model_fn`` pays on a worker's first request), then peak RSS (``VmHWM``) after scoring every
   validation review in batches of 1,000.
4. Agreement: max |P(scorer) - P(pipeline)| over the validation reviews, and the two accuracies.
Results are printed and written to ``benchmarks/results/scorer.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scorer.json"
BATCH = 1000
CONTENDERS = ("pipeline", "scorer")


# --- cold load (child process: nothing heavy imported before the clock starts) ------------------------------------
def cold_child(kind: str, model_dir: str, texts_path: str) -> dict:
    started = time.perf_counter()
    sys.path[:0] = [str(ROOT / "training"), str(ROOT / "benchmarks")]  # the SageMaker code folder; bench_train
    if kind == "pipeline":
        import joblib
        import sentiment_model

        model = joblib.load(Path(model_dir) / "model.joblib")
        score = lambda texts: sentiment_model.positive_probability(model, texts)  # noqa: E731
    else:
        import linear_scorer

        model = linear_scorer.LinearScorer.load(model_dir)
        score = model.positive_probability
    load_seconds = time.perf_counter() - started
    from peak_memory import peak_rss_kib

    rss_after_load = peak_rss_kib()
    texts = json.loads(Path(texts_path).read_text(encoding="utf-8"))
    for begin in range(0, len(texts), BATCH):
        score(texts[begin : begin + BATCH])
    return {
        "load_seconds": load_seconds,
        "peak_rss_after_load_mib": rss_after_load / 1024,
        "peak_rss_mib": peak_rss_kib() / 1024,
        "heavy_modules_imported": sorted(m for m in ("sklearn", "scipy", "pandas") if m in sys.modules),
    }


def cold(kind: str, model_dir: Path, texts_path: Path) -> dict:
    command = [sys.executable, __file__, "--child", kind, str(model_dir), str(texts_path)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: cold load of {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"process_wall_seconds": time.perf_counter() - started}


# --- throughput (this process) ------------------------------------------------------------------------------------
def batched_seconds(score, texts: list[str]) -> float:
    started = time.perf_counter()
    for begin in range(0, len(texts), BATCH):
        score(texts[begin : begin + BATCH])
    return time.perf_counter() - started


def single_seconds(score, texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        score([text])
    return time.perf_counter() - started


def throughput(scorers: dict, texts: list[str], rounds: int, single: int) -> dict:
    """Reviews/s per contender at batch 1,000 (median of ``rounds``, interleaved) and at batch 1."""
    batch_runs = {name: [] for name in scorers}
    single_runs = {name: [] for name in scorers}
    for _ in range(rounds):
        for name, score in scorers.items():
            batch_runs[name].append(len(texts) / batched_seconds(score, texts))
            single_runs[name].append(single / single_seconds(score, texts[:single]))
    return {
        name: {
            "reviews_per_second_batch_1000": statistics.median(batch_runs[name]),
            "reviews_per_second_batch_1": statistics.median(single_runs[name]),
            "batch_1000_runs": batch_runs[name],
            "batch_1_runs": single_runs[name],
        }
        for name in scorers
    }


# --- the run ------------------------------------------------------------------------------------------------------
def fit_and_save(split: dict, model_dir: Path) -> tuple[object, float, float]:
    """Fit the default model, save ``model.joblib`` and export the scorer; return (model, fit s, export s)."""
    import joblib
    import linear_scorer
    import numpy as np
    import sentiment_model

    model = sentiment_model.build_model(sentiment_model.ModelParams())
    started = time.perf_counter()
    model.fit(split["train_texts"], np.asarray(split["train_labels"]))
    fit_seconds = time.perf_counter() - started
    sentiment_model.compact(model)
    joblib.dump(model, model_dir / "model.joblib", compress=3)
    started = time.perf_counter()
    linear_scorer.export(model, model_dir)
    return model, fit_seconds, time.perf_counter() - started


def agreement(model, scorer, texts: list[str], labels: list[int]) -> dict:
    import numpy as np
    import sentiment_model

    reference = np.concatenate(
        [sentiment_model.positive_probability(model, texts[b : b + BATCH]) for b in range(0, len(texts), BATCH)]
    )
    mine = np.concatenate([scorer.positive_probability(texts[b : b + BATCH]) for b in range(0, len(texts), BATCH)])
    y = np.asarray(labels)
    return {
        "max_abs_probability_difference": float(np.abs(reference - mine).max()),
        "label_disagreements": int(((reference >= 0.5) != (mine >= 0.5)).sum()),
        "pipeline_accuracy": float(((reference >= 0.5) == y).mean()),
        "scorer_accuracy": float(((mine >= 0.5) == y).mean()),
    }


def report(result: dict) -> str:
    t, c = result["throughput"], result["cold"]
    rows = [
        ("reviews/s, batches of 1,000", lambda n: t[n]["reviews_per_second_batch_1000"], "{:,.0f}"),
        ("reviews/s, batch 1", lambda n: t[n]["reviews_per_second_batch_1"], "{:,.0f}"),
        ("cold import + load s", lambda n: c[n]["load_seconds"], "{:.2f}"),
        ("peak RSS after load MiB", lambda n: c[n]["peak_rss_after_load_mib"], "{:.0f}"),
        ("peak RSS after scoring MiB", lambda n: c[n]["peak_rss_mib"], "{:.0f}"),
        ("model file MiB", lambda n: result["files_mib"][n], "{:.1f}"),
    ]
    lines = [f"{'':30}{'pipeline':>12}{'scorer':>12}{'ratio':>9}"]
    for label, get, fmt in rows:
        a, b = get("pipeline"), get("scorer")
        lines.append(f"{label:30}{fmt.format(a):>12}{fmt.format(b):>12}{b / a:>8.2f}x")
    agree = result["agreement"]
    lines.append(
        f"max |dp| {agree['max_abs_probability_difference']:.2e}, label disagreements {agree['label_disagreements']}, "
        f"accuracy pipeline {agree['pipeline_accuracy']:.4f} / scorer {agree['scorer_accuracy']:.4f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_imdb = Path(os.environ.get("DS_ON_AWS_IMDB_DIR", ROOT.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--imdb-dir", type=Path, default=default_imdb)
    parser.add_argument("--quick", action="store_true", help="4,000 reviews: a smoke run")
    parser.add_argument("--rounds", type=int, default=3, help="batch-1,000 passes per contender (median reported)")
    parser.add_argument("--single", type=int, default=300, help="reviews scored one at a time per round")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT / "training"), str(ROOT / "benchmarks")]  # the SageMaker code folder; bench_train
    import bench_train
    import linear_scorer
    import sentiment_model

    started, load_at_start = time.perf_counter(), os.getloadavg()
    split = bench_train.load_split(args.imdb_dir, limit=4000 if args.quick else None)
    texts = split["validation_texts"]
    print(f"split: {len(split['train_texts'])} train / {len(texts)} validation reviews, grouped by url", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-scorer-") as scratch:
        model_dir = Path(scratch)
        model, fit_seconds, export_seconds = fit_and_save(split, model_dir)
        print(f"fitted in {fit_seconds:.1f} s, exported in {export_seconds:.1f} s", flush=True)
        texts_path = model_dir / "validation.json"
        texts_path.write_text(json.dumps(texts), encoding="utf-8")
        scorer = linear_scorer.LinearScorer.load(model_dir)
        scorers = {
            "pipeline": lambda batch: sentiment_model.positive_probability(model, batch),
            "scorer": scorer.positive_probability,
        }
        result = {
            "agreement": agreement(model, scorer, texts, split["validation_labels"]),
            "throughput": throughput(scorers, texts, args.rounds, min(args.single, len(texts))),
            "cold": {name: cold(name, model_dir, texts_path) for name in CONTENDERS},
            "files_mib": {
                "pipeline": (model_dir / "model.joblib").stat().st_size / 2**20,
                "scorer": (model_dir / linear_scorer.SCORER_FILENAME).stat().st_size / 2**20,
            },
        }
    t = result["throughput"]
    result["speedup"] = {
        key: t["scorer"][key] / t["pipeline"][key]
        for key in ("reviews_per_second_batch_1000", "reviews_per_second_batch_1")
    }
    result |= _context(args, split, fit_seconds, export_seconds, started)
    result["environment"]["load_average_at_start"] = load_at_start
    print(report(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


def _context(args, split: dict, fit_seconds: float, export_seconds: float, started: float) -> dict:
    import bench_train

    return {
        "split": {
            "train": len(split["train_texts"]),
            "validation": len(split["validation_texts"]),
            "grouped_by": "url",
            "seed": 42,
            "quick": args.quick,
        },
        "fit_seconds": fit_seconds,
        "export_seconds": export_seconds,
        "rounds": args.rounds,
        "single_reviews": args.single,
        "environment": bench_train.benchmark_environment(),
        "benchmark_seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(cold_child(sys.argv[2], sys.argv[3], sys.argv[4])))
        sys.exit(0)
    sys.exit(main())
