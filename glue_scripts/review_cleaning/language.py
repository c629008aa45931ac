"""Language identification of cleaned review texts: py3langid (ships its model in the package) behind a cheap test.

An English sentiment model must not be trained on, or silently score, reviews in other languages. Identifying the
language of every review with the model costs about 1.4 ms per review, so an inexpensive test comes first: a text in
which English function words make up at least ``ENGLISH_MARKER_SHARE`` of the words is English (on the 25,000 IMDb
training reviews the lowest share is 0.105 and 99.9 % are above 0.22; a French, German or Spanish review scores
near 0). Only the other texts go to py3langid, which is asked for normalized probabilities over all its 97
languages. A text is foreign when py3langid names another language with at least ``min_confidence``. Texts shorter
than ``min_chars`` are not judged (identification is unreliable on a few words).

The model is read with importlib.resources, so the package works from the Glue job's zip of vendored packages.
Unpacking it (LZMA, then NumPy's npz) takes about 0.5 CPU-s, in every Python worker of a Spark run that meets one
text below the marker share. The first process to unpack it keeps the arrays, uncompressed, in the cache folder
(``review_cleaning.cache``; ``DS_ON_AWS_LANGUAGE_MODEL_CACHE`` names another folder, or ``off``), under a name
that carries py3langid's version and a digest of the model file; later processes map them from there (about 0.04
CPU-s, and the pages are shared between workers). A cache that is missing, damaged or not writable only costs the
unpacking: the arrays are then read from the package as before.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from review_cleaning.cache import default_cache_folder

ENGLISH_MARKER_SHARE = 0.2
ENGLISH_MARKERS = frozenset(
    "the and of to is it that this was for with but not you are have he she his her they be on as at by from an or "
    "so if what all one there in a my i me we be been has had were would could just very about who which".split())
_WORD = re.compile(r"[a-z']+")
MARKER_CHARS = 500
# How much of a text py3langid reads: the first characters decide the language of a review.
IDENTIFY_CHARS = 1000


def english_marker_share(text: str) -> float:
    """The share of English function words among the first MARKER_CHARS characters' words."""
    words = _WORD.findall(text[:MARKER_CHARS].lower())
    return sum(map(ENGLISH_MARKERS.__contains__, words)) / len(words) if words else 0.0


# "off", or the folder for the unpacked model (default: review_cleaning.cache.default_cache_folder()).
MODEL_CACHE_ENV = "DS_ON_AWS_LANGUAGE_MODEL_CACHE"
# The arrays of py3langid's model file (its modelio.load_model reads the same names).
MODEL_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")


@functools.cache
def _identifier():
    """py3langid's identifier with normalized probabilities, built once per process (from the cache when it can)."""
    from importlib import resources

    import numpy as np
    import py3langid
    from py3langid.langid import MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import _to_array  # py3langid's own conversion (the package is pinned, 0.4.0)

    packed = resources.files("py3langid").joinpath(MODEL_FILE).read_bytes()
    folder = model_cache_folder(py3langid.__version__, packed)
    arrays = _read_cached(folder) if folder is not None else None
    if arrays is None:
        arrays = _unpack(packed)
        if folder is not None:
            _write_cached(folder, arrays)
    ptc, pc, classes, nextmove, nextmove_row, out_feat = (arrays[name] for name in MODEL_ARRAYS)
    # As py3langid's own from_model_file builds it: the two state tables as stdlib arrays, the rest as lists.
    return LanguageIdentifier(np.asarray(ptc), np.asarray(pc), classes.tolist(), _to_array(nextmove),
                              out_feat.tolist(), norm_probs=True, tk_row=_to_array(nextmove_row))


def model_cache_folder(version: str, packed: bytes) -> Path | None:
    """Where the unpacked arrays of the model file ``packed`` are kept (None: the cache is off)."""
    setting = os.environ.get(MODEL_CACHE_ENV, "").strip()
    if setting.lower() == "off":
        return None
    root = Path(setting) if setting else default_cache_folder()
    digest = hashlib.sha256(packed).hexdigest()[:16]
    return root / f"py3langid-{version}-{digest}"


def _unpack(packed: bytes) -> dict:
    """The model's arrays from its packed file (LZMA around an npz), as py3langid's modelio.load_model reads it."""
    import lzma

    import numpy as np

    with tempfile.TemporaryFile(suffix=".npz") as unpacked:
        with lzma.open(io.BytesIO(packed)) as source:
            shutil.copyfileobj(source, unpacked, length=1 << 20)
        unpacked.seek(0)
        with np.load(unpacked, allow_pickle=False) as data:
            missing = set(MODEL_ARRAYS).difference(data.files)
            if missing:
                raise ValueError(f"py3langid's model file lacks the arrays {sorted(missing)}")
            return {name: data[name] for name in MODEL_ARRAYS}


def _read_cached(folder: Path) -> dict | None:
    """The arrays mapped from ``folder`` (read-only), or None when it is missing or damaged (then removed)."""
    import numpy as np

    if not folder.is_dir():
        return None
    try:
        return {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in MODEL_ARRAYS}
    except (OSError, ValueError):  # a missing or short file, a header numpy cannot read
        shutil.rmtree(folder, ignore_errors=True)
        return None


def _write_cached(folder: Path, arrays: dict) -> None:
    """Keep ``arrays`` in ``folder``: written beside it, then moved there in one step; any failure is ignored."""
    import numpy as np

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError:
        return
    try:
        for name in MODEL_ARRAYS:
            np.save(scratch / f"{name}.npy", arrays[name], allow_pickle=False)
        os.replace(scratch, folder)  # fails when another process got there first: its copy is as good
    except OSError:
        pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class LanguageRule:
    """``expected`` is an ISO 639-1 code (``en``); an empty ``expected`` turns the rule off."""

    expected: str = "en"
    min_confidence: float = 0.9
    min_chars: int = 40

    @property
    def enabled(self) -> bool:
        return bool(self.expected)

    def foreign_language(self, text: str) -> str | None:
        """The language of ``text`` when it is confidently not ``expected``, else None."""
        if not self.enabled or len(text) < self.min_chars:
            return None
        if self.expected == "en" and english_marker_share(text) >= ENGLISH_MARKER_SHARE:
            return None
        language, probability = _identifier().classify(text[:IDENTIFY_CHARS])
        if language != self.expected and probability >= self.min_confidence:
            return language
        return None
