"""Column roles: which input column holds the text, label, rating, key, movie url and split, and the internal columns.

Text and label spellings come from review_text (shared with training); the others are the job's. Every reader
returns the original columns plus the INTERNAL ``_dq_*`` columns, whatever the format.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import review_text

RATING_COLUMN_CANDIDATES = ("rating", "stars", "star_rating", "score")
# The source key: the first candidate that is present, complete and unique (else the cleaned text's SHA-256).
KEY_COLUMN_CANDIDATES = ("review_id", "file", "id", "row_id", "record_id", "feedback_id", "ticket_id",
                         "comment_id", "response_id", "uuid", "guid", "key")
URL_COLUMN_CANDIDATES = ("url", "movie_url", "movie_id", "title_id", "product_id", "item_id")
SPLIT_COLUMN_CANDIDATES = ("split", "subset", "fold")
TEST_SPLIT_SPELLINGS = ("test", "testing", "holdout", "heldout", "eval")
CORRUPT_COLUMN = "_corrupt_record"
TEXT_COLUMN_CANDIDATES = review_text.TEXT_COLUMN_CANDIDATES
LABEL_COLUMN_CANDIDATES = review_text.LABEL_COLUMN_CANDIDATES

INTERNAL = ("_dq_text_raw", "_dq_label_raw", "_dq_rating_raw", "_dq_key", "_dq_url", "_dq_split_hint",
            "_dq_malformed", "_dq_undecodable")


def find_column(columns: Iterable[str], candidates: Sequence[str]) -> str | None:
    """The first candidate present in ``columns`` (case-, space- and BOM-insensitive); the column's real name."""
    by_key = {}
    for name in columns:
        by_key.setdefault(name.replace("\ufeff", "").strip().lower(), name)
    for candidate in candidates:
        if candidate in by_key:
            return by_key[candidate]
    return None


def context_columns(columns: list[str], wanted: tuple[str, ...]) -> dict[str, str]:
    """The wanted context columns (``--context_columns``) the input has: name -> the input's column, matched
    ignoring case (the first such column when two differ only in case)."""
    by_name = {c.lower(): c for c in reversed(columns)}
    return {name: by_name[name] for name in wanted if name in by_name}
