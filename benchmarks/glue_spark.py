"""The Spark side of bench_glue: the job cold (a fresh process and JVM per run) and warm, and where its time goes.

Cold is what a Glue run and the offline run's clean stage pay: ``glue_scripts/clean_reviews.py`` in a new process,
timed from the start of the process to its exit. Warm is a later run in the same SparkSession. The session child
(``python glue_spark.py session PLAN RESULT``) times the offline runner's clean stage exactly as the runner does
(``cleaning.check_java``, ``cleaning.local_spark``, ``cleaning.run_cleaning`` with cdk.json's job arguments): its
first run is the stage cold in-process, the later ones are warm.

Every Spark process writes Spark's event log (``spark.eventLog.enabled``, through ``PYSPARK_SUBMIT_ARGS``: the job's
session is not touched), from which :func:`breakdown` tells the Spark jobs of a run by call site, their stages and
tasks, the Python pass (the stages that fed Python workers), and the driver time between jobs. A
``peak_memory.TreeSampler`` gives the peak RSS of the whole process tree (driver, JVM, Python workers) and the CPU
seconds of each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from peak_memory import TreeSampler, cpu_between

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "glue_scripts" / "clean_reviews.py"
# The SQL metric of Python (Arrow) operators: a stage that updated it ran the Python pass. A stage that reads the
# cached result lists PythonMapInArrow in its RDD lineage too, so the operator's name alone would over-count.
PYTHON_PASS_METRIC = "data sent to Python workers"


def settle() -> None:
    """Let the files earlier steps wrote reach the disk before a timed run starts (``os.sync``, not timed).

    Preparing the 1M input leaves about 500 MB of written pages that the kernel flushes over the next seconds, and
    every run leaves its outputs: without this the next run pays for that writeback. The 25k stage, run right
    after the inputs were prepared, took 18.1 and 17.3 s, and 16.6 and 15.1 s after a sync (docs/data-quality.md).
    """
    os.sync()


def spark_env(event_dir: Path) -> dict[str, str]:
    """The environment of a Spark process that writes its event log under ``event_dir``."""
    event_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYSPARK_SUBMIT_ARGS"] = (f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{event_dir} "
                                  "--conf spark.eventLog.compress=false pyspark-shell")
    return env


def read_events(event_dir: Path) -> list[dict]:
    """Every event of the newest event log under ``event_dir``."""
    logs = sorted(p for p in event_dir.iterdir() if p.is_file() and not p.name.endswith(".inprogress"))
    if not logs:
        return []
    newest = max(logs, key=lambda p: p.stat().st_mtime)
    return [json.loads(line) for line in newest.read_text().splitlines() if line.strip()]


def run_cli_cold(input_path: Path, curated: Path, run_id: str, arguments: Mapping[str, str], event_dir: Path) -> dict:
    """``clean_reviews.py`` in a fresh process, timed end to end, with its process tree's memory and CPU."""
    command = [sys.executable, str(CLI), "--input_uri", str(input_path), "--curated_uri", str(curated),
               "--run_id", run_id]
    for key, value in arguments.items():
        command += [f"--{key}", str(value)]
    settle()
    started_ms = time.time() * 1000
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=spark_env(event_dir), cwd=ROOT)
    with TreeSampler(process.pid) as sampler:
        stdout, stderr = process.communicate()
        seconds = time.perf_counter() - started
        figures = sampler.snapshot()
    if process.returncode != 0:
        return {"failed": f"exit code {process.returncode}: {stderr.strip().splitlines()[-1:]}", "seconds": seconds}
    summary = json.loads(stdout[stdout.index("{"):])
    return {"seconds": round(seconds, 2), "peak_rss_mib": figures["peak_rss_mib"], "cpu_seconds": figures["cpu_seconds"],
            "counts": summary["counts"], "repairs": summary.get("repairs"),
            "breakdown": breakdown(read_events(event_dir), started_ms, time.time() * 1000)}


def run_session(plan: Sequence[dict], result_file: Path, event_dir: Path) -> dict:
    """The session child: every planned run in one process and SparkSession; returns (and writes) the figures."""
    command = [sys.executable, str(Path(__file__).resolve()), "session", json.dumps(list(plan)), str(result_file)]
    process = subprocess.run(command, env=spark_env(event_dir), cwd=ROOT, capture_output=True, text=True)
    if process.returncode != 0 or not result_file.is_file():
        return {"failed": f"exit code {process.returncode}: {process.stderr.strip().splitlines()[-3:]}"}
    result = json.loads(result_file.read_text())
    events = read_events(event_dir)
    for run in result["runs"]:
        run["breakdown"] = breakdown(events, run.pop("started_ms"), run.pop("ended_ms"))
    return result


def _session_child(plan: list[dict], result_file: Path) -> None:
    """Runs in the child: the offline clean stage's own calls, once per planned run, in one SparkSession."""
    from ds_on_aws.config import load_config
    from ds_on_aws.local import cleaning

    arguments = load_config().data_quality.as_job_arguments()
    runs = []
    spark = None
    with TreeSampler(os.getpid()) as sampler:
        for step in plan:
            settle()
            sampler.reset_peak()
            before = sampler.snapshot()
            started_ms, started = time.time() * 1000, time.perf_counter()
            if spark is None:  # the stage as pipeline._clean runs it: Java check, session, job
                cleaning.check_java()
                spark = cleaning.local_spark(step["input"])  # its size chooses the JVM's compilers
            options = cleaning.job_options(step["input"], Path(step["curated"]), step["run_id"], "auto", arguments)
            report = cleaning.run_cleaning(spark, options)
            seconds = time.perf_counter() - started
            after = sampler.snapshot()
            runs.append({**step, "seconds": round(seconds, 2), "peak_rss_mib": after["peak_rss_mib"],
                         "cpu_seconds": cpu_between(before, after), "counts": report["counts"],
                         "started_ms": started_ms, "ended_ms": time.time() * 1000})
    spark.stop()
    result_file.write_text(json.dumps({"runs": runs}))


# --- where the time goes ---------------------------------------------------------------------------------------

def _site(job_start: dict) -> str:
    """The job's call site: the job's Python line (review_cleaning/x.py:N) or its first stage's name."""
    site = (job_start.get("Properties") or {}).get("callSite.short")
    if not site:
        infos = job_start.get("Stage Infos") or [{}]
        site = max(infos, key=lambda s: s.get("Stage ID", 0)).get("Stage Name", "?")  # the job's result stage
    site = re.sub(r"^(\w+) at NativeMethodAccessorImpl\.java:0$", r"DataFrame.\1 (reader, writer or count)", site)
    return re.sub(r"\S*/(review_cleaning/[\w.]+:\d+)", r"\1", site)


def _task_seconds(events: list[dict]) -> dict[int, dict[str, float]]:
    """Per stage: the executor CPU and JVM GC seconds its tasks reported."""
    per_stage: dict[int, dict[str, float]] = {}
    for event in events:
        if event["Event"] == "SparkListenerTaskEnd":
            metrics = event.get("Task Metrics") or {}
            stage = per_stage.setdefault(event["Stage ID"], {"cpu_seconds": 0.0, "gc_seconds": 0.0})
            stage["cpu_seconds"] += metrics.get("Executor CPU Time", 0) / 1e9
            stage["gc_seconds"] += metrics.get("JVM GC Time", 0) / 1000
    return per_stage


def _completed_stages(events: list[dict]) -> dict[int, dict]:
    stages = {}
    tasks = _task_seconds(events)
    for event in events:
        if event["Event"] == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            python = any(a.get("Name") == PYTHON_PASS_METRIC and str(a.get("Value", "0")) not in ("0", "")
                         for a in info.get("Accumulables", []))
            stages[info["Stage ID"]] = {"tasks": info["Number of Tasks"],
                                        "seconds": (info["Completion Time"] - info["Submission Time"]) / 1000,
                                        "python_pass": python,
                                        **tasks.get(info["Stage ID"], {"cpu_seconds": 0.0, "gc_seconds": 0.0})}
    return stages


def breakdown(events: list[dict], started_ms: float, ended_ms: float) -> dict:
    """The Spark jobs submitted between ``started_ms`` and ``ended_ms`` (epoch ms), grouped by call site."""
    stages = _completed_stages(events)
    app_start = next((e["Timestamp"] for e in events if e["Event"] == "SparkListenerApplicationStart"), None)
    starts = {e["Job ID"]: e for e in events if e["Event"] == "SparkListenerJobStart"
              and started_ms <= e["Submission Time"] <= ended_ms}
    ends = {e["Job ID"]: e["Completion Time"] for e in events if e["Event"] == "SparkListenerJobEnd"}
    sites: dict[str, dict] = {}
    intervals = []
    python = {"seconds": 0.0, "tasks": 0, "stages": 0}
    counted: set[int] = set()  # a stage a later job reuses is listed in its Stage Infos again (skipped)
    for job_id, start in sorted(starts.items()):
        end = ends.get(job_id, start["Submission Time"])
        intervals.append((start["Submission Time"], end))
        ids = [s["Stage ID"] for s in start["Stage Infos"] if s["Stage ID"] in stages and s["Stage ID"] not in counted]
        counted.update(ids)
        ran = [stages[i] for i in ids]
        site = sites.setdefault(_site(start), {"jobs": 0, "seconds": 0.0, "stages": 0, "tasks": 0,
                                               "task_cpu_seconds": 0.0, "gc_seconds": 0.0, "intervals": []})
        site["jobs"] += 1
        site["intervals"].append((start["Submission Time"], end))  # jobs of one site may run at once
        site["stages"] += len(ran)
        site["tasks"] += sum(s["tasks"] for s in ran)
        site["task_cpu_seconds"] += sum(s["cpu_seconds"] for s in ran)
        site["gc_seconds"] += sum(s["gc_seconds"] for s in ran)
        for stage in (s for s in ran if s["python_pass"]):
            python = {"seconds": python["seconds"] + stage["seconds"], "tasks": python["tasks"] + stage["tasks"],
                      "stages": python["stages"] + 1}
    for site in sites.values():
        site["seconds"] = _union_seconds(site.pop("intervals"))
    in_jobs = _union_seconds(intervals)
    first_job = min((a for a, _ in intervals), default=ended_ms)
    last_job = max((b for _, b in intervals), default=ended_ms)
    before_jobs = (first_job - started_ms) / 1000
    return {
        "jobs": len(starts), "stages_run": sum(s["stages"] for s in sites.values()),
        "tasks": sum(s["tasks"] for s in sites.values()),
        "session_start_seconds": round((app_start - started_ms) / 1000, 2)
        if app_start and app_start >= started_ms else None,
        "before_first_job_seconds": round(before_jobs, 2), "in_jobs_seconds": round(in_jobs, 2),
        "between_jobs_seconds": round((last_job - first_job) / 1000 - in_jobs, 2),
        "after_last_job_seconds": round((ended_ms - last_job) / 1000, 2),
        "python_pass": {k: round(v, 2) if isinstance(v, float) else v for k, v in python.items()},
        "by_call_site": {k: {n: round(x, 2) if isinstance(x, float) else x for n, x in v.items()}
                         for k, v in sites.items()},
    }


def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total / 1000


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "session":
        sys.path.insert(0, str(ROOT))
        _session_child(json.loads(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit("usage: glue_spark.py session PLAN_JSON RESULT_FILE")
