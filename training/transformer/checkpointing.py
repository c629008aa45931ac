"""Checkpoints of the transformer recipe: which job they belong to, and the last one to resume from.

SageMaker copies ``/opt/ml/checkpoints`` to the job's ``CheckpointConfig.S3Uri`` while it runs and back into a
restarted managed-spot job before the script starts. The Hugging Face Trainer writes ``checkpoint-<step>/`` folders
there (weights, optimizer, scheduler, RNG states, trainer state); this module adds ``job_signature.json`` so that a
folder holding another job's checkpoints (other hyperparameters, other data) is refused rather than silently
resumed. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from finetune_params import FineTuneParams, HyperparameterError

SIGNATURE_FILENAME = "job_signature.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class CheckpointMismatch(HyperparameterError):
    """The checkpoint folder holds checkpoints of a different job (the message says what differs)."""


def job_signature(params: FineTuneParams, splits: dict) -> dict:
    """What must be equal for a checkpoint to be resumed: every hyperparameter and the data of every channel."""
    return {"hyperparameters": params.as_dict(), "data_sha256": {name: data.sha256 for name, data in splits.items()}}


def is_main_process() -> bool:
    """Rank 0 of a ``torchrun`` launch, or the only process."""
    return os.environ.get("RANK", "0") == "0"


def check_signature(checkpoint_dir: Path, signature: dict) -> None:
    """Refuse a checkpoint folder of another job; record this job's signature in a fresh one."""
    path = Path(checkpoint_dir) / SIGNATURE_FILENAME
    if path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        if recorded != signature:
            differs = sorted(
                f"{section}.{key}"
                for section in ("hyperparameters", "data_sha256")
                for key in set(recorded.get(section, {})) | set(signature[section])
                if recorded.get(section, {}).get(key) != signature[section].get(key)
            )
            raise CheckpointMismatch(
                f"the checkpoint folder {checkpoint_dir} holds checkpoints of another job (differs in: "
                f"{', '.join(differs) or 'layout'}); use a new checkpoint location or empty this one"
            )
        return
    if is_main_process():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(signature, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def last_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The complete ``checkpoint-<step>`` folder with the highest step (one interrupted mid-write is skipped)."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return None
    complete = []
    for child in root.iterdir():
        match = _CHECKPOINT.match(child.name)
        # The Trainer writes trainer_state.json last: a folder without it was cut off while being written.
        if match and child.is_dir() and (child / "trainer_state.json").is_file():
            complete.append((int(match.group(1)), child))
    return max(complete)[1] if complete else None


def checkpoint_step(checkpoint: Path) -> int:
    match = _CHECKPOINT.match(Path(checkpoint).name)
    if not match:
        raise ValueError(f"{checkpoint} is not a checkpoint-<step> folder")
    return int(match.group(1))
