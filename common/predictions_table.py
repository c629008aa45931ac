"""The predictions table and the scoring summary of a scoring run, from Batch Transform's joined output.

Runs in two places with the same code: as the Glue Python shell job ``publish-predictions`` of the scoring state
machine (Python 3.9, the ``analytics`` library set: pyarrow and boto3), and in-process in ``ds-on-aws score``
offline (``curated_uri`` a local folder). Standard library plus pyarrow (and boto3 for ``s3://``), so keep it
Python 3.9 compatible: no ``match``, no ``X | Y`` outside annotations, no ``zip(strict=)``.

Input, under ``<curated_uri>`` (pipeline_contracts' layout of a scoring run):

* ``scoring/<run_id>/transform/*.out``: one JSON object per line, the input record joined with the model's answer
  (``DataProcessing``: ``JoinSource=Input``, ``OutputFilter=$``): ``{"review_id", "text", <context columns>,
  "SageMakerOutput": {"label", "score", "positive_probability"} | {"error"}}``; ``source`` becomes the table's
  ``source``, the other context columns its ``context`` map;
* ``reports/<run_id>/duplicates/``: gzip JSON Lines ``{"review_id", "kept_review_id", <context columns>}`` of the
  reviews the cleaning collapsed into another: they get the prediction of the review they duplicate
  (``duplicate_of`` says which) and keep their own source and context;
* ``scoring/<run_id>/moderation/*.jsonl`` when the run's moderation step completed (``common/moderation.py``):
  ``{"review_id", "toxicity", "toxicity_labels", "image_key", "image_labels", "flagged", "moderation_error"}``,
  joined by review id (a duplicate carries the moderation of the review it duplicates, like its prediction).

Output:

* ``tables/predictions/run_id=<run_id>/part-NNNNN.parquet`` (one part per transform output file, streamed, so
  memory does not grow with the run), the partition behind the catalog table ``predictions``;
* ``reports/<run_id>/scoring_summary.json``: counts and shares per label, the histogram of P(positive), the most
  negative and most positive reviews, errors and duplicates.
"""

from __future__ import annotations

import gzip
import heapq
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pipeline_contracts import (
    SOURCE_COLUMN,
    duplicates_key,
    predictions_run_key,
    scoring_moderation_key,
    scoring_summary_key,
    scoring_transform_key,
)

# Column -> Glue/Hive type, in the Parquet files' order (the catalog table declares the same, plus run_id).
PREDICTION_COLUMNS = (
    ("review_id", "string"),
    ("text", "string"),
    ("source", "string"),
    ("context", "map<string,string>"),
    ("label", "string"),
    ("positive_probability", "double"),
    ("score", "double"),
    ("error", "string"),
    ("duplicate_of", "string"),
    ("toxicity", "double"),
    ("toxicity_labels", "array<struct<name:string,score:double>>"),
    ("image_moderation_labels", "array<struct<name:string,parent:string,confidence:double,taxonomy_level:int>>"),
    ("flagged", "boolean"),
    ("moderation_error", "string"),
    ("model_name", "string"),
    ("scored_at", "timestamp"),
)
# Fields of a joined transform line (or a duplicates line) that are not context columns.
NOT_CONTEXT = frozenset(("review_id", "text", "SageMakerOutput", "kept_review_id", SOURCE_COLUMN))
HISTOGRAM_BINS = 10
EXTREMES = 5  # most negative / most positive reviews in the summary
EXCERPT_CHARS = 500
TRANSFORM_SUFFIX = ".out"
LABELS = ("negative", "positive")
MODERATION_SUFFIX = ".jsonl"
MODERATION_COLUMNS = ("toxicity", "toxicity_labels", "image_moderation_labels", "flagged", "moderation_error")
MODERATION_DISABLED = {"status": "disabled", "reason": "moderation.toxicity and moderation.images are off",
                       "enabled": {"toxicity": False, "images": False}}


class PublishError(RuntimeError):
    """The transform output is missing or not what Batch Transform writes; the message names the file."""


# --- storage: a local folder or s3:// ------------------------------------------------------------------------


class Store:
    """Read and write under a root: a local folder, or ``s3://bucket/prefix`` through boto3."""

    def __init__(self, root: str, kms_key_arn: str = ""):
        self.root = root.rstrip("/")
        self.kms_key_arn = kms_key_arn
        self.is_s3 = self.root.startswith("s3://")
        if self.is_s3:
            import boto3  # only in the cloud (the Glue Python shell job has it)

            self.bucket, _, self.prefix = self.root[len("s3://"):].partition("/")
            self.s3 = boto3.client("s3")

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def list(self, relative: str) -> list:
        """Relative names of the files under ``relative`` (sorted)."""
        if not self.is_s3:
            base = Path(self.root) / relative
            return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
        names, token = [], None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": self._key(relative).rstrip("/") + "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = self.s3.list_objects_v2(**kwargs)
            strip = len(self.prefix) + 1 if self.prefix else 0
            names.extend(item["Key"][strip:] for item in page.get("Contents", []))
            token = page.get("NextContinuationToken")
            if not token:
                return sorted(names)

    def read_lines(self, relative: str):
        """The non-blank lines of a file (gzip when its name ends with .gz), decoded as UTF-8, streamed."""
        gz = relative.endswith(".gz")
        if self.is_s3:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._key(relative))["Body"]
            yield from _decoded(gzip.GzipFile(fileobj=body) if gz else body.iter_lines())
        else:
            with (gzip.open if gz else open)(Path(self.root) / relative, "rb") as handle:
                yield from _decoded(handle)

    def put_file(self, local: Path, relative: str) -> None:
        if not self.is_s3:
            target = Path(self.root) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)
            return
        extra = {"ServerSideEncryption": "aws:kms"}
        if self.kms_key_arn:
            extra["SSEKMSKeyId"] = self.kms_key_arn
        self.s3.upload_file(str(local), self.bucket, self._key(relative), ExtraArgs=extra)

    def put_text(self, text: str, relative: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "object"
            path.write_text(text, encoding="utf-8")
            self.put_file(path, relative)

    def uri(self, relative: str) -> str:
        return f"{self.root}/{relative}"


def _decoded(lines):
    for raw in lines:
        line = raw.decode("utf-8")
        if line.strip():
            yield line


# --- rows ------------------------------------------------------------------------------------------------------


def prediction_row(line: str, where: str, model_name: str, scored_at: datetime) -> dict:
    """One table row from one joined transform line; refuses a line that is not what the transform writes."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise PublishError(f"{where}: not a JSON line ({exc})") from None
    answer = record.get("SageMakerOutput") if isinstance(record, dict) else None
    if not isinstance(answer, dict) or not isinstance(record.get("review_id"), str):
        raise PublishError(f"{where}: expected {{review_id, text, SageMakerOutput}}, got {line[:200]!r}")
    error = answer.get("error")
    probability = answer.get("positive_probability")
    source, context = record_context(record)
    return {
        "review_id": record["review_id"],
        "text": record.get("text"),
        "source": source,
        "context": context,
        "label": None if error is not None else answer.get("label"),
        "positive_probability": None if error is not None else float(probability),
        "score": None if error is not None else float(answer.get("score")),
        "error": error,
        "duplicate_of": None,
        **{name: None for name in MODERATION_COLUMNS},
        "model_name": model_name,
        "scored_at": scored_at,
    }


def record_context(record: dict) -> tuple:
    """A record's ``source`` and its other context columns (the ``context`` map, as sorted pairs; None if none)."""
    pairs = sorted((k, str(v)) for k, v in record.items() if k not in NOT_CONTEXT and v is not None)
    source = record.get(SOURCE_COLUMN)
    return (None if source is None else str(source)), (pairs or None)


def duplicate_rows(row: dict, duplicates: dict) -> list:
    """The rows of the reviews collapsed into ``row``'s review: its prediction, their own ids, source and context."""
    return [dict(row, review_id=dup, duplicate_of=row["review_id"], source=source, context=context)
            for dup, source, context in duplicates.get(row["review_id"], ())]


def read_duplicates(store: Store, run_id: str) -> dict:
    """kept review id -> ``(id, source, context)`` of each review collapsed into it (the cleaning job's duplicates
    report; in a scoring run each line also carries the copy's own context columns)."""
    kept: dict = {}
    for name in store.list(duplicates_key(run_id)):
        if name.rsplit("/", 1)[-1].startswith(("_", ".")):
            continue  # Spark's _SUCCESS and checksum files
        for line in store.read_lines(name):
            pair = json.loads(line)
            if pair.get("review_id") != pair.get("kept_review_id"):
                kept.setdefault(pair["kept_review_id"], []).append((pair["review_id"], *record_context(pair)))
    return kept


def read_moderation(store: Store, run_id: str) -> dict:
    """review id -> its moderation columns, from the moderation step's rows (``scoring/<run_id>/moderation/``)."""
    found: dict = {}
    for name in store.list(scoring_moderation_key(run_id)):
        if not name.endswith(MODERATION_SUFFIX):
            continue
        for number, line in enumerate(store.read_lines(name), start=1):
            try:
                row = json.loads(line)
                found[row["review_id"]] = moderation_columns(row)
            except (ValueError, KeyError, TypeError) as exc:
                raise PublishError(f"{store.uri(name)} line {number}: not a moderation row ({exc})") from None
    return found


def moderation_columns(row: dict) -> dict:
    """The table's moderation columns of one moderation row; ``flagged`` is null when nothing was checked."""
    checked = row.get("toxicity") is not None or row.get("image_labels") is not None
    return {
        "toxicity": None if row.get("toxicity") is None else float(row["toxicity"]),
        "toxicity_labels": row.get("toxicity_labels"),
        "image_moderation_labels": row.get("image_labels"),
        "flagged": bool(row.get("flagged")) if checked else None,
        "moderation_error": row.get("moderation_error"),
    }


class ModerationSummary:
    """The summary's ``moderation`` section: switches, status, flagged counts (text, image), errors, label counts."""

    def __init__(self, moderation: dict | None):
        self.info = dict(moderation or MODERATION_DISABLED)
        self.threshold = float(self.info.get("toxicity_threshold", 0.5))
        self.counts = {k: 0 for k in ("text_checked", "images_checked", "flagged", "flagged_text", "flagged_image",
                                      "errors")}
        self.text_labels: dict = {}
        self.image_labels: dict = {}

    def add(self, row: dict) -> None:
        c = self.counts
        if row["toxicity"] is not None:
            c["text_checked"] += 1
            c["flagged_text"] += row["toxicity"] >= self.threshold
            for label in row["toxicity_labels"] or ():
                if label["score"] >= self.threshold:
                    self.text_labels[label["name"]] = self.text_labels.get(label["name"], 0) + 1
        if row["image_moderation_labels"] is not None:
            c["images_checked"] += 1
            c["flagged_image"] += bool(row["image_moderation_labels"])
            for name in {label["name"] for label in row["image_moderation_labels"]}:
                self.image_labels[name] = self.image_labels.get(name, 0) + 1
        c["flagged"] += bool(row["flagged"])
        c["errors"] += row["moderation_error"] is not None

    def summary(self) -> dict:
        keep = {k: v for k, v in self.info.items() if k not in ("counts",)}
        return {**keep, "toxicity_threshold": self.threshold, "counts": dict(self.counts),
                "toxicity_labels": dict(sorted(self.text_labels.items())),
                "image_labels": dict(sorted(self.image_labels.items()))}


# --- summary ---------------------------------------------------------------------------------------------------


class SummaryBuilder:
    """Counts, histogram and extremes, accumulated row by row (constant memory)."""

    def __init__(self):
        self.labels = {label: 0 for label in LABELS}
        self.histogram = [0] * HISTOGRAM_BINS
        self.reviews = self.errors = self.duplicates = 0
        self.probability_sum = 0.0
        self._negative: list = []  # max-heap by probability (negated), the EXTREMES lowest
        self._positive: list = []  # min-heap by probability, the EXTREMES highest
        self._seen = 0

    def add(self, row: dict) -> None:
        self.reviews += 1
        if row["duplicate_of"] is not None:
            self.duplicates += 1
        if row["error"] is not None:
            self.errors += 1
            return
        p = row["positive_probability"]
        self.labels[row["label"]] = self.labels.get(row["label"], 0) + 1
        self.histogram[min(int(p * HISTOGRAM_BINS), HISTOGRAM_BINS - 1)] += 1
        self.probability_sum += p
        if row["duplicate_of"] is None:  # the same text once in the extremes
            self._seen += 1
            entry = (p, self._seen, row["review_id"], (row["text"] or "")[:EXCERPT_CHARS])
            self._keep(self._negative, (-p, self._seen, entry))
            self._keep(self._positive, (p, self._seen, entry))

    @staticmethod
    def _keep(heap: list, item: tuple) -> None:
        if len(heap) < EXTREMES:
            heapq.heappush(heap, item)
        else:
            heapq.heappushpop(heap, item)

    def summary(self) -> dict:
        scored = self.reviews - self.errors
        extremes = {
            "most_negative": sorted((e for _, _, e in self._negative), key=lambda e: (e[0], e[1])),
            "most_positive": sorted((e for _, _, e in self._positive), key=lambda e: (-e[0], e[1])),
        }
        return {
            "counts": {"reviews": self.reviews, "scored": scored, "errors": self.errors,
                       "duplicates": self.duplicates},
            "labels": {label: {"count": n, "share": round(n / scored, 6) if scored else 0.0}
                       for label, n in sorted(self.labels.items())},
            "mean_positive_probability": round(self.probability_sum / scored, 6) if scored else None,
            "score_histogram": {
                "of": "positive_probability",
                "edges": [round(i / HISTOGRAM_BINS, 2) for i in range(HISTOGRAM_BINS + 1)],
                "counts": list(self.histogram),
            },
            **{name: [{"review_id": rid, "positive_probability": round(p, 6), "text": text}
                      for p, _, rid, text in entries] for name, entries in extremes.items()},
        }


# --- the job ---------------------------------------------------------------------------------------------------


def arrow_type(kind: str):
    """The pyarrow type of a Glue/Hive type string (``string``, ``array<struct<name:string,score:double>>``...)."""
    import pyarrow as pa  # the Glue Python shell's analytics library set has it

    scalars = {"string": pa.string(), "double": pa.float64(), "int": pa.int32(), "boolean": pa.bool_(),
               "timestamp": pa.timestamp("ms", tz="UTC")}
    kind = kind.strip()
    if kind in scalars:
        return scalars[kind]
    if kind.startswith("array<") and kind.endswith(">"):
        return pa.list_(arrow_type(kind[len("array<"):-1]))
    if kind.startswith("map<") and kind.endswith(">"):
        key, value = _split_top(kind[len("map<"):-1])
        return pa.map_(arrow_type(key), arrow_type(value))
    if kind.startswith("struct<") and kind.endswith(">"):
        members = [member.split(":", 1) for member in _split_top(kind[len("struct<"):-1])]
        return pa.struct([(name.strip(), arrow_type(member)) for name, member in members])
    raise ValueError(f"no pyarrow type for column type {kind!r}")


def _split_top(text: str) -> list:
    """``a:int,b:struct<c:int,d:int>`` split at its top-level commas."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _write_part(rows: list, path: Path) -> None:
    import pyarrow as pa  # the Glue Python shell's analytics library set has it
    import pyarrow.parquet as pq

    schema = pa.schema([(name, arrow_type(kind)) for name, kind in PREDICTION_COLUMNS])
    columns = {name: [row[name] for row in rows] for name, _ in PREDICTION_COLUMNS}
    pq.write_table(pa.table(columns, schema=schema), str(path), compression="snappy")


def transform_files(store: Store, run_id: str) -> list:
    files = [name for name in store.list(scoring_transform_key(run_id)) if name.endswith(TRANSFORM_SUFFIX)]
    if not files:
        raise PublishError(
            f"no Batch Transform output (*{TRANSFORM_SUFFIX}) under {store.uri(scoring_transform_key(run_id))}"
        )
    return files


def publish(curated_uri: str, run_id: str, model_name: str, kms_key_arn: str = "", now: datetime | None = None,
            moderation: dict | None = None) -> dict:
    """Write the run's predictions partition and summary; return the summary.

    ``moderation``: the moderation step's result (``status``, ``reason``, ``enabled``, ``toxicity_threshold``...);
    its rows are joined only when ``status`` is ``COMPLETED``. None: moderation is off.
    """
    store = Store(curated_uri, kms_key_arn)
    scored_at = now or datetime.now(timezone.utc)  # noqa: UP017 (datetime.UTC is Python 3.11+)
    duplicates = read_duplicates(store, run_id)
    moderated = read_moderation(store, run_id) if (moderation or {}).get("status") == "COMPLETED" else {}
    builder, moderation_summary = SummaryBuilder(), ModerationSummary(moderation)
    partition = predictions_run_key(run_id)
    if not store.is_s3:
        shutil.rmtree(Path(store.root) / partition, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="predictions-") as tmp:
        for number, name in enumerate(transform_files(store, run_id)):
            rows = []
            for line_number, line in enumerate(store.read_lines(name), start=1):
                row = prediction_row(line, f"{store.uri(name)} line {line_number}", model_name, scored_at)
                row.update(moderated.get(row["review_id"], ()))
                rows.append(row)
                rows.extend(duplicate_rows(row, duplicates))
            for row in rows:
                builder.add(row)
                moderation_summary.add(row)
            part = Path(tmp) / f"part-{number:05d}.parquet"
            _write_part(rows, part)
            store.put_file(part, f"{partition}/{part.name}")
            part.unlink()
    summary = {
        "run_id": run_id,
        "created_at": scored_at.isoformat(timespec="seconds"),
        "model_name": model_name,
        "predictions": store.uri(partition) + "/",
        **builder.summary(),
        "moderation": moderation_summary.summary(),
    }
    store.put_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", scoring_summary_key(run_id))
    return summary


def job_arguments(argv: list) -> dict:
    """``--key value`` pairs of the Glue job's command line (Glue adds its own keys too; they are ignored)."""
    arguments, index = {}, 0
    while index < len(argv):
        if argv[index].startswith("--") and index + 1 < len(argv):
            arguments[argv[index][2:].replace("-", "_")] = argv[index + 1]
            index += 2
        else:
            index += 1
    missing = [key for key in ("run_id", "curated_uri", "model_name") if not arguments.get(key)]
    if missing:
        raise SystemExit(f"publish-predictions: missing job argument(s) {', '.join('--' + k for k in missing)}")
    return arguments


def moderation_argument(text: str | None) -> dict | None:
    """The ``--moderation`` job argument: the moderation step's result as JSON (absent when moderation is off)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SystemExit(f"publish-predictions: --moderation is not JSON ({exc})") from None
    if not isinstance(value, dict) or not isinstance(value.get("status"), str):
        raise SystemExit(f"publish-predictions: --moderation must be an object with a status, got {text[:200]!r}")
    return value


def main(argv: list | None = None) -> int:
    arguments = job_arguments(sys.argv[1:] if argv is None else argv)
    summary = publish(arguments["curated_uri"], arguments["run_id"], arguments["model_name"],
                      arguments.get("kms_key_arn", os.environ.get("KMS_KEY_ARN", "")),
                      moderation=moderation_argument(arguments.get("moderation")))
    print(json.dumps({k: summary[k] for k in ("run_id", "counts", "labels")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
