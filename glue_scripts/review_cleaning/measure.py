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
              .agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("_dq_changed").cast("int")).alias("changed"), *marks))
    counts = counts.agg(F.collect_list(F.struct(*[F.col(f"`{c}`") for c in counts.columns])).alias("counts"))
    # Four single-row aggregations joined into one row: one Spark job, where each job of its own cost about a
    # second of planning and scheduling on a cold JVM.
    row = counts.crossJoin(_single_row_figures(df)).crossJoin(_leaked_texts(df)).crossJoin(_leaked_groups(df)).first()
    stat_names = ("cmin", "cmed", "cmean", "cmax", "wmin", "wmed", "wmean", "wmax")
    return {"counts": [r.asDict() for r in row["counts"]], "stats": {k: row[k] for k in stat_names},
            "leaked_texts": int(row["leaked"] or 0), "leaked_groups": int(row["leaked_groups"] or 0),
            "urls_shared_with_test": int(row["shared_with_test"] or 0),
            "duplicate_groups": int(row["duplicate_groups"] or 0)}


def _single_row_figures(df: DataFrame) -> DataFrame:
    """The text statistics of the kept rows and the number of kept rows that other rows were collapsed into."""
    kept = F.col("_dq_status") == "kept"
    chars = F.when(kept, F.col("_dq_chars"))  # length and spaces + 1 of the cleaned text (records.classify_columns)
    words = F.when(kept, F.col("_dq_words"))
    return df.agg(
        F.min(chars).alias("cmin"), F.percentile(chars, 0.5).alias("cmed"), F.avg(chars).alias("cmean"),
        F.max(chars).alias("cmax"), F.min(words).alias("wmin"), F.percentile(words, 0.5).alias("wmed"),
        F.avg(words).alias("wmean"), F.max(words).alias("wmax"),
        F.countDistinct(F.when(F.col("_dq_status") == "duplicate", F.col("_dq_kept_id"))).alias("duplicate_groups"),
    )


def _leaked_texts(df: DataFrame) -> DataFrame:
    """Kept rows beyond the first per duplicate key (a key held twice is a leak: nothing may share one)."""
    kept = df.filter(F.col("_dq_status") == "kept")
    return (kept.groupBy("_dq_dup").agg(F.count(F.lit(1)).alias("n")).filter(F.col("n") > 1)
            .agg(F.sum(F.col("n") - 1).alias("leaked")))


def _leaked_groups(df: DataFrame) -> DataFrame:
    """Movie urls with kept rows in train and validation (a leaked movie), and urls in test and elsewhere
    (informational), from one set of split flags per url."""
    kept = df.filter(F.col("_dq_status") == "kept")
    split = F.col("split")

    def flag(condition) -> Column:
        return F.max(condition.cast("int"))

    return (kept.filter(F.col("_dq_url").isNotNull()).groupBy("_dq_url")
            .agg(flag(split == TRAIN).alias("train"), flag(split == VALIDATION).alias("validation"),
                 flag(split == TEST).alias("test"), flag(split != TEST).alias("other"))
            .agg(F.sum(((F.col("train") + F.col("validation")) == 2).cast("int")).alias("leaked_groups"),
                 F.sum(((F.col("test") + F.col("other")) == 2).cast("int")).alias("shared_with_test")))
