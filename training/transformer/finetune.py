"""The fine-tuning itself: tokenize the channels, run the Hugging Face Trainer, evaluate, save model + tokenizer.

The Trainer brings what the recipe needs from a training loop: checkpoints with everything needed to resume
(``resume_from_checkpoint``), fp16 autocast with loss scaling on a GPU, and DistributedDataParallel when the script
runs under ``torchrun`` (one process per GPU; only rank 0 saves and reports). Evaluation uses ``Trainer.predict``,
which gathers the predictions of every process, and numpy for the metrics (the image needs no scikit-learn).
"""

from __future__ import annotations

import math
import os
import platform
import random
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import checkpointing
import numpy as np
import torch
import transformers
from finetune_params import HyperparameterError, PretrainedModelError
from pipeline_contracts import ACCURACY, F1, METRIC_NAMES, ROC_AUC, TRAIN, metric_key
from review_text import LABEL_NAMES
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

ID2LABEL = {index: name for index, name in sorted(LABEL_NAMES.items())}
LABEL2ID = {name: index for index, name in ID2LABEL.items()}
KEEP_CHECKPOINTS = 2  # the last one plus the one before it, in case the last was cut off while being copied


class _Encoded(torch.utils.data.Dataset):
    """Tokenized texts and labels; padding is left to the collator (per batch)."""

    def __init__(self, tokenizer, texts: list[str], labels: list[int], max_length: int):
        self.encodings = tokenizer(texts, truncation=True, max_length=max_length)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        item = {key: values[index] for key, values in self.encodings.items()}
        item["labels"] = self.labels[index]
        return item


class _EpochTimer(TrainerCallback):
    """Wall time of each epoch (the part of it run in this process, when resumed mid-epoch)."""

    def __init__(self):
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.seconds.append(round(time.perf_counter() - self._start, 3))


@dataclass
class Outcome:
    is_main_process: bool
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


def subsample(texts: list[str], labels: list[int], limit: int, seed: int) -> tuple[list[str], list[int]]:
    """A deterministic subsample of ``limit`` rows (all rows when ``limit`` is 0 or not smaller)."""
    if not limit or limit >= len(texts):
        return texts, labels
    chosen = sorted(random.Random(seed).sample(range(len(texts)), limit))
    return [texts[i] for i in chosen], [labels[i] for i in chosen]


def precision_flags(mode: str) -> dict[str, bool]:
    """TrainingArguments' ``fp16``/``bf16`` for ``mixed_precision`` on this machine (auto: fp16 on a GPU)."""
    cuda = torch.cuda.is_available()
    if mode in ("fp16", "bf16") and not cuda:
        raise HyperparameterError(f"mixed_precision={mode} needs a GPU; use auto or no on a CPU")
    return {"fp16": mode == "fp16" or (mode == "auto" and cuda), "bf16": mode == "bf16"}


def training_arguments(params, checkpoint_dir: Path, train_rows: int) -> TrainingArguments:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps_per_epoch = math.ceil(train_rows / (params.batch_size * world))
    total_steps = params.max_steps if params.max_steps > 0 else math.ceil(params.epochs * steps_per_epoch)
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.eval_batch_size,
        num_train_epochs=params.epochs,
        max_steps=params.max_steps,
        learning_rate=params.learning_rate,
        warmup_steps=int(params.warmup_ratio * total_steps),
        weight_decay=params.weight_decay,
        seed=params.seed,
        data_seed=params.seed,
        save_strategy="steps",
        save_steps=params.checkpoint_steps,
        save_total_limit=KEEP_CHECKPOINTS,
        logging_steps=max(1, min(50, params.checkpoint_steps)),
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False,
        dataloader_pin_memory=torch.cuda.is_available(),
        **precision_flags(params.mixed_precision),
    )


def load_pretrained(folder: Path, max_length: int):
    """(tokenizer, model) from the pretrained folder, with a fresh two-label head named as the contract names."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, num_labels=2, id2label=ID2LABEL, label2id=LABEL2ID
        )
    except (OSError, ValueError, KeyError) as error:
        raise PretrainedModelError(f"cannot load the pretrained model from {folder}: {error}") from None
    if tokenizer.pad_token is None:
        raise PretrainedModelError(f"the tokenizer in {folder} has no padding token")
    tokenizer.model_max_length = max_length  # saved with the model: serving truncates exactly as training did
    return tokenizer, model


def fine_tune(params, pretrained: Path, splits: dict, checkpoint_dir: Path, model_dir: Path) -> Outcome:
    """Train (resuming from the last checkpoint when there is one), save, and evaluate every split but train."""
    transformers.utils.logging.disable_progress_bar()  # one bar per saved shard otherwise, in a log nobody scrolls
    transformers.set_seed(params.seed)
    tokenizer, model = load_pretrained(pretrained, params.max_seq_length)
    texts, labels = subsample(splits[TRAIN].texts, splits[TRAIN].labels, params.max_train_samples, params.seed)
    train_set = _Encoded(tokenizer, texts, labels, params.max_seq_length)
    timer = _EpochTimer()
    trainer = Trainer(model=model, args=training_arguments(params, checkpoint_dir, len(train_set)),
                      train_dataset=train_set, data_collator=DataCollatorWithPadding(tokenizer),
                      processing_class=tokenizer, callbacks=[timer])
    resume = checkpointing.last_checkpoint(checkpoint_dir)
    if resume is not None:
        print(f"resuming from {resume.name} (step {checkpointing.checkpoint_step(resume)})", flush=True)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    fit_seconds = time.perf_counter() - started
    trainer.save_model(str(model_dir))  # model + tokenizer (processing_class), written by the main process only
    (model_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle serving never reads (kept in checkpoints)
    outcome = Outcome(is_main_process=trainer.is_world_process_zero())
    for split, data in splits.items():
        if split == TRAIN:
            continue
        evaluation = _Encoded(tokenizer, data.texts, data.labels, params.max_seq_length)
        logits = trainer.predict(evaluation).predictions
        outcome.metrics[split] = binary_metrics(np.asarray(data.labels), positive_probability(logits))
        if outcome.is_main_process:
            for line in format_metric_lines(split, outcome.metrics[split]):
                print(line, flush=True)
    outcome.stats = _run_stats(trainer, result, timer, fit_seconds, resume, len(train_set))
    return outcome


def positive_probability(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True))[:, LABEL2ID["positive"]]


def binary_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """accuracy, F1 of the positive class and ROC AUC (absent on a one-class split), numpy only."""
    predicted = (proba >= 0.5).astype(int)
    tp = int(((predicted == 1) & (y == 1)).sum())
    fp = int(((predicted == 1) & (y == 0)).sum())
    fn = int(((predicted == 0) & (y == 1)).sum())
    metrics = {ACCURACY: float((predicted == y).mean()), F1: 2 * tp / (2 * tp + fp + fn) if tp else 0.0}
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    if positives and negatives:
        # Mann-Whitney U with average ranks for ties = the area under the ROC curve.
        order = np.argsort(proba, kind="mergesort")
        _, starts, counts = np.unique(proba[order], return_index=True, return_counts=True)
        ranks = np.empty(len(proba))
        ranks[order] = np.repeat(starts + (counts + 1) / 2, counts)
        metrics[ROC_AUC] = float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))
    return metrics


def format_metric_lines(split: str, metrics: dict[str, float]) -> list[str]:
    """``<split>:<metric>=<value>`` lines, matched by the job's metric definitions."""
    return [f"{metric_key(split, name)}={metrics[name]:.6f}" for name in METRIC_NAMES if name in metrics]


def peak_memory() -> dict[str, float]:
    """Peak resident memory of this process and, on a GPU, the peak memory PyTorch allocated on it (MiB)."""
    peak = {"process_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        peak["gpu_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak


def _run_stats(trainer, result, timer: _EpochTimer, fit_seconds: float, resume, train_rows: int) -> dict:
    state = trainer.state
    return {
        "train_rows": train_rows,
        "global_step": state.global_step,
        "epochs_completed": round(float(state.epoch or 0), 4),
        "resumed_from": resume.name if resume else None,
        "fit_seconds": round(fit_seconds, 3),
        "epoch_seconds": timer.seconds,
        "train_examples_per_second": result.metrics.get("train_samples_per_second"),
        "train_loss": result.metrics.get("train_loss"),
        "world_size": trainer.args.world_size,
        "device": str(trainer.args.device),
        "mixed_precision": "fp16" if trainer.args.fp16 else "bf16" if trainer.args.bf16 else "no",
        "peak_memory": peak_memory(),
    }


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__}


def build_report(params, splits: dict, outcome: Outcome) -> dict:
    """The content of metrics.json: the linear recipe's keys plus what a fine-tuning run adds."""
    return {
        "model": "transformer_sequence_classification",
        "base_model": params.model_name,
        "metrics": outcome.metrics,
        "hyperparameters": params.as_dict(),
        "rows": {name: len(data) for name, data in splits.items()},
        **outcome.stats,
        "library_versions": library_versions(),
        "data_sha256": {name: data.sha256 for name, data in splits.items()},
        "skipped_files": {name: data.skipped_files for name, data in splits.items() if data.skipped_files},
    }
