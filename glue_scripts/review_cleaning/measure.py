"""Measuring: every figure of the report from the decided rows (classification.decide: no texts; only counts reach
the driver)."""

from __future__ import annotations

from typing import Any

from pipeline_contracts import TEST, TRAIN, VALIDATION
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from review_cleaning.records import REPAIRS, SEEN


def measure(df: DataFrame) -> dict[str, Any]:
    """All figures of the report from the cached decided rows (only counts reach the driver)."""
    marks = [F.sum(F.array_contains("_dq_repairs", kind).cast("int")).alias(f"repair:{kind}") for kind in REPAIRS]
    marks += [F.sum(F.array_contains("_dq_seen", kind).cast("int")).alias(f"seen:{kind}") for kind in SEEN]
    counts = (df.groupBy("_dq_status", "_dq_reason", "split", "_dq_label")
              .agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("_dq_changed").cast("int")).alias("changed"), *marks)
              .collect())
    kept = F.col("_dq_status") == "kept"
    chars = F.when(kept, F.col("_dq_chars"))  # length and spaces + 1 of the cleaned text (records.classify_columns)
    words = F.when(kept, F.col("_dq_words"))
    row = df.agg(
        F.min(chars).alias("cmin"), F.percentile(chars, 0.5).alias("cmed"), F.avg(chars).alias("cmean"),
        F.max(chars).alias("cmax"), F.min(words).alias("wmin"), F.percentile(words, 0.5).alias("wmed"),
        F.avg(words).alias("wmean"), F.max(words).alias("wmax"),
    ).first().asDict()
    return {"counts": [r.asDict() for r in counts], "stats": row, **_overlaps(df)}


def _overlaps(df: DataFrame) -> dict[str, int]:
    """Leakage and duplicate groups from narrow group-bys (a handful of columns, not the texts).

    One count per duplicate key over kept rows (a key held twice is a leak); one set of split flags per movie url
    (a url in train and validation leaks a movie; one in test and elsewhere is informational); the number of kept
    rows that other rows were collapsed into.
    """
    kept = df.filter(F.col("_dq_status") == "kept")
    leaked = (kept.groupBy("_dq_dup").agg(F.count(F.lit(1)).alias("n")).filter(F.col("n") > 1)
              .agg(F.sum(F.col("n") - 1).alias("leaked")).first()["leaked"]) or 0
    split = F.col("split")

    def flag(condition) -> Column:
        return F.max(condition.cast("int"))

    urls = (kept.filter(F.col("_dq_url").isNotNull()).groupBy("_dq_url")
            .agg(flag(split == TRAIN).alias("train"), flag(split == VALIDATION).alias("validation"),
                 flag(split == TEST).alias("test"), flag(split != TEST).alias("other"))
            .agg(F.sum(((F.col("train") + F.col("validation")) == 2).cast("int")).alias("leaked_groups"),
                 F.sum(((F.col("test") + F.col("other")) == 2).cast("int")).alias("shared_with_test"))
            .first())
    groups = df.filter(F.col("_dq_status") == "duplicate").select("_dq_kept_id").distinct().count()
    return {"leaked_texts": int(leaked), "leaked_groups": int(urls["leaked_groups"] or 0),
            "urls_shared_with_test": int(urls["shared_with_test"] or 0), "duplicate_groups": groups}
