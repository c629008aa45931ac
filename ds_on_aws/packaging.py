"""Deterministic packaging of the code the cloud runs: ``sourcedir.tar.gz`` (SageMaker) and the Glue job's zip.

SageMaker script mode wants a gzipped tarball of the code; CDK directory assets are zips, so the CDK app builds
this file at synth time and ships it as a file asset, and the offline runner builds the very same bytes. The
tarball holds every ``*.py`` of ``training/`` at its root plus the shared modules of ``common/``
(``review_text.py``, the one text normalization shared with the Glue job, and ``pipeline_contracts.py``). A recipe
folder ``training/<recipe>/`` (the transformer recipe) gets its own ``*.py``, the same shared modules and the training
modules all recipes share (``channels.py``).

The Glue job's package ``review_cleaning`` goes to Glue as a zip in ``--extra-py-files`` (:func:`build_glue_package`),
built at synth time the same way.

Both are byte-for-byte reproducible: sorted entries, fixed mtimes, owners and modes, no timestamp in the gzip
header, so an unchanged code tree never produces a new asset hash.

The tarball deliberately never ships a ``requirements.txt``: the container would pip-install it at start, which
fails under network isolation. The few pure-Python libraries the shared code needs are *vendored* instead: copied
from this environment's installed distributions (the versions pinned in requirements-local.txt) into the archives,
with their licence files: ftfy and wcwidth for ``review_text`` into both archives (and, through train.py, into the
model's ``code/``), py3langid (with its model file) for the Glue job's language rule. Nothing is installed or
downloaded when the code starts.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata, util
from pathlib import Path

import review_text

from ds_on_aws.config import PROJECT_ROOT

TRAINING_DIR = PROJECT_ROOT / "training"
SHARED_MODULES = (PROJECT_ROOT / "common" / "review_text.py", PROJECT_ROOT / "common" / "pipeline_contracts.py")
# A recipe folder under training/ (training/<recipe>/) also gets the training modules every recipe shares.
RECIPE_SHARED_MODULES = tuple(TRAINING_DIR / name for name in ("channels.py", "script_mode.py", "serving_contract.py"))
TRANSFORMER_DIR = TRAINING_DIR / "transformer"
GLUE_PACKAGE_DIR = PROJECT_ROOT / "glue_scripts" / "review_cleaning"
# Vendored into the archives: what review_text needs everywhere, plus what the Glue job's language rule needs.
TRAINING_VENDORED = review_text.REQUIRED_PACKAGES
GLUE_VENDORED = (*TRAINING_VENDORED, "py3langid")
# Zip entries cannot say 1970: 1980-01-01 is the earliest date the format stores.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644


class PackagingError(RuntimeError):
    """The code package cannot be built; the message names the missing or clashing file."""


def vendored_files(packages: Sequence[str]) -> dict[str, Path]:
    """Map archive name -> file for installed pure-Python packages: every file of each, plus its licence."""
    files: dict[str, Path] = {}
    for name in packages:
        spec = util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise PackagingError(f"{name} is not installed: it is vendored into the cloud code packages "
                                 "(pip install -r requirements-local.txt)")
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and "__pycache__" not in relative.parts and path.suffix not in (".pyc", ".so", ".pyd"):
                files[f"{name}/{relative.as_posix()}"] = path
        for licence in (f for f in metadata.files(name) or () if "licen" in str(f).lower()):
            files[f"{name}/VENDORED-{Path(str(licence)).name}"] = Path(str(licence.locate()))
    return files


def sourcedir_files(training_dir: Path = TRAINING_DIR, vendored: Sequence[str] = TRAINING_VENDORED) -> dict[str, Path]:
    """Map archive name -> file for everything that goes into ``sourcedir.tar.gz``."""
    if not training_dir.is_dir():
        raise PackagingError(f"training code folder not found: {training_dir}")
    files = {p.name: p for p in sorted(training_dir.glob("*.py"))}
    if "train.py" not in files or "inference.py" not in files:
        raise PackagingError(f"{training_dir} must contain train.py and inference.py")
    shared = SHARED_MODULES
    if training_dir.resolve().parent == TRAINING_DIR.resolve():
        shared = (*SHARED_MODULES, *RECIPE_SHARED_MODULES)
    for module in shared:
        if not module.is_file():
            raise PackagingError(f"shared module not found: {module}")
        if module.name in files:
            raise PackagingError(f"{training_dir / module.name} would shadow the shared module {module}")
        files[module.name] = module
    files.update(vendored_files(vendored))
    return dict(sorted(files.items()))


def glue_package_files(package_dir: Path = GLUE_PACKAGE_DIR, vendored: Sequence[str] = GLUE_VENDORED) -> dict[str, Path]:
    """Map archive name -> file for the Glue job's zip: every ``*.py`` of the package under the package's name,
    and the vendored packages beside it."""
    if not (package_dir / "__init__.py").is_file():
        raise PackagingError(f"Glue job package not found (no __init__.py): {package_dir}")
    files = {
        f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}": path
        for path in package_dir.rglob("*.py")
        if "__pycache__" not in path.relative_to(package_dir).parts
    }
    files.update(vendored_files(vendored))
    return dict(sorted(files.items()))


def _entries(files: Mapping[str, Path]) -> list[tuple[str, bytes]]:
    """(archive name, content) in name order: what both archive formats write, and all they take from the files."""
    return [(name, files[name].read_bytes()) for name in sorted(files)]


def build_sourcedir_tarball(destination: Path, training_dir: Path = TRAINING_DIR,
                            vendored: Sequence[str] = TRAINING_VENDORED) -> Path:
    """Write ``sourcedir.tar.gz`` to ``destination`` (a file path) and return it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in _entries(sourcedir_files(training_dir, vendored)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(destination, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(buffer.getvalue())
    return destination


def build_glue_package_zip(destination: Path, package_dir: Path = GLUE_PACKAGE_DIR,
                           vendored: Sequence[str] = GLUE_VENDORED) -> Path:
    """Write the Glue job's package as a zip (``review_cleaning/...`` at its root) to ``destination``; return it."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w") as archive:
        for name, data in _entries(glue_package_files(package_dir, vendored)):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, wherever it is built, so the mode below means the same everywhere
            info.external_attr = (0o100000 | FILE_MODE) << 16
            archive.writestr(info, data, compresslevel=9)
    return destination


def build_atomically(builder: Callable[[Path], Path], destination: Path) -> Path:
    """Build into a temporary file beside ``destination``, then rename (parallel synths in tests may race)."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{destination.name}-", dir=destination.parent)
    os.close(fd)
    try:
        builder(Path(tmp))
        os.replace(tmp, destination)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return destination


def build_glue_package(destination_dir: Path) -> Path:
    """``<destination_dir>/review_cleaning.zip``, built atomically; the bytes depend only on the package's code."""
    return build_atomically(build_glue_package_zip, Path(destination_dir) / f"{GLUE_PACKAGE_DIR.name}.zip")
