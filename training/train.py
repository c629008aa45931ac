"""SageMaker training entry point (scikit-learn 1.9-0 container, script mode): ``python train.py [flags]``.

Container contract (docs/model.md has the evidence):
- channels ``train``, ``validation`` and optional ``test`` come from ``SM_CHANNEL_<NAME>`` (or ``--train`` ...);
- the model goes to ``SM_MODEL_DIR`` as ``model.joblib`` (the reference artifact), ``linear_scorer.npz`` (the same
  model folded for numpy-only serving, see linear_scorer.py) and ``metrics.json``;
- hyperparameters arrive as flags rendered by the launcher: keys sorted, one-letter keys with ONE dash
  (``-C 2.0``), others ``--name value``, values ``str()`` of the JSON-decoded hyperparameter (``True``,
  ``1000.0``). Every hyperparameter has a default, so an empty set trains the default model;
- metric lines ``<split>:<metric>=<value>`` on stdout for the job's metric definitions;
- on failure, a one-paragraph reason in ``$SM_OUTPUT_DIR/failure`` (``/opt/ml/output/failure``), which the
  sagemaker-training launcher keeps as the job's FailureReason, and the same reason as the LAST line the script
  prints (after any traceback), so the log ends with it whichever launcher runs the script; exit 2 for bad input
  or hyperparameters, 1 for anything else;
- the inference code (every module of this folder but this script) is copied into ``<model dir>/code/``, so it
  ships inside ``model.tar.gz`` and a network-isolated endpoint needs no download (``SAGEMAKER_SUBMIT_DIRECTORY``
  is ``/opt/ml/model/code``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import joblib
import linear_scorer  # the serving fast path; model.joblib stays the reference artifact and the fallback
import numpy as np
import scipy
import script_mode  # the edges every recipe's train.py shares (code/, failure reason, exit codes)
import sentiment_model
import sklearn
from channels import ChannelData, ChannelError, read_channel
from pipeline_contracts import (  # at the root of sourcedir.tar.gz, beside this script (ds_on_aws/packaging.py)
    ACCURACY,
    F1,
    METRIC_NAMES,
    ROC_AUC,
    TEST,
    TRAIN,
    VALIDATION,
    VALIDATION_PREDICTIONS,
    metric_key,
)
from sentiment_model import ModelParams
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

MODEL_FILENAME = "model.joblib"
METRICS_FILENAME = "metrics.json"


class HyperparameterError(ValueError):
    """A hyperparameter is unknown or has an invalid value; the message names it."""


# --- hyperparameters ----------------------------------------------------------------------------------------
class _RaisingParser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and sys.exit(2); we want one clear message
        raise HyperparameterError(message)




def build_parser() -> argparse.ArgumentParser:
    """Flags for every :class:`ModelParams` field in both spellings, plus channel/model folders."""
    parser = _RaisingParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    defaults = ModelParams()
    for name in ModelParams.field_names():
        default = getattr(defaults, name)
        kind = type(default)
        spellings = {f"--{name}", f"--{name.replace('_', '-')}"}
        if len(name) == 1:
            spellings.add(f"-{name}")  # the launcher's spelling of one-letter keys
        parser.add_argument(
            *sorted(spellings),
            dest=name,
            type=script_mode.hyperparameter_type(script_mode.PARSERS[kind], name),
            default=default,
            metavar=kind.__name__.upper(),
            help=f"default: {default}",
        )
    parser.add_argument(
        "--eval_train",
        "--eval-train",
        dest="eval_train",
        type=script_mode.hyperparameter_type(script_mode.parse_bool, "eval_train"),
        default=False,
        help="also report train metrics (costs one more pass over the training data); default: false",
    )
    env = os.environ
    parser.add_argument("--train", default=env.get("SM_CHANNEL_TRAIN"), help="train channel folder")
    parser.add_argument("--validation", default=env.get("SM_CHANNEL_VALIDATION"), help="validation channel folder")
    parser.add_argument("--test", default=env.get("SM_CHANNEL_TEST"), help="optional test channel folder")
    parser.add_argument("--model-dir", "--model_dir", dest="model_dir", default=env.get("SM_MODEL_DIR"))
    return parser


def parse_hyperparameters(argv: list[str]) -> tuple[ModelParams, argparse.Namespace]:
    """Parse flags; unknown flags and invalid values raise :class:`HyperparameterError`."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flags = [item for item in unknown if item.startswith("-")] or unknown
        known = ", ".join(ModelParams.field_names())
        raise HyperparameterError(f"unknown hyperparameter(s): {' '.join(flags)} (known: {known}, eval_train)")
    params = ModelParams(**{name: getattr(args, name) for name in ModelParams.field_names()})
    try:
        params.validate()
    except ValueError as error:
        raise HyperparameterError(f"invalid hyperparameters: {error}") from None
    return params, args


# --- evaluation ---------------------------------------------------------------------------------------------
def evaluate(model, data: ChannelData) -> dict[str, float]:
    """accuracy, F1 (positive class) and ROC AUC of ``model`` on a labeled channel."""
    y = np.asarray(data.labels)
    proba = sentiment_model.positive_probability(model, data.texts)
    predicted = (proba >= 0.5).astype(int)
    metrics = {ACCURACY: float(accuracy_score(y, predicted)), F1: float(f1_score(y, predicted))}
    # ROC AUC is undefined on a one-class split (possible for a small test channel): report it as absent.
    if len(set(data.labels)) == 2:
        metrics[ROC_AUC] = float(roc_auc_score(y, proba))
    return metrics


def output_data_dir() -> Path | None:
    """``SM_OUTPUT_DATA_DIR`` (always set by SageMaker and the offline runner), else ``<SM_OUTPUT_DIR>/data``."""
    if os.environ.get("SM_OUTPUT_DATA_DIR"):
        return Path(os.environ["SM_OUTPUT_DATA_DIR"])
    return Path(os.environ["SM_OUTPUT_DIR"]) / "data" if os.environ.get("SM_OUTPUT_DIR") else None


def write_validation_predictions(model, data: ChannelData, output_data_dir: Path | None) -> dict | None:
    """Per-review validation predictions and the time they took, for the run's evaluation report.

    Written to ``SM_OUTPUT_DATA_DIR`` (SageMaker uploads it as the job's ``output/output.tar.gz``): the evaluation
    compares the model with the managed baseline on the same reviews, by ``review_id``. Outside a job (no output
    folder in the environment) nothing is written.
    """
    if output_data_dir is None:
        print("no SM_OUTPUT_DATA_DIR: validation predictions not written", flush=True)
        return None
    wall = time.perf_counter()
    proba = sentiment_model.positive_probability(model, data.texts)
    seconds = time.perf_counter() - wall
    document = {
        "reviews": len(data),
        "predict_seconds": round(seconds, 6),
        "threshold": 0.5,
        "predictions": [
            {"review_id": review_id, "label": label, "positive_probability": round(float(p), 6)}
            for review_id, label, p in zip(data.review_ids, data.labels, proba, strict=True)
            if review_id is not None
        ],
    }
    output_data_dir.mkdir(parents=True, exist_ok=True)
    (output_data_dir / VALIDATION_PREDICTIONS).write_text(json.dumps(document) + "\n", encoding="utf-8")
    return {"reviews": len(data), "predict_seconds": document["predict_seconds"]}


def format_metric_lines(split: str, metrics: dict[str, float]) -> list[str]:
    """``<split>:<metric>=<value>`` lines, matched by the regex ``<split>:<metric>=([0-9.]+)``."""
    return [f"{metric_key(split, name)}={metrics[name]:.6f}" for name in METRIC_NAMES if name in metrics]


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


# --- the job ------------------------------------------------------------------------------------------------
def run(argv: list[str]) -> dict:
    """Train, evaluate and save; return the content of metrics.json."""
    params, args = parse_hyperparameters(argv)
    if not args.model_dir:
        raise HyperparameterError("no model folder: set SM_MODEL_DIR or pass --model-dir <folder>")
    train = read_channel(TRAIN, args.train)
    validation = read_channel(VALIDATION, args.validation)
    test = read_channel(TEST, args.test, require_both_classes=False) if args.test else None
    print(
        f"read train={len(train)} validation={len(validation)}"
        + (f" test={len(test)}" if test else "")
        + f" rows; hyperparameters: {json.dumps(params.as_dict(), sort_keys=True)}",
        flush=True,
    )

    model = sentiment_model.build_model(params)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(train.texts, np.asarray(train.labels))
    fit_seconds, fit_cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    sentiment_model.compact(model)

    splits = {VALIDATION: validation} | ({TEST: test} if test else {})
    if args.eval_train:
        splits = {TRAIN: train} | splits
    metrics = {}
    for split, data in splits.items():
        metrics[split] = evaluate(model, data)
        for line in format_metric_lines(split, metrics[split]):
            print(line, flush=True)

    timing = write_validation_predictions(model, validation, output_data_dir())
    report = {
        "model": "nb_logreg_word_char_ngrams",
        "validation_predict_seconds": timing and timing["predict_seconds"],
        "metrics": metrics,
        "hyperparameters": params.as_dict() | {"eval_train": args.eval_train},
        "rows": {
            name: len(data) for name, data in ((TRAIN, train), (VALIDATION, validation), (TEST, test)) if data
        },
        "fit_seconds": round(fit_seconds, 3),
        "fit_cpu_seconds_main_process": round(fit_cpu_seconds, 3),
        "n_features": int(model.named_steps["nb"].n_features_in_),
        "library_versions": library_versions(),
        "data_sha256": {data.name: data.sha256 for data in (train, validation, test) if data},
        "skipped_files": {
            data.name: data.skipped_files for data in (train, validation, test) if data and data.skipped_files
        },
    }
    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    bundled = bundle_inference_code(model_dir)
    report["inference_code"] = bundled
    joblib.dump(model, model_dir / MODEL_FILENAME, compress=3)

    try:
        linear_scorer.export(model, model_dir)
    except linear_scorer.UnsupportedModelError as error:
        print(f"no {linear_scorer.SCORER_FILENAME}, serving will load {MODEL_FILENAME}: {error}", flush=True)
    (model_dir / METRICS_FILENAME).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"saved {model_dir / MODEL_FILENAME} ({(model_dir / MODEL_FILENAME).stat().st_size} bytes); fit {fit_seconds:.1f} s"
    )
    return report


def bundle_inference_code(model_dir: Path, code_dir: Path | None = None) -> list[str]:
    """The model's ``code/``: every module beside this script (script_mode.bundle_inference_code)."""
    return script_mode.bundle_inference_code(model_dir, code_dir or Path(__file__).resolve().parent,
                                             Path(__file__).name)


def main(argv: list[str] | None = None) -> int:
    return script_mode.run_main(run, sys.argv[1:] if argv is None else argv, (HyperparameterError, ChannelError))


if __name__ == "__main__":
    sys.exit(main())
