"""The edges every recipe's ``train.py`` shares under SageMaker's script-mode contract.

- :func:`bundle_inference_code`: the model's ``code/`` folder (the inference code the endpoint runs, with the
  shared modules and the libraries ``review_text`` needs, vendored beside the script in ``sourcedir.tar.gz``);
- :func:`report_failure`: the reason where SageMaker shows it (``/opt/ml/output/failure``, the job's
  FailureReason) and as the script's last line;
- :func:`run_main`: the script's ``main``: refused input exits 2, anything unexpected 1 with its traceback;
- :func:`hyperparameter_type`: an argparse ``type`` for a hyperparameter as the launcher renders it (``1e3`` for
  an integer, ``True`` for a boolean), with a message naming it.

Standard library plus ``review_text`` (for the names of the vendored packages).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import review_text

MODEL_CODE_DIR = "code"  # inside the model folder: the inference code the endpoint runs
DEFAULT_OUTPUT_DIR = "/opt/ml/output"
EXIT_BAD_INPUT = 2
EXIT_UNEXPECTED = 1
NOT_MODEL_CODE = ("setup.py",)  # the launcher's, never the endpoint's


def bundle_inference_code(model_dir: Path, source: Path, script: str) -> list[str]:
    """Copy every module of ``source`` except ``script`` into ``<model_dir>/code/``; return their names.

    SageMaker tars the model folder into ``model.tar.gz`` and extracts it to ``/opt/ml/model`` when the endpoint
    starts, so the serving stack finds ``inference.py`` and its imports (``SAGEMAKER_SUBMIT_DIRECTORY =
    /opt/ml/model/code``) without network. The libraries review_text needs (``review_text.REQUIRED_PACKAGES``),
    vendored beside the script in ``sourcedir.tar.gz``, are copied with them when they are there.
    """
    source = Path(source)
    modules = sorted(p for p in source.glob("*.py") if p.name != script and p.name not in NOT_MODEL_CODE)
    if not any(p.name == "inference.py" for p in modules):
        raise FileNotFoundError(f"inference.py not found beside {script} in {source}")
    target = Path(model_dir) / MODEL_CODE_DIR
    target.mkdir(parents=True, exist_ok=True)
    for module in modules:
        shutil.copyfile(module, target / module.name)
    packages = [source / name for name in review_text.REQUIRED_PACKAGES if (source / name / "__init__.py").is_file()]
    for package in packages:
        shutil.copytree(package, target / package.name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return [p.name for p in modules] + [f"{p.name}/" for p in packages]


def write_failure(message: str) -> None:
    """Leave the reason where SageMaker shows it as the job's FailureReason (best effort, never raises)."""
    output_dir = Path(os.environ.get("SM_OUTPUT_DIR", DEFAULT_OUTPUT_DIR))
    try:
        if output_dir.is_dir():
            (output_dir / "failure").write_text(message[:1000] + "\n", encoding="utf-8")
    except OSError:
        pass


def report_failure(message: str) -> None:
    """Write the reason for SageMaker and print it as the script's last line (stderr, flushed)."""
    write_failure(message)
    print(message, file=sys.stderr, flush=True)


def run_main(run: Callable[[Sequence[str]], object], argv: Sequence[str], refused: tuple[type, ...]) -> int:
    """Run the job; ``refused`` errors (bad hyperparameters, channels, inputs) exit 2 with their message, anything
    else 1 with its traceback. Either way the reason is the job's FailureReason."""
    try:
        run(argv)
    except refused as error:
        report_failure(f"training refused: {error}")
        return EXIT_BAD_INPUT
    except Exception as error:  # noqa: BLE001 - the edge of the job: report, don't hide
        traceback.print_exc()
        sys.stderr.flush()
        report_failure(f"training failed unexpectedly: {type(error).__name__}: {error}")
        return EXIT_UNEXPECTED
    return 0


# --- hyperparameters, as the launcher renders them on the command line ---------------------------------------
def parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def parse_int(text: str) -> int:
    """Integers, also as the launcher renders JSON numbers like ``1e3`` (``1000.0``)."""
    try:
        return int(text)
    except ValueError:
        value = parse_float(text)
        if not value.is_integer():
            raise ValueError(f"{text!r} is not a whole number") from None
        return int(value)


TRUE_SPELLINGS = frozenset({"true", "1", "yes", "y", "on"})
FALSE_SPELLINGS = frozenset({"false", "0", "no", "n", "off"})


def parse_bool(text: str) -> bool:
    """``True``/``False`` as the launcher renders JSON booleans, plus the usual spellings."""
    spelled = text.strip().lower()
    if spelled in TRUE_SPELLINGS:
        return True
    if spelled in FALSE_SPELLINGS:
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


PARSERS = {float: parse_float, int: parse_int, bool: parse_bool, str: str}


def hyperparameter_type(parse: Callable[[str], object], name: str) -> Callable[[str], object]:
    """An argparse ``type``: ``parse``, with a ValueError turned into a message naming the hyperparameter."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"invalid value for hyperparameter {name}: {error}") from None

    return convert
