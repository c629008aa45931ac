"""Text cleaning: Spark built-ins from review_text's rule data + a vectorized pass for entities and NFC.

The result equals ``review_text.normalize_text`` exactly (tests prove it on every row of the real data and on an
edge-case fixture); labels are normalized with review_text's spellings.
"""

from __future__ import annotations

import functools
import html
import unicodedata

import review_text
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from review_cleaning.java_patterns import java_class_of_chars, java_regex, python_class, python_matches

C1_FROM = "".join(review_text.C1_TO_CP1252)
C1_TO = "".join(review_text.C1_TO_CP1252[c] for c in C1_FROM)
if len(C1_FROM) != len(C1_TO):  # translate() maps one character to one character
    raise RuntimeError("review_text.C1_TO_CP1252 must map each character to exactly one character")
NEEDS_PYTHON_PASS = r"[&]|[^\x{0}-\x{7F}]"  # entities need html.unescape, non-ASCII may need NFC


def _make_unicode_pass(c1_table: dict[str, str], form: str):
    """The vectorized pandas UDF for what Spark has no built-in for: HTML entities (HTML5 rules) and NFC.

    Built as a closure over plain data so that it pickles by value: workers need neither this module nor
    review_text on their path. Same steps, same order as review_text.strip_html's tail + normalize_text's NFC.
    """
    import pandas as pd

    translation = str.maketrans(c1_table)

    def unicode_pass(texts: pd.Series) -> pd.Series:
        def one(text):
            if text is None:
                return None
            if "&" in text:
                text = html.unescape(text).translate(translation)
            return unicodedata.normalize(form, text)

        return texts.map(one)

    unicode_pass.__annotations__ = {"texts": pd.Series, "return": pd.Series}  # real types, not strings
    return F.pandas_udf(unicode_pass, T.StringType())


@functools.cache
def _unicode_pass_udf():
    return _make_unicode_pass(dict(review_text.C1_TO_CP1252), review_text.UNICODE_FORM)


def builtin_clean(text: Column, ascii_only: bool = False) -> Column:
    """C1 punctuation and HTML tags with Spark built-ins (first half of review_text.normalize_text)."""
    if not ascii_only:  # C1 characters are not ASCII
        text = F.translate(text, C1_FROM, C1_TO)
    text = F.regexp_replace(text, java_regex(review_text.BREAK_TAG_PATTERN, ascii_only),
                            review_text.BREAK_TAG_REPLACEMENT)
    return F.regexp_replace(text, java_regex(review_text.OTHER_TAG_PATTERN, ascii_only),
                            review_text.OTHER_TAG_REPLACEMENT)


def finish_clean(text: Column, ascii_only: bool = False) -> Column:
    """Whitespace collapse and trim (last step of review_text.normalize_text)."""
    if ascii_only:  # the ASCII members of the whitespace class, found by Python's re itself
        pattern = python_matches(review_text.WHITESPACE_PATTERN.removesuffix("+"), True) + "+"
    else:
        pattern = java_class_of_chars(review_text.WHITESPACE_PATTERN)
    text = F.regexp_replace(text, pattern, review_text.WHITESPACE_REPLACEMENT)
    if review_text.WHITESPACE_REPLACEMENT != " ":
        raise RuntimeError("finish_clean trims with Spark's trim(), which removes spaces only")
    return F.trim(text)


def clean_text(df: DataFrame, source: str, target: str) -> DataFrame:
    """Add ``target`` = review_text.normalize_text(``source``), computed with Spark built-ins where possible.

    Two paths, chosen per row: text that is pure ASCII without ``&`` (about 88 % of IMDb) takes small ASCII-only
    regex classes; the rest takes the exact Unicode classes, then the pandas UDF (entities, NFC), then the
    whitespace rule. The UDF receives null for rows that do not need it, so only those rows' text crosses to
    Python, in one pass (a ``when`` around a UDF would still send every row).
    """
    raw = F.col(source)
    simple = F.coalesce(~raw.rlike(NEEDS_PYTHON_PASS), F.lit(True))
    stage = "_dq_stage"
    df = df.withColumn(stage, F.when(simple, builtin_clean(raw, ascii_only=True)).otherwise(builtin_clean(raw)))
    needs = ~simple & F.coalesce(F.col(stage).rlike(NEEDS_PYTHON_PASS), F.lit(False))
    passed = _unicode_pass_udf()(F.when(needs, F.col(stage)))
    df = df.withColumn(stage, F.when(needs, passed).otherwise(F.col(stage)))
    cleaned = F.when(simple, finish_clean(F.col(stage), ascii_only=True)).otherwise(finish_clean(F.col(stage)))
    return df.withColumn(target, cleaned).drop(stage)


def normalize_label(value: Column) -> Column:
    """1 / 0 / null from review_text's label spellings (trimmed like Python's str.strip, lower-cased)."""
    space = python_class("s")
    spelled = F.lower(F.regexp_replace(value.cast("string"), f"^{space}+|{space}+$", ""))
    return (F.when(spelled.isin(*sorted(review_text.POSITIVE_LABELS)), F.lit(1))
            .when(spelled.isin(*sorted(review_text.NEGATIVE_LABELS)), F.lit(0))
            .otherwise(F.lit(None).cast("int")))


def is_blank(value: Column) -> Column:
    space = python_class("s")
    return value.isNull() | (F.regexp_replace(value.cast("string"), f"{space}+", "") == "")
