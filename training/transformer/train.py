"""SageMaker training entry point of the transformer recipe (Hugging Face PyTorch image): ``python train.py [flags]``.

Fine-tunes a pretrained encoder (``model_name``; DistilBERT by default) for binary review sentiment on the same
channels and with the same outputs as the linear recipe (docs/architecture.md, "Training"):

- channels ``train``, ``validation`` and optional ``test`` from ``SM_CHANNEL_<NAME>``, read by the shared
  ``channels.py`` (so the text is normalized by ``review_text.normalize_text`` as everywhere else); the pretrained
  weights and tokenizer from the ``pretrained`` channel (``SM_CHANNEL_PRETRAINED``): the job is network-isolated and
  ``HF_HUB_OFFLINE=1`` keeps transformers from ever trying the hub;
- checkpoints every ``checkpoint_steps`` optimizer steps in ``/opt/ml/checkpoints`` (CheckpointConfig.LocalPath,
  which SageMaker copies to S3 while the job runs and back when a managed-spot job restarts): a restarted job resumes
  from the last checkpoint (weights, optimizer, scheduler, RNG and data position) instead of starting over;
- mixed precision on a GPU (``mixed_precision=auto``), data-parallel over every GPU when the toolkit launches the
  script under ``torchrun`` (``sagemaker_torch_distributed_enabled``): the Hugging Face Trainer does both;
- metric lines ``<split>:<metric>=<value>`` and ``metrics.json``; the model saved with its tokenizer
  (``save_pretrained``: ``config.json``, ``model.safetensors``, tokenizer files) plus the inference code in
  ``code/``, as the Hugging Face inference image loads it;
- on failure the reason in ``/opt/ml/output/failure`` and as the last line printed; exit 2 for bad input or
  hyperparameters, 1 otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never reach for the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import checkpointing  # noqa: E402
import script_mode  # noqa: E402
from channels import ChannelError, read_channel  # noqa: E402
from finetune_params import (  # noqa: E402
    HyperparameterError,
    PretrainedModelError,
    parse_hyperparameters,
    pretrained_folder,
)
from pipeline_contracts import TEST, TRAIN, VALIDATION  # noqa: E402

METRICS_FILENAME = "metrics.json"


def run(argv: list[str]) -> dict:
    """Fine-tune, evaluate and save; return the content of metrics.json (``{}`` on the non-main processes)."""
    params, args = parse_hyperparameters(argv)
    if not args.model_dir:
        raise HyperparameterError("no model folder: set SM_MODEL_DIR or pass --model-dir <folder>")
    pretrained = pretrained_folder(params.model_name, args.pretrained)
    splits = {TRAIN: read_channel(TRAIN, args.train), VALIDATION: read_channel(VALIDATION, args.validation)}
    if args.test:
        splits[TEST] = read_channel(TEST, args.test, require_both_classes=False)
    checkpoint_dir = Path(args.checkpoint_dir)
    checkpointing.check_signature(checkpoint_dir, checkpointing.job_signature(params, splits))
    import finetune  # torch and transformers (seconds to import): only once the inputs are known to be usable

    outcome = finetune.fine_tune(params, pretrained, splits, checkpoint_dir, Path(args.model_dir))
    if not outcome.is_main_process:
        return {}
    model_dir = Path(args.model_dir)
    report = finetune.build_report(params, splits, outcome)
    report["inference_code"] = bundle_inference_code(model_dir)
    (model_dir / METRICS_FILENAME).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"saved {model_dir} ({', '.join(sorted(p.name for p in model_dir.iterdir()))})", flush=True)
    return report


def bundle_inference_code(model_dir: Path, code_dir: Path | None = None) -> list[str]:
    """The model's ``code/``: every module beside this script (script_mode.bundle_inference_code)."""
    return script_mode.bundle_inference_code(model_dir, code_dir or Path(__file__).resolve().parent,
                                             Path(__file__).name)


def main(argv: list[str] | None = None) -> int:
    return script_mode.run_main(run, sys.argv[1:] if argv is None else argv,
                                (HyperparameterError, ChannelError, PretrainedModelError))


if __name__ == "__main__":
    sys.exit(main())
