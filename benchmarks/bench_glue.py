"""Benchmark: the Glue cleaning job on local Spark vs a straightforward pandas implementation of the same rules.

The real IMDb train.csv.gz (25,000 reviews) is replicated to each size. Replica k appends the token ``rk`` to every
text and prefixes the file key and movie url with it, so every replica row stays a distinct review (otherwise
de-duplication would collapse 1M rows back to 25k and measure nothing) while the text keeps its real mix of
markup, C1 characters and entities. The data is written once as 8 gzip CSV parts, read by both contenders.

Both contenders do the whole stage: read, clean (review_text.normalize_text row by row in pandas; Spark built-ins
plus a vectorized UDF for the rare rows in the job), labels, reject reasons, de-duplication, seeded grouped split,
and write the training channels as JSON Lines gzip. Spark also writes the Parquet table, quarantine and report.
Both run in the same process run, one after the other, so the ratio is meaningful on a shared machine.

    .venv/bin/python benchmarks/bench_glue.py [--sizes 100000,1000000] [--imdb-dir ../shared/data/imdb]

Prints rows/s for both and the ratio; writes benchmarks/results/glue.json.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "common"), str(ROOT / "glue_scripts")]

import pandas as pd  # noqa: E402
import review_text  # noqa: E402

PARTS = 8


def replicate(source: pd.DataFrame, rows: int, folder: Path) -> None:
    """Write ``rows`` rows made of replicas of ``source`` as PARTS gzip CSV files."""
    folder.mkdir(parents=True)
    frames = []
    for k in range((rows + len(source) - 1) // len(source)):
        replica = source.copy()
        replica["review"] = replica["review"] + f" r{k}"
        replica["file"] = f"r{k}/" + replica["file"]
        replica["url"] = replica["url"] + f"#r{k}"
        frames.append(replica)
    data = pd.concat(frames, ignore_index=True).iloc[:rows]
    for i in range(PARTS):
        with gzip.open(folder / f"part-{i}.csv.gz", "wt", encoding="utf-8", compresslevel=1) as handle:
            data.iloc[i::PARTS].to_csv(handle, index=False)


def pandas_clean(folder: Path, out: Path, validation_share: float = 0.1, seed: int = 42) -> dict:
    """The same rules, written the way a pandas user typically would (row-wise normalize_text)."""
    data = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in sorted(folder.glob("*.csv.gz"))],
                     ignore_index=True)
    data["text"] = data["review"].map(review_text.normalize_text)
    data["label"] = data["sentiment"].map(review_text.normalize_label)
    data["rating"] = pd.to_numeric(data["rating"], errors="coerce").astype("Int64")
    length = data["text"].str.len()
    reason = pd.Series(None, index=data.index, dtype=object)
    reason[length > 50_000] = "too_long"
    reason[length < 10] = "too_short"
    reason[data["label"].isna()] = "unknown_label"
    reason[data["text"] == ""] = "empty_text"
    valid = data[reason.isna()]
    conflicting = valid.groupby("text")["label"].transform("nunique") > 1
    valid = valid[~conflicting].sort_values("file")
    kept = valid.drop_duplicates("text").copy()

    def bucket(url: str) -> float:
        return int(hashlib.sha256(f"{seed}:{url}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    kept["split"] = ["validation" if bucket(u) < validation_share else "train" for u in kept["url"]]
    for split, rows in kept.groupby("split"):
        target = out / split
        target.mkdir(parents=True)
        rows.rename(columns={"file": "review_id"})[["review_id", "text", "label", "rating", "split"]].to_json(
            target / "part-0.json.gz", orient="records", lines=True, force_ascii=False, compression="gzip")
    return {"read": len(data), "kept": len(kept), "duplicates": len(valid) - len(kept)}


def spark_clean(spark, folder: Path, out: Path) -> dict:
    import clean_reviews

    report = clean_reviews.run_job(spark, {"input_uri": str(folder), "curated_uri": str(out), "run_id": "bench"})
    return {"read": report["counts"]["read"], "kept": report["counts"]["kept"],
            "duplicates": report["counts"]["duplicates_collapsed"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--imdb-dir", default=os.environ.get("DS_ON_AWS_IMDB_DIR", str(ROOT.parent / "shared/data/imdb")))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "glue.json"))
    args = parser.parse_args()
    source_file = Path(args.imdb_dir) / "train.csv.gz"
    if not source_file.is_file():
        print(f"error: {source_file} not found (set --imdb-dir or DS_ON_AWS_IMDB_DIR)", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    source = pd.read_csv(source_file, dtype=str, keep_default_na=False)

    import clean_reviews

    spark = clean_reviews.local_spark("bench_glue")
    spark.sparkContext.setLogLevel("ERROR")
    results = []
    work = Path(tempfile.mkdtemp(prefix="bench_glue_"))
    try:
        # warm-up: JVM JIT, Python workers, the regex classes (not timed)
        replicate(source.sample(2000, random_state=0), 2000, work / "warm")
        spark_clean(spark, work / "warm", work / "warm_out")
        # Spark first for every size, then the JVM is stopped before pandas runs: at 1M rows the JVM's heap and
        # pandas' in-memory frames together do not fit 24 GB, and neither phase should run beside the other.
        spark_seconds = {}
        spark_counts = {}
        for rows in sizes:
            folder = work / f"in_{rows}"
            replicate(source, rows, folder)
            started = time.perf_counter()
            spark_counts[rows] = spark_clean(spark, folder, work / f"spark_{rows}")
            spark_seconds[rows] = time.perf_counter() - started
            shutil.rmtree(work / f"spark_{rows}", ignore_errors=True)
            print(f"{rows:>9,} rows  spark {rows / spark_seconds[rows]:>8,.0f} rows/s ({spark_seconds[rows]:7.1f} s)",
                  flush=True)
        spark_master = spark.sparkContext.master
        spark.stop()
        for rows in sizes:
            folder = work / f"in_{rows}"
            started = time.perf_counter()
            pandas_counts = pandas_clean(folder, work / f"pandas_{rows}")
            pandas_seconds = time.perf_counter() - started
            row = {"rows": rows, "spark_seconds": round(spark_seconds[rows], 2),
                   "pandas_seconds": round(pandas_seconds, 2),
                   "spark_rows_per_s": round(rows / spark_seconds[rows]),
                   "pandas_rows_per_s": round(rows / pandas_seconds),
                   "speedup_spark_over_pandas": round(pandas_seconds / spark_seconds[rows], 2),
                   "spark_counts": spark_counts[rows], "pandas_counts": pandas_counts,
                   "load_average_after": os.getloadavg()[0]}
            results.append(row)
            print(f"{rows:>9,} rows  spark {row['spark_rows_per_s']:>8,} rows/s ({spark_seconds[rows]:7.1f} s)  "
                  f"pandas {row['pandas_rows_per_s']:>8,} rows/s ({pandas_seconds:7.1f} s)  "
                  f"spark/pandas speed {row['speedup_spark_over_pandas']}x  (load {row['load_average_after']:.1f})",
                  flush=True)
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    document = {"benchmark": "glue cleaning: clean_reviews on local Spark vs row-wise pandas",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "spark_master": spark_master},
                "results": results}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
