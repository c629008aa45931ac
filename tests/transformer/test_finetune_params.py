"""The recipe's hyperparameters as the launcher passes them (standard library only: no torch needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "training" / "transformer"))

from finetune_params import FineTuneParams, HyperparameterError, parse_hyperparameters  # noqa: E402

from ds_on_aws.local.training_job import render_hyperparameters  # noqa: E402


def test_an_empty_set_trains_the_defaults():
    params, args = parse_hyperparameters([])
    assert params == FineTuneParams() and args.checkpoint_dir == "/opt/ml/checkpoints"


def test_values_as_the_launcher_renders_them():
    argv = render_hyperparameters({"epochs": "3", "learning_rate": "5e-5", "max_steps": "1e3", "model_name": "x",
                                   "sagemaker_program": "train.py"})
    params, _ = parse_hyperparameters(argv)
    assert (params.epochs, params.learning_rate, params.max_steps, params.model_name) == (3.0, 5e-5, 1000, "x")
    assert parse_hyperparameters(["--max-seq-length", "64"])[0].max_seq_length == 64


@pytest.mark.parametrize(("argv", "message"), [
    (["--epochs", "zero"], "invalid value for hyperparameter epochs"),
    (["--max_steps", "2.5"], "is not a whole number"),
    (["--learning_rate", "nan"], "is not a finite number"),
    (["--mixed_precision", "fp8"], "mixed_precision must be one of auto, fp16, bf16, no"),
    (["--max_seq_length", "4", "--batch_size", "0"], "max_seq_length must be in [8, 8192], got 4; batch_size"),
    (["-C", "1.0"], "unknown hyperparameter(s): -C"),
])
def test_bad_values_are_refused_by_name(argv, message):
    with pytest.raises(HyperparameterError) as error:
        parse_hyperparameters(argv)
    assert message in str(error.value)
