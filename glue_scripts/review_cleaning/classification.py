"""Classification, de-duplication and splits: every row gets a status, a reject reason or none, and a split.

:func:`classify` runs :func:`review_cleaning.records.classify_record` on every row in Spark's Python workers (one
pass over Arrow batches: cleaned text, label, rating, repairs, duplicate key and the first reject reason);
:func:`deduplicate` collapses rows whose duplicate key agrees (case, spacing, punctuation and repaired encoding
ignored) to one representative and sends every copy of a text whose labels disagree to quarantine;
:func:`assign_splits` splits the rest deterministically (seeded hash), stratified by label, grouped by movie
``url``; rows the input marks as test stay test.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline_contracts import SCORE_MODE, TEST, TRAIN, VALIDATION
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from review_cleaning.language import LanguageRule
from review_cleaning.readers import RawInput
from review_cleaning.records import INPUTS, OUTPUTS, REJECT_REASONS, TEXT_RAW, RecordRules, arrow_mapper

__all__ = ["REJECT_REASONS", "assign_splits", "choose_key", "classify", "decide", "deduplicate", "finish",
           "record_rules", "text_source", "with_decisions"]
SPARK_TYPES = {"string": T.StringType, "int": T.IntegerType, "boolean": T.BooleanType,
               "array<string>": lambda: T.ArrayType(T.StringType())}
PASSED_ON = ("_dq_key", "_dq_url", "_dq_split_hint")  # INTERNAL columns the later steps need
ROW = "_dq_row"  # a unique id of each classified row (the decisions are joined back on it)
# What de-duplication, splits and the report need of each row: no text (the texts are shuffled once, by nobody).
DECISION_INPUTS = (ROW, "review_id", "_dq_dup", "_dq_reason", "_dq_label", "_dq_split_hint", "_dq_url",
                   "_dq_changed", "_dq_repairs", "_dq_seen", "_dq_chars", "_dq_words")
DECIDED = ("_dq_reason", "_dq_status", "_dq_kept_id", "split")  # what the decisions add to (or change in) a row
# Up to this many rows the decisions are broadcast to the classified rows (local runs and small Glue runs: no
# shuffle of the texts at all); above it Spark joins them by a shuffle of both sides.
BROADCAST_DECISIONS_MAX_ROWS = 2_000_000
# Up to this many rows the split groups (a group key and its split: at most one group per row, about 60 bytes each)
# are broadcast to the de-duplicated rows; above it both sides are shuffled by group for the join.
BROADCAST_GROUPS_MAX_ROWS = 1_000_000


def record_rules(opts) -> RecordRules:
    """The per-record rules of a run, from its job options."""
    return RecordRules(
        min_text_chars=opts.min_text_chars, max_text_chars=opts.max_text_chars,
        positive_min_rating=opts.positive_min_rating, negative_max_rating=opts.negative_max_rating,
        label_from_rating=opts.label_from_rating, repair_label_spelling=opts.repair_label_spelling,
        language=LanguageRule(opts.language, opts.language_min_confidence, opts.language_min_chars),
        labels_required=opts.mode != SCORE_MODE)


def classify(raw: RawInput, opts) -> DataFrame:
    """The original columns plus cleaned text, label, rating, repairs, duplicate key and first reject reason."""
    std = raw.df
    keep = [*raw.original_columns, *PASSED_ON]
    text_column = text_source(raw)
    inputs = [c for c in INPUTS if not (c == TEXT_RAW and text_column != TEXT_RAW)]
    strings = {f.name for f in std.schema.fields if isinstance(f.dataType, T.StringType)}
    latin1 = [c for c in (*keep, *inputs) if c in strings] if raw.latin1 else []
    fields = [T.StructField(c, std.schema[c].dataType, True) if c == text_column else std.schema[c] for c in keep]
    schema = T.StructType(fields + [T.StructField(n, SPARK_TYPES[kind]()) for n, kind in OUTPUTS])
    mapper = arrow_mapper(record_rules(opts), keep, latin1, text_column)
    classified = std.select(*keep, *inputs).mapInArrow(mapper, schema)
    return classified.withColumn(ROW, F.monotonically_increasing_id())


def text_source(raw: RawInput) -> str:
    """The column the Python pass reads the raw text from: the original text column when _dq_text_raw copies one
    (the texts are the widest thing sent to Python, and the original columns go there anyway: they come back
    decoded). That column comes back null where cleaning changed nothing (records.arrow_mapper)."""
    return raw.text_column if raw.text_column in raw.original_columns else TEXT_RAW


def choose_key(records: DataFrame, raw: RawInput) -> tuple[DataFrame, int]:
    """Decide the source key on the cached classified rows (one aggregation, which also counts them).

    The key is the first of ``raw.key_candidates`` with a value on every well-formed row and no repeated value
    (else the cleaned text's SHA-256). Without a split column, a key path holding ``test/`` marks a test row.
    Returns the rows with ``_dq_key``, ``_dq_split_hint`` and ``review_id`` decided, and the number of rows.
    """
    formed = F.col("_dq_reason").isNull() | (F.col("_dq_reason") != "malformed_record")
    aggs = [F.count(F.lit(1)).alias("_rows"), F.sum(formed.cast("int")).alias("_formed")]
    for i, c in enumerate(raw.key_candidates):
        aggs += [F.count(F.when(formed, F.col(f"`{c}`"))).alias(f"n{i}"),
                 F.countDistinct(F.when(formed, F.col(f"`{c}`"))).alias(f"d{i}")]
    row = records.agg(*aggs).first()
    if raw.key_candidates:
        raw.roles["review_id"] = next((c for i, c in enumerate(raw.key_candidates)
                                       if row[f"n{i}"] == row["_formed"] == row[f"d{i}"]), None)
        if raw.roles["review_id"]:
            key = F.col(f"`{raw.roles['review_id']}`").cast("string")
            records = records.withColumn("_dq_key", key)
            if not raw.roles.get("split"):
                records = records.withColumn("_dq_split_hint", F.when(key.rlike(r"(^|/)test/"), F.lit(TEST))
                                             .otherwise(F.col("_dq_split_hint")))
    text_sha = F.sha2(F.coalesce(F.col("_dq_text"), F.lit("")), 256)
    return records.withColumn("review_id", F.coalesce(F.col("_dq_key"), text_sha)), row["_rows"]


def deduplicate(df: DataFrame) -> DataFrame:
    """Add ``_dq_status`` (kept | duplicate | quarantined), ``_dq_kept_id`` and the near_duplicate_conflict reason.

    Rows without a reject reason are grouped by their duplicate key (review_text.duplicate_key: the cleaned text
    with case, spacing and punctuation ignored). If the group's labels disagree, every copy goes to quarantine
    (nobody can tell which label is right). Otherwise one representative is kept: a copy the input marks as test
    first (the input's evaluation set stays as complete as possible), then the smallest review_id; the others are
    counted as collapsed duplicates, with the kept row's review_id.
    """
    valid = F.col("_dq_reason").isNull()
    # One window partitioning (one shuffle and one sort): the copies of a conflicting group are all quarantined, so
    # ranking them with the group's other rows changes nothing that is kept; their kept id is never read. The
    # digest comes first: the window's sort compares rows by a prefix of its first key, which a boolean first key
    # leaves useless (every comparison then read both rows' strings: a fifth of the JVM's time in the decisions).
    group = Window.partitionBy("_dq_dup", valid)
    ordered = group.orderBy(F.col("_dq_split_hint").isNull(), "review_id")
    conflicting = valid & (F.min("_dq_label").over(group) != F.max("_dq_label").over(group))
    reason = F.when(conflicting, F.lit("near_duplicate_conflict")).otherwise(F.col("_dq_reason"))
    df = df.select("*", reason.alias("_dq_final_reason"), F.row_number().over(ordered).alias("_dq_rank"),
                   F.first("review_id").over(ordered).alias("_dq_kept_id"))
    status = (F.when(F.col("_dq_final_reason").isNotNull(), "quarantined")
              .when(F.col("_dq_rank") == 1, "kept").otherwise("duplicate"))
    return (df.withColumn("_dq_status", status).drop("_dq_reason", "_dq_rank")
            .withColumnRenamed("_dq_final_reason", "_dq_reason"))


def assign_splits(df: DataFrame, validation_share: float, seed: int, broadcast_groups: bool = False) -> DataFrame:
    """Add ``split``: test where the input says so, else train/validation by a seeded hash of the group.

    The group is the movie url when there is one (a movie's reviews stay on one side), else the text itself.
    Stratified by label: groups are ranked by hash within their majority label and taken into validation until
    that label's share is reached (the group whose midpoint crosses the target decides), so each class gets
    ~validation_share of its rows even with a few large groups. Deterministic for a seed, whatever the
    partitioning. Only kept rows get a split. ``broadcast_groups``: the groups' assignments (at most one row per
    row) go to every task instead of both sides being shuffled and sorted by group for the join.
    """
    kept = F.col("_dq_status") == "kept"
    group_key = F.coalesce(F.concat(F.lit("url:"), F.col("_dq_url")), F.concat(F.lit("text:"), F.col("_dq_dup")))
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
    df = df.join(F.broadcast(groups) if broadcast_groups else groups, "_dq_group", "left")
    split = F.when(~kept, F.lit(None)).when(F.col("_dq_split_hint") == TEST, TEST).otherwise(F.col("_dq_assigned"))
    return df.withColumn("split", split.cast("string")).drop("_dq_group", "_dq_assigned")


def finish(records: DataFrame, opts, cache: Callable[[DataFrame], DataFrame] = lambda df: df,
           broadcast_groups: bool = False) -> DataFrame:
    """Classified records (with review_id) -> every row with its status and (when training) split.

    ``cache`` is applied to the de-duplicated rows, which the split assignment reads twice (its groups and its
    join); without it, Spark runs the de-duplication's shuffle and window once for each.
    """
    df = cache(deduplicate(records))
    if opts.mode == SCORE_MODE:
        return df.withColumn("split", F.lit(None).cast("string"))
    return assign_splits(df, opts.validation_share, opts.seed, broadcast_groups)


def decide(keyed: DataFrame, opts, rows: int, cache: Callable[[DataFrame], DataFrame] = lambda df: df) -> DataFrame:
    """:func:`finish` on the narrow projection DECISION_INPUTS of the classified rows: status, final reason, kept
    row and split of every row, and what the report counts; the texts take no part in the shuffles. Up to
    BROADCAST_GROUPS_MAX_ROWS rows, the split groups are broadcast to the rows (:func:`assign_splits`).
    """
    return finish(keyed.select(*DECISION_INPUTS), opts, cache, broadcast_groups=rows <= BROADCAST_GROUPS_MAX_ROWS)


def with_decisions(keyed: DataFrame, decided: DataFrame, rows: int, raw: RawInput) -> tuple[DataFrame, DataFrame]:
    """(kept rows, the others): the classified rows joined on the row id to their decisions (the kept rows' split;
    the others' DECIDED columns), with every original column as read (the text column's unchanged texts restored from the cleaned ones, see
    :func:`text_source`).

    Two joins, each with only what its writers need: the kept rows' row ids and splits (most rows, narrow), and the
    others' status, final reason and kept row (few). Each write broadcasts its decisions anew, so a wide broadcast
    of every row's decisions cost a second per write at 1M rows.
    """
    kept = F.col("_dq_status") == "kept"
    broadcast = F.broadcast if rows <= BROADCAST_DECISIONS_MAX_ROWS else (lambda frame: frame)
    column = text_source(raw)
    frames = []
    for decisions in (decided.filter(kept).select(ROW, "split"),
                      decided.filter(~kept).select(ROW, *DECIDED)):
        joined = keyed.drop("_dq_reason").join(broadcast(decisions), ROW)
        if column != TEXT_RAW:
            joined = joined.withColumn(column, F.coalesce(F.col(f"`{column}`"), F.col("_dq_text")))
        frames.append(joined)
    return frames[0], frames[1]
