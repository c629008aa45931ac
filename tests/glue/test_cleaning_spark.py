"""Spark cleaning == review_text.normalize_text, rule by rule, on edge cases and on random tricky strings."""

from __future__ import annotations

import random

import pytest
import review_cleaning as job
import review_text

pytestmark = pytest.mark.spark

EDGE_CASES = [
    "Great film.<br /><br />Loved it", "a<BR>b", "the <i>best</i> one", "<spoiler>he dies</spoiler>",
    "5 < 6 and 7 > 3", "I <3 it", "Tom &amp; Jerry &#8230; &eacute;", "&lt;b&gt;literal&lt;/b&gt;",
    "1990\x962000", "wait\x85 what", "\x93quoted\x94", "odd\x8dchar", "e\u0301", "  tabs\tand\u00a0nbsp  \n ",
    "", "   ", "\t\n", "<\u00a0br>x", "<\x1cbr>x", "<dİv>y", "<dıv>y", "<br²>z", "<bré>z", "a\x1cb",
    "&#133;ellipsis entity", "&amp", "&#x96;dash", "&#150;", "&nbsp;x&nbsp;", "\ufeffbom", "zero\u200bwidth",
    "<p>para</p>next", "<<b>br>", "\u3000ideographic\u3000", "emoji \U0001F600 <b>\U0001F600</b>",
    "Ohm \u2126 Kelvin \u212a", "<a href='x'>link</a>", "<br/ >", "<BR\n/>", "a\r\nb", "mixed\u0085nel",
    "<hr>rule", "<li>item<li>item", "x<tr >y", "<brx>z", "< br>", "</ br>", "&lt;br&gt;", "&#0;", "&#xD800;",
    "&#1114112;", "caf\u00e9 vs cafe\u0301", "\u1100\u1161\u11a8 hangul jamo", "A\u030a\u0301", "\x80\x81\x9f",
    "<" + "x" * 250 + ">", "<b" + "y" * 199 + ">end", "tag <a\nhref>", "&AMP; &Amp;", "&frac12 &frac12;",
]


def _random_strings(count: int, seed: int) -> list[str]:
    tokens = ["<", ">", "/", "br", "p", "div", "i", "b", " ", "\t", "\n", "&", "#", "x", "96", "133", ";", "amp",
              "lt", "gt", "nbsp", "eacute", "\x85", "\x96", "\x9d", "\xa0", "\u2028", "\u200b", "\x1c", "e",
              "\u0301", "İ", "ı", "A", "\u030a", "²", "é", "\U0001F600", "\ufeff", "'", '"', "=", "-", "a"]
    rng = random.Random(seed)
    return ["".join(rng.choice(tokens) for _ in range(rng.randint(0, 25))) for _ in range(count)]


def _spark_clean(spark, texts: list[str | None]) -> list[str | None]:
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "i int, raw string")
    rows = job.clean_text(df, "raw", "clean").select("i", "clean").collect()
    by_index = {r["i"]: r["clean"] for r in rows}
    assert len(by_index) == len(texts), "clean_text lost or duplicated rows"
    return [by_index[i] for i in range(len(texts))]


def test_spark_cleaning_equals_normalize_text_on_edge_cases_and_random_strings(spark):
    texts = EDGE_CASES + _random_strings(3000, seed=7) + [None]
    got = _spark_clean(spark, texts)
    mismatches = [(t, g, review_text.normalize_text(t)) for t, g in zip(texts, got, strict=True)
                  if g != review_text.normalize_text(t)]
    assert mismatches == []


def test_each_rule_on_its_own(spark):
    cases = {
        "Great film.<br /><br />Loved it": "Great film. Loved it",  # break tags -> space, collapsed
        "the <i>best</i> one": "the best one",  # other tags removed
        "Tom &amp; Jerry": "Tom & Jerry",  # entities unescaped
        "1990\x962000": "1990\u20132000",  # C1 -> cp1252 punctuation
        "e\u0301": "\u00e9",  # NFC
        "  a \t\u00a0 b  ": "a b",  # whitespace
    }
    assert _spark_clean(spark, list(cases)) == list(cases.values())


def test_label_spellings_match_review_text(spark):
    from pyspark.sql import functions as F

    spellings = sorted(review_text.POSITIVE_LABELS | review_text.NEGATIVE_LABELS)
    values = spellings + [" POS ", "\tNegative\n", "Positive\u00a0", "TRUE", "maybe", "2", "", "  ", None, "+ 1"]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    got = {r["i"]: r["label"] for r in df.select("i", job.normalize_label(F.col("v")).alias("label")).collect()}
    assert [got[i] for i in range(len(values))] == [review_text.normalize_label(v) for v in values]
