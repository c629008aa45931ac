"""Contender 1 of bench_glue: the job's rules row by row in one process, with pandas around them.

What a pandas user would write: ``pandas.read_csv`` (as Latin-1, like the job, so every byte arrives), the job's
own per-record function ``review_cleaning.records.classify_columns`` (which calls ``classify_record`` row by row:
decoding, ``review_text`` cleaning and repairs, labels, ratings, language, duplicate hash, first reject reason),
then the job's key choice, de-duplication by ``duplicate_hash`` (kept: a test-marked copy first, then the smallest
review_id; copies whose labels disagree are all quarantined), the grouped stratified split (groups ranked by
Spark's seeded xxhash64 within their majority label) and the same outputs: curated JSON Lines gzip per split, the
Parquet table partitioned by split, the quarantine (original columns, reason, detail, run id) and the duplicates.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from glue_contender_common import (
    JSON_CHUNK,
    TEST_KEY,
    input_files,
    outputs,
    roles,
    rules_and_options,
    split_hint_of_split_column,
)
from pipeline_contracts import TEST, TRAIN, VALIDATION
from review_cleaning.records import REPAIRS, classify_columns
from spark_xxhash import spark_xxhash64_int_string

RECORD_COLUMNS = ["review_id", "text", "label", "rating", "split"]


def read_latin1(path: Path) -> pd.DataFrame:
    """Every part as strings, read as Latin-1 (one character per byte); empty fields are missing, as in Spark."""
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""], encoding="latin-1")
              for f in input_files(path)]
    data = pd.concat(frames, ignore_index=True)
    return data.astype(object).where(data.notna(), None)


def classify(data: pd.DataFrame, rules, found: dict) -> pd.DataFrame:
    """The job's Python pass: original columns (decoded) plus every ``_dq_*`` output, row by row."""
    columns = {c: data[c].tolist() for c in data.columns}
    size = len(data)

    def role(name: str) -> list:
        return list(columns[found[name]]) if found.get(name) else [None] * size

    # The raw text is read from its own column (the job does the same), which classify_columns also searches for
    # U+FFFD (undecodable) before decoding it.
    inputs = {"_dq_label_raw": role("label"), "_dq_rating_raw": role("rating"),
              "_dq_url": role("url"), "_dq_key": [None] * size,
              "_dq_split_hint": [split_hint_of_split_column(v) for v in role("split")],
              "_dq_malformed": [False] * size, "_dq_undecodable": [False] * size}
    latin1 = [*data.columns, "_dq_url", "_dq_label_raw", "_dq_rating_raw"]
    result = classify_columns({**columns, **inputs}, rules, latin1, text_column=found["text"])
    return pd.DataFrame(result)


def choose_key(df: pd.DataFrame, found: dict) -> pd.DataFrame:
    """The first key candidate with a value on every well-formed row and no repeat; else the text's SHA-256."""
    formed = df["_dq_reason"].ne("malformed_record")
    for column in found["key_candidates"]:
        values = df.loc[formed, column]
        if values.notna().all() and values.is_unique:
            df["_dq_key"] = df[column]
            if not found.get("split"):
                test = df[column].map(lambda v: v is not None and TEST_KEY.search(v) is not None)
                df.loc[test, "_dq_split_hint"] = TEST
            break
    sha = [hashlib.sha256((t or "").encode("utf-8")).hexdigest() for t in df["_dq_text"]]
    df["review_id"] = df["_dq_key"].where(df["_dq_key"].notna(), pd.Series(sha, index=df.index))
    return df


def deduplicate(df: pd.DataFrame) -> pd.DataFrame:
    """``_dq_status`` (kept | duplicate | quarantined) and ``_dq_kept_id``, as the job's window does it."""
    valid = df["_dq_reason"].isna()
    rows = df[valid]
    labels = rows.groupby("_dq_dup")["_dq_label"]
    conflicting = labels.transform("min") != labels.transform("max")
    df.loc[conflicting[conflicting].index, "_dq_reason"] = "near_duplicate_conflict"
    ordered = rows.assign(_nohint=rows["_dq_split_hint"].isna()).sort_values(["_dq_dup", "_nohint", "review_id"])
    first = ordered.groupby("_dq_dup", sort=False)["review_id"].transform("first")
    df["_dq_kept_id"] = first.reindex(df.index)
    df["_dq_status"] = "duplicate"
    df.loc[df["_dq_reason"].notna(), "_dq_status"] = "quarantined"
    keepers = ordered.index[~ordered["_dq_dup"].duplicated()]
    df.loc[keepers[df.loc[keepers, "_dq_reason"].isna()], "_dq_status"] = "kept"
    return df


def assign_splits(df: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Test where the input says so; else groups (url, else text) ranked by seeded hash within their majority label."""
    kept = df["_dq_status"].eq("kept")
    free = kept & df["_dq_split_hint"].isna()
    group = ("url:" + df["_dq_url"]).where(df["_dq_url"].notna(), "text:" + df["_dq_dup"].fillna(""))
    df["_dq_group"] = group.where(free)
    groups = df[free].groupby("_dq_group").agg(_n=("_dq_label", "size"), _pos=("_dq_label", "sum")).reset_index()
    groups["_major"] = (groups["_pos"] * 2 >= groups["_n"]).astype(int)
    groups["_hash"] = [spark_xxhash64_int_string(seed, g) for g in groups["_dq_group"]]
    groups = groups.sort_values(["_major", "_hash", "_dq_group"])
    cumulative = groups.groupby("_major")["_n"].cumsum()
    total = groups.groupby("_major")["_n"].transform("sum")
    groups["_assigned"] = [VALIDATION if c - n / 2.0 < t * share else TRAIN
                           for c, n, t in zip(cumulative, groups["_n"], total, strict=True)]
    df["split"] = df["_dq_group"].map(groups.set_index("_dq_group")["_assigned"])
    df.loc[kept & df["_dq_split_hint"].eq(TEST), "split"] = TEST
    df.loc[~kept, "split"] = None
    return df


def write_json_lines(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for start in range(0, len(frame), JSON_CHUNK):
            chunk = frame.iloc[start:start + JSON_CHUNK].to_json(orient="records", lines=True, force_ascii=False)
            handle.write(chunk if chunk.endswith("\n") else chunk + "\n")


def write_outputs(df: pd.DataFrame, data_columns: list[str], paths: dict[str, Path], run_id: str) -> None:
    kept = df.loc[df["_dq_status"] == "kept", ["review_id", "_dq_text", "_dq_label", "_dq_rating", "split"]]
    records = kept.set_axis(RECORD_COLUMNS, axis=1).astype({"label": "Int64", "rating": "Int64"}).sort_values("review_id")
    for split, rows in records.groupby("split"):
        write_json_lines(rows, paths["curated"] / split / "part-00000.json.gz")
    records.to_parquet(paths["table"], partition_cols=["split"], index=False)
    quarantine = df[df["_dq_status"] == "quarantined"]
    quarantine = quarantine[data_columns].assign(reject_reason=quarantine["_dq_reason"],
                                                 reject_detail=quarantine["_dq_detail"], run_id=run_id)
    write_json_lines(quarantine, paths["quarantine"] / "part-00000.json.gz")
    duplicates = df[df["_dq_status"] == "duplicate"][["review_id", "_dq_kept_id"]]
    write_json_lines(duplicates.rename(columns={"_dq_kept_id": "kept_review_id"}),
                     paths["duplicates"] / "part-00000.json.gz")


def counts(df: pd.DataFrame) -> dict:
    repairs = Counter(r for row in df["_dq_repairs"] for r in row)
    return {"read": len(df), "kept": int((df["_dq_status"] == "kept").sum()),
            "duplicates_collapsed": int((df["_dq_status"] == "duplicate").sum()),
            "quarantined": int((df["_dq_status"] == "quarantined").sum()),
            "reasons": {k: int(v) for k, v in df["_dq_reason"].value_counts().sort_index().items()},
            "repairs": {k: repairs.get(k, 0) for k in REPAIRS}}


def pandas_clean(input_path: Path, curated: Path, run_id: str, arguments: Mapping[str, str]) -> dict:
    """The whole stage; returns its counts (read, kept, duplicates_collapsed, quarantined, reasons, repairs)."""
    rules, opts = rules_and_options(input_path, curated, run_id, arguments)
    data = read_latin1(input_path)
    original = list(data.columns)
    found = roles(original)
    df = classify(data, rules, found)
    del data
    df = assign_splits(deduplicate(choose_key(df, found)), opts.validation_share, opts.seed)
    write_outputs(df, original, outputs(curated, run_id), run_id)
    return counts(df)
