"""``ds-on-aws score``: the scoring state machine's stages on one machine.

clean (local Spark: the cleaning job with ``mode=score``) -> data-quality gate -> score (the model's own inference
handlers, fed as Batch Transform feeds them: ``SplitType=Line``, ``MultiRecord``, ``InputFilter=$.text``,
``JoinSource=Input``) -> publish (``predictions_table``, the cloud's publish job) -> report.

Run folder ``<output-dir>/<run_id>/``::

    curated/               the curated bucket: scoring/<run_id>/{input,transform}/, tables/predictions/run_id=<run_id>/,
                           quarantine/<run_id>/, reports/<run_id>/{data_quality.json,duplicates/,scoring_summary.json}
    scoring_summary.json   a copy of the summary; report.html, labels.png, score_histogram.png, run.json

Exit codes as for ``run``: 2 bad usage or input (no model, unreadable input), 3 the data-quality gate refused,
1 anything unexpected.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import moderation
import predictions_table
from pipeline_contracts import (
    SCORE_MODE,
    report_key,
    scoring_input_key,
    scoring_moderation_key,
    scoring_summary_key,
    scoring_transform_key,
)

from ds_on_aws.config import PipelineConfig, load_config
from ds_on_aws.local import acquire, cleaning
from ds_on_aws.local.errors import DataQualityRefused, RunnerError, UsageError
from ds_on_aws.local.pipeline import Progress, data_quality_arguments, new_run_id
from ds_on_aws.local.scoring_report import write_scoring_report
from ds_on_aws.local.serving import HandlerChain

STAGES = ("clean (local Spark)", "data-quality gate", "score", "publish", "report")
JSON_LINES = "application/jsonlines"
MAX_BATCH_BYTES = 5 * 1024 * 1024  # below the handlers' 6 MiB body limit, as Batch Transform's MaxPayloadInMB keeps it


@dataclass
class ScoreOptions:
    input: str
    model: Path | None = None  # a model folder (runs/<id>/model) or model.tar.gz; default: the latest run's
    output_dir: Path = Path("runs")
    data_quality: dict[str, str] = field(default_factory=dict)
    batch_size: int = 1000
    progress_bar: bool = True
    config: PipelineConfig | None = None
    moderation_results: Path | None = None  # JSON Lines of Comprehend/Rekognition replies (moderation.rows_from_replies)


@dataclass
class ScoreResult:
    run_id: str
    run_dir: Path
    run: dict
    summary: dict | None


@contextmanager
def _numbered(progress: Progress, name: str) -> Iterator[None]:
    """A numbered stage line of the scoring run with its duration (kept in ``progress.durations``)."""
    number = STAGES.index(name) + 1
    progress.echo(f"[{number}/{len(STAGES)}] {name} ...")
    start = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "done"
    finally:
        progress.durations[name] = time.perf_counter() - start
        progress.echo(f"[{number}/{len(STAGES)}] {name}: {outcome} in {progress.durations[name]:.1f} s")


# --- inputs --------------------------------------------------------------------------------------------------------


def latest_model(output_dir: Path) -> Path:
    """The model folder of the newest run under ``output_dir`` that has one (``runs/<id>/model``)."""
    models = [d for d in Path(output_dir).glob("*/model") if (d / "code" / "inference.py").is_file()]
    if not models:
        raise UsageError(f"no trained model under {output_dir}/*/model: train one with `ds-on-aws run` "
                         "or pass --model runs/<id>/model")
    return max(models, key=lambda d: d.stat().st_mtime)


def resolve_model(model: Path | None, output_dir: Path, work: Path) -> Path:
    """The model folder to score with (a ``model.tar.gz`` is extracted as the serving container does)."""
    from ds_on_aws.local.training_job import extract_tarball

    if model is None:
        return latest_model(output_dir)
    if not model.exists():
        raise UsageError(f"model not found: {model}")
    model_dir = extract_tarball(model, work / "model") if model.is_file() else model
    if not (model_dir / "code" / "inference.py").is_file():
        raise UsageError(f"{model_dir} is not a model folder of this project (no code/inference.py inside)")
    return model_dir


# --- the score stage: Batch Transform, emulated --------------------------------------------------------------------


def input_files(curated: Path, run_id: str) -> list[Path]:
    folder = curated / scoring_input_key(run_id)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(("_", "."))
                   and not p.name.endswith(".crc"))
    if not files:
        raise RunnerError(f"the cleaning job wrote no records to score under {folder}")
    return files


def _batches(path: Path, batch_size: int) -> Iterator[list[dict]]:
    """Records of one input file in mini-batches of at most ``batch_size`` records and ``MAX_BATCH_BYTES``."""
    batch, size = [], 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            batch.append(record)
            size += len(record["text"].encode("utf-8")) + 3
            if len(batch) >= batch_size or size >= MAX_BATCH_BYTES:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def transform_batch(chain: HandlerChain, batch: list[dict]) -> list[str]:
    """One mini-batch through the handlers as Batch Transform sends it; the joined output lines."""
    body = "\n".join(json.dumps(record["text"], ensure_ascii=False) for record in batch).encode("utf-8")
    response = chain.invoke(body, JSON_LINES, JSON_LINES)
    if isinstance(response, tuple):
        text, status = response[0], 200
    else:
        text, status = response.get_data(as_text=True), response.status_code
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if status == 415:
        raise UsageError(f"the model's inference code cannot serve multi-record requests ({text[:200]}): it predates "
                         "bulk scoring; train the model again with this version (`ds-on-aws run`)")
    if status != 200:
        raise RunnerError(f"the model refused a mini-batch of {len(batch)} records (HTTP {status}): {text[:300]}")
    answers = text.split("\n")
    if len(answers) != len(batch):
        raise RunnerError(f"the model answered {len(answers)} lines for {len(batch)} records: JoinSource=Input "
                          "needs one answer line per record")
    # JoinSource=Input with OutputFilter "$": the whole input record (context columns included) plus the answer
    return [json.dumps({**r, "SageMakerOutput": json.loads(a)}, ensure_ascii=False)
            for r, a in zip(batch, answers, strict=True)]


def score_run(curated: Path, run_id: str, model_dir: Path, batch_size: int, progress_bar: bool) -> int:
    """Score every cleaned record with the model's own handlers; write ``scoring/<run_id>/transform/*.out``."""
    from tqdm import tqdm

    files = input_files(curated, run_id)
    total = sum(1 for path in files for line in path.open(encoding="utf-8") if line.strip())
    chain = HandlerChain(model_dir / "code", model_dir)
    chain.load()
    out_dir = curated / scoring_transform_key(run_id)
    input_dir = curated / scoring_input_key(run_id)
    with tqdm(total=total, unit="review", desc="  scoring", disable=not progress_bar, mininterval=0.5) as bar:
        for path in files:
            target = out_dir / f"{path.relative_to(input_dir)}{predictions_table.TRANSFORM_SUFFIX}"
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8") as out:
                for batch in _batches(path, batch_size):
                    out.write("\n".join(transform_batch(chain, batch)) + "\n")
                    bar.update(len(batch))
    return total


# --- moderation: the services' replies from a file ----------------------------------------------------------------


def moderate_from_file(curated: Path, run_id: str, results: Path, config: PipelineConfig) -> dict:
    """Convert ``results`` (the services' replies, one review a line) into ``scoring/<run_id>/moderation/`` rows with
    the cloud step's code; return the moderation result the publish step takes. Unknown review ids are left out."""
    settings = moderation.Settings.from_mapping(config.moderation.as_settings())
    if not results.is_file():
        raise UsageError(f"--moderation-results: no such file: {results}")
    try:
        with results.open(encoding="utf-8") as handle:
            rows = moderation.rows_from_replies(handle, settings, where=str(results))
    except (moderation.ModerationError, UnicodeDecodeError) as exc:
        raise UsageError(f"--moderation-results: {exc}") from None
    known = {json.loads(line)["review_id"] for path in input_files(curated, run_id)
             for line in path.open(encoding="utf-8") if line.strip()}
    kept = [row for row in rows if row["review_id"] in known]
    folder = curated / scoring_moderation_key(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "part-00000.jsonl").open("w", encoding="utf-8") as out:
        moderation.write_rows(kept, out.write)
    return {"status": "COMPLETED", "reason": f"replies read from {results}", "source": str(results),
            "enabled": {"toxicity": any(r["toxicity"] is not None or "toxicity:" in (r["moderation_error"] or "")
                                        for r in rows),
                        "images": any(r["image_labels"] is not None or "image:" in (r["moderation_error"] or "")
                                      for r in rows)},
            "toxicity_threshold": settings.toxicity_threshold, "rows": len(kept), "unknown_review_ids": len(rows) - len(kept)}


def offline_moderation(config: PipelineConfig, options: ScoreOptions, curated: Path, run_id: str) -> dict | None:
    """The moderation result of an offline run: from ``--moderation-results``, else why there is none."""
    if options.moderation_results is not None:
        return moderate_from_file(curated, run_id, Path(options.moderation_results), config)
    m = config.moderation
    if m.toxicity or m.images:
        return {"status": "UNAVAILABLE", "enabled": {"toxicity": m.toxicity, "images": m.images},
                "toxicity_threshold": m.toxicity_threshold,
                "reason": "offline runs call no AWS service: pass --moderation-results FILE (the services' replies)"}
    return None


# --- the run -------------------------------------------------------------------------------------------------------


def score(options: ScoreOptions, echo: Callable[[str], None] = print) -> ScoreResult:
    """Clean, gate, score, publish and report; raise the RunnerError of a failure AFTER writing the report."""
    config = options.config or load_config()
    output_dir = Path(options.output_dir).resolve()
    run_id, run_dir = new_run_id(output_dir, kind="score")
    progress = Progress(echo)
    run: dict = {"run_id": run_id, "run_dir": str(run_dir), "outcome": "running", "durations": progress.durations}
    state: dict = {"dq_report": None, "summary": None}
    echo(f"ds-on-aws scoring run {run_id} -> {run_dir}")
    started = time.perf_counter()
    try:
        _stages(options, config, run, state, run_dir, progress, echo)
        run["outcome"] = "succeeded"
    except RunnerError as exc:
        run["outcome"], run["exit_code"] = f"failed: {exc}", exc.exit_code
        raise
    finally:
        if not str(run["outcome"]).startswith(("succeeded", "failed")):
            run["outcome"] = "failed: unexpected error"
        run["seconds"] = round(time.perf_counter() - started, 2)
        scored = (state["summary"] or {}).get("counts", {}).get("scored")
        run["reviews_per_second"] = round(scored / run["seconds"], 1) if scored else None
        _finish(run_dir, run, state, progress, echo)
    return ScoreResult(run_id, run_dir, run, state["summary"])


def _stages(options: ScoreOptions, config: PipelineConfig, run: dict, state: dict, run_dir: Path,
            progress: Progress, echo: Callable[[str], None]) -> None:
    def stage(name: str):
        return _numbered(progress, name)

    curated = run_dir / "curated"
    model_dir = resolve_model(options.model, Path(options.output_dir), run_dir)
    raw = acquire.resolve_user_input(Path(options.input), run_dir)
    run.update(input=raw.source, model=str(model_dir))
    echo(f"  input: {raw.source}; model: {model_dir}")
    with stage("clean (local Spark)"):
        refusal = _clean(config, options, raw, curated, run["run_id"], state, echo)
    with stage("data-quality gate"):
        counts = (state["dq_report"] or {}).get("counts") or {}
        run["counts"] = counts
        echo("  " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
        if refusal is not None:
            raise refusal
    with stage("score"):
        run["records"] = score_run(curated, run["run_id"], model_dir, options.batch_size, options.progress_bar)
    with stage("publish"):
        model_name = model_dir.parent.name if model_dir.name == "model" else str(model_dir)
        moderated = offline_moderation(config, options, curated, run["run_id"])
        state["summary"] = predictions_table.publish(str(curated), run["run_id"], model_name, moderation=moderated)
        labels = state["summary"]["labels"]
        echo("  " + ", ".join(f"{k}: {v['count']} ({v['share']:.1%})" for k, v in labels.items())
             + f"; errors: {state['summary']['counts']['errors']}")
        m = state["summary"]["moderation"]
        if m["status"] != "disabled":
            echo(f"  moderation {m['status']}: flagged {m['counts']['flagged']} (text {m['counts']['flagged_text']}, "
                 f"image {m['counts']['flagged_image']}), errors {m['counts']['errors']}"
                 + (f"; {m['reason']}" if m["status"] != "COMPLETED" else ""))


def _clean(config: PipelineConfig, options: ScoreOptions, raw, curated: Path, run_id: str, state: dict,
           echo: Callable[[str], None]) -> DataQualityRefused | None:
    """The cleaning job in score mode on local Spark; its refusal is returned for the gate stage to raise."""
    echo(f"  {cleaning.check_java()}")
    overrides = {"min_rows": str(config.scoring.min_rows), **options.data_quality}
    arguments = data_quality_arguments(config, overrides, None)
    job_options = cleaning.job_options(str(raw.path), curated, run_id, raw.input_format, arguments)
    job_options["mode"] = SCORE_MODE
    job_options["context_columns"] = ",".join(config.scoring.context_columns)
    try:
        state["dq_report"] = cleaning.run_cleaning(cleaning.local_spark(str(raw.path)), job_options)
        return None
    except DataQualityRefused as exc:
        path = curated / report_key(run_id)
        state["dq_report"] = getattr(exc, "report", None) or (
            json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {})
        return exc


def _finish(run_dir: Path, run: dict, state: dict, progress: Progress, echo: Callable[[str], None]) -> None:
    with _numbered(progress, "report"):
        summary_file = run_dir / "curated" / scoring_summary_key(run["run_id"])
        if summary_file.is_file():
            shutil.copyfile(summary_file, run_dir / "scoring_summary.json")
        try:
            run["report"] = str(write_scoring_report(run_dir, run, state["summary"], state["dq_report"]))
        except Exception as exc:  # never hide the run's own outcome behind a plotting error
            echo(f"  note: the HTML report could not be written: {exc}")
            run["report"] = None
    (run_dir / "run.json").write_text(json.dumps(run, indent=2, default=str), encoding="utf-8")
    echo(f"  {run['outcome']}: {run.get('reviews_per_second')} reviews/s end to end; report {run.get('report')}")
