"""The offline pipeline: the state machine's stages in its order, each printing progress and its duration.

acquire data -> clean (local Spark, the Glue job) -> data-quality gate -> train (SageMaker container contract)
-> model-quality gate -> package model.tar.gz -> local endpoint -> smoke test -> report.

Run folder ``<output-dir>/<run_id>/``::

    input/                 extracted tarball or --sample file (raw data is never modified)
    curated/               the curated bucket: curated/<run_id>/{train,validation,test}/, quarantine/, reports/, tables/
    sagemaker/             /opt/ml of the training job: code/, input/config/, output/, sourcedir.tar.gz, training.log
    model/                 SM_MODEL_DIR (model.joblib, metrics.json)
    model.tar.gz           what SageMaker uploads as the model artifact
    endpoint/              code/ and model/ as the serving container extracts them, endpoint.log
    predictions/validation.json, report.html, *.png, summary.json
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline_contracts import REQUIRED_CHANNELS, SPLITS, VALIDATION, curated_run_key

from ds_on_aws.config import PipelineConfig, load_config
from ds_on_aws.local import acquire, cleaning, gates, report, training_job
from ds_on_aws.local.endpoint import EndpointProcess, smoke_test, start_endpoint
from ds_on_aws.local.errors import DataQualityRefused, EndpointError, ModelQualityRefused, RunnerError, UsageError
from ds_on_aws.local.evaluate import evaluate_in_child
from ds_on_aws.sagemaker_jobs import endpoint_model_spec

STAGES = ("acquire data", "clean (local Spark)", "data-quality gate", "train", "model-quality gate",
          "package model.tar.gz", "local endpoint", "smoke test", "report")


@dataclass
class RunOptions:
    input: str | None = None
    imdb_dir: str | None = None
    sample: int | None = None
    seed: int | None = None
    output_dir: Path = Path("runs")
    run_id: str | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    data_quality: dict[str, str] = field(default_factory=dict)  # overrides of the job's threshold arguments
    min_accuracy: float | None = None
    compare_with_live: bool | None = None
    host: str = "127.0.0.1"
    port: int = 0
    keep_serving: bool = False
    config: PipelineConfig | None = None


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    summary: dict
    endpoint: EndpointProcess | None = None  # still running only with keep_serving


def new_run_id(output_dir: Path, now: datetime | None = None) -> tuple[str, Path]:
    """``local-YYYYmmdd-HHMMSS`` (+ ``-2``, ``-3``... when taken); the folder is created atomically."""
    base = f"local-{(now or datetime.now()):%Y%m%d-%H%M%S}"
    output_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        run_id = base if attempt == 1 else f"{base}-{attempt}"
        try:
            (output_dir / run_id).mkdir()
            return run_id, output_dir / run_id
        except FileExistsError:
            continue
    raise RunnerError(f"cannot find a free run id under {output_dir}")


class Progress:
    """Numbered stage lines with durations; the durations also go into the summary."""

    def __init__(self, echo: Callable[[str], None]):
        self.echo = echo
        self.durations: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        number = STAGES.index(name) + 1
        self.echo(f"[{number}/{len(STAGES)}] {name} ...")
        start = time.perf_counter()
        outcome = "failed"
        try:
            yield
            outcome = "done"
        finally:
            self.durations[name] = time.perf_counter() - start
            self.echo(f"[{number}/{len(STAGES)}] {name}: {outcome} in {self.durations[name]:.1f} s")


def data_quality_arguments(config: PipelineConfig, overrides: dict[str, str], seed: int | None) -> dict[str, str]:
    """The Glue job's threshold arguments from cdk.json, with ``--data-quality K=V`` / ``--seed`` overrides."""
    arguments = config.data_quality.as_job_arguments()
    known = {k.removeprefix("--") for k in arguments}
    for key, value in overrides.items():
        if key not in known:
            raise UsageError(f"unknown data-quality threshold {key!r}; known: {', '.join(sorted(known))}")
        arguments[f"--{key}"] = str(value)
    if seed is not None:
        arguments["--seed"] = str(seed)
    return arguments


def channels_of(curated_root: Path, run_id: str) -> dict[str, Path]:
    """The SageMaker channels the Glue job wrote (test only when present)."""
    base = curated_root / curated_run_key(run_id)
    found = {name: base / name for name in SPLITS
             if (base / name).is_dir() and any((base / name).glob("part-*"))}
    for required in REQUIRED_CHANNELS:
        if required not in found:
            raise RunnerError(f"the Glue job wrote no {required} channel under {base}")
    return found


def run_pipeline(options: RunOptions, echo: Callable[[str], None] = print) -> RunResult:
    """Run every stage; raise the RunnerError of the first failure AFTER writing the report and summary."""
    config = options.config or load_config()
    output_dir = Path(options.output_dir).resolve()
    if options.run_id:
        run_id, run_dir = options.run_id, output_dir / options.run_id
        run_dir.mkdir(parents=True, exist_ok=False)
    else:
        run_id, run_dir = new_run_id(output_dir)
    progress = Progress(echo)
    curated_root = run_dir / "curated"
    min_accuracy = options.min_accuracy if options.min_accuracy is not None else config.model_quality.min_accuracy
    compare_live = (options.compare_with_live if options.compare_with_live is not None
                    else config.model_quality.compare_with_live)
    hyperparameters = {**config.training.hyperparameters, **options.hyperparameters}
    dq_arguments = data_quality_arguments(config, options.data_quality, options.seed)
    summary: dict = {"run_id": run_id, "run_dir": str(run_dir), "outcome": "running", "durations": progress.durations,
                     "hyperparameters": hyperparameters, "min_accuracy": min_accuracy,
                     "data_quality_arguments": dq_arguments}
    state: dict = {"dq_report": None, "predictions": None}
    endpoint: EndpointProcess | None = None
    echo(f"ds-on-aws offline run {run_id} -> {run_dir}")
    try:
        with progress.stage("acquire data"):
            raw = acquire.resolve_input(options.input, options.imdb_dir, run_dir)
            if options.sample:
                raw = acquire.sample_input(raw, options.sample, int(dq_arguments["--seed"]), run_dir)
            summary["input"] = raw.source
            echo(f"  input: {raw.source} (format {raw.input_format})")

        with progress.stage("clean (local Spark)"):
            echo(f"  {cleaning.check_java()}")
            spark = cleaning.local_spark()
            job_options = cleaning.job_options(str(raw.path), curated_root, run_id, raw.input_format, dq_arguments)
            refusal: DataQualityRefused | None = None
            try:
                state["dq_report"] = cleaning.run_cleaning(spark, job_options)
            except DataQualityRefused as exc:  # the job wrote its outputs and report, then refused
                refusal, state["dq_report"] = exc, getattr(exc, "report", None) or {}
            summary["counts"] = report.dq_counts(state["dq_report"])

        with progress.stage("data-quality gate"):
            echo("  " + ", ".join(f"{k}: {v}" for k, v in summary["counts"].items()))
            for check in state["dq_report"].get("checks") or []:
                if isinstance(check, dict) and not check.get("passed"):
                    echo(f"  FAIL {check.get('name')}: value {check.get('value')}, threshold {check.get('threshold')}")
            summary["data_quality_gate"] = "REFUSED" if refusal else "passed"
            if refusal:
                raise refusal

        with progress.stage("train"):
            layout = training_job.TrainingLayout(run_dir / "sagemaker", run_dir / "model")
            channels = channels_of(curated_root, run_id)
            echo(f"  channels: {', '.join(channels)}; hyperparameters: "
                 f"{' '.join(training_job.render_hyperparameters(hyperparameters)) or '(defaults)'}")
            result = training_job.run_training(layout, hyperparameters, channels, echo=echo)
            summary["metrics"] = result.metrics
            summary["accuracy"] = result.metrics.get(gates.GATE_METRIC)
            try:
                predictions_file = run_dir / "predictions" / "validation.json"
                predictions_file.parent.mkdir(exist_ok=True)
                state["predictions"] = evaluate_in_child(layout.code_dir, layout.model_dir, channels[VALIDATION],
                                                         predictions_file)
            except RuntimeError as exc:  # the plots are a convenience; the gate reads the training log
                echo(f"  note: {exc}")

        with progress.stage("model-quality gate"):
            live = gates.read_live_record(output_dir)
            decision = gates.decide_model_gate(result.metrics, min_accuracy, live, compare_live)
            summary["model_gate"] = decision.as_dict()
            summary["model_quality_gate"] = "passed" if decision.passed else "REFUSED"
            echo(f"  {gates.GATE_METRIC}={decision.accuracy} threshold={min_accuracy}"
                 + (f" live={decision.live_accuracy}" if decision.live_accuracy is not None else ""))
            if not decision.passed:
                raise ModelQualityRefused("model-quality gate refused the model: " + "; ".join(decision.reasons))

        with progress.stage("package model.tar.gz"):
            model_tar = training_job.package_model(layout.model_dir, run_dir / "model.tar.gz")
            summary["model_tar"] = str(model_tar)

        with progress.stage("local endpoint"):
            serving_model = training_job.extract_tarball(model_tar, run_dir / "endpoint" / "model")
            model_spec = endpoint_model_spec(config.endpoint.mode)  # the CreateModel of the state machine
            serving_code = training_job.resolve_serving_code(serving_model, model_spec, run_dir / "endpoint" / "code")
            endpoint = start_endpoint(serving_code, serving_model, options.host, options.port,
                                      log_file=run_dir / "endpoint" / "endpoint.log")
            summary["endpoint"] = endpoint.url
            echo(f"  listening on {endpoint.url} (GET /ping, POST /invocations)")

        with progress.stage("smoke test"):
            smoke = smoke_test(endpoint.url)
            summary["smoke_checks"] = smoke.checks
            summary["smoke_test"] = "passed" if smoke.passed else "FAILED"
            for check in smoke.checks:
                echo(f"  {'ok ' if check['passed'] else 'FAIL'} {check['name']}: {check['detail'][:150]}")
            if not smoke.passed:
                raise EndpointError("smoke test failed: " + "; ".join(smoke.failures()))
            gates.write_live_record(output_dir, run_id, float(summary["accuracy"]), model_tar)
        summary["outcome"] = "succeeded"
    except RunnerError as exc:
        summary["outcome"] = f"failed: {exc}"
        summary["exit_code"] = exc.exit_code
        if endpoint is not None:
            endpoint.stop()
            endpoint = None
        raise
    finally:
        if not summary.get("outcome", "").startswith(("succeeded", "failed")):
            summary["outcome"] = "failed: unexpected error"
        if endpoint is not None and not (options.keep_serving and summary["outcome"] == "succeeded"):
            endpoint.stop()
            endpoint = None
            summary["endpoint"] = f"{summary['endpoint']} (stopped after the smoke test; --keep-serving keeps it)"
        _finish(run_dir, summary, state, curated_root, run_id, progress, echo)
    return RunResult(run_id, run_dir, summary, endpoint)


def _finish(run_dir: Path, summary: dict, state: dict, curated_root: Path, run_id: str, progress: Progress,
            echo: Callable[[str], None]) -> None:
    """Report stage: HTML report + summary.json + the table, whatever happened before (best effort)."""
    with progress.stage("report"):
        summary["report"] = str(run_dir / "report.html")
        try:
            report.write_report(run_dir, summary, state["dq_report"], curated_root / curated_run_key(run_id),
                                state["predictions"])
        except Exception as exc:  # never hide the run's own outcome behind a plotting error
            echo(f"  note: the HTML report could not be written: {exc}")
            summary["report"] = None
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    echo(report.format_table(report.summary_rows(summary)))
