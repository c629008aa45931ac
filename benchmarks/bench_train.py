"""Training benchmark: the default model vs a TUNED TF-IDF uni+bigram logistic regression, same split, one run.

    .venv/bin/python benchmarks/bench_train.py [--imdb-dir ../shared/data/imdb] [--quick]

Protocol (docs/model.md, "Benchmark"):
1. ``train.csv.gz`` -> ``review_text.normalize_text`` -> exact duplicate texts dropped -> split by movie ``url``
   with ``GroupShuffleSplit(test_size=0.1, random_state=42)``: "train part" and "validation".
2. The baseline is tuned on the train part only: ``GridSearchCV`` over C, min_df and sublinear_tf with a
   3-fold ``GroupKFold`` by url (TF-IDF is CountVectorizer + TfidfTransformer in a cached Pipeline, so each
   fold is tokenized once per min_df), then refit on the whole train part.
3. Each model (default, tuned baseline) is fitted in its own child process, so its peak RSS
   (``VmHWM``, see peak_memory.py) is its own; the child also reports fit wall/CPU time and prediction time per 1,000 reviews.
4. Figures are printed, with the differences, and written to ``benchmarks/results/train.json``.

Timings on a shared machine are noisy: both models are measured in the same run, CPU seconds are reported
next to wall seconds, and ``--repeat`` fits each model several times (median reported).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "training")]  # the training modules run top-level (SageMaker's /opt/ml/code)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from peak_memory import peak_rss_kib  # noqa: E402
from review_text import normalize_label, normalize_text  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import GroupShuffleSplit  # noqa: E402

DEFAULT_IMDB_DIR = ROOT.parent / "shared" / "data" / "imdb"
RESULTS = ROOT / "benchmarks" / "results" / "train.json"
SEED = 42
VALIDATION_SHARE = 0.1
BASELINE_GRID = {
    "tfidf__sublinear_tf": [False, True],
    "counts__min_df": [1, 2, 5],
    "classifier__C": [4.0, 16.0, 64.0, 256.0],
}
QUICK_GRID = {"tfidf__sublinear_tf": [True], "counts__min_df": [2], "classifier__C": [16.0, 64.0]}


# --- data ---------------------------------------------------------------------------------------------------
def load_split(imdb_dir: Path, limit: int | None = None) -> dict:
    """The benchmark split: normalized, de-duplicated, grouped by movie url, seed 42."""
    path = imdb_dir / "train.csv.gz"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found (pass --imdb-dir or set DS_ON_AWS_IMDB_DIR)")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        frame = pd.read_csv(handle, dtype={"review": str, "sentiment": str, "url": str})
    if limit:
        frame = pd.concat([frame.head(limit // 2), frame.tail(limit // 2)])
    frame["text"] = frame["review"].map(normalize_text)
    frame["label"] = frame["sentiment"].map(normalize_label)
    rows_in = len(frame)
    frame = frame.drop_duplicates("text").reset_index(drop=True)
    splitter = GroupShuffleSplit(n_splits=1, test_size=VALIDATION_SHARE, random_state=SEED)
    train_idx, val_idx = next(splitter.split(frame, groups=frame["url"]))
    take = lambda idx, col: frame[col].iloc[idx].tolist()  # noqa: E731
    return {
        "train_texts": take(train_idx, "text"),
        "train_labels": take(train_idx, "label"),
        "train_groups": take(train_idx, "url"),
        "validation_texts": take(val_idx, "text"),
        "validation_labels": take(val_idx, "label"),
        "rows_read": rows_in,
        "duplicates_dropped": rows_in - len(frame),
    }


def load_channels_split(channels_dir: Path) -> dict:
    """A split the Glue job made: ``<channels_dir>/train`` and ``/validation`` as the training job reads them.

    With it the benchmark compares the models on exactly the data a pipeline run trains on (``runs/<id>/curated/
    curated/<id>`` after ``make run``). The channels carry no movie url, so the baseline's grouped grid search
    cannot run on them: pass ``--baseline-params``.
    """
    from channels import read_channel

    train = read_channel("train", channels_dir / "train")
    validation = read_channel("validation", channels_dir / "validation")
    return {
        "train_texts": train.texts,
        "train_labels": train.labels,
        "train_groups": None,
        "validation_texts": validation.texts,
        "validation_labels": validation.labels,
        "rows_read": len(train.texts) + len(validation.texts),
        "duplicates_dropped": 0,  # the Glue job collapsed them; its report has the count
        "source": str(channels_dir),
    }


# --- models -------------------------------------------------------------------------------------------------
def baseline_pipeline(memory=None):
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("counts", CountVectorizer(ngram_range=(1, 2), dtype=np.float32)),
            ("tfidf", TfidfTransformer()),
            ("classifier", LogisticRegression(solver="liblinear", dual=True, max_iter=1000, random_state=SEED)),
        ],
        memory=memory,
    )


def tune_baseline(split: dict, grid: dict) -> dict:
    """Grid search on the train part only, grouped 3-fold CV by url; returns the best parameters and scores."""
    from joblib import Memory
    from sklearn.model_selection import GridSearchCV, GroupKFold

    with tempfile.TemporaryDirectory(prefix="bench-train-cache-") as cache:
        search = GridSearchCV(
            baseline_pipeline(memory=Memory(cache, verbose=0)),
            grid,
            scoring="accuracy",
            cv=GroupKFold(n_splits=3),
            n_jobs=1,  # the cache is what makes it fast; two jobs would just fight over two shared cores
            refit=False,
        )
        started = time.perf_counter()
        search.fit(split["train_texts"], split["train_labels"], groups=split["train_groups"])
        seconds = time.perf_counter() - started
    ranked = sorted(
        zip(search.cv_results_["mean_test_score"], search.cv_results_["params"], strict=True), key=lambda x: -x[0]
    )
    return {
        "best_params": search.best_params_,
        "best_inner_cv_accuracy": float(search.best_score_),
        "candidates": len(search.cv_results_["params"]),
        "search_seconds": round(seconds, 1),
        "top5": [{"inner_cv_accuracy": round(float(s), 4), **p} for s, p in ranked[:5]],
    }


def build(name: str, baseline_params: dict | None):
    if name == "default":
        import sentiment_model

        return sentiment_model.build_model(sentiment_model.ModelParams())
    model = baseline_pipeline()
    model.set_params(**(baseline_params or {}))
    return model


# --- one measured fit (child process) -------------------------------------------------------------------------


def baseline_validation_oracle(split: dict, best_params: dict, cs=(4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0)) -> dict:
    """Validation accuracy of the baseline for a wide range of C, features fixed at the tuned min_df/sublinear_tf.

    Choosing C on the validation split itself is optimistic for the baseline (it sees the answers): if the
    default model still leads the best of these, the lead does not depend on the tuning grid's edges.
    """
    from sklearn.base import clone

    pipeline = baseline_pipeline()
    pipeline.set_params(**best_params)
    features = pipeline[:-1]
    X_train = features.fit_transform(split["train_texts"])
    X_val = features.transform(split["validation_texts"])
    y_val = np.asarray(split["validation_labels"])
    scores = {}
    for c in cs:
        classifier = clone(pipeline[-1]).set_params(C=c).fit(X_train, split["train_labels"])
        scores[str(c)] = float(accuracy_score(y_val, classifier.predict(X_val)))
    best = max(scores, key=scores.get)
    return {"validation_accuracy_by_C": scores, "best_C": float(best), "best_validation_accuracy": scores[best]}


def measure_child(split_path: str, name: str, baseline_params_json: str) -> dict:
    with open(split_path, "rb") as handle:
        split = pickle.load(handle)
    y_train = np.asarray(split["train_labels"])
    y_val = np.asarray(split["validation_labels"])
    rss_before_kib = peak_rss_kib()
    model = build(name, json.loads(baseline_params_json))
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(split["train_texts"], y_train)
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_fit_kib = max(peak_rss_kib(), children.ru_maxrss)
    artifact = _artifact_figures(model, name)
    texts = split["validation_texts"]
    wall = time.perf_counter()
    proba = model.predict_proba(texts)[:, list(model.classes_).index(1)]
    predict_wall = time.perf_counter() - wall
    predicted = (proba >= 0.5).astype(int)
    return {
        "accuracy": float(accuracy_score(y_val, predicted)),
        "f1": float(f1_score(y_val, predicted)),
        "roc_auc": float(roc_auc_score(y_val, proba)),
        "fit_wall_seconds": fit_wall,
        "fit_cpu_seconds": fit_cpu + children.ru_utime + children.ru_stime,
        "predict_ms_per_1000_reviews": predict_wall / len(texts) * 1000 * 1000,
        "peak_rss_mib": peak_fit_kib / 1024,
        "rss_before_fit_mib": rss_before_kib / 1024,
        "n_features": int(sum(len(v) for v in _vocabularies(model))),
        **artifact,
    }


def _artifact_figures(model, name: str) -> dict:
    """Size of the saved model and the time joblib takes to load it (what model_fn does on the first request)."""
    import joblib

    if name == "default":
        import sentiment_model

        sentiment_model.compact(model)
    with tempfile.TemporaryDirectory(prefix="bench-train-model-") as folder:
        path = Path(folder) / "model.joblib"
        joblib.dump(model, path, compress=3)
        started = time.perf_counter()
        joblib.load(path)
        return {"model_mib": path.stat().st_size / 2**20, "model_load_seconds": time.perf_counter() - started}


def _vocabularies(model):
    for step in model.named_steps.values():
        if hasattr(step, "vocabulary_"):
            yield step.vocabulary_
        for _, sub in getattr(step, "transformer_list", []):
            if hasattr(sub, "vocabulary_"):
                yield sub.vocabulary_


def measure(split_path: Path, name: str, baseline_params: dict | None) -> dict:
    command = [sys.executable, __file__, "--child", str(split_path), name, json.dumps(baseline_params or {})]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: measuring {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_run(runs: list[dict]) -> dict:
    """Quality figures are identical across runs (deterministic); time and memory take the median."""
    merged = dict(runs[0])
    for key in (
        "fit_wall_seconds",
        "fit_cpu_seconds",
        "predict_ms_per_1000_reviews",
        "peak_rss_mib",
        "model_load_seconds",
    ):
        merged[key] = statistics.median(run[key] for run in runs)
    merged["runs"] = len(runs)
    return merged


# --- report -------------------------------------------------------------------------------------------------
ROWS = [
    ("accuracy", "validation accuracy", "{:.4f}"),
    ("f1", "validation F1", "{:.4f}"),
    ("roc_auc", "validation ROC AUC", "{:.4f}"),
    ("fit_wall_seconds", "fit wall s", "{:.1f}"),
    ("fit_cpu_seconds", "fit CPU s", "{:.1f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
    ("predict_ms_per_1000_reviews", "predict ms / 1000 reviews", "{:.0f}"),
    ("n_features", "features", "{:d}"),
    ("model_mib", "model.joblib MiB", "{:.1f}"),
    ("model_load_seconds", "model load s", "{:.2f}"),
]


def table(default: dict, baseline: dict) -> str:
    lines = [f"{'':28}{'default':>12}{'baseline':>12}{'difference':>14}"]
    for key, label, fmt in ROWS:
        diff = default[key] - baseline[key]
        diff_text = (
            f"{diff * 100:+.2f} pt"
            if key in ("accuracy", "f1", "roc_auc")
            else ("+" if diff >= 0 else "-") + fmt.format(abs(diff))
        )
        lines.append(f"{label:28}{fmt.format(default[key]):>12}{fmt.format(baseline[key]):>12}{diff_text:>14}")
    return "\n".join(lines)


def benchmark_environment() -> dict:
    """The interpreter, library versions and machine load a benchmark result was measured with."""
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb-dir", type=Path, default=Path(os.environ.get("DS_ON_AWS_IMDB_DIR", DEFAULT_IMDB_DIR)))
    parser.add_argument("--repeat", type=int, default=1, help="fits per model (median of time and memory)")
    parser.add_argument("--quick", action="store_true", help="4,000 reviews and a 2-point grid: a smoke run")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--channels",
        type=Path,
        help="use the train/validation channels of a Glue job run (e.g. runs/<id>/curated/curated/<id>) instead "
        "of the benchmark's own split; needs --baseline-params; results go to results/train_glue_split.json",
    )
    parser.add_argument(
        "--baseline-params",
        type=json.loads,
        help="skip the grid search and use these baseline parameters (JSON, e.g. from a previous train.json)",
    )
    return parser


def benchmark_split(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """The Glue job's channels (``--channels``) or the benchmark's own split of the IMDb training file."""
    if args.channels:
        from channels import ChannelError

        try:
            split = load_channels_split(args.channels)
        except ChannelError as error:
            parser.error(f"--channels {args.channels}: {error}")
        print(
            f"split: {len(split['train_texts'])} train / {len(split['validation_texts'])} validation reviews, "
            f"the Glue job's channels in {args.channels}",
            flush=True,
        )
    else:
        split = load_split(args.imdb_dir, limit=4000 if args.quick else None)
        print(
            f"split: {len(split['train_texts'])} train / {len(split['validation_texts'])} validation reviews "
            f"({split['duplicates_dropped']} duplicate texts dropped), grouped by url, seed {SEED}",
            flush=True,
        )
    return split


def baseline_tuning(args: argparse.Namespace, split: dict) -> dict:
    """``--baseline-params`` as given, or the grid search's best parameters."""
    if args.baseline_params:
        tuning = {
            "best_params": args.baseline_params,
            "given": True,
            "best_inner_cv_accuracy": None,
            "candidates": 0,
            "search_seconds": 0.0,
        }
    else:
        tuning = tune_baseline(split, QUICK_GRID if args.quick else BASELINE_GRID)
    if tuning.get("given"):
        print(f"baseline parameters given (no grid search): {tuning['best_params']}", flush=True)
    else:
        print(
            f"baseline tuned in {tuning['search_seconds']} s over {tuning['candidates']} candidates: "
            f"{tuning['best_params']} (inner CV accuracy {tuning['best_inner_cv_accuracy']:.4f})",
            flush=True,
        )
    return tuning


def measure_models(split: dict, baseline_params: dict, repeat: int) -> tuple[dict, dict]:
    """(default, baseline): the median run of each, fitted ``repeat`` times in child processes."""
    with tempfile.TemporaryDirectory(prefix="bench-train-") as scratch:
        split_path = Path(scratch) / "split.pkl"
        with open(split_path, "wb") as handle:
            pickle.dump(split, handle)
        runs = {"default": [], "baseline": []}
        for _ in range(repeat):  # interleaved, so a burst of load hits both models alike
            for name in runs:
                runs[name].append(measure(split_path, name, baseline_params if name == "baseline" else None))
    return median_run(runs["default"]), median_run(runs["baseline"])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.channels and not args.baseline_params:
        parser.error("--channels needs --baseline-params: the channels carry no movie url to group the grid search by")
    if args.channels and args.output == RESULTS:
        args.output = RESULTS.with_name("train_glue_split.json")

    started = time.perf_counter()
    split = benchmark_split(args, parser)
    tuning = baseline_tuning(args, split)
    default, baseline = measure_models(split, tuning["best_params"], args.repeat)
    print(table(default, baseline))
    gain = (default["accuracy"] - baseline["accuracy"]) * 100
    print(f"default beats the tuned baseline by {gain:+.2f} accuracy points (target >= +1.00)")
    oracle = baseline_validation_oracle(split, tuning["best_params"])
    print(
        "baseline with C chosen on the validation split itself (optimistic): "
        + ", ".join(f"C={c}: {a:.4f}" for c, a in oracle["validation_accuracy_by_C"].items())
        + f"; default leads the best of these by {(default['accuracy'] - oracle['best_validation_accuracy']) * 100:+.2f} points"
    )

    import sentiment_model

    result = {
        "split": {
            "train": len(split["train_texts"]),
            "validation": len(split["validation_texts"]),
            "duplicates_dropped": split["duplicates_dropped"],
            "grouped_by": "url",
            "seed": SEED,
            "source": split.get("source", "benchmark split of train.csv.gz"),
            "quick": args.quick,
        },
        "default_model": {"params": sentiment_model.ModelParams().as_dict(), **default},
        "baseline": {"tuning": tuning, **baseline},
        "baseline_validation_oracle": oracle,
        "difference": {key: default[key] - baseline[key] for key, _, _ in ROWS},
        "environment": benchmark_environment(),
        "benchmark_seconds": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, sort_keys=True, default=float) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0

if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(measure_child(sys.argv[2], sys.argv[3], sys.argv[4])))
        sys.exit(0)
    sys.exit(main())
