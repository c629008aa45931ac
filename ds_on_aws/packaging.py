"""Deterministic packaging of the SageMaker training/inference code (``sourcedir.tar.gz``).

SageMaker script mode wants a gzipped tarball of the code; CDK directory assets are zips, so the CDK app builds
this file at synth time and ships it as a file asset, and the offline runner builds the very same bytes. The
tarball holds every ``*.py`` of ``training/`` at its root plus ``common/review_text.py`` (the one text
normalization shared with the Glue job). Byte-for-byte reproducible: sorted entries, fixed mtimes, owners and
modes, gzip header without a timestamp, so an unchanged code tree never produces a new asset hash.

It deliberately never ships a ``requirements.txt``: the container would pip-install it at start, which fails
under network isolation.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from ds_on_aws.config import PROJECT_ROOT

TRAINING_DIR = PROJECT_ROOT / "training"
SHARED_MODULES = (PROJECT_ROOT / "common" / "review_text.py",)


class PackagingError(RuntimeError):
    """The code package cannot be built; the message names the missing or clashing file."""


def sourcedir_files(training_dir: Path = TRAINING_DIR) -> dict[str, Path]:
    """Map archive name -> file for everything that goes into ``sourcedir.tar.gz``."""
    if not training_dir.is_dir():
        raise PackagingError(f"training code folder not found: {training_dir}")
    files = {p.name: p for p in sorted(training_dir.glob("*.py"))}
    if "train.py" not in files or "inference.py" not in files:
        raise PackagingError(f"{training_dir} must contain train.py and inference.py")
    for module in SHARED_MODULES:
        if not module.is_file():
            raise PackagingError(f"shared module not found: {module}")
        if module.name in files:
            raise PackagingError(f"{training_dir / module.name} would shadow the shared module {module}")
        files[module.name] = module
    return dict(sorted(files.items()))


def build_sourcedir_tarball(destination: Path, training_dir: Path = TRAINING_DIR) -> Path:
    """Write ``sourcedir.tar.gz`` to ``destination`` (a file path) and return it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in sourcedir_files(training_dir).items():
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(destination, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(buffer.getvalue())
    return destination
