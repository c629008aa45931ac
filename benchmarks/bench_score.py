"""Bulk-scoring benchmark: ``ds-on-aws score`` on the 50,000 unlabeled IMDb reviews, end to end, in reviews/s.

    .venv/bin/python benchmarks/bench_score.py [--imdb-dir ../shared/data/imdb] [--model runs/<id>/model] [--quick]

Protocol (docs/scoring.md, "Speed"):
1. End to end: ``ds_on_aws.local.scoring.score`` on ``unsup.csv.gz`` (cleaning on local Spark in score mode, the
   score stage, the publish stage, the report), one cold run; reviews/s = reviews scored / wall time, with each
   stage's time. Skipped, and said so, while the cleaning job has no score mode.
2. Score + publish alone, on the same reviews cleaned with ``review_text.normalize_text`` and de-duplicated (what the
   cleaning job's score mode writes): multi-record mini-batches of 1,000 through the model's own handlers, as Batch
   Transform sends them, then the Parquet table and summary. The contender, in the same run, on the same reviews:
   one single-review JSON request per review through the same handlers (what a client calling the endpoint row by
   row pays before any network), on the first ``--single`` reviews.
Results are printed and written to ``benchmarks/results/score.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "score.json"
RUN = "bench-score"


def cleaned_records(unsup: Path, limit: int | None) -> list[dict]:
    """The unlabeled reviews normalized and de-duplicated (the score-mode cleaning's records, minus its checks)."""
    import pandas as pd
    from review_text import normalize_text

    frame = pd.read_csv(unsup, nrows=limit)
    seen, records = set(), []
    for file, text in zip(frame["file"], frame["review"], strict=True):
        cleaned = normalize_text(text)
        if cleaned and cleaned not in seen:
            seen.add(cleaned)
            records.append({"review_id": file, "text": cleaned})
    return records


def score_and_publish(records: list[dict], model_dir: Path, work: Path) -> dict:
    import predictions_table
    from pipeline_contracts import scoring_input_key

    from ds_on_aws.local.scoring import score_run

    folder = work / scoring_input_key(RUN)
    folder.mkdir(parents=True)
    (folder / "part-00000.json").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    started = time.perf_counter()
    scored = score_run(work, RUN, model_dir, batch_size=1000, progress_bar=False)
    scored_at = time.perf_counter()
    summary = predictions_table.publish(str(work), RUN, model_dir.parent.name)
    done = time.perf_counter()
    return {"reviews": scored, "score_s": round(scored_at - started, 2), "publish_s": round(done - scored_at, 2),
            "reviews_per_s": round(scored / (done - started), 1), "labels": summary["labels"]}


def single_requests(records: list[dict], model_dir: Path) -> dict:
    from ds_on_aws.local.serving import HandlerChain

    chain = HandlerChain(model_dir / "code", model_dir)
    chain.load()
    started = time.perf_counter()
    for record in records:
        response = chain.invoke(json.dumps({"instances": [record["text"]]}), "application/json", "application/json")
        assert response.status_code == 200, response.get_data(as_text=True)
    seconds = time.perf_counter() - started
    return {"reviews": len(records), "seconds": round(seconds, 2), "reviews_per_s": round(len(records) / seconds, 1)}


def end_to_end(unsup: Path, model_dir: Path, work: Path) -> dict:
    from review_cleaning import options

    if "mode" not in getattr(options, "OPTIONAL_OPTIONS", ()):
        return {"skipped": "the cleaning job has no --mode score yet"}
    from ds_on_aws.local.scoring import ScoreOptions, score

    result = score(ScoreOptions(input=str(unsup), model=model_dir, output_dir=work, progress_bar=False))
    run = result.run
    return {"reviews_scored": (result.summary or {}).get("counts", {}).get("scored"), "seconds": run["seconds"],
            "reviews_per_s": run["reviews_per_second"],
            "stages_s": {k: round(v, 1) for k, v in run["durations"].items()}}


def with_current_code(model_dir: Path, work: Path) -> Path:
    """The model's files with this checkout's inference code (a model trained before multi-record serving has old code)."""
    import shutil

    import train

    target = work / "model"
    shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns("code"))
    train.bundle_inference_code(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--imdb-dir", type=Path, default=ROOT.parent / "shared" / "data" / "imdb")
    parser.add_argument("--model", type=Path, help="model folder (default: the latest under runs/)")
    parser.add_argument("--single", type=int, default=2000, help="reviews the single-request contender scores")
    parser.add_argument("--quick", action="store_true", help="5,000 reviews, no end-to-end run")
    args = parser.parse_args(argv)
    from ds_on_aws.local.scoring import latest_model

    unsup = args.imdb_dir / "unsup.csv.gz"
    records = cleaned_records(unsup, 5000 if args.quick else None)
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        model_dir = with_current_code(args.model or latest_model(ROOT / "runs"), Path(tmp))
        print(f"model {model_dir}; {len(records)} cleaned, distinct reviews from {unsup}")
        results = {
            "machine_cpus": __import__("os").cpu_count(),
            "model": str(model_dir),
            "score_and_publish_multi_record": score_and_publish(records, model_dir, Path(tmp) / "curated"),
            "single_requests": single_requests(records[: args.single], model_dir),
            "end_to_end": {"skipped": "--quick"} if args.quick else end_to_end(unsup, model_dir, Path(tmp) / "runs"),
        }
    multi, single = results["score_and_publish_multi_record"], results["single_requests"]
    results["multi_record_speedup"] = round(multi["reviews_per_s"] / single["reviews_per_s"], 1)
    print(json.dumps(results, indent=2))
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "training"), str(ROOT / "common"), str(ROOT / "glue_scripts"), str(ROOT)]
    sys.exit(main())
