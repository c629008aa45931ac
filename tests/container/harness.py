"""Run training jobs and the serving stack on the image's own Python packages (``.venv-container``).

Everything the toolkits read under ``/opt/ml`` is relocated by ``SAGEMAKER_BASE_DIR`` (sagemaker-training's
``environment`` and sagemaker-containers' ``_env`` both derive every folder from it), so each job or server gets a
private base folder and tests can run side by side without root. The only literal ``/opt/ml`` paths left are the
values the specs carry (``sagemaker_submit_directory``, ``SAGEMAKER_SUBMIT_DIRECTORY``); :func:`relocate` maps
them into the base folder and leaves ``s3://`` untouched.

Network isolation is emulated: the child sees no AWS credentials (``AWS_SHARED_CREDENTIALS_FILE`` and
``AWS_CONFIG_FILE`` are ``/dev/null``, no ``AWS_*`` key, no instance metadata) and only a whitelisted environment.
Every job is built by ``ds_on_aws.sagemaker_jobs`` (``training_job_spec``, ``endpoint_model_spec``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ds_on_aws.local.training_job import package_model
from ds_on_aws.sagemaker_jobs import CONTAINER_ROOT, ModelSpec, TrainingJobSpec

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-container"
PYTHON = VENV / "bin" / "python"
IMAGE_GLUE_DIR = Path(__file__).resolve().parent / "image"
GLUE_SCRIPT = IMAGE_GLUE_DIR / "sklearn_image.py"
TRAINING_MODULE = "sklearn_image:train"
SERVING_MODULE = "sklearn_image:app"
# sagemaker-containers' own `train` command, the launcher the image also has on PATH.
LEGACY_LAUNCHER = ("python3", "-m", "sagemaker_containers.cli.train")
# SageMaker names the host algo-1 and puts it in /etc/hosts; the launcher waits (up to 15 minutes) until every
# host resolves, so the tier uses a name that always does.
CURRENT_HOST = "localhost"


def missing_reason() -> str | None:
    """Why the tier cannot run here (None when it can)."""
    if not PYTHON.is_file():
        return f"{VENV.name} is missing: build it with `make container-venv` (Python 3.12 and the image's packages)"
    return None


def relocate(value: str, base: Path) -> str:
    """A container path ``/opt/ml/...`` as the same path under ``base``; anything else unchanged."""
    if value == CONTAINER_ROOT or value.startswith(CONTAINER_ROOT + "/"):
        return str(base) + value[len(CONTAINER_ROOT):]
    return value


def isolated_env(base: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a network-isolated container whose ``/opt/ml`` is ``base``."""
    home = base.parent / f"{base.name}-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        # The image's ENV lines.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "UTF-8",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PIP_ROOT_USER_ACTION": "ignore",
        "SAGEMAKER_TRAINING_MODULE": TRAINING_MODULE,
        "SAGEMAKER_SERVING_MODULE": SERVING_MODULE,
        "PYTHONPATH": str(IMAGE_GLUE_DIR),
        "SAGEMAKER_BASE_DIR": str(base),
        # SageMaker sets the region; isolation means no credentials and no metadata service.
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(extra or {})
    return env


def _copy_into(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    elif source.is_file():
        shutil.copyfile(source, target / source.name)
    else:
        raise FileNotFoundError(f"channel source {source} does not exist")


def stage_training_job(base: Path, spec: TrainingJobSpec, hyperparameters: Mapping[str, str]) -> dict[str, str]:
    """Lay out ``/opt/ml`` under ``base`` as SageMaker does before the container starts; return the hyperparameters.

    Each channel's ``s3_uri`` is a local file or folder standing for its S3 object or prefix (an ``s3://`` one is
    not staged). ``hyperparameters.json`` holds the user's values with the spec's script-mode keys on top.
    """
    for folder in ("input/config", "model", "output/data", "code"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    for channel in spec.channels:
        target = base / "input" / "data" / channel.name
        if not channel.s3_uri.startswith("s3://"):
            _copy_into(Path(channel.s3_uri), target)
        else:
            target.mkdir(parents=True, exist_ok=True)
    rendered = {key: relocate(value, base) for key, value in spec.hyperparameters(hyperparameters).items()}
    config = base / "input" / "config"
    (config / "hyperparameters.json").write_text(json.dumps(rendered, indent=2, sort_keys=True))
    data_config = {
        entry["ChannelName"]: {
            "ContentType": entry["ContentType"],
            "TrainingInputMode": "File",
            "S3DistributionType": entry["DataSource"]["S3DataSource"]["S3DataDistributionType"],
            "RecordWrapperType": "None",
        }
        for entry in spec.input_data_config()
    }
    (config / "inputdataconfig.json").write_text(json.dumps(data_config, indent=2, sort_keys=True))
    group = "homogeneousCluster"
    resource = {
        "current_host": CURRENT_HOST,
        "current_instance_type": "ml.m5.large",
        "current_group_name": group,
        "hosts": [CURRENT_HOST],
        "instance_groups": [{"instance_group_name": group, "instance_type": "ml.m5.large", "hosts": [CURRENT_HOST]}],
        "network_interface_name": "eth0",
    }
    (config / "resourceconfig.json").write_text(json.dumps(resource, indent=2, sort_keys=True))
    return rendered


@dataclass
class JobResult:
    returncode: int
    output: str
    base: Path

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def code_dir(self) -> Path:
        return self.base / "code"

    @property
    def failure(self) -> str | None:
        path = self.base / "output" / "failure"
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def run_training_job(
    base: Path,
    spec: TrainingJobSpec,
    hyperparameters: Mapping[str, str] | None = None,
    entrypoint: Sequence[str] | None = None,
    timeout: float = 300,
) -> JobResult:
    """Stage the job and run its ``ContainerEntrypoint`` (or ``entrypoint``) as the container's process."""
    stage_training_job(base, spec, hyperparameters or {})
    env = isolated_env(base, {"TRAINING_JOB_NAME": "container-tier"})
    command = list(entrypoint or spec.container_entrypoint)
    command[0] = shutil.which(command[0], path=env["PATH"]) or command[0]
    completed = subprocess.run(
        command, cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    return JobResult(completed.returncode, completed.stdout, base)


def package_model_dir(model_dir: Path, destination: Path) -> Path:
    """``model.tar.gz`` of a model folder, as SageMaker tars ``/opt/ml/model`` after training (the offline runner's)."""
    return package_model(model_dir, destination)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    base: Path
    log_path: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # server.start forwards SIGTERM to gunicorn, which stops its workers
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the master, gunicorn, the workers
                self.process.wait(timeout)


def start_server(
    base: Path,
    model: Path,
    spec: ModelSpec,
    *,
    workers: int = 2,
    use_model_environment: bool = True,
    extra_env: Mapping[str, str] | None = None,
) -> Server:
    """Extract ``model`` (a ``model.tar.gz`` or a folder) to ``<base>/model`` and start the image's ``serve``.

    The model's environment comes from ``spec`` (``SAGEMAKER_SUBMIT_DIRECTORY`` relocated); with
    ``use_model_environment=False`` only ``SAGEMAKER_PROGRAM`` and ``SAGEMAKER_SUBMIT_DIRECTORY`` are kept (the
    rest, such as the ``PIP_*`` settings, is dropped). nginx is off (``SAGEMAKER_USE_NGINX=false``): gunicorn
    listens on the port itself.
    """
    model_dir = base / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    if model.is_dir():
        shutil.copytree(model, model_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        with tarfile.open(model) as tar:
            tar.extractall(model_dir, filter="data")
    environment = dict(spec.environment)
    if not use_model_environment:
        environment = {key: environment[key] for key in ("SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY")}
    environment["SAGEMAKER_SUBMIT_DIRECTORY"] = relocate(environment["SAGEMAKER_SUBMIT_DIRECTORY"], base)
    port = free_port()
    environment.update(
        {
            "SAGEMAKER_USE_NGINX": "false",
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        }
    )
    environment.update(extra_env or {})
    env = isolated_env(base, environment)
    log_path = base.parent / f"{base.name}-serve.log"
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [str(PYTHON), str(GLUE_SCRIPT), "serve"],
            cwd=base,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(process, port, base, log_path)


def request(
    server: Server,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, bytes, str]:
    """(status, body, Content-Type) of one request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(server.url(path), data=body, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def wait_for_ping(server: Server, deadline_s: float = 90, interval_s: float = 0.5) -> float | None:
    """Seconds until ``/ping`` answers 200, or None when the stack exits or the deadline passes."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if server.process.poll() is not None:
            return None
        try:
            status, _, _ = request(server, "/ping", timeout=2)
            if status == 200:
                return time.monotonic() - started
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(interval_s)
    return None
