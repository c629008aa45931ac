"""Reading SageMaker training channels (JSON Lines, plain or gzip, several part files) into texts and labels.

Contract (docs/architecture.md, "Training"): a channel is a folder (``SM_CHANNEL_<NAME>``) holding one or more
JSON Lines files, one object per line with at least ``text`` and ``label`` (``review_id`` is used for
messages when present). Spark writes marker files next to the data (``_SUCCESS``, ``.crc``): anything that is
not a ``.json``/``.jsonl``/``.ndjson`` file (optionally ``.gz``) is skipped and reported, never guessed at.

Bad data fails loudly: every error names the channel, the file and the line, because a training job that
silently drops rows produces a model nobody can explain. Standard library only (runs in the container).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from review_text import normalize_text

DATA_SUFFIXES = (".json", ".jsonl", ".ndjson")
# Read errors are reported with at most this many characters of the offending line.
_SNIPPET_CHARS = 80


class ChannelError(ValueError):
    """A channel is missing, empty, unreadable or holds invalid records; the message says which and where."""


@dataclass
class ChannelData:
    """The labeled reviews of one channel, in file order, plus what is needed to audit them later."""

    name: str
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    review_ids: list[str | None] = field(default_factory=list)  # the records' review_id (None where absent)
    files: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    sha256: str = ""

    def __len__(self) -> int:
        return len(self.texts)


def is_data_file(path: Path) -> bool:
    """True for ``*.json``, ``*.jsonl``, ``*.ndjson`` (optionally ``.gz``); hidden and ``_`` files never."""
    name = path.name
    if name.startswith((".", "_")):
        return False
    stem = name[:-3] if name.endswith(".gz") else name
    return stem.endswith(DATA_SUFFIXES)


def list_channel_files(name: str, directory: str | os.PathLike | None) -> tuple[list[Path], list[Path]]:
    """(data files, skipped files) under ``directory``, recursively and sorted, so reads are deterministic."""
    if not directory:
        raise ChannelError(
            f"channel '{name}': no folder given (set SM_CHANNEL_{name.upper()} or pass --{name} <folder>)"
        )
    root = Path(directory)
    if not root.exists():
        raise ChannelError(f"channel '{name}': folder {root} does not exist")
    if root.is_file():
        candidates = [root]
    else:
        candidates = sorted(p for p in root.rglob("*") if p.is_file())
    data = [p for p in candidates if is_data_file(p)]
    skipped = [p for p in candidates if not is_data_file(p)]
    if not data:
        seen = ", ".join(p.name for p in skipped[:5]) or "nothing"
        raise ChannelError(
            f"channel '{name}': no JSON Lines files (*.json, *.jsonl, *.ndjson, optionally .gz) in {root} "
            f"(found: {seen})"
        )
    return data, skipped


def _open_lines(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _parse_label(value, where: str) -> int:
    # bool is an int subclass: true/false in a curated file means a broken writer, not a label.
    if isinstance(value, bool) or value is None:
        raise ChannelError(f"{where}: label must be 0 or 1, got {json.dumps(value)}")
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    raise ChannelError(f"{where}: label must be 0 or 1, got {json.dumps(value)[:_SNIPPET_CHARS]}")


def _parse_record(line: str, where: str) -> tuple[str, int, str | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ChannelError(f"{where}: not valid JSON ({error.msg}): {line[:_SNIPPET_CHARS]!r}") from None
    if not isinstance(record, dict):
        raise ChannelError(f"{where}: expected a JSON object per line, got {type(record).__name__}")
    missing = [key for key in ("text", "label") if key not in record]
    if missing:
        raise ChannelError(f"{where}: missing field(s) {', '.join(missing)} (fields present: {sorted(record)[:10]})")
    text = record["text"]
    if not isinstance(text, str):
        raise ChannelError(f"{where}: text must be a string, got {type(text).__name__}")
    label = _parse_label(record["label"], where)
    # Idempotent on the Glue job's output; makes hand-made channels train on what inference will see.
    cleaned = normalize_text(text)
    if not cleaned:
        review_id = record.get("review_id")
        suffix = f" (review_id {review_id})" if review_id is not None else ""
        raise ChannelError(f"{where}: text is empty after normalization{suffix}")
    review_id = record.get("review_id")
    return cleaned, label, (None if review_id is None else str(review_id))


def read_channel(name: str, directory: str | os.PathLike | None, require_both_classes: bool = True) -> ChannelData:
    """Read every record of a channel; raise :class:`ChannelError` on the first problem."""
    data_files, skipped = list_channel_files(name, directory)
    result = ChannelData(name=name, files=[str(p) for p in data_files], skipped_files=[str(p) for p in skipped])
    digest = hashlib.sha256()
    for path in data_files:
        digest.update(path.name.encode("utf-8") + b"\0")
        try:
            with _open_lines(path) as handle:
                for number, line in enumerate(handle, start=1):
                    digest.update(line.encode("utf-8"))
                    if not line.strip():
                        continue
                    text, label, review_id = _parse_record(line, f"channel '{name}', {path.name} line {number}")
                    result.texts.append(text)
                    result.labels.append(label)
                    result.review_ids.append(review_id)
        except ChannelError:
            raise
        except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as error:
            raise ChannelError(f"channel '{name}': cannot read {path.name}: {error}") from None
    result.sha256 = digest.hexdigest()
    if not result.texts:
        raise ChannelError(f"channel '{name}': no records in {len(data_files)} file(s) under {directory}")
    if require_both_classes:
        present = sorted(set(result.labels))
        if present != [0, 1]:
            only = "positive (1)" if present == [1] else "negative (0)"
            raise ChannelError(
                f"channel '{name}': only {only} labels in {len(result)} records; both classes are needed"
            )
    return result
