"""Benchmark: the Glue cleaning job on local Spark, cold and warm, against two single-process contenders, same rows.

Sizes: 25,000 is the real IMDb ``train.csv.gz`` as it is; any other size is that file replicated (replica ``k``
appends `` rk`` to every text and prefixes the file key and movie url with it, so every row stays a distinct review
and de-duplication cannot collapse 1M rows back to 25k), written once as 8 gzip CSV parts. Every contender gets the
offline run's job arguments (cdk.json's data-quality thresholds) and writes every output of the job.

- **Spark cold**: ``glue_scripts/clean_reviews.py`` in a fresh process (a fresh JVM), timed end to end: what a Glue
  run and the offline run's clean stage pay. Peak memory and CPU are the whole process tree's (driver, JVM, Python
  workers).
- **Offline clean stage, cold** and **Spark warm**: one child process runs the offline runner's clean stage calls
  (``ds_on_aws.local.cleaning``), first on the smallest size (the stage as ``ds-on-aws run`` times it, cold), then
  again on every size in the same SparkSession (warm).
- **pandas** (contender 1, ``glue_pandas``): the job's per-record function row by row in one process.
- **polars** (contender 2, ``glue_polars``): the same rules as polars expressions, Python only on the rows that need
  it: the ceiling.

Every timed run starts after ``os.sync()`` (``glue_spark.settle``, not timed), so that no run pays for the
writeback of the inputs prepared before it or of the outputs of the run before it.

Agreement: the kept rows' cleaned texts and labels (by review_id) of the Spark job must equal pandas's; the run
fails (exit 1) if any row differs. The polars contender's agreement is reported. Where the Spark time goes (jobs,
stages, tasks per call site, the Python pass, driver time between jobs) comes from Spark's event log.

    .venv/bin/python benchmarks/bench_glue.py [--sizes 25000,1000000] [--imdb-dir ../shared/data/imdb]

Prints a table, the ratios and targets and the Spark breakdowns; writes benchmarks/results/glue.json.
"""

from __future__ import annotations

import argparse
import gzip
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
from peak_memory import peak_rss_kib

ROOT = Path(__file__).resolve().parents[1]
PARTS = 8
REAL_ROWS = 25_000
TARGET_SPEEDUP_AT_1M = 1.5  # Spark (cold) over the row-wise pandas contender at 1M rows
TARGET_STAGE_SECONDS_25K = 20.0  # the offline run's clean stage, cold, on the real 25k file
CONTENDERS = {"pandas": ("glue_pandas", "pandas_clean"), "polars": ("glue_polars", "polars_clean")}


def replicate(source: pd.DataFrame, rows: int, folder: Path) -> None:
    """Write ``rows`` rows made of replicas of ``source`` as PARTS gzip CSV files (fewer rows: a shuffled sample)."""
    folder.mkdir(parents=True)
    if rows < len(source):
        source = source.sample(frac=1, random_state=0)  # the file is sorted by label
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


def prepare_inputs(source_file: Path, sizes: list[int], work: Path) -> dict[int, Path]:
    """The input of each size: the real file itself at its own size, else replicas of it."""
    source = pd.read_csv(source_file, dtype=str, keep_default_na=False)
    inputs = {}
    for rows in sizes:
        if rows == len(source):
            inputs[rows] = source_file
        else:
            inputs[rows] = work / f"in_{rows}"
            replicate(source, rows, inputs[rows])
    return inputs


def job_arguments() -> dict[str, str]:
    """The offline run's job arguments (cdk.json's data-quality thresholds), without the leading ``--``."""
    from ds_on_aws.config import load_config

    return {k.removeprefix("--"): str(v) for k, v in load_config().data_quality.as_job_arguments().items()}


# --- the single-process contenders, each in a spawned child -------------------------------------------------------

def _contender_child(name: str, input_path: str, curated: str, run_id: str, arguments: dict, connection) -> None:
    """Runs in a spawned process: one contender, timed, with its own peak RSS."""
    import importlib

    module, function = CONTENDERS[name]
    clean = getattr(importlib.import_module(module), function)
    started = time.perf_counter()
    counts = clean(Path(input_path), Path(curated), run_id, arguments)
    seconds = time.perf_counter() - started
    connection.send({"seconds": round(seconds, 2), "counts": counts, "peak_rss_mib": round(peak_rss_kib() / 1024)})
    connection.close()


def run_isolated(name: str, input_path: Path, curated: Path, run_id: str, arguments: dict) -> dict:
    """A contender in a fresh process, so an out-of-memory kill is reported instead of ending the benchmark.

    Returns ``{"seconds", "counts", "peak_rss_mib"}``, or ``{"failed": "<why>"}`` when the child died.
    """
    import glue_spark

    glue_spark.settle()  # the contender times itself in the child, from after its start
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_contender_child, name=f"bench-glue-{name}",
                            args=(name, str(input_path), str(curated), run_id, dict(arguments), sender))
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


# --- one size ----------------------------------------------------------------------------------------------------

def _measured(result: dict, rows: int) -> dict:
    if "failed" not in result:
        result["rows_per_s"] = round(rows / result["seconds"])
    result["load_average"] = round(os.getloadavg()[0], 2)
    return result


def run_size(rows: int, input_path: Path, work: Path, arguments: dict, session_runs: dict) -> dict:
    """Spark cold, pandas and polars on one input, then the agreement of their kept rows; outputs deleted after."""
    import glue_agreement
    import glue_spark

    out = work / f"out_{rows}"
    figures = {"spark_cold": _measured(glue_spark.run_cli_cold(input_path, out / "spark", "bench", arguments,
                                                               work / f"events_cold_{rows}"), rows)}
    print(f"  {rows:,} rows: spark cold done ({figures['spark_cold'].get('seconds')} s)", flush=True)
    for name in CONTENDERS:
        figures[name] = _measured(run_isolated(name, input_path, out / name, "bench", arguments), rows)
        print(f"  {rows:,} rows: {name} done ({figures[name].get('seconds')} s)", flush=True)
    kept = {name: glue_agreement.kept_rows(out / name, "bench") for name in ("spark", "pandas", "polars")
            if "failed" not in figures.get(name if name != "spark" else "spark_cold", {})}
    agreement = {}
    for name in ("spark", "polars"):
        if name in kept and "pandas" in kept:
            agreement[f"{name}_vs_pandas"] = glue_agreement.compare(kept[name], kept["pandas"])
    for run in session_runs.get(rows, []):
        curated = Path(run["curated"])
        if curated.is_dir() and "pandas" in kept:
            agreement[f"spark_{run['label']}_vs_pandas"] = glue_agreement.compare(
                glue_agreement.kept_rows(curated, run["run_id"]), kept["pandas"])
    shutil.rmtree(out, ignore_errors=True)
    for run in session_runs.get(rows, []):
        shutil.rmtree(run["curated"], ignore_errors=True)
    return {"rows": rows, **figures, "agreement": agreement}


def session_plan(sizes: list[int], inputs: dict[int, Path], work: Path) -> list[dict]:
    """The offline clean stage cold on the smallest size, then warm runs on every size in the same session."""
    first = min(sizes)
    plan = [{"label": "stage_cold", "rows": first, "input": str(inputs[first]),
             "curated": str(work / f"session_{first}_cold"), "run_id": "stage-cold"}]
    plan += [{"label": "warm", "rows": rows, "input": str(inputs[rows]), "curated": str(work / f"session_{rows}_warm"),
              "run_id": "warm"} for rows in sizes]
    return plan


# --- the report --------------------------------------------------------------------------------------------------

def _cell(result: dict | None, key: str, fmt: str) -> str:
    if not result:
        return "-"
    if "failed" in result:
        return "FAILED" if key == "seconds" else ""
    value = result.get(key)
    return format(value, fmt) if value is not None else "-"


def print_table(results: list[dict]) -> None:
    print(f"\n{'rows':>10}  {'contender':<38} {'wall s':>8} {'rows/s':>9} {'peak MiB':>9}  {'vs pandas':<22} load")
    for size in results:
        agreement = size["agreement"]
        lines = [("spark cold (clean_reviews.py, new JVM)", size.get("spark_cold"), agreement.get("spark_vs_pandas")),
                 ("spark: offline clean stage, cold", size.get("stage_cold"),
                  agreement.get("spark_stage_cold_vs_pandas")),
                 ("spark warm (same SparkSession)", size.get("warm"), agreement.get("spark_warm_vs_pandas")),
                 ("pandas row-wise (contender 1)", size.get("pandas"), None),
                 ("polars vectorized (contender 2)", size.get("polars"), agreement.get("polars_vs_pandas"))]
        for label, result, agree in lines:
            if result is None:
                continue
            if "failed" in result:
                print(f"{size['rows']:>10,}  {label:<38} FAILED: {result['failed']}")
                continue
            versus = (f"{agree['differing_rows']} rows differ" + (f", {agree['split_differs']} split" if
                                                                  agree["split_differs"] else "")) if agree else ""
            print(f"{size['rows']:>10,}  {label:<38} {_cell(result, 'seconds', '8.1f')} "
                  f"{_cell(result, 'rows_per_s', '9,')} {_cell(result, 'peak_rss_mib', '9,')}  {versus:<22} "
                  f"{result.get('load_average', '')}")


def _speedup(slow: dict | None, fast: dict | None) -> float | None:
    if not slow or not fast or "failed" in slow or "failed" in fast:
        return None
    return round(slow["seconds"] / fast["seconds"], 2)


def ratios_and_targets(results: list[dict]) -> dict:
    by_rows = {r["rows"]: r for r in results}
    ratios = {}
    for rows, size in by_rows.items():
        ratios[f"{rows}"] = {"spark_cold_over_pandas": _speedup(size.get("pandas"), size.get("spark_cold")),
                             "spark_warm_over_pandas": _speedup(size.get("pandas"), size.get("warm")),
                             "polars_over_spark_cold": _speedup(size.get("spark_cold"), size.get("polars")),
                             "polars_over_pandas": _speedup(size.get("pandas"), size.get("polars"))}
    targets = {}
    if 1_000_000 in by_rows:
        value = ratios["1000000"]["spark_cold_over_pandas"]
        targets["spark_cold_over_pandas_at_1M"] = {"value": value, "target": f">= {TARGET_SPEEDUP_AT_1M}",
                                                   "met": value is not None and value >= TARGET_SPEEDUP_AT_1M}
    stage = by_rows.get(REAL_ROWS, {}).get("stage_cold")
    if stage and "failed" not in stage:
        targets["offline_clean_stage_cold_25k_seconds"] = {
            "value": stage["seconds"], "target": f"<= {TARGET_STAGE_SECONDS_25K}",
            "met": stage["seconds"] <= TARGET_STAGE_SECONDS_25K}
    return {"ratios": ratios, "targets": targets}


def print_ratios(summary: dict) -> None:
    print()
    for rows, ratio in summary["ratios"].items():
        shown = ", ".join(f"{k.replace('_', ' ')} {v}x" for k, v in ratio.items() if v is not None)
        print(f"{int(rows):>10,} rows: {shown}")
    for name, target in summary["targets"].items():
        print(f"target {name}: {target['value']} (wanted {target['target']}): {'met' if target['met'] else 'MISSED'}")


def print_breakdown(label: str, result: dict | None) -> None:
    if not result or "breakdown" not in result:
        return
    b = result["breakdown"]
    cpu = result.get("cpu_seconds") or {}
    print(f"\n{label}: {result['seconds']} s wall; {b['jobs']} Spark jobs, {b['stages_run']} stages run, "
          f"{b['tasks']} tasks; CPU s: JVM {cpu.get('jvm')}, Python workers {cpu.get('python_workers')}, "
          f"driver {cpu.get('driver')}")
    print(f"  before the first Spark job {b['before_first_job_seconds']} s (SparkContext up after "
          f"{b['session_start_seconds']} s), in jobs {b['in_jobs_seconds']} s, driver between jobs "
          f"{b['between_jobs_seconds']} s, after the last job {b['after_last_job_seconds']} s")
    python = b["python_pass"]
    print(f"  the Python pass (stages feeding Python workers): {python['seconds']} s, {python['stages']} stage(s), "
          f"{python['tasks']} tasks")
    for site, figures in b["by_call_site"].items():
        print(f"    {site:<50} {figures['jobs']:>3} jobs {figures['stages']:>3} stages {figures['tasks']:>4} tasks "
              f"{figures['seconds']:>7.2f} s (task CPU {figures['task_cpu_seconds']:.1f} s, GC {figures['gc_seconds']:.1f} s)")


def disagreements(results: list[dict]) -> list[str]:
    """What makes the run fail: a Spark run whose kept rows differ from pandas's, or a contender that failed."""
    problems = []
    for size in results:
        for name, agree in size["agreement"].items():
            if name.startswith("spark") and agree["differing_rows"]:
                problems.append(f"{size['rows']:,} rows: {name}: {agree['differing_rows']} kept rows differ "
                                f"(only spark {agree['only_left']}, only pandas {agree['only_right']}, text "
                                f"{agree['text_differs']}, label {agree['label_differs']}; e.g. {agree['examples']})")
        for name in ("spark_cold", "stage_cold", "warm", "pandas", "polars"):
            if "failed" in (size.get(name) or {}):
                problems.append(f"{size['rows']:,} rows: {name} failed: {size[name]['failed']}")
    return problems


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=f"{REAL_ROWS},1000000",
                        help=f"comma-separated row counts ({REAL_ROWS:,} is the real file as it is)")
    parser.add_argument("--imdb-dir", default=os.environ.get("DS_ON_AWS_IMDB_DIR", str(ROOT.parent / "shared/data/imdb")))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "glue.json"))
    parser.add_argument("--event-logs", help="keep Spark's event logs of every run in this folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import glue_spark

    args = parse_args(argv)
    source_file = Path(args.imdb_dir) / "train.csv.gz"
    if not source_file.is_file():
        print(f"error: {source_file} not found (set --imdb-dir or DS_ON_AWS_IMDB_DIR)", file=sys.stderr)
        return 2
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    arguments = job_arguments()
    work = Path(tempfile.mkdtemp(prefix="bench_glue_"))
    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        inputs = prepare_inputs(source_file, sizes, work)
        plan = session_plan(sizes, inputs, work)
        print(f"spark session child: {[(p['label'], p['rows']) for p in plan]}", flush=True)
        session = glue_spark.run_session(plan, work / "session.json", work / "events_session")
        session_runs: dict[int, list[dict]] = {}
        for run in session.get("runs", []):
            session_runs.setdefault(run["rows"], []).append(run)
        results = []
        for rows in sizes:
            size = run_size(rows, inputs[rows], work, arguments, session_runs)
            for run in session_runs.get(rows, []):
                size[run["label"]] = _measured(run, rows)
            if "failed" in session:
                size["warm"] = session
            results.append(size)
    finally:
        if args.event_logs:
            for folder in work.glob("events_*"):
                shutil.copytree(folder, Path(args.event_logs) / folder.name, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    summary = ratios_and_targets(results)
    print_table(results)
    print_ratios(summary)
    for size in results:
        for key, label in (("spark_cold", "spark cold"), ("stage_cold", "offline clean stage cold"), ("warm", "warm")):
            print_breakdown(f"{label}, {size['rows']:,} rows", size.get(key))
    problems = disagreements(results)
    document = {"benchmark": "glue cleaning: the job on local Spark (cold and warm) vs row-wise pandas and polars",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "load_average_before": [round(x, 2) for x in load_before],
                            "load_average_after": [round(x, 2) for x in os.getloadavg()],
                            "spark_driver_memory": os.environ.get("DS_ON_AWS_SPARK_DRIVER_MEMORY", "4g")},
                "job_arguments": arguments, "total_seconds": round(time.perf_counter() - started, 1),
                "results": results, **summary, "problems": problems}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {args.output} ({document['total_seconds']} s in all; load average {document['machine']['load_average_after']})")
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
