"""Contender 2 of bench_glue, the ceiling: the job's rules as polars expressions in one process (all cores).

Vectorized (Rust, every row): Windows-1252 C1 punctuation (``str.replace_many``), the mojibake signature, the
entity and escaped-tag tests, HTML tag removal, whitespace, lengths, label spellings, ratings, the English-marker
share of the language pre-test, reject reasons, de-duplication windows, the split ranking and every writer.

Python, only on the rows that need it (each a ``Series.map_elements`` over a filtered subset, scattered back;
``python_rows`` in the result counts them): ``decode_latin1_field`` when a file is not valid UTF-8 (every non-ASCII
field then), ftfy's ``fix_encoding`` on rows with the mojibake signature, ``html.unescape`` (``unescape_entities``)
on rows with ``&``, NFC on non-ASCII texts, ``duplicate_key`` (casefold and Unicode
``\\W``) on non-ASCII texts, py3langid on texts below the English-marker share, ``parse_label`` on labels that are
not a known spelling, ``parse_rating`` on ratings that are not plain integers, and Spark's seeded xxhash64 once per
split group (one per movie). The duplicate key itself is grouped on as a string (the job groups on its hash; the
blake2b hash is computed only for rows whose split group is their text).
"""

from __future__ import annotations

import gzip
import hashlib
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl
import review_text as rt
from glue_contender_common import TEST_KEY, input_files, outputs, roles, rules_and_options
from pipeline_contracts import TEST, TRAIN, VALIDATION
from review_cleaning.columns import TEST_SPLIT_SPELLINGS
from review_cleaning.language import ENGLISH_MARKER_SHARE, ENGLISH_MARKERS, IDENTIFY_CHARS
from review_cleaning.records import REPAIR_CP1252_BYTES, REPAIR_LABEL_FROM_RATING, REPAIRS, decode_latin1_field
from spark_xxhash import spark_xxhash64_int_string

RECORD_COLUMNS = ["review_id", "text", "label", "rating", "split"]
WRITE_CHUNK = 100_000
PLAIN_RATING = r"^\s*[+-]?[0-9]{1,9}\s*$"


class PythonRows:
    """Runs Python functions on the rows that need them, and counts those rows per rule."""

    def __init__(self):
        self.counts: dict[str, int] = {}

    def results(self, name: str, source: pl.Series, mask: pl.Series, function: Callable) -> tuple[pl.Series, list]:
        """(row indices where ``mask`` holds, ``function`` of ``source`` at each of them)."""
        indices = mask.fill_null(False).arg_true()
        self.counts[name] = self.counts.get(name, 0) + len(indices)
        return indices, [function(v) for v in source.gather(indices).to_list()]

    def apply(self, name: str, source: pl.Series, mask: pl.Series, function: Callable,
              into: pl.Series | None = None) -> pl.Series:
        """``into`` (default ``source``) with ``function(source)`` where ``mask`` holds."""
        indices, values = self.results(name, source, mask, function)
        base = (source if into is None else into).clone()
        if len(indices) == 0:
            return base
        return base.scatter(indices, pl.Series(values, dtype=base.dtype))


def read_strings(path: Path, python: PythonRows) -> tuple[pl.DataFrame, pl.Series]:
    """All parts as strings; a part that is not valid UTF-8 is read as Latin-1 and decoded field by field."""
    frames, cp1252 = [], []
    for file in input_files(path):
        raw = file.read_bytes()
        raw = gzip.decompress(raw) if file.name.endswith(".gz") else raw
        try:
            raw.decode("utf-8")
            latin1 = False
        except UnicodeDecodeError:
            raw, latin1 = raw.decode("latin-1").encode("utf-8"), True
        frame = pl.read_csv(raw, infer_schema=False, empty_string_is_null=True)
        repaired = pl.Series([False] * frame.height)
        if latin1:
            columns = {}
            for name in frame.columns:
                column = frame[name]
                mask = column.str.contains(r"[^\x00-\x7F]").fill_null(False)
                indices, decoded = python.results("decode_latin1_field", column, mask, decode_latin1_field)
                if len(indices):
                    column = column.scatter(indices, pl.Series([d[0] for d in decoded], dtype=pl.String))
                    repaired = repaired.scatter(indices, repaired.gather(indices) | pl.Series([d[1] for d in decoded]))
                columns[name] = column
            frame = pl.DataFrame(columns)
        frames.append(frame)
        cp1252.append(repaired)
    return pl.concat(frames, how="diagonal"), pl.concat(cp1252)


def clean_text(raw: pl.Series, python: PythonRows) -> tuple[pl.Series, dict[str, pl.Series]]:
    """``review_text.clean_review_text`` over a column: the cleaned texts and a mask per repair or mark."""
    marks = {}
    nonascii = raw.str.contains(r"[^\x00-\x7F]").fill_null(False)
    text = raw.str.replace_many(list(rt.C1_TO_CP1252), list(rt.C1_TO_CP1252.values()))
    marks[rt.SEEN_C1_CONTROLS] = nonascii & (text != raw).fill_null(False)
    suspect = nonascii & text.str.contains(rt.MOJIBAKE_SIGNATURE).fill_null(False)
    fixed = python.apply("ftfy fix_encoding", text, suspect, rt.fix_mojibake)
    marks[rt.REPAIR_MOJIBAKE] = suspect & (fixed != text).fill_null(False)
    text = fixed
    amp = text.str.contains("&", literal=True).fill_null(False)
    marks[rt.REPAIR_ESCAPED_HTML] = amp & text.str.contains(rt.ESCAPED_TAG_PATTERN).fill_null(False)
    marks[rt.SEEN_ENTITIES] = amp & text.str.contains(rt.ENTITY_PATTERN).fill_null(False)
    text = python.apply("html.unescape", text, amp, rt.unescape_entities)
    stripped = text.str.replace_all(rt.BREAK_TAG_PATTERN, rt.BREAK_TAG_REPLACEMENT)
    marks[rt.SEEN_BREAK_TAGS] = (stripped != text).fill_null(False)
    text = stripped.str.replace_all(rt.OTHER_TAG_PATTERN, rt.OTHER_TAG_REPLACEMENT)
    # NFC as the job applies it, on every non-ASCII text (CPython's quick check returns the others as they are)
    nonascii = text.str.contains(r"[^\x00-\x7F]").fill_null(False)
    text = python.apply("NFC", text, nonascii, lambda t: unicodedata.normalize(rt.UNICODE_FORM, t))
    text = text.str.replace_all(rt.WHITESPACE_PATTERN, rt.WHITESPACE_REPLACEMENT).str.strip_chars(" ")
    return text, marks


def parse_labels(raw: pl.Series, rules, python: PythonRows) -> tuple[pl.Series, pl.Series]:
    """(label, spelling repaired) as ``review_text.parse_label`` (or ``normalize_label`` when repair is off)."""
    spelled = raw.str.strip_chars().str.to_lowercase()
    label = (pl.select(pl.when(spelled.is_in(sorted(rt.POSITIVE_LABELS))).then(1)
                       .when(spelled.is_in(sorted(rt.NEGATIVE_LABELS))).then(0).otherwise(None)
                       .cast(pl.Int32)).to_series())
    repaired = pl.Series([False] * len(raw))
    if rules.repair_label_spelling:
        unknown = raw.is_not_null() & label.is_null()
        label = python.apply("parse_label", raw, unknown, lambda v: rt.parse_label(v)[0], into=label)
        repaired = unknown & label.is_not_null()
    return label, repaired


def parse_ratings(raw: pl.Series, python: PythonRows) -> tuple[pl.Series, pl.Series]:
    """(rating, valid) as ``records.parse_rating``: blank is (null, valid); plain integers in Rust."""
    from review_cleaning.records import parse_rating

    blank = raw.is_null() | (raw.str.strip_chars() == "")
    plain = raw.str.contains(PLAIN_RATING).fill_null(False)
    rating = pl.select(pl.when(plain).then(raw.str.strip_chars().cast(pl.Int64, strict=False))).to_series()
    valid = pl.Series([True] * len(raw))
    indices, parsed = python.results("parse_rating", raw, ~blank & ~plain, parse_rating)
    if len(indices):
        rating = rating.scatter(indices, pl.Series([p[0] for p in parsed], dtype=pl.Int64))
        valid = valid.scatter(indices, pl.Series([p[1] for p in parsed]))
    return rating.cast(pl.Int32), valid


def english_share(text: pl.Series) -> pl.Series:
    """``language.english_marker_share`` over a column (the first IDENTIFY_CHARS characters, lower-cased)."""
    words = text.str.slice(0, IDENTIFY_CHARS).str.to_lowercase().str.extract_all(r"[a-z']+")
    frame = pl.DataFrame({"w": words}).select(
        markers=pl.col("w").list.eval(pl.element().is_in(sorted(ENGLISH_MARKERS))).list.sum(),
        words=pl.col("w").list.len())
    return frame.select(pl.when(pl.col("words") > 0).then(pl.col("markers") / pl.col("words"))
                        .otherwise(0.0)).to_series()


def first_reasons(df: pl.DataFrame, rules) -> pl.DataFrame:
    """``_dq_reason`` and ``_dq_detail`` before language: the first of ``records.REJECT_REASONS`` that applies."""
    text, label, rating = pl.col("_dq_text"), pl.col("_dq_label"), pl.col("_dq_rating")
    by_rating = (pl.when(rating >= rules.positive_min_rating).then(1)
                 .when(rating <= rules.negative_max_rating).then(0))
    blank_label = pl.col("_dq_label_raw").is_null() | (pl.col("_dq_label_raw").str.strip_chars() == "")
    length = text.str.len_chars()
    reason = (pl.when(pl.col("_dq_undecodable") | text.str.contains("\ufffd", literal=True)).then(pl.lit("undecodable"))
              .when(text.is_null() | (text == "")).then(pl.lit("empty_text")))
    if rules.labels_required:
        reason = reason.when(label.is_null() & blank_label).then(pl.lit("missing_label"))
        reason = reason.when(label.is_null()).then(pl.lit("unknown_label"))
    conflict = label.is_not_null() & by_rating.is_not_null() & (by_rating != label)
    reason = (reason.when(~pl.col("_dq_rating_ok")).then(pl.lit("invalid_rating"))
              .when(conflict).then(pl.lit("label_rating_conflict"))
              .when(length < rules.min_text_chars).then(pl.lit("too_short"))
              .when(length > rules.max_text_chars).then(pl.lit("too_long")))
    name = pl.when(label == 1).then(pl.lit("positive")).otherwise(pl.lit("negative"))
    detail = pl.when(reason == "label_rating_conflict").then(pl.format("label {}, rating {}", name, rating))
    return df.with_columns(_dq_reason=reason, _dq_detail=detail)


def language_reasons(df: pl.DataFrame, rules, python: PythonRows) -> pl.DataFrame:
    """foreign_language for the rows still fit to keep: py3langid only on those below the English-marker share."""
    language = rules.language
    if not language.enabled:
        return df
    text = df["_dq_text"]
    judged = df["_dq_reason"].is_null() & (text.str.len_chars() >= language.min_chars)
    if language.expected == "en":
        judged = judged & (english_share(text) < ENGLISH_MARKER_SHARE)
    found = python.apply("py3langid", text, judged, language.foreign_language, into=pl.Series([None] * len(df),
                                                                                                 dtype=pl.String))
    return df.with_columns(
        _dq_reason=pl.when(found.is_not_null()).then(pl.lit("foreign_language")).otherwise(pl.col("_dq_reason")),
        _dq_detail=pl.when(found.is_not_null()).then(pl.format("detected {}, expected {}", found,
                                                               pl.lit(language.expected)))
        .otherwise(pl.col("_dq_detail")))


def duplicate_keys(text: pl.Series, python: PythonRows) -> pl.Series:
    """``review_text.duplicate_key``: in Rust for ASCII texts, in Python (casefold, Unicode \\W) for the others."""
    ascii_key = text.str.to_lowercase().str.replace_all(r"[\W_]+", " ").str.strip_chars(" ")
    nonascii = text.str.contains(r"[^\x00-\x7F]").fill_null(False)
    return python.apply("duplicate_key", text, nonascii, rt.duplicate_key, into=ascii_key)


def classify(data: pl.DataFrame, cp1252: pl.Series, found: dict, rules, python: PythonRows) -> tuple[pl.DataFrame, dict]:
    """The original columns plus the job's ``_dq_*`` columns (``_dq_dk`` is the duplicate key, not its hash)."""
    size = data.height

    def role(name: str) -> pl.Series:
        return data[found[name]] if found.get(name) else pl.Series([None] * size, dtype=pl.String)

    text, marks = clean_text(role("text"), python)
    label, spelled = parse_labels(role("label"), rules, python) if rules.labels_required else (
        pl.Series([None] * size, dtype=pl.Int32), pl.Series([False] * size))
    rating, rating_ok = parse_ratings(role("rating"), python)
    split = role("split")
    df = data.with_columns(
        _dq_text=text, _dq_label_raw=role("label"), _dq_rating=rating, _dq_rating_ok=rating_ok,
        _dq_url=role("url"), _dq_undecodable=role("text").str.contains("\ufffd", literal=True).fill_null(False),
        _dq_split_hint=pl.when(split.str.strip_chars().str.to_lowercase().is_in(list(TEST_SPLIT_SPELLINGS)))
        .then(pl.lit(TEST)).otherwise(None))
    from_rating = pl.Series([False] * size)
    if rules.labels_required and rules.label_from_rating:
        derived = pl.select(pl.when(rating >= rules.positive_min_rating).then(1)
                            .when(rating <= rules.negative_max_rating).then(0).cast(pl.Int32)).to_series()
        from_rating = label.is_null() & derived.is_not_null()
        label = label.fill_null(derived)
    df = language_reasons(first_reasons(df.with_columns(_dq_label=label), rules), rules, python)
    df = df.with_columns(_dq_dk=duplicate_keys(text, python))
    reached_label = ~df["_dq_undecodable"] & ~df["_dq_reason"].is_in(["undecodable", "empty_text"]).fill_null(False)
    marks.update({REPAIR_CP1252_BYTES: cp1252, rt.REPAIR_LABEL_SPELLING: spelled & reached_label,
                  REPAIR_LABEL_FROM_RATING: from_rating & reached_label})
    return df, marks


def choose_key(df: pl.DataFrame, found: dict, python: PythonRows) -> pl.DataFrame:
    """The first key candidate with a value on every row and no repeat; else the cleaned text's SHA-256."""
    key = None
    for column in found["key_candidates"]:
        if df[column].null_count() == 0 and df[column].n_unique() == df.height:
            key = column
            break
    sha = pl.Series([None] * df.height, dtype=pl.String)
    if key is None:
        sha = python.apply("sha256", df["_dq_text"], pl.Series([True] * df.height),
                           lambda t: hashlib.sha256((t or "").encode("utf-8")).hexdigest(), into=sha)
        return df.with_columns(review_id=sha)
    df = df.with_columns(review_id=pl.col(key))
    if not found.get("split"):
        df = df.with_columns(_dq_split_hint=pl.when(pl.col(key).str.contains(TEST_KEY.pattern)).then(pl.lit(TEST))
                             .otherwise(pl.col("_dq_split_hint")))
    return df


def deduplicate(df: pl.DataFrame) -> pl.DataFrame:
    """``_dq_status`` and ``_dq_kept_id`` as the job's window: conflicting labels quarantine every copy."""
    df = df.with_row_index("_row")
    valid = (df.filter(pl.col("_dq_reason").is_null())
             .sort(["_dq_dk", pl.col("_dq_split_hint").is_null(), "review_id"])
             .select("_row", "_dq_dk", "_dq_label", "review_id")
             .with_columns(_conflict=pl.col("_dq_label").min().over("_dq_dk") != pl.col("_dq_label").max().over("_dq_dk"),
                           _rank=pl.int_range(pl.len()).over("_dq_dk"),
                           _dq_kept_id=pl.col("review_id").first().over("_dq_dk"))
             .select("_row", "_conflict", "_rank", "_dq_kept_id"))
    df = df.join(valid, on="_row", how="left")
    reason = pl.when(pl.col("_conflict").fill_null(False)).then(pl.lit("near_duplicate_conflict")).otherwise(
        pl.col("_dq_reason"))
    df = df.with_columns(_dq_reason=reason)
    status = (pl.when(pl.col("_dq_reason").is_not_null()).then(pl.lit("quarantined"))
              .when(pl.col("_rank") == 0).then(pl.lit("kept")).otherwise(pl.lit("duplicate")))
    return df.with_columns(_dq_status=status).sort("_row").drop("_row", "_conflict", "_rank")


def assign_splits(df: pl.DataFrame, share: float, seed: int, python: PythonRows) -> pl.DataFrame:
    """Test where the input says so; else groups (url, else text) ranked by Spark's seeded xxhash64 per majority label."""
    kept = pl.col("_dq_status") == "kept"
    free = df.select(kept & pl.col("_dq_split_hint").is_null()).to_series()
    no_url = free & df["_dq_url"].is_null()
    text_hash = python.apply("duplicate_hash", df["_dq_text"], no_url, rt.duplicate_hash,
                             into=pl.Series([None] * df.height, dtype=pl.String))
    group = pl.when(pl.col("_dq_url").is_not_null()).then(pl.lit("url:") + pl.col("_dq_url")).otherwise(
        pl.lit("text:") + text_hash)
    df = df.with_columns(_dq_group=pl.when(free).then(group))
    groups = (df.filter(pl.col("_dq_group").is_not_null()).group_by("_dq_group")
              .agg(_n=pl.len(), _pos=pl.col("_dq_label").sum())
              .with_columns(_major=pl.when(pl.col("_pos") * 2 >= pl.col("_n")).then(1).otherwise(0)))
    hashes = python.apply("spark xxhash64", groups["_dq_group"], pl.Series([True] * groups.height),
                          lambda g: spark_xxhash64_int_string(seed, g), into=pl.Series([0] * groups.height))
    groups = (groups.with_columns(_hash=hashes).sort(["_major", "_hash", "_dq_group"])
              .with_columns(_cum=pl.col("_n").cum_sum().over("_major"), _total=pl.col("_n").sum().over("_major"))
              .with_columns(_assigned=pl.when(pl.col("_cum") - pl.col("_n") / 2.0 < pl.col("_total") * share)
                            .then(pl.lit(VALIDATION)).otherwise(pl.lit(TRAIN)))
              .select("_dq_group", "_assigned"))
    df = df.join(groups, on="_dq_group", how="left", maintain_order="left")
    split = pl.when(~kept).then(None).when(pl.col("_dq_split_hint") == TEST).then(pl.lit(TEST)).otherwise(
        pl.col("_assigned"))
    return df.with_columns(split=split).drop("_dq_group", "_assigned")


def write_json_lines(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        for start in range(0, frame.height, WRITE_CHUNK):
            frame.slice(start, WRITE_CHUNK).write_ndjson(handle)


def write_outputs(df: pl.DataFrame, original: list[str], paths: dict[str, Path], run_id: str) -> None:
    kept = (df.filter(pl.col("_dq_status") == "kept")
            .select("review_id", pl.col("_dq_text").alias("text"), pl.col("_dq_label").alias("label"),
                    pl.col("_dq_rating").alias("rating"), "split").sort("review_id"))
    for (split,), rows in kept.group_by("split", maintain_order=True):
        write_json_lines(rows, paths["curated"] / split / "part-00000.json.gz")
        partition = paths["table"] / f"split={split}"  # hive layout, the key in the path only (as Spark writes)
        partition.mkdir(parents=True, exist_ok=True)
        rows.drop("split").write_parquet(partition / "part-00000.parquet")
    quarantine = df.filter(pl.col("_dq_status") == "quarantined").select(
        *original, reject_reason="_dq_reason", reject_detail="_dq_detail", run_id=pl.lit(run_id))
    write_json_lines(quarantine, paths["quarantine"] / "part-00000.json.gz")
    duplicates = df.filter(pl.col("_dq_status") == "duplicate").select("review_id", kept_review_id="_dq_kept_id")
    write_json_lines(duplicates, paths["duplicates"] / "part-00000.json.gz")


def counts(df: pl.DataFrame, marks: dict[str, pl.Series], python: PythonRows) -> dict:
    status = df["_dq_status"].value_counts()
    by_status = dict(zip(status["_dq_status"].to_list(), status["count"].to_list(), strict=True))
    reasons = df["_dq_reason"].drop_nulls().value_counts().sort("_dq_reason")
    return {"read": df.height, "kept": by_status.get("kept", 0),
            "duplicates_collapsed": by_status.get("duplicate", 0), "quarantined": by_status.get("quarantined", 0),
            "reasons": dict(zip(reasons["_dq_reason"].to_list(), reasons["count"].to_list(), strict=True)),
            "repairs": {k: int(marks[k].sum()) if k in marks else 0 for k in REPAIRS},
            "python_rows": python.counts}


def polars_clean(input_path: Path, curated: Path, run_id: str, arguments: Mapping[str, str]) -> dict:
    """The whole stage; returns its counts (as the pandas contender's, plus ``python_rows`` per rule)."""
    rules, opts = rules_and_options(input_path, curated, run_id, arguments)
    python = PythonRows()
    data, cp1252 = read_strings(input_path, python)
    original = list(data.columns)
    found = roles(original)
    df, marks = classify(data, cp1252, found, rules, python)
    del data
    df = assign_splits(deduplicate(choose_key(df, found, python)), opts.validation_share, opts.seed, python)
    write_outputs(df, original, outputs(curated, run_id), run_id)
    return counts(df, marks, python)
