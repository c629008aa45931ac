"""Stage 1, acquire data: resolve what the Glue job reads, from a user file, a local IMDb copy or a download.

The job itself reads CSV, JSON lines, Parquet and aclImdb folders (``review_cleaning.readers``); this stage
only turns what the user named into a path the job can read: tarballs are extracted safely into the run folder,
``--sample N`` writes a deterministic stratified sample, and with no input at all the official IMDb tarball is
downloaded once (progress bar, sha256 verified, atomic move into the cache).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import random
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import review_text

from ds_on_aws.local.errors import UsageError

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# sha256 of aclImdb_v1.tar.gz (84,125,825 bytes) as published alongside other loaders of this file, e.g.
# gomlx's examples/imdb (TarHash), Julia's CorpusLoaders/Datadeps registration and TensorFlow Datasets'
# url checksums for imdb_reviews; torchtext lists its md5 7c2ac02c03563afcf9b574c7e56c153a.
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_TARBALL = "aclImdb_v1.tar.gz"
IMDB_DIR_ENV = "DS_ON_AWS_IMDB_DIR"
CACHE_DIR_ENV = "DS_ON_AWS_CACHE_DIR"
CONNECT_TIMEOUT_SECONDS = 5.0
LABEL_FOLDERS = ("pos", "neg")
SPLIT_FOLDERS = ("train", "test")
TABLE_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".parquet")
TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")

HOW_TO_POINT_AT_A_COPY = (
    f"point the runner at a local copy of the IMDb data with --imdb-dir DIR or the environment variable "
    f"{IMDB_DIR_ENV}=DIR (a folder holding train.csv.gz, an extracted aclImdb/ or {IMDB_TARBALL}), "
    f"or give your own data with --input PATH"
)


@dataclass(frozen=True)
class RawInput:
    """What the Glue job gets as ``--input_uri`` (and ``--input_format``), and where it came from."""

    path: Path
    input_format: str  # "auto" or "aclimdb": the job's --input_format
    source: str  # human description for the summary


def cache_dir() -> Path:
    """Where the downloaded tarball is kept: ``$DS_ON_AWS_CACHE_DIR`` or ``~/.cache/ds-on-aws``."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "ds-on-aws")


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, destination: Path, sha256: str, *, timeout: float = CONNECT_TIMEOUT_SECONDS,
             progress: bool = True) -> Path:
    """Download ``url`` to ``destination`` once: verified by sha256, moved into place atomically.

    A file already at ``destination`` with the right checksum is a cache hit (no network). The bytes go to a
    temporary file beside the destination and are renamed only after the checksum matched, so an interrupted or
    corrupt download never leaves a file that a later run would trust. No network (DNS failure, refused
    connection, timeout) stops at once with a message saying how to use a local copy instead.
    """
    destination = Path(destination)
    if destination.is_file():
        if sha256_of(destination) == sha256:
            return destination
        destination.unlink()  # a stale or corrupt cache entry: fetch again
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (https URL constant or test URL)
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"cannot download {url} ({reason}): {HOW_TO_POINT_AT_A_COPY}") from exc
    from tqdm import tqdm

    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=destination.name + ".", suffix=".part", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        with response, os.fdopen(fd, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"download {destination.name}",
                      disable=not progress, leave=True) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        actual = digest.hexdigest()
        if actual != sha256:
            raise UsageError(f"download of {url} is corrupt: sha256 {actual}, expected {sha256}; nothing was cached. "
                             f"Try again, or {HOW_TO_POINT_AT_A_COPY}")
        os.replace(tmp, destination)
    except (TimeoutError, OSError, urllib.error.URLError) as exc:
        raise UsageError(f"download of {url} failed ({exc}): {HOW_TO_POINT_AT_A_COPY}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return destination


def _wanted_member(name: str) -> bool:
    """Skip what the pipeline never reads from the official tarball: the 50k unlabeled reviews and feature dumps."""
    parts = Path(name).parts
    return "unsup" not in parts and not name.endswith((".feat", ".vocab", "imdbEr.txt"))


def safe_extract(tarball: Path, destination: Path, *, skip_unused: bool = False) -> Path:
    """Extract ``tarball`` into ``destination`` with the ``data`` filter (no absolute paths, no ``..``, no links out).

    Python's extraction filter refuses every member that would land outside ``destination`` or is a device,
    so a hostile tarball cannot write anywhere else; we turn its refusal into a one-line usage error.
    """
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers() if not skip_unused or _wanted_member(m.name)]
            for member in members:  # refuse outright what the filter would merely rewrite (absolute names)
                if member.name.startswith(("/", "\\")) or ".." in Path(member.name).parts:
                    raise tarfile.FilterError(f"{member.name!r} points outside the extraction folder")
            tar.extractall(destination, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise UsageError(f"{tarball}: refused to extract an unsafe member ({exc})") from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UsageError(f"{tarball}: not a readable tar archive ({exc})") from exc
    return destination


def find_aclimdb_root(folder: Path) -> Path | None:
    """The folder that holds ``train/`` or ``test/`` with ``pos``/``neg`` subfolders, searched two levels down."""
    candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())] if folder.is_dir() else []
    for depth_one in list(candidates):
        if depth_one is not folder:
            candidates.extend(sorted(p for p in depth_one.iterdir() if p.is_dir()))
    for candidate in candidates:
        if any((candidate / split / label).is_dir() for split in SPLIT_FOLDERS for label in LABEL_FOLDERS):
            return candidate
    return None


def _check_readable(path: Path) -> None:
    """Fail early, in one line, on a file we cannot open or a gzip file that is not gzip."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                handle.read(4096)
    except (OSError, EOFError) as exc:
        raise UsageError(f"cannot read input {path}: {exc}") from exc
    if not head:
        raise UsageError(f"input {path} is empty")


def resolve_user_input(path: Path, work_dir: Path) -> RawInput:
    """``--input``: a CSV / JSON lines / Parquet file, a folder, an aclImdb tree or a tarball of one."""
    if not path.exists():
        raise UsageError(f"input not found: {path}")
    if path.is_dir():
        root = find_aclimdb_root(path)
        if root is not None:
            return RawInput(root, "aclimdb", f"aclImdb folder {root}")
        if not any(p.is_file() for p in path.rglob("*")):
            raise UsageError(f"input folder {path} holds no files")
        return RawInput(path, "auto", f"folder {path}")
    if path.name.endswith(TARBALL_SUFFIXES):
        extracted = safe_extract(path, work_dir / "input" / "extracted")
        root = find_aclimdb_root(extracted)
        if root is None:
            raise UsageError(f"{path}: no aclImdb layout (train/ or test/ with pos/ and neg/) inside the tarball")
        return RawInput(root, "aclimdb", f"tarball {path}")
    _check_readable(path)
    return RawInput(path, "auto", f"file {path}")


def resolve_imdb_dir(folder: Path, work_dir: Path) -> RawInput:
    """``--imdb-dir`` / ``$DS_ON_AWS_IMDB_DIR``: ``train.csv.gz``, an extracted ``aclImdb/``, or the tarball."""
    if not folder.is_dir():
        raise UsageError(f"IMDb folder not found: {folder} (from --imdb-dir or {IMDB_DIR_ENV})")
    if (folder / "train.csv.gz").is_file():
        _check_readable(folder / "train.csv.gz")
        return RawInput(folder / "train.csv.gz", "auto", f"IMDb train.csv.gz in {folder}")
    root = find_aclimdb_root(folder)
    if root is not None:
        return RawInput(root, "aclimdb", f"IMDb aclImdb folder {root}")
    if (folder / IMDB_TARBALL).is_file():
        extracted = safe_extract(folder / IMDB_TARBALL, work_dir / "input" / "extracted", skip_unused=True)
        return RawInput(find_aclimdb_root(extracted) or extracted, "aclimdb", f"IMDb {IMDB_TARBALL} in {folder}")
    raise UsageError(f"{folder} holds none of train.csv.gz, aclImdb/ or {IMDB_TARBALL} (from --imdb-dir or {IMDB_DIR_ENV})")


def resolve_official_download(work_dir: Path, *, url: str = IMDB_URL, sha256: str = IMDB_SHA256) -> RawInput:
    """No input given: the official tarball from the cache, downloaded first if needed."""
    tarball = download(url, cache_dir() / IMDB_TARBALL, sha256)
    extracted = safe_extract(tarball, work_dir / "input" / "extracted", skip_unused=True)
    return RawInput(find_aclimdb_root(extracted) or extracted, "aclimdb", f"official IMDb download ({tarball})")


def resolve_input(input_path: str | None, imdb_dir: str | None, work_dir: Path) -> RawInput:
    """Pick the data source in the documented order: ``--input``, then ``--imdb-dir``/env, then the download."""
    if input_path:
        return resolve_user_input(Path(input_path).expanduser(), work_dir)
    imdb_dir = imdb_dir or os.environ.get(IMDB_DIR_ENV)
    if imdb_dir:
        return resolve_imdb_dir(Path(imdb_dir).expanduser(), work_dir)
    return resolve_official_download(work_dir)


# --- deterministic stratified sample -----------------------------------------------------------------------

def _stratified_pick(keys: list, n: int, seed: int) -> list[int]:
    """Indices of a sample of ``n`` items stratified by ``keys`` (proportional, largest remainders), seeded.

    The result is sorted so that the sample keeps the input's order.
    """
    strata: dict = {}
    for index, key in enumerate(keys):
        strata.setdefault(key, []).append(index)
    total = len(keys)
    quotas = {key: n * len(members) / total for key, members in strata.items()}
    counts = {key: int(q) for key, q in quotas.items()}
    leftover = n - sum(counts.values())
    for key in sorted(quotas, key=lambda k: (-(quotas[k] - counts[k]), str(k)))[:leftover]:
        counts[key] += 1
    rng = random.Random(seed)
    picked: list[int] = []
    for key in sorted(strata, key=str):
        picked.extend(rng.sample(strata[key], counts[key]))
    return sorted(picked)


def _label_column(columns: list[str]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for candidate in review_text.LABEL_COLUMN_CANDIDATES:
        if candidate in lowered:
            return lowered[candidate]
    return None


def sample_input(raw: RawInput, n: int, seed: int, work_dir: Path) -> RawInput:
    """A deterministic sample of ``n`` reviews stratified by label (same seed, same rows).

    aclImdb trees: files are copied per split/label folder. Tables: read with pandas as strings (nothing is
    parsed or cleaned: that stays the Glue job's work), sampled, and written back in the same format.
    """
    if n <= 0:
        raise UsageError(f"--sample must be a positive number of reviews, got {n}")
    out_dir = work_dir / "input" / "sample"
    if raw.input_format == "aclimdb":
        files = sorted(p for split in SPLIT_FOLDERS for label in LABEL_FOLDERS
                       for p in (raw.path / split / label).glob("*") if p.is_file())
        if not files:
            raise UsageError(f"{raw.path}: no review files under train|test/pos|neg")
        keys = [p.relative_to(raw.path).parts[:2] for p in files]
        chosen = [files[i] for i in _stratified_pick(keys, min(n, len(files)), seed)]
        for path in chosen:
            target = out_dir / "aclImdb" / path.relative_to(raw.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return RawInput(out_dir / "aclImdb", "aclimdb", f"{raw.source}, sample of {len(chosen)}")
    frame, kind = _read_table(raw.path)
    if frame.empty:
        raise UsageError(f"{raw.path}: no rows to sample")
    label = _label_column(list(frame.columns))
    keys = list(frame[label]) if label else [0] * len(frame)
    sample = frame.iloc[_stratified_pick(keys, min(n, len(frame)), seed)]
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        target = out_dir / "sample.parquet"
        sample.to_parquet(target, index=False)
    elif kind == "jsonl":
        target = out_dir / "sample.jsonl"
        sample.to_json(target, orient="records", lines=True, force_ascii=False)
    else:
        target = out_dir / "sample.csv"
        sample.to_csv(target, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return RawInput(target, "auto", f"{raw.source}, sample of {len(sample)}")


def _read_table(path: Path):
    """Read a single table file as strings (``--sample`` only); unreadable input is a usage error."""
    import pandas as pd

    if path.is_dir():
        raise UsageError(f"--sample needs a single file or an aclImdb tree, got the folder {path}")
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path).astype("string"), "parquet"
        if name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")):
            return pd.read_json(path, lines=True, dtype=False).astype("string"), "jsonl"
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[]), "csv"
    except Exception as exc:  # pandas raises many kinds; each means "cannot sample this file"
        raise UsageError(f"cannot read {path} to sample it: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
