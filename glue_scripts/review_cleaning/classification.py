"""Classification, de-duplication and splits: every row gets a status, a reject reason or none, and a split.

:func:`classify` gives each row a reject reason or none; :func:`deduplicate` collapses exact duplicates of the
cleaned text (same label) to one representative and sends every copy of a text whose labels disagree to
quarantine; :func:`assign_splits` splits the rest deterministically (seeded hash), stratified by label, grouped by
movie ``url``; rows the input marks as test stay test.
"""

from __future__ import annotations

from pipeline_contracts import TEST, TRAIN, VALIDATION
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from review_cleaning.options import JobOptions
from review_cleaning.readers import RawInput
from review_cleaning.text import C1_FROM, clean_text, is_blank, normalize_label

REJECT_REASONS = ("malformed_record", "undecodable", "empty_text", "missing_label", "unknown_label",
                  "invalid_rating", "too_short", "too_long", "conflicting_duplicate")


def classify(std: DataFrame, opts: JobOptions) -> DataFrame:
    """Add cleaned text, label, rating, review_id, rule-hit flags and the first reject reason (or null)."""
    df = clean_text(std, "_dq_text_raw", "_dq_text")
    raw = F.col("_dq_text_raw")
    text = F.col("_dq_text")
    rating_number = F.expr("try_cast(_dq_rating_raw as double)")
    rating_ok = rating_number.isNotNull() & (rating_number == F.floor(rating_number)) & (F.abs(rating_number) < 1e9)
    length = F.length(text)
    reason = (
        F.when(F.col("_dq_malformed"), "malformed_record")
        .when(F.col("_dq_undecodable"), "undecodable")
        .when(text.isNull() | (text == ""), "empty_text")
        .when(is_blank(F.col("_dq_label_raw")), "missing_label")
        .when(F.col("_dq_label").isNull(), "unknown_label")
        .when(~is_blank(F.col("_dq_rating_raw")) & ~rating_ok, "invalid_rating")
        .when(length < opts.min_text_chars, "too_short")
        .when(length > opts.max_text_chars, "too_long")
    )
    text_sha = F.sha2(F.coalesce(text, F.lit("")), 256)
    return (df
            .withColumn("_dq_label", normalize_label(F.col("_dq_label_raw")))
            .withColumn("_dq_rating", F.when(rating_ok, rating_number.cast("int")))
            .withColumn("_dq_text_sha", text_sha)
            .withColumn("review_id", F.coalesce(F.col("_dq_key"), text_sha))
            .withColumn("_dq_reason", reason)
            .withColumn("_dq_hit_break", F.coalesce(F.lower(raw).contains("<br"), F.lit(False)))
            .withColumn("_dq_hit_c1", F.coalesce(raw.rlike(f"[{C1_FROM}]"), F.lit(False)))
            .withColumn("_dq_hit_entity", F.coalesce(raw.contains("&"), F.lit(False)))
            .withColumn("_dq_changed", F.coalesce(raw != text, F.lit(False))))


def deduplicate(df: DataFrame) -> DataFrame:
    """Add ``_dq_status`` (kept | duplicate | quarantined), ``_dq_kept_id`` and the conflicting_duplicate reason.

    Rows without a reject reason are grouped by their cleaned text. If the group's labels disagree, every copy
    goes to quarantine (nobody can tell which label is right). Otherwise one representative is kept: a copy the
    input marks as test first (the input's evaluation set stays as complete as possible), then the smallest
    review_id; the others are counted as collapsed duplicates.
    """
    valid = F.col("_dq_reason").isNull()
    group = Window.partitionBy(valid, "_dq_text_sha")
    ordered = group.orderBy(F.col("_dq_split_hint").isNull(), "review_id")
    conflicting = valid & (F.min("_dq_label").over(group) != F.max("_dq_label").over(group))
    df = (df.withColumn("_dq_reason", F.when(conflicting, F.lit("conflicting_duplicate")).otherwise(F.col("_dq_reason")))
          .withColumn("_dq_rank", F.row_number().over(ordered))
          .withColumn("_dq_kept_id", F.first("review_id").over(ordered)))
    status = (F.when(F.col("_dq_reason").isNotNull(), "quarantined")
              .when(F.col("_dq_rank") == 1, "kept").otherwise("duplicate"))
    return df.withColumn("_dq_status", status).drop("_dq_rank")


def assign_splits(df: DataFrame, validation_share: float, seed: int) -> DataFrame:
    """Add ``split``: test where the input says so, else train/validation by a seeded hash of the group.

    The group is the movie url when there is one (a movie's reviews stay on one side), else the text itself.
    Stratified by label: groups are ranked by hash within their majority label and taken into validation until
    that label's share is reached (the group whose midpoint crosses the target decides), so each class gets
    ~validation_share of its rows even with a few large groups. Deterministic for a seed, whatever the
    partitioning. Only kept rows get a split.
    """
    kept = F.col("_dq_status") == "kept"
    group_key = F.coalesce(F.concat(F.lit("url:"), F.col("_dq_url")), F.concat(F.lit("text:"), F.col("_dq_text_sha")))
    df = df.withColumn("_dq_group", F.when(kept & F.col("_dq_split_hint").isNull(), group_key))
    groups = (df.filter(F.col("_dq_group").isNotNull()).groupBy("_dq_group")
              .agg(F.count(F.lit(1)).alias("_n"), F.sum("_dq_label").alias("_pos"))
              .withColumn("_major", F.when(F.col("_pos") * 2 >= F.col("_n"), 1).otherwise(0))
              .withColumn("_hash", F.xxhash64(F.lit(seed), F.col("_dq_group"))))
    by_label = Window.partitionBy("_major")
    ranked = by_label.orderBy("_hash", "_dq_group").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    groups = (groups.withColumn("_cum", F.sum("_n").over(ranked))
              .withColumn("_total", F.sum("_n").over(by_label))
              .withColumn("_dq_assigned",
                          F.when(F.col("_cum") - F.col("_n") / 2.0 < F.col("_total") * F.lit(float(validation_share)),
                                 VALIDATION).otherwise(TRAIN))
              .select("_dq_group", "_dq_assigned"))
    df = df.join(groups, "_dq_group", "left")
    split = F.when(~kept, F.lit(None)).when(F.col("_dq_split_hint") == TEST, TEST).otherwise(F.col("_dq_assigned"))
    return df.withColumn("split", split.cast("string")).drop("_dq_group", "_dq_assigned")


def prepare(raw: RawInput, opts: JobOptions) -> DataFrame:
    """Standardized frame -> every row classified (status, reason, split), ready to be written and measured."""
    return assign_splits(deduplicate(classify(raw.df, opts)), opts.validation_share, opts.seed)
