"""The one builder of what SageMaker is asked to run: training-job and model parameters, for the cloud and offline.

The CDK stacks render these specs into the state machine's ``CreateTrainingJob`` and ``CreateModel`` tasks, and
the offline runner executes the very same specs under its container emulation, so a code-delivery mistake fails on
a laptop the way it fails in the cloud. Standard library only (the stacks, the offline runner and the tests import
it; it never imports CDK).

Code delivery, the rule this module enforces (docs/architecture.md, "Training" and "Inference"):

* A network-isolated container has no network and no AWS credentials. The training launcher's download of an
  ``s3://`` ``sagemaker_submit_directory`` fails there (``NoCredentialsError``, empty ``/opt/ml/code``), so the
  code travels as an input channel named ``code`` -- SageMaker copies it into ``/opt/ml/input/data/code/`` before
  the container starts -- and ``sagemaker_submit_directory`` names the file inside it, as the SageMaker Python SDK
  does for isolated jobs.
* Serving the same way: the training script copies the inference code into the model folder (``code/``), so it
  ships inside ``model.tar.gz``, which SageMaker extracts to ``/opt/ml/model`` before the container starts;
  ``SAGEMAKER_SUBMIT_DIRECTORY`` points there. This works with and without network isolation, so both endpoint
  modes (serverless, instance) use it.
* The training launcher is named explicitly (``ContainerEntrypoint``): the scikit-learn image ships two ``train``
  commands (sagemaker-training and the older sagemaker-containers) and which one is first on ``PATH`` is not fixed.
  sagemaker-training keeps the reason the script writes to ``/opt/ml/output/failure`` as the job's
  FailureReason; the older launcher overwrites it with its own traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CONTAINER_ROOT = "/opt/ml"
CODE_CHANNEL = "code"
SOURCEDIR_NAME = "sourcedir.tar.gz"
TRAINING_PROGRAM = "train.py"
INFERENCE_PROGRAM = "inference.py"
# Folder of model.tar.gz (and so of /opt/ml/model) that holds the inference code.
MODEL_CODE_DIR = "code"
SERVING_SUBMIT_DIRECTORY = f"{CONTAINER_ROOT}/model/{MODEL_CODE_DIR}"
# sagemaker-training's launcher, run by the image's Python: the one that keeps the script's failure reason.
TRAINING_LAUNCHER = ("python3", "-m", "sagemaker_training.cli.train")
DATA_CONTENT_TYPE = "application/jsonlines"
CODE_CONTENT_TYPE = "application/x-tar"


class CodeDeliveryError(ValueError):
    """The code of a job or model cannot reach its container (the message says why and what to do)."""


def channel_dir(name: str) -> str:
    """Where SageMaker puts an input channel inside the training container."""
    return f"{CONTAINER_ROOT}/input/data/{name}"


@dataclass(frozen=True)
class ChannelSpec:
    """One input channel. ``s3_uri`` is an S3 prefix; in the state machine it may be a JSONPath (``$.run...``)."""

    name: str
    s3_uri: str
    content_type: str = DATA_CONTENT_TYPE

    def as_api(self) -> dict:
        """The ``InputDataConfig`` entry in the CreateTrainingJob API shape (``S3Uri.$`` for a JSONPath)."""
        uri_key = "S3Uri.$" if self.s3_uri.startswith("$.") else "S3Uri"  # a CDK token starts with "${"
        return {
            "ChannelName": self.name,
            "ContentType": self.content_type,
            # Part files are gzip themselves and the script reads both; the code tarball is extracted by the launcher.
            "CompressionType": "None",
            "DataSource": {
                "S3DataSource": {
                    uri_key: self.s3_uri,
                    "S3DataType": "S3Prefix",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }


@dataclass(frozen=True)
class TrainingJobSpec:
    """The code-delivery part of a CreateTrainingJob request: channels, script-mode keys, isolation, launcher."""

    channels: tuple[ChannelSpec, ...]
    script_mode: Mapping[str, str]
    network_isolation: bool = True
    container_entrypoint: tuple[str, ...] = TRAINING_LAUNCHER

    @property
    def submit_directory(self) -> str:
        return self.script_mode["sagemaker_submit_directory"]

    @property
    def program(self) -> str:
        return self.script_mode["sagemaker_program"]

    def channel(self, name: str) -> ChannelSpec:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)

    def input_data_config(self) -> list[dict]:
        return [channel.as_api() for channel in self.channels]

    def hyperparameters(self, user: Mapping[str, str]) -> dict[str, str]:
        """User hyperparameters with the script-mode keys on top (those cannot be overridden)."""
        return {**dict(user), **dict(self.script_mode)}


def check_training_spec(spec: TrainingJobSpec) -> TrainingJobSpec:
    """Refuse a spec whose code cannot reach the container; return it unchanged otherwise."""
    names = [channel.name for channel in spec.channels]
    if len(set(names)) != len(names):
        raise CodeDeliveryError(f"training channels must have unique names, got {names}")
    submit = spec.submit_directory
    if spec.network_isolation and submit.startswith("s3://"):
        raise CodeDeliveryError(
            f"network-isolated training job with sagemaker_submit_directory={submit}: the container has no network "
            f"and no credentials, so the launcher cannot download it; deliver the code as the {CODE_CHANNEL!r} "
            f"input channel and point sagemaker_submit_directory at {channel_dir(CODE_CHANNEL)}/{SOURCEDIR_NAME}"
        )
    if not submit.startswith("s3://"):
        channel = submit.removeprefix(f"{CONTAINER_ROOT}/input/data/").split("/", 1)[0]
        if not submit.startswith(f"{CONTAINER_ROOT}/input/data/") or channel not in names:
            raise CodeDeliveryError(
                f"sagemaker_submit_directory={submit} is not inside an input channel of the job (channels: {names})"
            )
    return spec


def training_job_spec(
    *,
    code_uri: str,
    data_channels: Mapping[str, str],
    network_isolation: bool = True,
    program: str = TRAINING_PROGRAM,
) -> TrainingJobSpec:
    """The spec of a script-mode training job whose ``sourcedir.tar.gz`` lies at ``code_uri``.

    ``data_channels`` maps channel name -> S3 prefix (or JSONPath). Under network isolation the code becomes the
    ``code`` channel; without it, the launcher downloads ``code_uri`` itself.
    """
    if CODE_CHANNEL in data_channels:
        raise CodeDeliveryError(f"{CODE_CHANNEL!r} is reserved for the training code; rename that data channel")
    channels = [ChannelSpec(name, uri) for name, uri in data_channels.items()]
    if network_isolation:
        channels.append(ChannelSpec(CODE_CHANNEL, code_uri, content_type=CODE_CONTENT_TYPE))
        submit = f"{channel_dir(CODE_CHANNEL)}/{SOURCEDIR_NAME}"
    else:
        submit = code_uri
    spec = TrainingJobSpec(
        channels=tuple(channels),
        script_mode={"sagemaker_program": program, "sagemaker_submit_directory": submit},
        network_isolation=network_isolation,
    )
    return check_training_spec(spec)


@dataclass(frozen=True)
class ModelSpec:
    """The code-delivery part of a CreateModel request: the container environment and network isolation."""

    environment: Mapping[str, str] = field(default_factory=dict)
    network_isolation: bool = False

    @property
    def submit_directory(self) -> str:
        return self.environment["SAGEMAKER_SUBMIT_DIRECTORY"]

    @property
    def program(self) -> str:
        return self.environment["SAGEMAKER_PROGRAM"]


def check_model_spec(spec: ModelSpec) -> ModelSpec:
    """Refuse a model whose inference code cannot reach an isolated container."""
    submit = spec.submit_directory
    if spec.network_isolation and submit.startswith("s3://"):
        raise CodeDeliveryError(
            f"network-isolated model with SAGEMAKER_SUBMIT_DIRECTORY={submit}: the serving container cannot "
            f"download it and never answers /ping; ship the code inside model.tar.gz ({MODEL_CODE_DIR}/) and "
            f"point SAGEMAKER_SUBMIT_DIRECTORY at {SERVING_SUBMIT_DIRECTORY}"
        )
    if not submit.startswith("s3://") and not submit.startswith(f"{CONTAINER_ROOT}/model"):
        raise CodeDeliveryError(f"SAGEMAKER_SUBMIT_DIRECTORY={submit} is neither s3:// nor inside {CONTAINER_ROOT}/model")
    return spec


def model_spec(*, network_isolation: bool, log_level: int = 20) -> ModelSpec:
    """The model of every endpoint mode: inference code inside model.tar.gz, no download at start."""
    environment = {
        "SAGEMAKER_PROGRAM": INFERENCE_PROGRAM,
        "SAGEMAKER_SUBMIT_DIRECTORY": SERVING_SUBMIT_DIRECTORY,
        # The serving stack pip-installs the code folder at start. pip's inverted spelling: no build isolation
        # (it would download setuptools, which fails without network); no index, no version check (no network).
        "PIP_NO_BUILD_ISOLATION": "false",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_DEPS": "1",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": str(log_level),
    }
    return check_model_spec(ModelSpec(environment=environment, network_isolation=network_isolation))


def endpoint_model_spec(mode: str) -> ModelSpec:
    """The model of an endpoint in ``mode`` (``endpoint.mode`` of the configuration).

    SageMaker Serverless Inference does not support network isolation (a documented feature exclusion:
    CreateEndpoint would refuse the model); instance-backed endpoints run the model isolated.
    """
    if mode not in ("serverless", "instance"):
        raise ValueError(f"endpoint mode must be 'serverless' or 'instance', got {mode!r}")
    return model_spec(network_isolation=mode == "instance")


# --- the transformer recipe: pretrained weights as a channel, managed spot with checkpoints --------------------
PRETRAINED_CHANNEL = "pretrained"
PRETRAINED_PREFIX = "pretrained/"  # in the artifacts bucket: pretrained/<model name>/ (``ds-on-aws stage-model``)
CHECKPOINT_LOCAL_PATH = f"{CONTAINER_ROOT}/checkpoints"
TORCH_DISTRIBUTED_KEY = "sagemaker_torch_distributed_enabled"
_MODEL_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def pretrained_model_prefix(model_name: str) -> str:
    """``pretrained/<name>/``: where the staged weights of ``model_name`` lie (a hub ``org/name`` keeps its slash,
    so the state machine finds them from the ``model_name`` hyperparameter as it is)."""
    name = model_name.strip()
    parts = name.split("/")
    if (not name or len(parts) > 2 or any(not part or part.startswith(".") for part in parts)
            or set(name) - _MODEL_NAME_CHARS - {"/"}):
        raise ValueError(f"model name {model_name!r}: use letters, digits, '-', '_', '.' and one '/' (org/name)")
    return f"{PRETRAINED_PREFIX}{name}/"


def transformer_training_job_spec(*, code_uri: str, data_channels: Mapping[str, str], pretrained_uri: str,
                                  distributed: bool = True) -> TrainingJobSpec:
    """The transformer recipe's job: the data channels plus ``pretrained`` (the weights, from S3: the job stays
    network-isolated), the code channel, and data-parallel training over every GPU of the instance
    (``sagemaker_torch_distributed_enabled``: the PyTorch training toolkit launches the script with ``torchrun``).
    """
    if PRETRAINED_CHANNEL in data_channels:
        raise CodeDeliveryError(f"{PRETRAINED_CHANNEL!r} is reserved for the pretrained weights")
    spec = training_job_spec(code_uri=code_uri, data_channels={**data_channels, PRETRAINED_CHANNEL: pretrained_uri})
    script_mode = dict(spec.script_mode)
    if distributed:
        script_mode[TORCH_DISTRIBUTED_KEY] = "true"
    return TrainingJobSpec(channels=spec.channels, script_mode=script_mode, network_isolation=spec.network_isolation,
                           container_entrypoint=spec.container_entrypoint)


def checkpoint_config(s3_uri: str) -> dict:
    """``CheckpointConfig``: SageMaker syncs ``/opt/ml/checkpoints`` with ``s3_uri`` (a JSONPath in the state machine)."""
    uri_key = "S3Uri.$" if s3_uri.startswith("$.") else "S3Uri"
    return {uri_key: s3_uri, "LocalPath": CHECKPOINT_LOCAL_PATH}


def managed_spot_parameters(*, max_runtime_seconds: int, max_wait_seconds: int, checkpoint_s3_uri: str) -> dict:
    """The CreateTrainingJob keys of a managed-spot job that resumes from its checkpoints after an interruption."""
    if max_wait_seconds < max_runtime_seconds:
        raise ValueError(f"MaxWaitTimeInSeconds ({max_wait_seconds}) must be >= MaxRuntimeInSeconds "
                         f"({max_runtime_seconds}) for managed spot training")
    return {
        "EnableManagedSpotTraining": True,
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds, "MaxWaitTimeInSeconds": max_wait_seconds},
        "CheckpointConfig": checkpoint_config(checkpoint_s3_uri),
    }
