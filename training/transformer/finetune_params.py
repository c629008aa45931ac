"""The transformer recipe's hyperparameters: names, defaults, validation, and the flags the launcher passes.

Every hyperparameter has a default, so an empty set fine-tunes the default model. They arrive as flags rendered by
the SageMaker training toolkit (sorted keys, ``--name value``, values ``str()`` of the JSON-decoded hyperparameter:
``2`` may arrive as ``2``, ``5e-5`` as ``5e-05``, ``true`` as ``True``); both ``--max_seq_length`` and
``--max-seq-length`` are accepted. Standard library only.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import script_mode

MIXED_PRECISION = ("auto", "fp16", "bf16", "no")
DEFAULT_CHECKPOINT_DIR = "/opt/ml/checkpoints"  # CheckpointConfig.LocalPath: SageMaker syncs it with S3


class HyperparameterError(ValueError):
    """A hyperparameter is unknown or has an invalid value; the message names it."""


@dataclass(frozen=True)
class FineTuneParams:
    """What the fine-tuning run does; ``model_name`` names the pretrained encoder (staged under that name)."""

    model_name: str = "distilbert-base-uncased"
    max_seq_length: int = 256
    batch_size: int = 16  # per device; the effective batch is batch_size x number of GPUs
    eval_batch_size: int = 64
    epochs: float = 2.0
    max_steps: int = -1  # > 0 caps the optimizer steps (quick runs); -1 lets ``epochs`` decide
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    mixed_precision: str = "auto"  # auto: fp16 on a GPU, full precision on a CPU
    checkpoint_steps: int = 500
    max_train_samples: int = 0  # > 0 fine-tunes on a deterministic subsample of the train channel

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def as_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        checks = [
            (bool(self.model_name.strip()), "model_name must not be empty"),
            (8 <= self.max_seq_length <= 8192, f"max_seq_length must be in [8, 8192], got {self.max_seq_length}"),
            (self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}"),
            (self.eval_batch_size >= 1, f"eval_batch_size must be at least 1, got {self.eval_batch_size}"),
            (self.epochs > 0, f"epochs must be positive, got {self.epochs}"),
            (self.max_steps == -1 or self.max_steps >= 1, f"max_steps must be -1 or positive, got {self.max_steps}"),
            (0 < self.learning_rate < 1, f"learning_rate must be in (0, 1), got {self.learning_rate}"),
            (0 <= self.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}"),
            (0 <= self.weight_decay < 1, f"weight_decay must be in [0, 1), got {self.weight_decay}"),
            (self.mixed_precision in MIXED_PRECISION,
             f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}, got {self.mixed_precision!r}"),
            (self.checkpoint_steps >= 1, f"checkpoint_steps must be at least 1, got {self.checkpoint_steps}"),
            (self.max_train_samples >= 0, f"max_train_samples must be 0 (all) or positive, got {self.max_train_samples}"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise HyperparameterError("invalid hyperparameters: " + "; ".join(problems))


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit 2; one clear message instead
        raise HyperparameterError(message)


def build_parser() -> argparse.ArgumentParser:
    """Flags for every hyperparameter in both spellings, plus the channel, model and checkpoint folders."""
    parser = _RaisingParser(description="Fine-tune a pretrained transformer for review sentiment", allow_abbrev=False)
    defaults = FineTuneParams()
    for name in FineTuneParams.field_names():
        default = getattr(defaults, name)
        parser.add_argument(*sorted({f"--{name}", f"--{name.replace('_', '-')}"}), dest=name,
                            type=script_mode.hyperparameter_type(script_mode.PARSERS[type(default)], name), default=default, help=f"default: {default}")
    env = os.environ
    for channel in ("train", "validation", "test", "pretrained"):
        parser.add_argument(f"--{channel}", default=env.get(f"SM_CHANNEL_{channel.upper()}"),
                            help=f"{channel} channel folder (default: SM_CHANNEL_{channel.upper()})")
    parser.add_argument("--model-dir", "--model_dir", dest="model_dir", default=env.get("SM_MODEL_DIR"))
    parser.add_argument("--checkpoint-dir", "--checkpoint_dir", dest="checkpoint_dir", default=DEFAULT_CHECKPOINT_DIR,
                        help="where checkpoints are written and resumed from (default: %(default)s)")
    return parser


def parse_hyperparameters(argv: list[str]) -> tuple[FineTuneParams, argparse.Namespace]:
    """Parse flags; unknown flags and invalid values raise :class:`HyperparameterError`."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        flags = [item for item in unknown if item.startswith("-")] or unknown
        known = ", ".join(FineTuneParams.field_names())
        raise HyperparameterError(f"unknown hyperparameter(s): {' '.join(flags)} (known: {known})")
    params = FineTuneParams(**{name: getattr(args, name) for name in FineTuneParams.field_names()})
    params.validate()
    return params, args


class PretrainedModelError(ValueError):
    """The pretrained weights or tokenizer cannot be found or loaded; the message says where it looked."""


def pretrained_folder(model_name: str, channel_dir: str | None) -> Path:
    """The folder holding the pretrained model: the ``pretrained`` channel, else ``model_name`` as a local folder."""
    for candidate, what in ((channel_dir, "the pretrained channel"), (model_name, "model_name")):
        if candidate and (Path(candidate) / "config.json").is_file():
            return Path(candidate)
        if candidate and Path(candidate).is_dir() and what == "the pretrained channel":
            held = sorted(p.name for p in Path(candidate).iterdir())[:10]
            raise PretrainedModelError(f"{what} {candidate} has no config.json (it holds: {held})")
    raise PretrainedModelError(
        f"no pretrained weights for {model_name!r}: the job is network-isolated, so they must arrive as the "
        "'pretrained' channel (stage them with `ds-on-aws stage-model NAME_OR_DIR`) or model_name must be a local "
        "folder with config.json"
    )
