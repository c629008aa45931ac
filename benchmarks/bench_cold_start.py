"""Cold start of the model on the scikit-learn 1.9-0 image's serving stack (the container tier's ``.venv-container``).

    .venv/bin/python benchmarks/bench_cold_start.py [--model-dir DIR_OR_MODEL_TAR_GZ] [--rows 3000] [--rounds 2]

Starts the image's ``serve`` (sagemaker-containers ``server.start``, gunicorn with gevent workers, nginx off; see
``tests/container/harness.py``) on a model folder and pings it as SageMaker does from the moment the process starts:
a ``GET /ping`` every 0.5 s, each with a 2 s timeout and not waiting for the previous one. Reported per start: time
to the first 200, the stack's ``pip install .`` of the code folder, the master's fetch+install+import, each worker's
import of ``inference`` and its ``model_fn`` time, the model loads per worker (``inference.model_fn``'s log line,
else the serving glue's timing line), and each worker's RSS once it answers. Two configurations: the model's
environment from ``endpoint_model_spec`` (``PIP_NO_INDEX`` and friends) and the same without it (only
``SAGEMAKER_PROGRAM`` and ``SAGEMAKER_SUBMIT_DIRECTORY``), to show what those variables cut. Without them pip may
reach a package index here; an isolated container cannot, so there that configuration never starts at all.

With no ``--model-dir`` it trains the project's default model on ``--rows`` reviews of the IMDb training data
(``../shared/data/imdb/train.csv.gz``) through the tier's training job. Writes ``benchmarks/results/cold_start.json``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import platform
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
for entry in (PROJECT_ROOT / "training", PROJECT_ROOT):  # the SageMaker code folder; the tier's harness (tests/)
    sys.path.insert(0, str(entry))

from ds_on_aws.packaging import build_sourcedir_tarball  # noqa: E402
from ds_on_aws.sagemaker_jobs import SOURCEDIR_NAME, endpoint_model_spec, training_job_spec  # noqa: E402
from tests.container import harness  # noqa: E402
from tests.training.sm_helpers import write_channel  # noqa: E402

IMDB = PROJECT_ROOT.parent / "shared" / "data" / "imdb" / "train.csv.gz"
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "cold_start.json"
PING_EVERY_S, PING_TIMEOUT_S = 0.5, 2.0
TIMING = re.compile(r"sklearn_image timing (\w+) ([0-9.]+) s pid=(\d+)")
LOAD_LINE = re.compile(r"model_fn: loading .* in process (\d+)")
WORKER = re.compile(r"Booting worker with pid: (\d+)")


def imdb_records(rows: int, seed: int = 7) -> list[dict]:
    with gzip.open(IMDB, "rt", encoding="utf-8", newline="") as handle:
        reviews = list(csv.DictReader(handle))
    sample = random.Random(seed).sample(reviews, min(rows, len(reviews)))
    return [
        {"review_id": f"imdb-{row['id']}", "text": row["review"], "label": int(row["sentiment"] == "positive")}
        for row in sample
    ]


def train_model(work: Path, rows: int) -> Path:
    """The project's default model on ``rows`` IMDb reviews (90/10 split), trained by the tier's training job."""
    if not IMDB.is_file():
        raise SystemExit(f"{IMDB} not found: pass --model-dir")
    records = imdb_records(rows)
    cut = len(records) * 9 // 10
    channels = {
        "train": str(write_channel(work / "channels" / "train", records[:cut])),
        "validation": str(write_channel(work / "channels" / "validation", records[cut:])),
    }
    tarball = build_sourcedir_tarball(work / "s3" / SOURCEDIR_NAME)
    job = harness.run_training_job(work / "job" / "ml", training_job_spec(code_uri=str(tarball), data_channels=channels))
    if job.returncode != 0:
        raise SystemExit(f"training failed:\n{job.output[-3000:]}")
    return job.model_dir


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def ping_until_ready(server: harness.Server, started: float, deadline_s: float) -> tuple[float | None, int]:
    """Seconds from process start to the first 200 (None if never), and how many pings were sent."""
    ready = threading.Event()
    first: list[float] = []

    def ping() -> None:
        try:
            with urllib.request.urlopen(server.url("/ping"), timeout=PING_TIMEOUT_S) as response:
                if response.status == 200 and not ready.is_set():
                    first.append(time.monotonic() - started)
                    ready.set()
        except OSError:
            pass

    sent = 0
    while not ready.is_set() and time.monotonic() - started < deadline_s and server.process.poll() is None:
        threading.Thread(target=ping, daemon=True).start()
        sent += 1
        ready.wait(PING_EVERY_S)
    return (min(first) if first else None), sent


def one_start(model: Path, work: Path, use_model_environment: bool, workers: int, deadline_s: float) -> dict:
    spec = endpoint_model_spec("instance")
    started = time.monotonic()
    server = harness.start_server(work / "ml", model, spec, workers=workers, use_model_environment=use_model_environment)
    try:
        first_200, pings = ping_until_ready(server, started, deadline_s)
        worker_pids = [int(pid) for pid in WORKER.findall(server.log())]
        rss = {pid: rss_mib(pid) for pid in worker_pids} if first_200 is not None else {}
        time.sleep(PING_TIMEOUT_S + 0.5)  # let the pings still in flight finish their (extra) builds
        log = server.log()
    finally:
        server.stop()
    timings: dict[str, dict[int, list[float]]] = {}
    for step, seconds, pid in TIMING.findall(log):
        timings.setdefault(step, {}).setdefault(int(pid), []).append(float(seconds))
    counted = LOAD_LINE.findall(log)
    loads = {pid: 0 for pid in worker_pids}
    for pid in counted or [str(pid) for pid, runs in timings.get("model_fn", {}).items() for _ in runs]:
        loads[int(pid)] = loads.get(int(pid), 0) + 1
    per_worker = {
        str(pid): {
            "import_s": timings.get("import", {}).get(pid, []),
            "model_fn_s": timings.get("model_fn", {}).get(pid, []),
            "model_loads": loads.get(pid, 0),
            "rss_mib": rss.get(pid),
        }
        for pid in worker_pids
    }
    return {
        "model_environment": use_model_environment,
        "first_200_s": round(first_200, 2) if first_200 is not None else None,
        "pings_sent": pings,
        "pip_install_s": sum(sum(v) for v in timings.get("pip_install", {}).values()) or None,
        "master_fetch_install_import_s": sum(sum(v) for v in timings.get("master_fetch_install_import", {}).values())
        or None,
        "loads_counted_from": "inference.model_fn log line" if counted else "serving glue timing line",
        "workers": per_worker,
        "stack_exited_early": server.process.returncode not in (None, 0, -15) and first_200 is None,
    }


def summarize(runs: list[dict]) -> dict:
    def median(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 2) if values else None

    workers = [w for run in runs for w in run["workers"].values()]
    return {
        "first_200_s": median([r["first_200_s"] for r in runs]),
        "pip_install_s": median([r["pip_install_s"] for r in runs]),
        "master_fetch_install_import_s": median([r["master_fetch_install_import_s"] for r in runs]),
        "worker_import_s": median([w["import_s"][0] for w in workers if w["import_s"]]),
        "worker_model_fn_s": median([w["model_fn_s"][0] for w in workers if w["model_fn_s"]]),
        "model_loads_per_worker": sorted(w["model_loads"] for w in workers),
        "worker_rss_mib": median([w["rss_mib"] for w in workers]),
        "starts_without_200": sum(r["first_200_s"] is None for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="model folder (model.joblib + code/) or model.tar.gz")
    parser.add_argument("--rows", type=int, default=3000, help="IMDb reviews to train on without --model-dir")
    parser.add_argument("--rounds", type=int, default=2, help="starts per configuration")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (SAGEMAKER_MODEL_SERVER_WORKERS)")
    parser.add_argument("--deadline", type=float, default=120, help="seconds to wait for the first 200")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if reason := harness.missing_reason():
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        work = Path(tmp)
        model = args.model_dir or train_model(work / "train", args.rows)
        configurations = {}
        for use_env in (True, False):
            name = "with_model_environment" if use_env else "without_model_environment"
            runs = []
            for index in range(args.rounds):
                run = one_start(model, work / f"{name}-{index}", use_env, args.workers, args.deadline)
                print(f"{name} #{index + 1}: first 200 after {run['first_200_s']} s, pip install "
                      f"{run['pip_install_s']} s, loads per worker "
                      f"{[w['model_loads'] for w in run['workers'].values()]}", flush=True)
                runs.append(run)
            configurations[name] = {"summary": summarize(runs), "runs": runs}
        metrics = json.loads((Path(model) / "metrics.json").read_text()) if Path(model).is_dir() else {}
    report = {
        "benchmark": "cold start on the scikit-learn 1.9-0 serving stack (.venv-container)",
        "command": "make bench-cold-start  (.venv/bin/python benchmarks/bench_cold_start.py "
        + " ".join(argv if argv is not None else sys.argv[1:]) + ")",
        "model": str(args.model_dir) if args.model_dir else f"default model on {args.rows} IMDb reviews",
        "model_rows": metrics.get("rows"),
        "workers": args.workers,
        "ping": {"every_s": PING_EVERY_S, "timeout_s": PING_TIMEOUT_S, "from": "process start"},
        "model_environment": dict(endpoint_model_spec("instance").environment),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "configurations": configurations,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, configuration in configurations.items():
        print(name, json.dumps(configuration["summary"]))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
