"""Do two cleaning runs agree? Their kept rows (the curated JSON Lines channels), compared by review_id."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import polars as pl
from pipeline_contracts import curated_run_key

SCHEMA = {"review_id": pl.String, "text": pl.String, "label": pl.Int64, "split": pl.String}


def kept_rows(curated: Path, run_id: str) -> pl.DataFrame:
    """review_id, label, split and a hash of the cleaned text of every row in the run's curated channels."""
    frames = []
    for part in sorted((curated / curated_run_key(run_id)).glob("*/part-*.json*")):
        data = part.read_bytes()
        data = gzip.decompress(data) if part.name.endswith(".gz") else data
        if data.strip():
            frame = pl.read_ndjson(io.BytesIO(data), schema=SCHEMA)
            frames.append(frame.with_columns(text=pl.col("text").hash(seed=0)))
    if not frames:
        return pl.DataFrame(schema={**SCHEMA, "text": pl.UInt64})
    return pl.concat(frames)


def compare(left: pl.DataFrame, right: pl.DataFrame) -> dict:
    """Rows kept by only one side, rows whose cleaned text or label differ, rows in another split."""
    joined = left.join(right, on="review_id", how="full", suffix="_r", coalesce=True)
    only_left = joined["text_r"].is_null() & joined["text"].is_not_null()
    only_right = joined["text"].is_null() & joined["text_r"].is_not_null()
    both = joined["text"].is_not_null() & joined["text_r"].is_not_null()
    text = both & (joined["text"] != joined["text_r"])
    label = both & (joined["label"].fill_null(-1) != joined["label_r"].fill_null(-1))
    split = both & (joined["split"].fill_null("") != joined["split_r"].fill_null(""))
    differing = only_left | only_right | text | label
    return {"kept_left": left.height, "kept_right": right.height, "only_left": int(only_left.sum()),
            "only_right": int(only_right.sum()), "text_differs": int(text.sum()), "label_differs": int(label.sum()),
            "differing_rows": int(differing.sum()), "split_differs": int(split.sum()),
            "examples": joined.filter(differing)["review_id"].head(5).to_list()}
