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

from ds_on_aws.config import RECIPES, PipelineConfig, load_config
from ds_on_aws.local import acquire, baseline, cleaning, gates, report, training_job
from ds_on_aws.local.endpoint import EndpointProcess, smoke_test, start_endpoint
from ds_on_aws.local.errors import DataQualityRefused, EndpointError, ModelQualityRefused, RunnerError, UsageError
from ds_on_aws.local.evaluate import evaluate_in_child
from ds_on_aws.packaging import TRAINING_DIR, TRANSFORMER_DIR
from ds_on_aws.sagemaker_jobs import PRETRAINED_CHANNEL, endpoint_model_spec

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
    comprehend_output: Path | None = None  # a Comprehend output.tar.gz to compare with (the baseline needs AWS)
    recipe: str | None = None  # "linear" or "transformer" (default: cdk.json training.recipe)
    pretrained: Path | None = None  # the transformer recipe's pretrained model folder (its "pretrained" channel)


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    summary: dict
    endpoint: EndpointProcess | None = None  # still running only with keep_serving


def new_run_id(output_dir: Path, now: datetime | None = None, kind: str = "local") -> tuple[str, Path]:
    """``<kind>-YYYYmmdd-HHMMSS`` (+ ``-2``, ``-3``... when taken) under ``output_dir``; the folder is created
    atomically. ``kind``: ``local`` for ``run``, ``score`` and ``transcribe`` for those commands."""
    base = f"{kind}-{(now or datetime.now()):%Y%m%d-%H%M%S}"
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


@dataclass
class _Run:
    """What the stages of one run share: its settings, folders, summary and the endpoint once started."""

    options: RunOptions
    config: PipelineConfig
    recipe: str
    pretrained: Path | None
    run_id: str
    run_dir: Path
    output_dir: Path
    progress: Progress
    echo: Callable[[str], None]
    hyperparameters: dict[str, str]
    dq_arguments: dict[str, str]
    min_accuracy: float
    compare_live: bool
    summary: dict
    state: dict = field(default_factory=lambda: {"dq_report": None, "predictions": None, "evaluation": None,
                                                 "comprehend_output": None})
    endpoint: EndpointProcess | None = None

    @property
    def curated_root(self) -> Path:
        return self.run_dir / "curated"


def run_pipeline(options: RunOptions, echo: Callable[[str], None] = print) -> RunResult:
    """Run every stage; raise the RunnerError of the first failure AFTER writing the report and summary."""
    run = _start_run(options, echo)
    summary = run.summary
    echo(f"ds-on-aws offline run {run.run_id} -> {run.run_dir}")
    try:
        _run_stages(run)
        summary["outcome"] = "succeeded"
    except RunnerError as exc:
        summary["outcome"] = f"failed: {exc}"
        summary["exit_code"] = exc.exit_code
        if run.endpoint is not None:
            run.endpoint.stop()
            run.endpoint = None
        raise
    finally:
        if not summary.get("outcome", "").startswith(("succeeded", "failed")):
            summary["outcome"] = "failed: unexpected error"
        if run.endpoint is not None and not (options.keep_serving and summary["outcome"] == "succeeded"):
            run.endpoint.stop()
            run.endpoint = None
            summary["endpoint"] = f"{summary['endpoint']} (stopped after the smoke test; --keep-serving keeps it)"
        _finish(run.run_dir, summary, run.state, run.curated_root, run.run_id, run.progress, echo)
    return RunResult(run.run_id, run.run_dir, summary, run.endpoint)


def _start_run(options: RunOptions, echo: Callable[[str], None]) -> _Run:
    """The run folder and id, the settings from cdk.json with the options on top, and the summary's first keys."""
    config = options.config or load_config()
    recipe = options.recipe or config.training.recipe
    if recipe not in RECIPES:
        raise UsageError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    defaults = config.transformer.hyperparameters if recipe == "transformer" else config.training.hyperparameters
    hyperparameters = {**defaults, **options.hyperparameters}
    # Checked before the run starts: a missing model must not cost a Spark job first.
    pretrained = _pretrained_folder(options, hyperparameters, config) if recipe == "transformer" else None
    output_dir = Path(options.output_dir).resolve()
    if options.run_id:
        run_id, run_dir = options.run_id, output_dir / options.run_id
        run_dir.mkdir(parents=True, exist_ok=False)
    else:
        run_id, run_dir = new_run_id(output_dir)
    progress = Progress(echo)
    min_accuracy = options.min_accuracy if options.min_accuracy is not None else config.model_quality.min_accuracy
    compare_live = (options.compare_with_live if options.compare_with_live is not None
                    else config.model_quality.compare_with_live)
    dq_arguments = data_quality_arguments(config, options.data_quality, options.seed)
    summary: dict = {"run_id": run_id, "run_dir": str(run_dir), "outcome": "running", "recipe": recipe,
                     "durations": progress.durations,
                     "hyperparameters": hyperparameters, "min_accuracy": min_accuracy,
                     "data_quality_arguments": dq_arguments}
    run = _Run(options=options, config=config, recipe=recipe, pretrained=pretrained, run_id=run_id, run_dir=run_dir,
               output_dir=output_dir, progress=progress, echo=echo, hyperparameters=hyperparameters, dq_arguments=dq_arguments,
               min_accuracy=min_accuracy, compare_live=compare_live, summary=summary)
    if options.comprehend_output is not None:  # read first: a bad archive is refused before any work
        run.state["comprehend_output"] = baseline.read_archive(Path(options.comprehend_output))
    return run


def _run_stages(run: _Run) -> None:
    """The stages in the state machine's order (the report stage runs in :func:`_finish`, whatever happens)."""
    stage = run.progress.stage
    with stage("acquire data"):
        raw = _acquire(run)
    with stage("clean (local Spark)"):
        refusal = _clean(run, raw)
    with stage("data-quality gate"):
        _data_quality_gate(run, refusal)
    with stage("train"):
        layout, result = _train(run)
        _evaluate(run, layout)
    with stage("model-quality gate"):
        _model_quality_gate(run, result)
    with stage("package model.tar.gz"):
        model_tar = training_job.package_model(layout.model_dir, run.run_dir / "model.tar.gz")
        run.summary["model_tar"] = str(model_tar)
    with stage("local endpoint"):
        _start_local_endpoint(run, model_tar)
    with stage("smoke test"):
        _smoke_test(run, model_tar)


def _acquire(run: _Run) -> acquire.RawInput:
    options = run.options
    raw = acquire.resolve_input(options.input, options.imdb_dir, run.run_dir)
    if options.sample:
        raw = acquire.sample_input(raw, options.sample, int(run.dq_arguments["--seed"]), run.run_dir)
    run.summary["input"] = raw.source
    run.echo(f"  input: {raw.source} (format {raw.input_format})")
    return raw


def _clean(run: _Run, raw: acquire.RawInput) -> DataQualityRefused | None:
    """Run the Glue job on local Spark; its refusal is returned, to be raised by the data-quality gate stage."""
    run.echo(f"  {cleaning.check_java()}")
    spark = cleaning.local_spark(str(raw.path))
    job_options = cleaning.job_options(str(raw.path), run.curated_root, run.run_id, raw.input_format,
                                       run.dq_arguments)
    refusal: DataQualityRefused | None = None
    try:
        run.state["dq_report"] = cleaning.run_cleaning(spark, job_options)
    except DataQualityRefused as exc:  # the job wrote its outputs and report, then refused
        refusal, run.state["dq_report"] = exc, getattr(exc, "report", None) or {}
    run.summary["counts"] = report.dq_counts(run.state["dq_report"])
    return refusal


def _data_quality_gate(run: _Run, refusal: DataQualityRefused | None) -> None:
    run.echo("  " + ", ".join(f"{k}: {v}" for k, v in run.summary["counts"].items()))
    for check in run.state["dq_report"].get("checks") or []:
        if isinstance(check, dict) and not check.get("passed"):
            run.echo(f"  FAIL {check.get('name')}: value {check.get('value')}, threshold {check.get('threshold')}")
    run.summary["data_quality_gate"] = "REFUSED" if refusal else "passed"
    if refusal:
        raise refusal


def _train(run: _Run) -> tuple[training_job.TrainingLayout, training_job.TrainingResult]:
    """The training job under the container contract, then the validation predictions for the report's plots."""
    layout = training_job.TrainingLayout(run.run_dir / "sagemaker", run.run_dir / "model")
    channels = channels_of(run.curated_root, run.run_id)
    run.echo(f"  channels: {', '.join(channels)}; hyperparameters: "
             f"{' '.join(training_job.render_hyperparameters(run.hyperparameters)) or '(defaults)'}")
    hyperparameters, training_dir = run.hyperparameters, TRAINING_DIR
    if run.recipe == "transformer":
        channels[PRETRAINED_CHANNEL] = run.pretrained
        hyperparameters = {**hyperparameters, **training_job.checkpoint_hyperparameter(layout)}
        training_dir = TRANSFORMER_DIR
    result = training_job.run_training(layout, hyperparameters, channels, echo=run.echo, training_dir=training_dir)
    run.summary["metrics"] = result.metrics
    run.summary["accuracy"] = result.metrics.get(gates.GATE_METRIC)
    try:
        predictions_file = run.run_dir / "predictions" / "validation.json"
        predictions_file.parent.mkdir(exist_ok=True)
        run.state["predictions"] = evaluate_in_child(layout.code_dir, layout.model_dir, channels[VALIDATION],
                                                     predictions_file)
    except RuntimeError as exc:  # the plots are a convenience; the gate reads the training log
        run.echo(f"  note: {exc}")
    return layout, result


def _evaluate(run: _Run, layout: training_job.TrainingLayout) -> None:
    """The evaluation report: the custom model beside the managed baseline (given or not), and the cost."""
    try:
        run.state["evaluation"] = baseline.evaluate_offline(
            run_id=run.run_id, run_dir=run.run_dir, curated_root=run.curated_root,
            output_data_dir=layout.output_dir / "data", comprehend_output=run.state["comprehend_output"],
            config=run.config, echo=run.echo)
        run.summary["evaluation"] = str(run.run_dir / "evaluation.json")
    except baseline.cb.BaselineError as exc:  # the report is a convenience; the gate reads the training log
        run.echo(f"  note: no evaluation report: {exc}")


def _pretrained_folder(options: RunOptions, hyperparameters: dict, config: PipelineConfig) -> Path:
    """The transformer recipe's weights offline: ``--pretrained DIR``, else ``model_name`` when it is a folder."""
    candidate = options.pretrained or Path(hyperparameters.get("model_name", config.transformer.model_name))
    if not (Path(candidate) / "config.json").is_file():
        raise UsageError(f"the transformer recipe needs pretrained weights offline: pass --pretrained DIR (a model "
                         f"folder with config.json; {candidate} is not one)")
    return Path(candidate).resolve()


def _model_quality_gate(run: _Run, result: training_job.TrainingResult) -> None:
    live = gates.read_live_record(run.output_dir)
    decision = gates.decide_model_gate(result.metrics, run.min_accuracy, live, run.compare_live)
    run.summary["model_gate"] = decision.as_dict()
    run.summary["model_quality_gate"] = "passed" if decision.passed else "REFUSED"
    run.echo(f"  {gates.GATE_METRIC}={decision.accuracy} threshold={run.min_accuracy}"
             + (f" live={decision.live_accuracy}" if decision.live_accuracy is not None else ""))
    if not decision.passed:
        raise ModelQualityRefused("model-quality gate refused the model: " + "; ".join(decision.reasons))


def _start_local_endpoint(run: _Run, model_tar: Path) -> None:
    """Extract model.tar.gz as the serving container does and serve it with the state machine's model spec."""
    endpoint_dir = run.run_dir / "endpoint"
    serving_model = training_job.extract_tarball(model_tar, endpoint_dir / "model")
    model_spec = endpoint_model_spec(run.config.endpoint.mode)  # the CreateModel of the state machine
    serving_code = training_job.resolve_serving_code(serving_model, model_spec, endpoint_dir / "code")
    run.endpoint = start_endpoint(serving_code, serving_model, run.options.host, run.options.port,
                                  log_file=endpoint_dir / "endpoint.log")
    run.summary["endpoint"] = run.endpoint.url
    run.echo(f"  listening on {run.endpoint.url} (GET /ping, POST /invocations)")


def _smoke_test(run: _Run, model_tar: Path) -> None:
    """Smoke-test the endpoint; on success the model becomes the live one the next run's gate compares with."""
    smoke = smoke_test(run.endpoint.url)
    run.summary["smoke_checks"] = smoke.checks
    run.summary["smoke_test"] = "passed" if smoke.passed else "FAILED"
    for check in smoke.checks:
        run.echo(f"  {'ok ' if check['passed'] else 'FAIL'} {check['name']}: {check['detail'][:150]}")
    if not smoke.passed:
        raise EndpointError("smoke test failed: " + "; ".join(smoke.failures()))
    gates.write_live_record(run.output_dir, run.run_id, float(run.summary["accuracy"]), model_tar)


def _finish(run_dir: Path, summary: dict, state: dict, curated_root: Path, run_id: str, progress: Progress,
            echo: Callable[[str], None]) -> None:
    """Report stage: HTML report + summary.json + the table, whatever happened before (best effort)."""
    with progress.stage("report"):
        summary["report"] = str(run_dir / "report.html")
        try:
            report.write_report(run_dir, summary, state["dq_report"], curated_root / curated_run_key(run_id),
                                state["predictions"], evaluation=state["evaluation"])
        except Exception as exc:  # never hide the run's own outcome behind a plotting error
            echo(f"  note: the HTML report could not be written: {exc}")
            summary["report"] = None
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    echo(report.format_table(report.summary_rows(summary)))
