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


def _classified(spark, texts, labels=None, ratings=None, opts=None):
    """Rows through the job's Python pass on Spark (review_cleaning.classify), in input order."""
    labels = labels or ["positive"] * len(texts)
    ratings = ratings or [None] * len(texts)
    rows = [(str(i), t, lab, r, str(i), None, None, False, False)
            for i, (t, lab, r) in enumerate(zip(texts, labels, ratings, strict=True))]
    df = spark.createDataFrame(rows, "i string, _dq_text_raw string, _dq_label_raw string, _dq_rating_raw string, "
                                     "_dq_key string, _dq_url string, _dq_split_hint string, _dq_malformed boolean, "
                                     "_dq_undecodable boolean")
    raw = job.RawInput(df=df, input_format="jsonl", original_columns=["i"], roles={"text": "i"})
    opts = opts or job.parse_options({"input_uri": "in", "curated_uri": "out", "run_id": "t"})
    got = {r["i"]: r for r in job.classify(raw, opts).collect()}
    assert len(got) == len(texts), "the Python pass lost or duplicated rows"
    return [got[str(i)] for i in range(len(texts))]


def test_spark_cleaning_equals_normalize_text_on_edge_cases_and_random_strings(spark):
    texts = EDGE_CASES + _random_strings(3000, seed=7) + [None]
    got = [r["_dq_text"] for r in _classified(spark, texts)]
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
        "clich\u00c3\u00a9 &lt;br /&gt;end": "clich\u00e9 end",  # mojibake, escaped HTML
    }
    assert [r["_dq_text"] for r in _classified(spark, list(cases))] == list(cases.values())


def test_label_spellings_match_review_text(spark):
    spellings = sorted(review_text.POSITIVE_LABELS | review_text.NEGATIVE_LABELS)
    values = spellings + [" POS ", "\tNegative\n", "Positive\u00a0", "TRUE", "maybe", "2", "", "  ", None, "+ 1",
                          "Positive.", "p", "postive", "negtive", "neutral"]
    rows = _classified(spark, [f"a long enough review text number {i}" for i in range(len(values))], labels=values)
    assert [r["_dq_label"] for r in rows] == [review_text.parse_label(v)[0] for v in values]
    repaired = [v for v, r in zip(values, rows, strict=True) if "label_spelling" in r["_dq_repairs"]]
    assert repaired == [v for v in values if review_text.parse_label(v)[1]]
