"""Benchmark of the local endpoint: latency for one review, throughput for batches of 100.

    .venv/bin/python benchmarks/bench_endpoint.py [--model runs/<run_id>/model.tar.gz] [--single 500] [--batches 50]

The endpoint is the runner's own (a process running the emulated SageMaker scikit-learn serving stack behind a
threaded werkzeug server on 127.0.0.1). The baseline, measured in the same run on the same texts and model, calls
the very same handlers in-process (``input_fn -> predict_fn -> output_fn`` on the same JSON bodies, no HTTP), so the
difference is the cost of the server, HTTP and JSON transport. With no ``--model`` it trains a small model first
(the default hyperparameters on a 3,000-review sample of the IMDb data when ``../shared/data/imdb`` is present,
else on synthetic reviews). Loopback only; every loop is bounded by the request counts. Writes
``benchmarks/results/endpoint.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from ds_on_aws.local.endpoint import http_request, start_endpoint, wait_until_healthy  # noqa: E402
from ds_on_aws.local.evaluate import response_body  # noqa: E402
from ds_on_aws.local.serving import JSON, HandlerChain  # noqa: E402
from ds_on_aws.local.training_job import TrainingLayout, extract_tarball, run_training  # noqa: E402

IMDB = PROJECT_ROOT.parent / "shared" / "data" / "imdb" / "train.csv.gz"
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "endpoint.json"
ROUNDS = 10


def load_texts(n: int, seed: int = 42) -> tuple[list[str], list[int], str]:
    """Raw review texts (the endpoint cleans them itself) with labels, and where they came from."""
    rng = random.Random(seed)
    if IMDB.is_file():
        import pandas as pd

        frame = pd.read_csv(IMDB, usecols=["review", "sentiment"]).sample(n=n, random_state=seed)
        return list(frame["review"]), [int(s == "positive") for s in frame["sentiment"]], f"IMDb sample of {n}"
    good, bad = "great wonderful superb loved moving".split(), "awful boring dull hated terrible".split()
    filler = "the film movie plot actor scene story music".split()
    texts, labels = [], []
    for i in range(n):
        words = rng.choices(filler, k=40) + rng.choices(good if i % 2 else bad, k=5)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(i % 2)
    return texts, labels, f"synthetic reviews ({n})"


def train_small_model(work: Path) -> tuple[Path, Path]:
    """Train the default model on a 3,000-review sample, exactly as ``ds-on-aws run`` launches it."""
    import review_text

    texts, labels, _ = load_texts(3000, seed=7)
    channels = {}
    for name, rows in (("train", range(0, 2700)), ("validation", range(2700, 3000))):
        folder = work / "channels" / name
        folder.mkdir(parents=True)
        with gzip.open(folder / "part-00000.json.gz", "wt", encoding="utf-8") as handle:
            for i in rows:
                handle.write(json.dumps({"review_id": str(i), "text": review_text.normalize_text(texts[i]),
                                         "label": labels[i]}) + "\n")
        channels[name] = folder
    layout = TrainingLayout(work / "sagemaker", work / "model")
    print("training a small model (default hyperparameters, 2,700 reviews) ...", flush=True)
    run_training(layout, {}, channels, echo=lambda line: None)
    return layout.code_dir, layout.model_dir


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summarize(latencies: list[float], reviews_per_request: int) -> dict:
    total = sum(latencies)
    return {"requests": len(latencies), "reviews_per_request": reviews_per_request,
            "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
            "reviews_per_second": round(len(latencies) * reviews_per_request / total, 1)}


def measure(call, bodies: list[bytes]) -> list[float]:
    latencies = []
    for body in bodies:
        start = time.perf_counter()
        call(body)
        latencies.append(time.perf_counter() - start)
    return latencies


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model folder or model.tar.gz (default: train a small one)")
    parser.add_argument("--code", type=Path, help="code folder or sourcedir.tar.gz (default: beside the model)")
    parser.add_argument("--single", type=int, default=500, help="single-review requests (default 500)")
    parser.add_argument("--batches", type=int, default=50, help="requests of --batch-size reviews (default 50)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def serving_dirs(args: argparse.Namespace, work: Path) -> tuple[Path, Path, str]:
    """(code folder, model folder, where the model came from): ``--model``/``--code``, or a small model trained here."""
    if args.model is None:
        code_dir, model_dir = train_small_model(work)
        model_source = "small model trained by the benchmark (default hyperparameters, 2,700 reviews)"
    else:
        from ds_on_aws.cli import resolve_serving_dirs

        model_dir, code_dir = resolve_serving_dirs(args.model, args.code, work)
        model_source = str(args.model)
    if (code_dir / "sourcedir.tar.gz").is_file():
        code_dir = extract_tarball(code_dir / "sourcedir.tar.gz", work / "code")
    return code_dir, model_dir, model_source


def request_bodies(args: argparse.Namespace) -> tuple[list[bytes], list[bytes], str]:
    """(single-review bodies, batch bodies, where the texts came from)."""
    texts, _, text_source = load_texts(args.single + args.batches * args.batch_size, seed=42)
    singles = [json.dumps({"instances": [t]}).encode() for t in texts[: args.single]]
    rest = texts[args.single:]
    batches = [json.dumps({"instances": rest[i * args.batch_size:(i + 1) * args.batch_size]}).encode()
               for i in range(args.batches)]
    return singles, batches, text_source


def interleaved_timings(in_process: Callable[[bytes], None], over_http: Callable[[bytes], None],
                        singles: list[bytes], batches: list[bytes]) -> dict[tuple[str, str], list[float]]:
    """Seconds per request of both paths, ``(who, kind)`` -> timings, after a warm-up of both.

    Interleaved rounds (ABBA order) so that load from other processes on a shared machine hits both sides alike
    instead of biasing whichever series runs first.
    """
    for body in singles[:20]:  # warm-up of both paths
        in_process(body)
        over_http(body)
    timings = {(who, kind): [] for who in ("endpoint", "baseline") for kind in ("single", "batch")}
    for kind, bodies in (("single", singles), ("batch", batches)):
        rounds = ROUNDS if len(bodies) >= ROUNDS else 1
        for index in range(rounds):
            chunk = bodies[index::rounds]
            order = (("baseline", in_process), ("endpoint", over_http))
            for who, call in (order if index % 2 == 0 else order[::-1]):
                timings[(who, kind)] += measure(call, chunk)
    return timings


def measure_both(code_dir: Path, model_dir: Path, singles: list[bytes], batches: list[bytes],
                 batch_size: int) -> tuple[float, dict, dict]:
    """(first /ping seconds, endpoint figures, baseline figures): the endpoint over HTTP against the same
    handlers in this process, same bodies, no HTTP."""
    chain = HandlerChain(code_dir, model_dir)
    chain.load()

    def in_process(body: bytes) -> None:
        status, _ = response_body(chain.invoke(body.decode("utf-8"), JSON, JSON))
        assert status == 200, status

    with start_endpoint(code_dir, model_dir) as endpoint:
        first_ping = wait_until_healthy(endpoint.url)
        url = f"{endpoint.url}/invocations"

        def over_http(body: bytes) -> None:
            answer = http_request(url, body, {"Content-Type": JSON, "Accept": JSON})
            assert answer.status == 200, answer.status

        timings = interleaved_timings(in_process, over_http, singles, batches)
        endpoint_figures = {kind: summarize(timings[("endpoint", kind)], 1 if kind == "single" else batch_size)
                            for kind in ("single", "batch")}
        baseline = {kind: summarize(timings[("baseline", kind)], 1 if kind == "single" else batch_size)
                    for kind in ("single", "batch")}
    return first_ping, endpoint_figures, baseline


def print_results(result: dict, first_ping: float, batch_size: int) -> None:
    endpoint_figures, baseline = result["endpoint"], result["baseline_in_process_handlers"]
    print(f"\nmodel: {result['model']}; texts: {result['texts']}; first /ping (model load): {first_ping:.1f} s")
    print(f"{'measure':<52}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'reviews/s':>11}")
    for kind, label in (("single", "1 review per request"), ("batch", f"{batch_size} reviews per request")):
        for who, figures in (("endpoint (HTTP)", endpoint_figures), ("baseline (handlers in-process)", baseline)):
            f = figures[kind]
            print(f"{label + ', ' + who:<52}{f['requests']:>9}{f['p50_ms']:>9}{f['p99_ms']:>9}"
                  f"{f['reviews_per_second']:>11}")
    for kind in ("single", "batch"):
        o = result["overhead"][kind]
        print(f"server overhead, {kind}: +{o['p50_ms']} ms at p50; throughput x{o['throughput_ratio']} of baseline")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-endpoint-") as tmp:
        code_dir, model_dir, model_source = serving_dirs(args, Path(tmp))
        singles, batches, text_source = request_bodies(args)
        first_ping, endpoint_figures, baseline = measure_both(code_dir, model_dir, singles, batches, args.batch_size)

    result = {
        "model": model_source, "texts": text_source, "first_ping_seconds": round(first_ping, 2),
        "endpoint": endpoint_figures, "baseline_in_process_handlers": baseline,
        "overhead": {kind: {"p50_ms": round(endpoint_figures[kind]["p50_ms"] - baseline[kind]["p50_ms"], 2),
                            "throughput_ratio": round(endpoint_figures[kind]["reviews_per_second"]
                                                      / baseline[kind]["reviews_per_second"], 3)}
                     for kind in ("single", "batch")},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    print_results(result, first_ping, args.batch_size)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
