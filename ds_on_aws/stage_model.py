"""``ds-on-aws stage-model NAME_OR_DIR``: put pretrained weights where the transformer recipe's training job reads them.

The training job is network-isolated, so the weights cannot come from the model hub at training time: they are
staged once, from the user's machine, to ``s3://<artifacts bucket>/pretrained/<model name>/`` (the ``pretrained``
channel of the job, ``ds_on_aws.sagemaker_jobs.pretrained_model_prefix``). ``NAME_OR_DIR`` is a local model folder
(``config.json``, the weights, the tokenizer: what ``save_pretrained`` writes) or a hub model name, downloaded here
with ``huggingface_hub`` first. The objects are encrypted with the bucket's default key (the data key).
"""

from __future__ import annotations

from pathlib import Path

from ds_on_aws.local.errors import UsageError
from ds_on_aws.sagemaker_jobs import pretrained_model_prefix

REQUIRED_FILES = ("config.json",)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "spiece.model", "vocab.json")
# What a hub snapshot may hold that fine-tuning never reads (other frameworks' weights, ONNX exports).
SKIPPED_SUFFIXES = (".h5", ".msgpack", ".onnx", ".ot", ".tflite", ".mlmodel")


def check_model_folder(folder: Path) -> list[Path]:
    """The files to upload; a folder without a config, weights or a tokenizer is refused by name."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    names = {p.name for p in folder.iterdir()}
    missing = [what for what, options in (("config.json", REQUIRED_FILES), ("weights (" + ", ".join(WEIGHT_FILES[:2])
               + ")", WEIGHT_FILES), ("a tokenizer (" + ", ".join(TOKENIZER_FILES[:2]) + ")", TOKENIZER_FILES))
               if not names & set(options)]
    if missing:
        raise UsageError(f"{folder} is not a model folder, it lacks: {'; '.join(missing)}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(SKIPPED_SUFFIXES) and ".cache" not in p.relative_to(folder).parts)


def fetch_from_hub(name: str, destination: Path) -> Path:
    """Download ``name`` from the model hub (the user's machine has the network the training job lacks)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise UsageError("fetching from the model hub needs huggingface_hub (pip install -r "
                         "requirements-transformer.txt), or pass a local model folder") from exc
    try:
        return Path(snapshot_download(repo_id=name, local_dir=destination,
                                      ignore_patterns=[f"*{suffix}" for suffix in SKIPPED_SUFFIXES]))
    except Exception as exc:  # noqa: BLE001 - the hub's errors are many; the message says which
        raise UsageError(f"cannot fetch {name!r} from the model hub: {exc}") from exc


def stage_model(source: str, bucket: str, *, name: str | None = None, s3_client=None, work_dir: Path | None = None,
                echo=print) -> str:
    """Upload the model folder (or hub model) ``source`` to ``s3://bucket/pretrained/<name>/``; return that URI."""
    folder = Path(source)
    if folder.exists():
        model_name = name or folder.resolve().name
    else:
        if work_dir is None:
            raise UsageError(f"{source} is not a local folder (and no download folder was given)")
        model_name = name or source
        folder = fetch_from_hub(source, work_dir / "snapshot")
    try:
        prefix = pretrained_model_prefix(model_name)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    files = check_model_folder(folder)
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    for path in files:
        key = prefix + path.relative_to(folder).as_posix()
        s3_client.upload_file(str(path), bucket, key)
        echo(f"  s3://{bucket}/{key} ({path.stat().st_size} bytes)")
    uri = f"s3://{bucket}/{prefix}"
    echo(f"staged {len(files)} files: train with {{\"recipe\": \"transformer\", \"hyperparameters\": "
         f"{{\"model_name\": \"{model_name}\"}}}} to use {uri}")
    return uri
