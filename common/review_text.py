"""The one definition of review-text and label normalization (docs/architecture.md, "Cleaned review record").

Who uses it:
- ``glue_scripts/review_cleaning`` (``text.py``, ``java_patterns.py``) builds its Spark column expressions from the *rule data* below
  (patterns, translation tables, label spellings) and is tested to give exactly what
  :func:`normalize_text` gives;
- ``training/train.py`` and ``training/inference.py`` call :func:`normalize_text` directly, so a review
  is cleaned the same way when it is trained on and when it is served.

The Glue job receives this file through ``--extra-py-files``; the training ``sourcedir.tar.gz`` carries it
at its root. Standard library only: it must import in Glue, in the SageMaker container and locally.
"""

from __future__ import annotations

import html
import re
import unicodedata

# --- Windows-1252 punctuation carried as C1 control characters (U+0080-U+009F) -----------------------
# The IMDb export decoded Windows-1252 bytes as Latin-1, so U+0096 stands for an en dash, U+0085 for an
# ellipsis, and so on. Code points that cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) become a
# space (and are then folded by the whitespace rule).
C1_UNDEFINED_REPLACEMENT = " "


def _c1_table() -> dict[str, str]:
    table = {}
    for code in range(0x80, 0xA0):
        ch = chr(code)
        try:
            table[ch] = ch.encode("latin-1").decode("cp1252")
        except UnicodeDecodeError:
            table[ch] = C1_UNDEFINED_REPLACEMENT
    return table


C1_TO_CP1252: dict[str, str] = _c1_table()

# --- HTML ------------------------------------------------------------------------------------------------
# Line-break-like tags become a space; any other tag (``<i>``, ``</i>``, ``<spoiler>``) is removed.
# A tag is "<", an optional "/", a letter, then up to 200 characters that are not angle brackets, then ">":
# "a < b" or "<3" are left alone. Patterns are written so that Python ``re`` and Java regex read them alike.
BREAK_TAG_PATTERN = r"(?i)<\s*/?\s*(?:br|p|div|hr|li|tr)\b[^<>]{0,200}>"
BREAK_TAG_REPLACEMENT = " "
OTHER_TAG_PATTERN = r"</?[A-Za-z][^<>]{0,200}>"
OTHER_TAG_REPLACEMENT = ""
# Entities are unescaped with the HTML5 rules of ``html.unescape`` after tags are removed, so an escaped
# "&lt;b&gt;" survives as the literal text "<b>".
ENTITY_PATTERN = r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?"

# --- Whitespace ------------------------------------------------------------------------------------------
# Every run of whitespace (ASCII and Unicode spaces, zero-width space and BOM included) becomes one space,
# then the text is trimmed. The class is spelled out so that Java (Spark) and Python agree on it.
WHITESPACE_PATTERN = "[\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+"
WHITESPACE_REPLACEMENT = " "

UNICODE_FORM = "NFC"

_BREAK_TAG = re.compile(BREAK_TAG_PATTERN)
_OTHER_TAG = re.compile(OTHER_TAG_PATTERN)
_ENTITY = re.compile(ENTITY_PATTERN)
_WHITESPACE = re.compile(WHITESPACE_PATTERN)
_C1_TRANSLATION = str.maketrans(C1_TO_CP1252)


def map_c1_controls(text: str) -> str:
    """Map U+0080-U+009F to the Windows-1252 punctuation they stand for."""
    return text.translate(_C1_TRANSLATION)


def strip_html(text: str) -> str:
    """Remove HTML tags (break-like tags become a space) and unescape entities."""
    text = _BREAK_TAG.sub(BREAK_TAG_REPLACEMENT, text)
    text = _OTHER_TAG.sub(OTHER_TAG_REPLACEMENT, text)
    if "&" in text:
        text = html.unescape(text)
        # An entity may itself encode a C1 character (&#133;): map it like a raw one.
        text = map_c1_controls(text)
    return text


def collapse_whitespace(text: str) -> str:
    return _WHITESPACE.sub(WHITESPACE_REPLACEMENT, text).strip(WHITESPACE_REPLACEMENT)


def normalize_text(text: str | None) -> str | None:
    """The cleaned text of a review, in this order: C1 punctuation, HTML tags and entities, NFC, whitespace.

    ``None`` stays ``None``; the result may be an empty string (a caller decides whether that is an error).
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"review text must be a string, got {type(text).__name__}")
    text = map_c1_controls(text)
    text = strip_html(text)
    text = unicodedata.normalize(UNICODE_FORM, text)
    return collapse_whitespace(text)


# --- Labels ----------------------------------------------------------------------------------------------
# Every spelling is compared after trimming and lower-casing.
POSITIVE_LABELS = frozenset({"positive", "pos", "1", "+1", "1.0", "+1.0", "true", "yes"})
NEGATIVE_LABELS = frozenset({"negative", "neg", "0", "-1", "0.0", "-1.0", "false", "no"})
LABEL_NAMES = {1: "positive", 0: "negative"}

# Column names recognised in raw files, most specific first (compared case-insensitively).
TEXT_COLUMN_CANDIDATES = ("review", "review_text", "reviewtext", "text", "content", "body", "comment", "sentence")
LABEL_COLUMN_CANDIDATES = ("sentiment", "label", "polarity", "class", "target", "y")


def normalize_label(value) -> int | None:
    """1 for a positive spelling, 0 for a negative one, ``None`` when missing or unknown."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        if value in (1, 1.0):
            return 1
        if value in (0, 0.0, -1, -1.0):
            return 0
        return None
    spelled = str(value).strip().lower()
    if spelled in POSITIVE_LABELS:
        return 1
    if spelled in NEGATIVE_LABELS:
        return 0
    return None
