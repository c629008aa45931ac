"""Benchmark: the Glue cleaning job on local Spark vs a straightforward pandas implementation of the same rules.

The real IMDb train.csv.gz (25,000 reviews) is replicated to each size. Replica k appends the token ``rk`` to every
text and prefixes the file key and movie url with it, so every replica row stays a distinct review (otherwise
de-duplication would collapse 1M rows back to 25k and measure nothing) while the text keeps its real mix of
markup, C1 characters and entities. The data is written once as 8 gzip CSV parts, read by both contenders.

Both contenders do the whole stage: read, clean (review_text.normalize_text row by row in pandas; Spark built-ins
plus a vectorized UDF for the rare rows in the job), labels, reject reasons, de-duplication, seeded grouped split,
and write the training channels as JSON Lines gzip. Spark also writes the Parquet table, quarantine and report.
Both run in the same benchmark run, one after the other (pandas in a spawned child process that reports an
out-of-memory kill instead of ending the run), so the ratio is meaningful on a shared machine.

    .venv/bin/python benchmarks/bench_glue.py [--sizes 100000,1000000] [--imdb-dir ../shared/data/imdb]

Prints rows/s for both and the ratio; writes benchmarks/results/glue.json.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import review_text
from peak_memory import peak_rss_kib

ROOT = Path(__file__).resolve().parents[1]

PARTS = 8
JSON_CHUNK = 20_000


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
    data["label"] = data["sentiment"].map(review_text.normalize_label).astype("Int64")
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
        records = rows.rename(columns={"file": "review_id"})[["review_id", "text", "label", "rating", "split"]]
        # DataFrame.to_json builds the whole document in memory (about 11 KB per review at peak, so 11 GB at 1M
        # rows); writing slices of JSON_CHUNK rows to one gzip stream keeps the peak flat.
        with gzip.open(target / "part-0.json.gz", "wt", encoding="utf-8") as handle:
            for start in range(0, len(records), JSON_CHUNK):
                chunk = records.iloc[start:start + JSON_CHUNK].to_json(orient="records", lines=True,
                                                                        force_ascii=False)
                handle.write(chunk if chunk.endswith("\n") else chunk + "\n")
    return {"read": len(data), "kept": len(kept), "duplicates": len(valid) - len(kept)}


def _pandas_child(folder: str, out: str, connection) -> None:
    """Runs in a spawned process: the pandas contender, timed, with its own peak RSS."""
    started = time.perf_counter()
    counts = pandas_clean(Path(folder), Path(out))
    seconds = time.perf_counter() - started
    peak_mib = peak_rss_kib() / 1024
    connection.send({"seconds": seconds, "counts": counts, "peak_rss_mib": round(peak_mib)})
    connection.close()


def run_pandas_isolated(folder: Path, out: Path) -> dict:
    """Run pandas_clean in a fresh process, so an out-of-memory kill is reported instead of ending the benchmark.

    Returns ``{"seconds", "counts", "peak_rss_mib"}``, or ``{"failed": "<why>"}`` when the child died.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_pandas_child, args=(str(folder), str(out), sender), name="bench-glue-pandas")
    child.start()
    sender.close()
    result = None
    try:
        result = receiver.recv()
    except EOFError:
        pass  # the child died before sending: its exit code says how
    child.join()
    if result is not None and child.exitcode == 0:
        return result
    if child.exitcode is not None and child.exitcode < 0:
        name = signal.Signals(-child.exitcode).name
        why = f"killed by {name}" + (" (the kernel's out-of-memory killer)" if name == "SIGKILL" else "")
    else:
        why = f"exited with code {child.exitcode}"
    return {"failed": why}


def spark_clean(spark, folder: Path, out: Path) -> dict:
    import review_cleaning

    report = review_cleaning.run_job(spark, {"input_uri": str(folder), "curated_uri": str(out), "run_id": "bench"})
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

    import review_cleaning

    spark = review_cleaning.local_spark("bench_glue")
    spark.sparkContext.setLogLevel("ERROR")
    results = []
    work = Path(tempfile.mkdtemp(prefix="bench_glue_"))
    try:
        # warm-up: JVM JIT, Python workers, the regex classes (not timed)
        replicate(source.sample(2000, random_state=0), 2000, work / "warm")
        spark_clean(spark, work / "warm", work / "warm_out")
        # Spark first for every size, then the JVM (10 GB heap at 1M rows) is stopped before pandas runs, so
        # neither contender shares the machine's memory or cores with the other.
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
            pandas_run = run_pandas_isolated(folder, work / f"pandas_{rows}")
            shutil.rmtree(work / f"pandas_{rows}", ignore_errors=True)
            row = {"rows": rows, "spark_seconds": round(spark_seconds[rows], 2),
                   "spark_rows_per_s": round(rows / spark_seconds[rows]), "spark_counts": spark_counts[rows]}
            spark_text = f"spark {row['spark_rows_per_s']:>8,} rows/s ({spark_seconds[rows]:7.1f} s)"
            if "failed" in pandas_run:
                row.update({"pandas_failed": pandas_run["failed"], "speedup_spark_over_pandas": None})
                pandas_text = f"pandas FAILED: {pandas_run['failed']}  spark/pandas speed n/a"
            else:
                pandas_seconds = pandas_run["seconds"]
                row.update({"pandas_seconds": round(pandas_seconds, 2),
                            "pandas_rows_per_s": round(rows / pandas_seconds),
                            "pandas_peak_rss_mib": pandas_run["peak_rss_mib"],
                            "speedup_spark_over_pandas": round(pandas_seconds / spark_seconds[rows], 2),
                            "pandas_counts": pandas_run["counts"]})
                if pandas_run["counts"] != spark_counts[rows]:
                    row["counts_differ"] = True
                pandas_text = (f"pandas {row['pandas_rows_per_s']:>8,} rows/s ({pandas_seconds:7.1f} s, peak "
                               f"{pandas_run['peak_rss_mib']:,} MiB)  spark/pandas speed "
                               f"{row['speedup_spark_over_pandas']}x")
            row["load_average_after"] = os.getloadavg()[0]
            results.append(row)
            print(f"{rows:>9,} rows  {spark_text}  {pandas_text}  (load {row['load_average_after']:.1f})"
                  + ("  WARNING: the two contenders' counts differ" if row.get("counts_differ") else ""),
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
