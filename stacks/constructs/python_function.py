"""The project's small Python Lambda functions (baseline, moderation, voice): one way to stage, log and define them.

Each function is an ``index.py`` of its own folder beside this module (``<name>_runtime/``) plus the runtime modules
of ``common/`` it imports, staged into ``.cache/<name>_runtime/`` as the function's asset: no Docker bundling, no
third-party packages (the runtime's boto3 is enough), byte-identical for the same code so synth is reproducible.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ds_on_aws.config import PROJECT_ROOT

COMMON_DIR = PROJECT_ROOT / "common"
STAGING_ROOT = PROJECT_ROOT / ".cache"


def stage_runtime(runtime_dir: Path, shared_modules: Sequence[str], destination: Path | None = None) -> Path:
    """``index.py`` of ``runtime_dir`` and the shared modules of ``common/`` in one folder (the function's asset);
    what is not part of the runtime is removed, files already identical are left alone."""
    destination = Path(destination or STAGING_ROOT / runtime_dir.name)
    destination.mkdir(parents=True, exist_ok=True)
    sources = [runtime_dir / "index.py", *(COMMON_DIR / name for name in shared_modules)]
    for source in sources:
        target = destination / source.name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
    for stale in destination.iterdir():
        if stale.name not in {s.name for s in sources}:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    return destination


def function_log_group(scope: Construct, construct_id: str, key: kms.IKey) -> logs.LogGroup:
    """A function's own log group: encrypted with the data key, kept three months, deleted with the stack."""
    return logs.LogGroup(scope, construct_id, encryption_key=key, retention=logs.RetentionDays.THREE_MONTHS,
                         removal_policy=RemovalPolicy.DESTROY)


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    runtime_dir: Path,
    shared_modules: Sequence[str],
    role: iam.Role,
    log_group: logs.ILogGroup,
    timeout: Duration,
    description: str,
    environment: Mapping[str, str],
    memory_size: int = 1024,
) -> lambda_.Function:
    """The function (Python 3.14 on ARM, ``index.handler``) running as ``role``, whose policies the caller writes
    (``without_policy_updates``: CDK adds nothing to it), created after the role's policies."""
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=lambda_.Runtime.PYTHON_3_14,
        architecture=lambda_.Architecture.ARM_64,
        handler="index.handler",
        code=lambda_.Code.from_asset(str(stage_runtime(runtime_dir, shared_modules)), exclude=["__pycache__", "*.pyc"]),
        timeout=timeout,
        memory_size=memory_size,
        role=role.without_policy_updates(),
        log_group=log_group,
        description=description,
        environment=dict(environment),
    )
    function.node.add_dependency(role)
    return function
