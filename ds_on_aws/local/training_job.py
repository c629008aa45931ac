"""Stage 3, train: run ``training/train.py`` exactly as the SageMaker scikit-learn container launches it.

The job's code delivery comes from the same builder the state machine is rendered from
(:func:`ds_on_aws.sagemaker_jobs.training_job_spec`): the input channels are staged into ``input/data/<name>/``
as SageMaker copies them (the ``code`` channel included), and the code is taken from where
``sagemaker_submit_directory`` points. An ``s3://`` code location in a network-isolated job fails here as it fails
in the container (no network, no credentials), instead of being quietly replaced by a local folder.

What the container does (sagemaker-training's ``entry_point.run`` / ``mapping.to_cmd_args``):
extract ``sourcedir.tar.gz`` into ``/opt/ml/code``; JSON-decode every hyperparameter value when it can; drop the
``sagemaker_*`` ones; pass the rest as flags with sorted keys, ``-k`` for one-letter keys and ``--key`` otherwise,
values rendered with ``str()``; run ``python train.py <flags>`` in the code folder with the ``SM_*`` environment.
SageMaker then reads metrics from the log with the job's metric definitions (``<split>:<metric>=([0-9.]+)``,
the last match wins) and tars ``/opt/ml/model`` into ``model.tar.gz``. This module does the same on local folders.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_contracts import METRIC_NAMES, SPLITS, metric_key

from ds_on_aws.local.errors import EndpointError, TrainingError, UsageError
from ds_on_aws.packaging import TRAINING_DIR, build_sourcedir_tarball
from ds_on_aws.sagemaker_jobs import (
    CHECKPOINT_LOCAL_PATH,
    CONTAINER_ROOT,
    PRETRAINED_CHANNEL,
    ModelSpec,
    TrainingJobSpec,
    training_job_spec,
    transformer_training_job_spec,
)

ENTRY_POINT = "train.py"
CURRENT_HOST = "algo-1"
METRIC_SPLITS = SPLITS
# Exactly the training job's metric definitions (one regex per split:metric).
METRIC_DEFINITIONS = {metric_key(s, m): re.compile(rf"{metric_key(s, m)}=([0-9.]+)")
                      for s in METRIC_SPLITS for m in METRIC_NAMES}


def decode_hyperparameter(value: str):
    """What the launcher does with a value: ``json.loads`` when it parses (``true`` -> True, ``1e3`` -> 1000.0)."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def render_value(value) -> str:
    """sagemaker-training's ``to_cmd_args`` value: ``k=v,...`` for mappings, ``str()`` otherwise."""
    if hasattr(value, "items"):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return "" if value is None else str(value)


def render_hyperparameters(hyperparameters: Mapping[str, str]) -> list[str]:
    """The argument list the container passes to ``train.py`` (sorted keys; ``-C`` for one-letter keys)."""
    decoded = {k: decode_hyperparameter(v) for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    args: list[str] = []
    for key in sorted(decoded):
        args += [f"-{key}" if len(key) == 1 else f"--{key}", render_value(decoded[key])]
    return args


def parse_hyperparameter_flags(pairs: Iterable[str]) -> dict[str, str]:
    """``--hyperparameter K=V`` flags as a dict of strings (as the state machine input carries them)."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--hyperparameter expects KEY=VALUE, got {pair!r}")
        result[key.strip()] = value
    return result


def parse_metrics(lines: Iterable[str]) -> dict[str, float]:
    """The final value of every metric definition found in the log (SageMaker's FinalMetricDataList)."""
    found: dict[str, float] = {}
    for line in lines:
        for name, pattern in METRIC_DEFINITIONS.items():
            for match in pattern.finditer(line):
                try:
                    found[name] = float(match.group(1))
                except ValueError:
                    continue
    return found


@dataclass
class TrainingLayout:
    """The ``/opt/ml`` folders of one training job, under the run folder."""

    root: Path  # <run>/sagemaker  (stands for /opt/ml)
    model_dir: Path  # <run>/model   (SM_MODEL_DIR, what model.tar.gz holds)

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def sourcedir(self) -> Path:
        return self.root / "sourcedir.tar.gz"

    @property
    def log_file(self) -> Path:
        return self.root / "training.log"


@dataclass
class TrainingResult:
    metrics: dict[str, float]
    command: list[str]
    model_dir: Path
    log_file: Path
    hyperparameters: dict[str, str] = field(default_factory=dict)


def extract_tarball(tarball: Path, destination: Path) -> Path:
    """Extract a code or model tarball the way the container does, refusing members that escape the folder."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise UsageError(f"{tarball}: cannot extract ({exc})") from exc
    return destination


def training_environment(layout: TrainingLayout, channels: Mapping[str, Path], hyperparameters: Mapping[str, str],
                         user_args: list[str]) -> dict[str, str]:
    """The ``SM_*`` variables sagemaker-training sets for the user script (single host, CPU only).

    Every path is absolute, as ``/opt/ml/...`` is in the container: the script runs with the code folder as its
    working directory, so a relative path (``--output-dir runs``) would point somewhere else.
    """
    layout = TrainingLayout(root=Path(layout.root).resolve(), model_dir=Path(layout.model_dir).resolve())
    channels = {name: Path(path).resolve() for name, path in channels.items()}
    decoded = {k: decode_hyperparameter(v) for k, v in hyperparameters.items()}
    submit = decoded.pop("sagemaker_submit_directory", None)
    decoded = {k: v for k, v in decoded.items() if not k.startswith("sagemaker_")}  # SM_HPS holds the user's only
    num_cpus = os.cpu_count() or 1
    resource_config = {"current_host": CURRENT_HOST, "hosts": [CURRENT_HOST], "network_interface_name": "eth0"}
    input_data_config = {name: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                                "RecordWrapperType": "None"} for name in channels}
    env = {
        "SM_MODEL_DIR": str(layout.model_dir),
        "SM_INPUT_DIR": str(layout.input_dir),
        "SM_INPUT_CONFIG_DIR": str(layout.input_dir / "config"),
        "SM_OUTPUT_DIR": str(layout.output_dir),
        "SM_OUTPUT_DATA_DIR": str(layout.output_dir / "data"),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(layout.output_dir / "intermediate"),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(decoded, sort_keys=True, separators=(",", ":")),
        "SM_USER_ARGS": json.dumps(user_args),
        "SM_USER_ENTRY_POINT": ENTRY_POINT,
        "SM_MODULE_NAME": ENTRY_POINT[:-3],
        "SM_MODULE_DIR": _module_dir(layout, submit),
        "SM_FRAMEWORK_MODULE": "sagemaker_sklearn_container.training:main",
        "SM_CURRENT_HOST": CURRENT_HOST,
        "SM_HOSTS": json.dumps([CURRENT_HOST]),
        "SM_NETWORK_INTERFACE_NAME": "eth0",
        "SM_NUM_CPUS": str(num_cpus),
        "SM_NUM_GPUS": "0",
        "SM_LOG_LEVEL": "20",
        "SM_RESOURCE_CONFIG": json.dumps(resource_config, sort_keys=True, separators=(",", ":")),
        "SM_INPUT_DATA_CONFIG": json.dumps(input_data_config, sort_keys=True, separators=(",", ":")),
        "PYTHONUNBUFFERED": "1",
    }
    for name, path in channels.items():
        env[f"SM_CHANNEL_{name.upper()}"] = str(path)
    for key, value in decoded.items():
        env[f"SM_HP_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return env


def offline_training_spec(layout: TrainingLayout, channels: Mapping[str, Path],
                          training_dir: Path = TRAINING_DIR) -> TrainingJobSpec:
    """Build ``sourcedir.tar.gz`` (the exact bytes SageMaker gets) where the upload would put it, and the job's spec.

    ``layout.sourcedir`` stands for the code asset's S3 object; the spec is the state machine's
    (``training_job_spec`` with its defaults, network isolation on).
    """
    build_sourcedir_tarball(layout.sourcedir, training_dir)
    return training_job_spec(code_uri=str(layout.sourcedir.resolve()),
                             data_channels={name: str(Path(path).resolve()) for name, path in channels.items()})


def offline_transformer_spec(layout: TrainingLayout, channels: Mapping[str, Path],
                             training_dir: Path) -> TrainingJobSpec:
    """The transformer recipe's job spec for local folders (``channels`` includes ``pretrained``), code built here.

    Single host, no GPU: the offline job is not launched under ``torchrun`` (``distributed=False``).
    """
    build_sourcedir_tarball(layout.sourcedir, training_dir)
    data = {name: str(Path(path).resolve()) for name, path in channels.items() if name != PRETRAINED_CHANNEL}
    return transformer_training_job_spec(code_uri=str(layout.sourcedir.resolve()), data_channels=data,
                                         pretrained_uri=str(Path(channels[PRETRAINED_CHANNEL]).resolve()),
                                         distributed=False)


def checkpoint_hyperparameter(layout: TrainingLayout) -> dict[str, str]:
    """``checkpoint_dir``: the job's ``/opt/ml/checkpoints`` (CheckpointConfig.LocalPath) inside the run folder."""
    return {"checkpoint_dir": str(container_path(layout, CHECKPOINT_LOCAL_PATH).resolve())}


def stage_channels(layout: TrainingLayout, spec: TrainingJobSpec) -> dict[str, Path]:
    """Copy each channel into ``input/data/<name>/`` as SageMaker does before the container starts.

    A folder's files are linked in (they are only read); a single object (the code tarball) is copied under its
    own name, as an S3Prefix channel on one key delivers it.
    """
    staged: dict[str, Path] = {}
    for channel in spec.channels:
        source = channel.s3_uri
        if source.startswith("s3://"):
            raise UsageError(f"channel {channel.name!r}: the offline runner reads local folders, not {source}")
        source_path = Path(source)
        target = layout.input_dir / "data" / channel.name
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        if source_path.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source_path.resolve(), target_is_directory=True)
        elif source_path.is_file():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_path, target / source_path.name)
        else:
            raise UsageError(f"channel {channel.name!r}: {source} does not exist")
        staged[channel.name] = target
    return staged


def container_path(layout: TrainingLayout, path: str) -> Path:
    """The local file for an ``/opt/ml/...`` path of the container."""
    if not path.startswith(CONTAINER_ROOT + "/"):
        raise TrainingError(f"{path} is not a container path under {CONTAINER_ROOT}")
    return layout.root / path.removeprefix(CONTAINER_ROOT + "/")


def resolve_code(layout: TrainingLayout, spec: TrainingJobSpec) -> Path:
    """The code tarball the launcher would extract, or the error the launcher would end the job with."""
    submit = spec.submit_directory
    if submit.startswith("s3://"):
        if spec.network_isolation:
            raise TrainingError(
                "Framework Error: botocore.exceptions.NoCredentialsError: Unable to locate credentials "
                f"(the job is network-isolated: the launcher cannot download sagemaker_submit_directory={submit}; "
                "the code must arrive as the 'code' input channel)"
            )
        raise TrainingError(f"the offline runner cannot download sagemaker_submit_directory={submit}")
    tarball = container_path(layout, submit)
    if not tarball.is_file():
        raise TrainingError(f"sagemaker_submit_directory={submit}: no such file in the container (empty /opt/ml/code)")
    return tarball


def _module_dir(layout: TrainingLayout, submit: object) -> str:
    """``SM_MODULE_DIR``: the submit directory, as a local path when it is a container path."""
    if isinstance(submit, str) and submit.startswith(CONTAINER_ROOT + "/"):
        return str(container_path(layout, submit))
    return str(submit) if submit else str(layout.sourcedir)


def resolve_serving_code(model_dir: Path, spec: ModelSpec, destination: Path) -> Path:
    """Copy the inference code where the serving stack takes it from (``SAGEMAKER_SUBMIT_DIRECTORY``).

    ``/opt/ml/model/...`` is a folder of the extracted ``model.tar.gz``; an ``s3://`` location fails as it does
    for a network-isolated model in the cloud (the serving stack exits before ``/ping`` answers).
    """
    submit = spec.submit_directory
    if submit.startswith("s3://"):
        why = "the model is network-isolated" if spec.network_isolation else "the offline runner has no S3"
        raise EndpointError(f"SAGEMAKER_SUBMIT_DIRECTORY={submit} cannot be downloaded ({why}); "
                            "the inference code must ship inside model.tar.gz")
    source = Path(model_dir) / submit.removeprefix(f"{CONTAINER_ROOT}/model").lstrip("/")
    if not (source / spec.program).is_file():
        raise EndpointError(f"SAGEMAKER_SUBMIT_DIRECTORY={submit}: {spec.program} is not in the model "
                            f"({source} holds {sorted(p.name for p in source.iterdir()) if source.is_dir() else []})")
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination)
    return destination


def prepare(layout: TrainingLayout, spec: TrainingJobSpec, hyperparameters: Mapping[str, str]) -> dict[str, Path]:
    """Stage the channels, extract the code where the spec says it is, write ``/opt/ml/input/config``."""
    for folder in (layout.input_dir / "config", layout.output_dir / "data", layout.model_dir):
        folder.mkdir(parents=True, exist_ok=True)
    if layout.code_dir.exists():
        shutil.rmtree(layout.code_dir)
    staged = stage_channels(layout, spec)
    extract_tarball(resolve_code(layout, spec), layout.code_dir)
    config = layout.input_dir / "config"
    (config / "hyperparameters.json").write_text(json.dumps(dict(hyperparameters), indent=2, sort_keys=True))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": CURRENT_HOST, "hosts": [CURRENT_HOST]}))
    (config / "inputdataconfig.json").write_text(json.dumps({name: {"TrainingInputMode": "File"} for name in staged}))
    return staged


def run_training(layout: TrainingLayout, hyperparameters: Mapping[str, str], channels: Mapping[str, Path],
                 echo: Callable[[str], None] = print, training_dir: Path = TRAINING_DIR,
                 spec: TrainingJobSpec | None = None) -> TrainingResult:
    """Run ``python train.py <flags>`` in the code folder, stream its output, and parse its metric lines.

    ``spec`` defaults to the state machine's spec for these channels (:func:`offline_training_spec`); the
    hyperparameters get its script-mode keys on top, as the state machine merges them.
    """
    if spec is None and PRETRAINED_CHANNEL in channels:
        spec = offline_transformer_spec(layout, channels, training_dir)
    spec = spec or offline_training_spec(layout, channels, training_dir)
    hyperparameters = spec.hyperparameters(hyperparameters)
    staged = prepare(layout, spec, hyperparameters)
    args = render_hyperparameters(hyperparameters)
    command = [sys.executable, spec.program, *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_") and k != "PYTHONPATH"}
    env.update(training_environment(layout, staged, hyperparameters, args))
    code, lines = _run_streaming(command, layout, env, echo)
    if code != 0:
        reason = _failure_reason(layout, lines)
        raise TrainingError(f"training failed (exit {code}): {reason} (log: {layout.log_file})")
    metrics = parse_metrics(lines)
    return TrainingResult(metrics=metrics, command=command, model_dir=layout.model_dir, log_file=layout.log_file,
                          hyperparameters=dict(hyperparameters))


def _run_streaming(command: list[str], layout: TrainingLayout, env: dict[str, str],
                   echo: Callable[[str], None]) -> tuple[int, list[str]]:
    lines: list[str] = []
    with open(layout.log_file, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=layout.code_dir, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            lines.append(line)
            echo("    | " + line.rstrip("\n"))
        return process.wait(), lines


def _failure_reason(layout: TrainingLayout, lines: list[str]) -> str:
    """The reason the script wrote to ``/opt/ml/output/failure`` (as SageMaker's FailureReason), else its last line."""
    failure = layout.output_dir / "failure"
    if failure.is_file():
        text = failure.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return text.splitlines()[-1] if len(text) > 500 else text
    tail = [line.strip() for line in lines if line.strip()]
    return tail[-1] if tail else "no output"


def package_model(model_dir: Path, destination: Path) -> Path:
    """``model.tar.gz`` as SageMaker builds it: the contents of ``/opt/ml/model`` at the archive root.

    Deterministic (sorted names, zero mtimes and owners) so the same model gives the same bytes.
    """
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    if not files:
        raise TrainingError(f"training wrote no files to SM_MODEL_DIR ({model_dir})")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            info = tarfile.TarInfo(path.relative_to(model_dir).as_posix())
            info.size = path.stat().st_size
            info.mtime, info.mode, info.uid, info.gid = 0, 0o644, 0, 0
            info.uname = info.gname = "root"
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(destination, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())
    return destination
