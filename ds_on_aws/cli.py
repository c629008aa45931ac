"""``ds-on-aws``: the offline pipeline from the terminal (``run``), a local endpoint (``serve``), a client (``predict``),
bulk scoring of feedback (``score``), recorded calls turned into feedback (``transcribe``),
pretrained weights for the transformer recipe (``stage-model``).

Exit codes (stable, for scripts and CI; ``pipeline_contracts``): 0 ok, 1 unexpected error, 2 bad usage or input, 3 data-quality gate
refused, 4 model-quality gate refused, 5 endpoint or smoke test failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from pathlib import Path

from pipeline_contracts import EXIT_CODE_MEANINGS

from ds_on_aws.local.errors import EXIT_UNEXPECTED, EXIT_USAGE, RunnerError, UsageError


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from exc
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a value in [0, 1], got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line (its default already uses 2; keep the message short)."""

    def error(self, message: str):  # noqa: D401
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ds-on-aws", description=__doc__.split("\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="exit codes: " + ", ".join(f"{code} {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items()))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the whole pipeline offline (clean, gates, train, endpoint, report)")
    data = run.add_argument_group("data")
    data.add_argument("--input", help="a CSV / JSON lines / Parquet file, a folder, an aclImdb tree or its .tar.gz")
    data.add_argument("--imdb-dir", help="folder with the IMDb data (train.csv.gz, aclImdb/ or aclImdb_v1.tar.gz); "
                                         "default: $DS_ON_AWS_IMDB_DIR, else download the official tarball once")
    data.add_argument("--sample", type=_positive_int, metavar="N",
                      help="use a deterministic sample of N reviews, stratified by label (quick runs)")
    data.add_argument("--seed", type=int, help="seed of the sample and of the validation split (default: cdk.json)")
    gates = run.add_argument_group("gates and training (defaults: cdk.json context 'ds-on-aws')")
    gates.add_argument("--min-rows", type=int, help="data-quality gate: minimum rows kept")
    gates.add_argument("--data-quality", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="any other data-quality threshold, e.g. max_quarantine_share=0.1 (repeatable)")
    gates.add_argument("--min-accuracy", type=_fraction, help="model-quality gate: minimum validation accuracy")
    gates.add_argument("--no-compare-live", dest="compare_with_live", action="store_false", default=None,
                       help="do not require the model to be at least as good as the last accepted local model")
    gates.add_argument("--recipe", choices=("linear", "transformer"),
                       help="training recipe (default: cdk.json training.recipe): the linear model or a fine-tuned "
                            "transformer (needs the deep-learning extra, requirements-transformer.txt)")
    gates.add_argument("--pretrained", type=Path, metavar="DIR",
                       help="transformer recipe: the pretrained model folder (config.json, weights, tokenizer)")
    gates.add_argument("--hyperparameter", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="training hyperparameter, passed as the SageMaker launcher does (repeatable)")
    out = run.add_argument_group("output and endpoint")
    out.add_argument("--output-dir", type=Path, default=Path("runs"), help="where run folders go (default: runs/)")
    out.add_argument("--host", default="127.0.0.1", help="endpoint address (default: 127.0.0.1, loopback only)")
    out.add_argument("--port", type=_port, default=0, help="endpoint port (default: a free one)")
    out.add_argument("--keep-serving", action="store_true", help="leave the endpoint up after the run (Ctrl-C stops)")
    out.add_argument("--comprehend-output", type=Path, metavar="FILE",
                     help="output.tar.gz of an Amazon Comprehend sentiment job on the run's baseline/documents.txt, "
                          "to compare with in the report (the managed baseline needs an AWS account)")

    serve = sub.add_parser("serve", help="serve a trained model on a local endpoint until Ctrl-C")
    serve.add_argument("--model", required=True, type=Path,
                       help="model folder (runs/<run_id>/model) or model.tar.gz")
    serve.add_argument("--code", type=Path,
                       help="sourcedir.tar.gz or code folder (default: the run's own, else built from training/)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8080, help="default: 8080, as in the SageMaker container")

    stage = sub.add_parser("stage-model", help="upload pretrained weights for the transformer recipe to the artifacts bucket")
    stage.add_argument("source", metavar="NAME_OR_DIR", help="a local model folder, or a model hub name to fetch here")
    stage.add_argument("--bucket", required=True, help="the artifacts bucket (the DsOnAws-Pipeline stack's output)")
    stage.add_argument("--name", help="model name the recipe uses (default: the folder's or hub model's name)")

    predict = sub.add_parser("predict", help="send reviews to an endpoint and print labels and scores")
    predict.add_argument("texts", nargs="*", help="review texts (default: one per line from stdin)")
    predict.add_argument("--url", default="http://127.0.0.1:8080", help="endpoint URL (default: %(default)s)")
    _add_score_parser(sub)
    _add_transcribe_parser(sub)

    sub.add_parser("cost", help="estimated cost of a default run and of the idle pipeline (configuration only)")
    return parser


def _add_score_parser(sub) -> None:
    score = sub.add_parser("score", help="score feedback in bulk offline (clean, score, predictions table, report)")
    score.add_argument("--input", required=True,
                       help="a CSV / JSON lines / Parquet file or a folder of them (a text column; labels ignored)")
    score.add_argument("--model", type=Path,
                       help="model folder (runs/<run_id>/model) or model.tar.gz (default: the latest run's model)")
    score.add_argument("--output-dir", type=Path, default=Path("runs"), help="where run folders go (default: runs/)")
    score.add_argument("--data-quality", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="a data-quality threshold, e.g. max_quarantine_share=0.1 (repeatable; default min_rows: "
                            "cdk.json scoring.min_rows)")
    score.add_argument("--batch-size", type=_positive_int, default=1000,
                       help="records per mini-batch, as Batch Transform sends them (default: %(default)s)")
    score.add_argument("--no-progress", dest="progress_bar", action="store_false", help="no progress bar")
    score.add_argument("--moderation-results", type=Path, metavar="FILE",
                       help="JSON Lines of Amazon Comprehend DetectToxicContent / Amazon Rekognition "
                            "DetectModerationLabels replies per review_id, joined into the table (docs/moderation.md)")


def _add_transcribe_parser(sub) -> None:
    transcribe = sub.add_parser(
        "transcribe", help="transcribe recorded calls offline into feedback records (then score them with --score)")
    transcribe.add_argument("--input", required=True,
                            help="an audio file or a folder of them (cdk.json voice.media_suffixes: wav, mp3, ...)")
    transcribe.add_argument("--output-dir", type=Path, default=Path("runs"),
                            help="where run folders go (default: runs/)")
    transcribe.add_argument("--score", action="store_true",
                            help="score the records at once (`ds-on-aws score` on the run's feedback.ndjson)")
    transcribe.add_argument("--model", type=Path,
                            help="with --score: model folder or model.tar.gz (default: the latest run's model)")
    transcribe.add_argument("--no-progress", dest="progress_bar", action="store_false", help="no progress bar")


def command_run(args) -> int:
    from ds_on_aws.local.pipeline import RunOptions, run_pipeline

    data_quality = dict(args.data_quality)
    if args.min_rows is not None:
        data_quality["min_rows"] = str(args.min_rows)
    options = RunOptions(input=args.input, imdb_dir=args.imdb_dir, sample=args.sample, seed=args.seed,
                         output_dir=args.output_dir, hyperparameters=dict(args.hyperparameter),
                         data_quality=data_quality, min_accuracy=args.min_accuracy,
                         compare_with_live=args.compare_with_live, host=args.host, port=args.port,
                         keep_serving=args.keep_serving, comprehend_output=args.comprehend_output,
                         recipe=args.recipe, pretrained=args.pretrained)
    result = run_pipeline(options)
    if result.endpoint is not None:
        print(f"endpoint up at {result.endpoint.url}: try  ds-on-aws predict --url {result.endpoint.url} "
              f"\"What a great film\"  (Ctrl-C stops it)")
        try:
            result.endpoint.process.wait()
        except KeyboardInterrupt:
            print("stopping the endpoint")
        finally:
            result.endpoint.stop()
    return 0


def resolve_serving_dirs(model: Path, code: Path | None, work: Path) -> tuple[Path, Path]:
    """The model and code folders to serve, extracting tarballs like the serving container does."""
    from ds_on_aws.local.training_job import extract_tarball
    from ds_on_aws.packaging import build_sourcedir_tarball

    if not model.exists():
        raise UsageError(f"model not found: {model}")
    model_dir = extract_tarball(model, work / "model") if model.is_file() else model
    if not any(model_dir.iterdir()):
        raise UsageError(f"model folder {model_dir} is empty")
    if code is None:
        run_dir = model.parent
        candidates = [run_dir / "sagemaker" / "sourcedir.tar.gz", run_dir / "endpoint" / "code"]
        code = next((c for c in candidates if c.exists()), None)
        if code is None:
            code = build_sourcedir_tarball(work / "sourcedir.tar.gz")
    if not code.exists():
        raise UsageError(f"code not found: {code}")
    code_dir = extract_tarball(code, work / "code") if code.is_file() else code
    if not (code_dir / "inference.py").is_file():
        raise UsageError(f"{code_dir} has no inference.py")
    return model_dir, code_dir


def command_serve(args) -> int:
    from ds_on_aws.local.endpoint import serve_forever

    with tempfile.TemporaryDirectory(prefix="ds-on-aws-serve-") as tmp:
        model_dir, code_dir = resolve_serving_dirs(args.model, args.code, Path(tmp))

        def announce(line: str) -> None:
            url = line.removeprefix("READY ")
            print(f"serving {model_dir} with {code_dir / 'inference.py'} on {url} (GET /ping, POST /invocations); "
                  f"Ctrl-C stops", flush=True)

        serve_forever(code_dir, model_dir, args.host, args.port, announce=announce)
    print("stopped")
    return 0


def command_predict(args) -> int:
    from ds_on_aws.local.endpoint import predict

    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise UsageError("no review text given (pass texts as arguments or one per line on stdin)")
    for text, prediction in zip(texts, predict(args.url, texts), strict=True):
        preview = text if len(text) <= 60 else text[:57] + "..."
        print(f"{prediction.get('label', '?'):<8}  {float(prediction.get('score', 0.0)):.4f}  {preview}")
    return 0


def command_score(args) -> int:
    from ds_on_aws.local.scoring import ScoreOptions, score

    result = score(ScoreOptions(input=args.input, model=args.model, output_dir=args.output_dir,
                                data_quality=dict(args.data_quality), batch_size=args.batch_size,
                                progress_bar=args.progress_bar, moderation_results=args.moderation_results))
    print(f"predictions: {result.run_dir / 'curated'}/tables/predictions/run_id={result.run_id}/  "
          f"summary: {result.run_dir / 'scoring_summary.json'}  report: {result.run_dir / 'report.html'}")
    return 0


def command_transcribe(args) -> int:
    from ds_on_aws.local.transcribe import TranscribeOptions, transcribe

    result = transcribe(TranscribeOptions(input=args.input, output_dir=args.output_dir, score=args.score,
                                          model=args.model, progress_bar=args.progress_bar))
    print(f"records: {result.records_file}  transcripts: {result.run_dir / 'transcripts'}"
          + (f"  failed: {len(result.failed)} file(s), see {result.run_dir / 'run.json'}" if result.failed else ""))
    return 0


def command_cost(args) -> int:
    from ds_on_aws.config import load_config
    from ds_on_aws.cost import format_report

    print(format_report(load_config()))
    return 0


def command_stage_model(args) -> int:
    from ds_on_aws.stage_model import stage_model

    with tempfile.TemporaryDirectory(prefix="ds-on-aws-stage-") as tmp:
        stage_model(args.source, args.bucket, name=args.name, work_dir=Path(tmp))
    return 0


COMMANDS = {"run": command_run, "serve": command_serve, "predict": command_predict, "score": command_score,
            "transcribe": command_transcribe, "cost": command_cost, "stage-model": command_stage_model}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the contract: anything unforeseen is exit 1, with the traceback for a bug report
        traceback.print_exc()
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
