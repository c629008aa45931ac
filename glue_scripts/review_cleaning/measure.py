"""Measuring: every figure of the report from the classified frame, with two aggregations (only counts reach the driver)."""

from __future__ import annotations

from typing import Any

from pipeline_contracts import TEST, TRAIN, VALIDATION
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from review_cleaning.records import REPAIRS, SEEN


def measure(df: DataFrame) -> dict[str, Any]:
    """All figures of the report with two aggregations over the cached frame (only counts reach the driver).

    Leakage is measured with distinct counts instead of joins: kept rows minus distinct kept duplicate keys is the
    number of (near-)duplicate texts held twice (so none can be in two splits when it is 0), and distinct urls per side minus distinct
    urls overall is the number of movies on both sides.
    """
    marks = [F.sum(F.array_contains("_dq_repairs", kind).cast("int")).alias(f"repair:{kind}") for kind in REPAIRS]
    marks += [F.sum(F.array_contains("_dq_seen", kind).cast("int")).alias(f"seen:{kind}") for kind in SEEN]
    counts = (df.groupBy("_dq_status", "_dq_reason", "split", "_dq_label")
              .agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("_dq_changed").cast("int")).alias("changed"), *marks)
              .collect())
    kept = F.col("_dq_status") == "kept"
    text = F.when(kept, F.col("_dq_text"))
    chars = F.length(text)
    words = chars - F.length(F.regexp_replace(text, " ", "")) + 1
    url = F.when(kept, F.col("_dq_url"))
    split = F.col("split")

    def distinct(value: Column) -> Column:
        return F.countDistinct(value)

    row = df.agg(
        F.min(chars).alias("cmin"), F.percentile(chars, 0.5).alias("cmed"), F.avg(chars).alias("cmean"),
        F.max(chars).alias("cmax"), F.min(words).alias("wmin"), F.percentile(words, 0.5).alias("wmed"),
        F.avg(words).alias("wmean"), F.max(words).alias("wmax"),
        F.sum(kept.cast("int")).alias("kept"), distinct(F.when(kept, F.col("_dq_dup"))).alias("kept_texts"),
        distinct(F.when(split == TRAIN, url)).alias("u_train"),
        distinct(F.when(split == VALIDATION, url)).alias("u_validation"),
        distinct(F.when(split.isin(TRAIN, VALIDATION), url)).alias("u_train_validation"),
        distinct(F.when(split == TEST, url)).alias("u_test"),
        distinct(F.when(split != TEST, url)).alias("u_not_test"),
        distinct(url).alias("u_all"),
        distinct(F.when(F.col("_dq_status") == "duplicate", F.col("_dq_kept_id"))).alias("duplicate_groups"),
    ).first().asDict()
    return {
        "counts": [r.asDict() for r in counts],
        "stats": row,
        "leaked_texts": (row["kept"] or 0) - row["kept_texts"],
        "leaked_groups": row["u_train"] + row["u_validation"] - row["u_train_validation"],
        "urls_shared_with_test": row["u_test"] + row["u_not_test"] - row["u_all"],
        "duplicate_groups": row["duplicate_groups"],
    }
