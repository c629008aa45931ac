"""The fine-tuned tiny transformer, trained once per session through the container contract.

``trained_transformer`` runs ``training/transformer/train.py`` with ``ds_on_aws.local.training_job.run_training``
(the job spec of ``ds_on_aws.sagemaker_jobs``, channels staged as SageMaker stages them, flags rendered as the
launcher renders them, the ``SM_*`` environment) on synthetic reviews with the tiny pretrained model of
``tiny_model.py`` as the ``pretrained`` channel. Skipped, with the reason, when torch or transformers is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.training.sm_helpers import make_reviews, write_channel

TORCH_MISSING = "the transformer recipe's packages are not installed (pip install -r requirements-transformer.txt)"
# Verified to learn the synthetic reviews on CPU (the tiny model's escape from its initial plateau depends on the seed).
TINY_HYPERPARAMETERS = {"max_steps": "40", "checkpoint_steps": "20", "batch_size": "16", "learning_rate": "0.005",
                        "warmup_ratio": "0", "max_seq_length": "64", "seed": "42"}


def require_transformer_stack() -> None:
    pytest.importorskip("torch", reason=TORCH_MISSING)
    pytest.importorskip("transformers", reason=TORCH_MISSING)


@dataclass
class TrainedTransformer:
    root: Path
    channels: dict[str, Path]
    model_dir: Path
    checkpoint_dir: Path
    log: str
    metrics: dict[str, float]


def run_transformer_job(root: Path, channels: dict[str, Path], hyperparameters: dict[str, str], checkpoint_dir: Path):
    """One training job of the recipe under the container contract (raises TrainingError when it fails)."""
    from ds_on_aws.local import training_job
    from ds_on_aws.packaging import TRANSFORMER_DIR

    layout = training_job.TrainingLayout(root / "sagemaker", root / "model")
    hyperparameters = {**hyperparameters, "checkpoint_dir": str(checkpoint_dir)}
    result = training_job.run_training(layout, hyperparameters, channels, echo=lambda line: None,
                                       training_dir=TRANSFORMER_DIR)
    return result, layout.log_file.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def tiny_pretrained(tmp_path_factory) -> Path:
    require_transformer_stack()
    from tests.transformer.tiny_model import build_tiny_pretrained

    return build_tiny_pretrained(tmp_path_factory.mktemp("pretrained") / "tiny-distilbert")


@pytest.fixture(scope="session")
def transformer_channels(tmp_path_factory, tiny_pretrained) -> dict[str, Path]:
    data = tmp_path_factory.mktemp("channels")
    return {"train": write_channel(data / "train", make_reviews(300, seed=1)),
            "validation": write_channel(data / "validation", make_reviews(60, seed=2)),
            "pretrained": tiny_pretrained}


@pytest.fixture(scope="session")
def trained_transformer(tmp_path_factory, transformer_channels) -> TrainedTransformer:
    root = tmp_path_factory.mktemp("transformer-job")
    result, log = run_transformer_job(root, transformer_channels, TINY_HYPERPARAMETERS, root / "checkpoints")
    return TrainedTransformer(root, transformer_channels, result.model_dir, root / "checkpoints", log, result.metrics)


def load_handlers(code_dir: Path, name: str):
    """The recipe's ``inference.py`` of ``code_dir`` as module ``name`` (the linear recipe owns ``inference``)."""
    import importlib.util
    import sys

    if name in sys.modules:
        return sys.modules[name]
    if str(code_dir) not in sys.path:
        sys.path.append(str(code_dir))  # after training/: its own helpers only, never the linear modules' names
    spec = importlib.util.spec_from_file_location(name, code_dir / "inference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
