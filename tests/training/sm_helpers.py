"""Test helpers that reproduce the SageMaker scikit-learn container around ``train.py`` and ``inference.py``.

- :func:`render_hyperparameters` turns a CreateTrainingJob ``HyperParameters`` map (all strings) into the
  command line the training toolkit builds (sagemaker-training ``mapping.to_cmd_args``): each value is
  JSON-decoded when it can be, keys are sorted, a one-letter key gets ONE dash, values are ``str()``-ed
  (so ``"true"`` arrives as ``True``, ``"1e3"`` as ``1000.0``), ``sagemaker_*`` keys are not passed.
- :func:`run_training_job` lays out an ``/opt/ml``-like tree in a temp folder, unpacks the real
  ``sourcedir.tar.gz`` (``ds_on_aws.packaging``) into ``code/`` and runs ``python train.py <flags>`` there
  with the ``SM_*`` environment the toolkit sets.
- :func:`invoke` mirrors the serving path of sagemaker-containers (``_worker.Request`` +
  ``_transformer.Transformer``): the body is text only for exactly ``application/json``/``text/csv``, a
  missing Content-Type means JSON, a missing Accept means JSON, a handler exception becomes HTTP 500, a
  tuple becomes a 200 response, a Response object is passed through unchanged.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import tarfile
from pathlib import Path

from werkzeug.wrappers import Response

from ds_on_aws.local import training_job
from ds_on_aws.packaging import build_sourcedir_tarball
from ds_on_aws.sagemaker_jobs import SOURCEDIR_NAME, training_job_spec

UTF8_TYPES = ("application/json", "text/csv")  # sagemaker_containers._content_types.UTF8_TYPES


def _json_decoded(value: str):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def render_hyperparameters(hyperparameters: dict[str, str]) -> list[str]:
    """The argv the SageMaker training toolkit passes to the entry point."""
    decoded = {k: _json_decoded(v) for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    argv: list[str] = []
    for key in sorted(decoded):
        value = decoded[key]
        argv.append(f"--{key}" if len(key) > 1 else f"-{key}")
        if hasattr(value, "items"):
            argv.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            argv.append(str(value))
    return argv


POSITIVE_WORDS = ["great", "wonderful", "superb", "loved", "brilliant", "touching", "excellent", "masterpiece"]
NEGATIVE_WORDS = ["awful", "boring", "terrible", "waste", "dull", "worst", "horrible", "annoying"]
NEUTRAL_WORDS = [
    "movie",
    "film",
    "plot",
    "actor",
    "scene",
    "story",
    "director",
    "music",
    "ending",
    "cast",
    "the",
    "a",
    "was",
    "and",
    "it",
    "this",
    "of",
    "with",
    "very",
    "really",
]


def make_reviews(count: int, seed: int = 0, noise: float = 0.1) -> list[dict]:
    """Synthetic curated records with a learnable signal (sentiment words) and a little label noise."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        label = index % 2
        signal = POSITIVE_WORDS if label else NEGATIVE_WORDS
        other = NEGATIVE_WORDS if label else POSITIVE_WORDS
        words = [rng.choice(NEUTRAL_WORDS) for _ in range(rng.randint(8, 25))]
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(signal))
        if rng.random() < noise:
            words.insert(rng.randrange(len(words) + 1), rng.choice(other))
        text = " ".join(words)
        if rng.random() < 0.2:
            text = text.replace(" ", " <br /> ", 1)
        records.append({"review_id": f"r{seed}-{index}", "text": text, "label": label, "rating": None})
    rng.shuffle(records)
    return records


def write_channel(folder: Path, records: list[dict], parts: int = 2, gz: bool = True) -> Path:
    """Write records the way the Glue job does: several ``part-*.json[.gz]`` files plus a ``_SUCCESS`` marker."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".json.gz" if gz else ".json"
    for part in range(parts):
        chunk = records[part::parts]
        payload = "".join(json.dumps(r) + "\n" for r in chunk).encode("utf-8")
        path = folder / f"part-{part:05d}-c000{suffix}"
        path.write_bytes(gzip.compress(payload, mtime=0) if gz else payload)
    (folder / "_SUCCESS").write_bytes(b"")
    return folder


def sagemaker_layout(root: Path) -> dict[str, Path]:
    """``/opt/ml``-like folders under ``root``, the real code package delivered as the state machine's spec says.

    The tarball is "uploaded" (``s3/``), staged as the job's ``code`` channel and extracted from where
    ``sagemaker_submit_directory`` points (``ds_on_aws.sagemaker_jobs``, the builder of the synthesized task).
    """
    dirs = {name: root / name for name in ("code", "model", "output", "input/data")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    tarball = build_sourcedir_tarball(root / "s3" / SOURCEDIR_NAME)
    spec = training_job_spec(code_uri=str(tarball), data_channels={})
    layout = training_job.TrainingLayout(root=root, model_dir=dirs["model"])
    training_job.stage_channels(layout, spec)
    with tarfile.open(training_job.resolve_code(layout, spec)) as tar:
        tar.extractall(dirs["code"], filter="data")
    return dirs


def run_training_job(
    root: Path,
    channels: dict[str, list[dict] | Path],
    hyperparameters: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``train.py`` as the container would; ``channels`` maps a channel name to records or a ready folder."""
    dirs = sagemaker_layout(root)
    hyperparameters = hyperparameters or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env.pop("PYTHONPATH", None)  # the container has only /opt/ml/code (the cwd) on the path for the script
    for name, source in channels.items():
        folder = source if isinstance(source, Path) else write_channel(dirs["input/data"] / name, source)
        env[f"SM_CHANNEL_{name.upper()}"] = str(folder)
    env.update(
        {
            "SM_MODEL_DIR": str(dirs["model"]),
            "SM_OUTPUT_DIR": str(dirs["output"]),
            "SM_OUTPUT_DATA_DIR": str(dirs["output"] / "data"),
            "SM_NUM_CPUS": "2",
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps({k: _json_decoded(v) for k, v in hyperparameters.items()}),
        }
    )
    argv = render_hyperparameters(hyperparameters)
    return subprocess.run(
        [sys.executable, "train.py", *argv], cwd=dirs["code"], env=env, capture_output=True, text=True, timeout=timeout
    )


def invoke(handlers, model, body: bytes, content_type: str | None = None, accept: str | None = None) -> Response:
    """One POST /invocations through the handler chain exactly as the container's worker runs it."""
    content_type = content_type or "application/json"
    accept = accept or "application/json"
    content = body.decode("utf-8", errors="replace") if content_type in UTF8_TYPES else body
    try:
        data = handlers.input_fn(content, content_type)
        prediction = handlers.predict_fn(data, model)
        result = handlers.output_fn(prediction, accept)
    except Exception as error:  # the container answers 500 (HTML) for any exception: that is a test failure
        return Response(f"500 Internal Server Error: {type(error).__name__}: {error}", status=500, mimetype="text/html")
    if isinstance(result, tuple):
        return Response(response=result[0], mimetype=result[1])
    return result
