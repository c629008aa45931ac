"""The one definition of review-text and label normalization (docs/architecture.md, "Cleaned review record").

Who uses it:
- the Glue job (``glue_scripts/review_cleaning/records.py``) runs :func:`clean_review_text`,
  :func:`duplicate_hash` and :func:`parse_label` on every row in Spark's Python workers;
- ``training/train.py`` and ``training/inference.py`` call :func:`normalize_text`, so a review is cleaned the
  same way when it is trained on, when it is served and when it is scored in bulk.

The Glue job receives this file through ``--extra-py-files``; the training ``sourcedir.tar.gz`` and the model's
``code/`` folder carry it at their root. Standard library plus ftfy (pure Python, with its one dependency
wcwidth), which every one of those packages ships (``ds_on_aws.packaging.VENDORED_PACKAGES``), so that nothing is
installed at start.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import re
import unicodedata

# The libraries this module needs besides the standard library, vendored into every code package (pure Python).
REQUIRED_PACKAGES = ("ftfy", "wcwidth")

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
# Entities are unescaped with the HTML5 rules of ``html.unescape`` before tags are removed (see strip_html).
ENTITY_PATTERN = r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?"

# --- Whitespace ------------------------------------------------------------------------------------------
# Every run of whitespace (ASCII and Unicode spaces, zero-width space and BOM included) becomes one space,
# then the text is trimmed. The class is spelled out so that Java (Spark) and Python agree on it.
WHITESPACE_PATTERN = "[\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+"
WHITESPACE_REPLACEMENT = " "

UNICODE_FORM = "NFC"

# --- Encoding damage ---------------------------------------------------------------------------------------
# Mojibake: UTF-8 text decoded as Windows-1252 or Latin-1 once or more (``clichÃ©``, ``donâ€™t``,
# ``clichÃƒÂ©``). Its signature is a character that a UTF-8 lead byte (0xC2-0xF4) becomes, followed by one that
# a continuation byte (0x80-0xBF) becomes in Windows-1252 or Latin-1. The signature only selects the rows that
# ftfy (the library made for this) looks at: ``ftfy.fix_encoding`` decides, and leaves text it is not sure of.
_CONTINUATION_CHARS = "".join(sorted({bytes([b]).decode("latin-1") for b in range(0x80, 0xC0)}
                                     | {bytes([b]).decode("cp1252", "ignore") for b in range(0x80, 0xC0)}))
MOJIBAKE_SIGNATURE = "[\u00c2-\u00f4][" + re.escape(_CONTINUATION_CHARS) + "]"

# HTML that was escaped before export: ``&lt;br /&gt;`` (or ``&amp;lt;br /&amp;gt;`` when escaped twice) is a tag.
ESCAPED_TAG_PATTERN = r"&(?:amp;)?lt;\s*/?\s*[A-Za-z]"
MAX_UNESCAPE_ROUNDS = 2

# --- Repairs -----------------------------------------------------------------------------------------------
# What :func:`clean_review_text` reports it repaired (the cleaning job counts them in ``data_quality.json``).
REPAIR_MOJIBAKE = "mojibake"
REPAIR_ESCAPED_HTML = "escaped_html"
# What it saw (not repairs: the cleaning every export needs), reported as cleaning figures.
SEEN_BREAK_TAGS = "break_tags"
SEEN_C1_CONTROLS = "c1_controls"
SEEN_ENTITIES = "entities"

_BREAK_TAG = re.compile(BREAK_TAG_PATTERN)
_OTHER_TAG = re.compile(OTHER_TAG_PATTERN)
_ENTITY = re.compile(ENTITY_PATTERN)
_WHITESPACE = re.compile(WHITESPACE_PATTERN)
_MOJIBAKE = re.compile(MOJIBAKE_SIGNATURE)
_ESCAPED_TAG = re.compile(ESCAPED_TAG_PATTERN)
_C1_TRANSLATION = str.maketrans(C1_TO_CP1252)
_C1 = re.compile("[\u0080-\u009f]")


def _ftfy():
    try:
        import ftfy
    except ImportError as error:  # shipped with the Glue job, the training code and the model's code
        raise ImportError("review_text needs ftfy (requirements-local.txt; the cloud code packages carry it): "
                          f"{error}") from error
    return ftfy


def map_c1_controls(text: str) -> str:
    """Map U+0080-U+009F to the Windows-1252 punctuation they stand for."""
    return text.translate(_C1_TRANSLATION) if _C1.search(text) else text


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 read as Windows-1252/Latin-1 (once or several times) with ftfy; other text is returned as is."""
    if text.isascii() or not _MOJIBAKE.search(text):
        return text
    return _ftfy().fix_encoding(text)


def unescape_entities(text: str) -> str:
    """HTML5 entities unescaped (``html.unescape``); a second round only for tags that were escaped twice."""
    for _ in range(MAX_UNESCAPE_ROUNDS):
        if "&" not in text or not _ENTITY.search(text):
            break
        text = html.unescape(text)
        if not _ESCAPED_TAG.search(text):
            break
    # An entity may itself encode a C1 character (&#133;): map it like a raw one.
    return map_c1_controls(text)


def strip_html(text: str) -> str:
    """Unescape entities, then remove HTML tags (break-like tags become a space).

    Entities come first so that HTML escaped before export (``&lt;br /&gt;``) is removed like the tag it is;
    "5 &lt; 6" still becomes "5 < 6", since "< 6" is no tag.
    """
    text = unescape_entities(text)
    text = _BREAK_TAG.sub(BREAK_TAG_REPLACEMENT, text)
    return _OTHER_TAG.sub(OTHER_TAG_REPLACEMENT, text)


def collapse_whitespace(text: str) -> str:
    if text.isascii():  # bytes.split() splits on exactly the ASCII members of WHITESPACE_PATTERN, at C speed
        return b" ".join(text.encode("ascii").split()).decode("ascii")
    return _WHITESPACE.sub(WHITESPACE_REPLACEMENT, text).strip(WHITESPACE_REPLACEMENT)


def clean_review_text(text: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The cleaned text and what was repaired or seen on the way (REPAIR_* and SEEN_* names).

    In this order: C1 punctuation, mojibake (ftfy), HTML entities, HTML tags, NFC, whitespace. ``None`` stays
    ``None``; the result may be an empty string (a caller decides whether that is an error).
    """
    if text is None:
        return None, ()
    if not isinstance(text, str):
        raise TypeError(f"review text must be a string, got {type(text).__name__}")
    marks: list[str] = []
    if not text.isascii():
        mapped = map_c1_controls(text) if _C1.search(text) else text
        if mapped is not text:
            marks.append(SEEN_C1_CONTROLS)
        text = fix_mojibake(mapped)
        if text is not mapped and text != mapped:
            marks.append(REPAIR_MOJIBAKE)
    if "&" in text:
        if _ESCAPED_TAG.search(text):
            marks.append(REPAIR_ESCAPED_HTML)
        if _ENTITY.search(text):
            marks.append(SEEN_ENTITIES)
        text = unescape_entities(text)
    if "<" in text:
        stripped = _BREAK_TAG.sub(BREAK_TAG_REPLACEMENT, text)
        if stripped != text:
            marks.append(SEEN_BREAK_TAGS)
        text = _OTHER_TAG.sub(OTHER_TAG_REPLACEMENT, stripped)
    if not text.isascii():
        text = unicodedata.normalize(UNICODE_FORM, text)
    return collapse_whitespace(text), tuple(marks)


def normalize_text(text: str | None) -> str | None:
    """The cleaned text of a review (:func:`clean_review_text` without its marks): what training and serving use."""
    return clean_review_text(text)[0]


# --- Duplicates ------------------------------------------------------------------------------------------
# Two reviews are the same review when their cleaned texts agree after case folding and with every run of
# punctuation, symbols and whitespace read as one space: "Great film!!" and "great   film" are one review.
_NOT_WORD = re.compile(r"[\W_]+")


# For ASCII text the same key at C speed: every byte that is not a letter or digit becomes a space, then runs of
# spaces collapse (bytes.split), which is what the pattern does to ASCII.
_ASCII_NOT_WORD = bytes(b if chr(b).isalnum() and chr(b).isascii() else 0x20 for b in range(256))


def _duplicate_key_bytes(cleaned: str) -> bytes:
    if cleaned.isascii():
        return b" ".join(cleaned.lower().encode("ascii").translate(_ASCII_NOT_WORD).split())
    return _NOT_WORD.sub(" ", cleaned.casefold()).strip().encode("utf-8")


def duplicate_key(cleaned: str) -> str:
    """The text two near-duplicate reviews share (case, spacing and punctuation ignored)."""
    return _duplicate_key_bytes(cleaned).decode("utf-8")


def duplicate_hash(cleaned: str) -> str:
    """A short stable digest of :func:`duplicate_key` (what the cleaning job groups and compares by)."""
    return hashlib.blake2b(_duplicate_key_bytes(cleaned), digest_size=16).hexdigest()


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


# Repairable spellings: punctuation or stray characters around a known spelling ("Positive.", "'neg'"), the
# one-letter forms, and typos of the two words (a difflib ratio of at least LABEL_TYPO_CUTOFF: "postive",
# "negtive"; "neutral" stays unknown).
ONE_LETTER_LABELS = {"p": 1, "n": 0}
LABEL_WORDS = {"positive": 1, "negative": 0}
LABEL_TYPO_CUTOFF = 0.8
REPAIR_LABEL_SPELLING = "label_spelling"
_LABEL_NOISE = re.compile(r"[^a-z0-9+\-]+")


def parse_label(value) -> tuple[int | None, str | None]:
    """(label, repair): :func:`normalize_label`'s answer, else a repaired spelling with REPAIR_LABEL_SPELLING.

    ``(None, None)`` when the value is missing or cannot be read as a label without guessing.
    """
    label = normalize_label(value)
    if label is not None or value is None or isinstance(value, (bool, int, float)):
        return label, None
    letters = _LABEL_NOISE.sub("", str(value).lower())
    if not letters:
        return None, None
    label = normalize_label(letters)
    if label is None:
        label = ONE_LETTER_LABELS.get(letters)
    if label is None and len(letters) >= 5:
        close = difflib.get_close_matches(letters, LABEL_WORDS, n=1, cutoff=LABEL_TYPO_CUTOFF)
        label = LABEL_WORDS[close[0]] if close else None
    return label, (REPAIR_LABEL_SPELLING if label is not None else None)
