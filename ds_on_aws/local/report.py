"""Stage 7, report: the summary table printed at the end and a self-contained ``report.html`` with PNG plots.

The HTML embeds every plot as a ``data:image/png;base64`` URI (one file to mail or attach to a ticket); the PNGs
are also written beside it. Plots: data-quality summary (row flow and quarantine reasons), class balance per split,
text length distribution per split, confusion matrix and ROC curve of the validation predictions. Each plot is
drawn only when its data exists (a data-quality refusal has no model to plot), and the page says so.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from pathlib import Path

import evaluation_report  # the cloud run's evaluation Lambda writes the same report
import matplotlib

matplotlib.use("Agg")

SUMMARY_ROWS = ("rows read", "rows kept", "rows quarantined", "duplicates collapsed", "validation accuracy",
                "data-quality gate", "model-quality gate", "endpoint", "smoke test")

# Candidate key names in data_quality.json for each count (first match wins, searched recursively).
COUNT_KEYS = {
    "rows read": ("rows_read", "input_rows", "rows_in", "read"),
    "rows kept": ("rows_kept", "output_rows", "kept", "rows_out"),
    "rows quarantined": ("rows_quarantined", "quarantined_rows", "quarantined"),
    "duplicates collapsed": ("duplicates_collapsed", "duplicate_rows_collapsed", "duplicates"),
}


def find_number(report: Mapping, names: tuple[str, ...]):
    """The first numeric value stored under one of ``names``, at the top level or one object down."""
    for name in names:
        if isinstance(report.get(name), (int, float)) and not isinstance(report.get(name), bool):
            return report[name]
    for value in report.values():
        if isinstance(value, Mapping):
            for name in names:
                if isinstance(value.get(name), (int, float)) and not isinstance(value.get(name), bool):
                    return value[name]
    return None


def dq_counts(report: Mapping) -> dict[str, int | None]:
    """Rows read/kept/quarantined/duplicates: from the report's ``counts`` object, else searched by name."""
    report = report or {}
    counts = report.get("counts") if isinstance(report.get("counts"), Mapping) else {}
    return {label: find_number(counts, keys) if find_number(counts, keys) is not None else find_number(report, keys)
            for label, keys in COUNT_KEYS.items()}


def format_table(rows: list[tuple[str, str]]) -> str:
    """A two-column text table for the terminal."""
    width = max(len(k) for k, _ in rows)
    line = "+" + "-" * (width + 2) + "+" + "-" * (max(len(v) for _, v in rows) + 2) + "+"
    body = [f"| {k.ljust(width)} | {v.ljust(len(line) - width - 7)} |" for k, v in rows]
    return "\n".join([line, *body, line])


# --- data for the plots --------------------------------------------------------------------------------------

def load_curated(curated_dir: Path):
    """The curated splits as one DataFrame (columns text, label, split), or None when absent."""
    import pandas as pd

    frames = []
    for split_dir in sorted(p for p in Path(curated_dir).glob("*") if p.is_dir()):
        parts = sorted(p for p in split_dir.glob("part-*") if p.is_file())
        for part in parts:
            frame = pd.read_json(part, lines=True, compression="infer", dtype={"text": str})
            if not frame.empty:
                frame["split"] = split_dir.name
                frames.append(frame[["text", "label", "split"]])
    return pd.concat(frames, ignore_index=True) if frames else None


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def plot_data_quality(counts: Mapping[str, int | None], reasons: Mapping[str, int]) -> bytes:
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    labels = [k for k, v in counts.items() if v is not None]
    left.barh(labels, [counts[k] for k in labels], color=["#4477aa", "#228833", "#cc3311", "#ee7733"][: len(labels)])
    left.invert_yaxis()
    left.set_title("rows")
    for i, k in enumerate(labels):
        left.annotate(f"{counts[k]:,}", (counts[k], i), va="center", fontsize=8)
    if reasons:
        names = sorted(reasons, key=lambda r: -reasons[r])
        right.barh(names, [reasons[n] for n in names], color="#cc3311")
        right.invert_yaxis()
    else:
        right.text(0.5, 0.5, "nothing quarantined", ha="center", va="center")
        right.set_axis_off()
    right.set_title("quarantine reasons")
    return _png(fig)


def plot_class_balance(curated) -> bytes:
    import matplotlib.pyplot as plt

    table = curated.groupby(["split", "label"]).size().unstack(fill_value=0)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bottom = None
    for label, color in ((0, "#cc3311"), (1, "#228833")):
        values = table[label] if label in table else 0 * table.iloc[:, 0]
        ax.bar(table.index, values, bottom=bottom, color=color, label="positive" if label else "negative")
        bottom = values if bottom is None else bottom + values
    ax.set_ylabel("reviews")
    ax.set_title("class balance per split")
    ax.legend()
    return _png(fig)


def plot_text_length(curated) -> bytes:
    import matplotlib.pyplot as plt
    import numpy as np

    lengths = curated["text"].str.len()
    bins = np.logspace(np.log10(max(1, lengths.min())), np.log10(max(2, lengths.max())), 40)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for split in sorted(curated["split"].unique()):
        ax.hist(lengths[curated["split"] == split], bins=bins, alpha=0.6, label=split)
    ax.set_xscale("log")
    ax.set_xlabel("characters (cleaned text)")
    ax.set_ylabel("reviews")
    ax.set_title("text length distribution")
    ax.legend()
    return _png(fig)


def plot_confusion(rows: list[dict]) -> bytes:
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(4, 3.5))
    ConfusionMatrixDisplay.from_predictions([r["label"] for r in rows], [r["predicted"] for r in rows],
                                            display_labels=["negative", "positive"], ax=ax, colorbar=False)
    ax.set_title("confusion matrix (validation)")
    return _png(fig)


def plot_roc(rows: list[dict]) -> bytes:
    import matplotlib.pyplot as plt
    from sklearn.metrics import RocCurveDisplay

    fig, ax = plt.subplots(figsize=(4, 3.5))
    RocCurveDisplay.from_predictions([r["label"] for r in rows], [r["p_positive"] for r in rows], ax=ax,
                                     name="model")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_title("ROC curve (validation)")
    return _png(fig)


# --- the page ------------------------------------------------------------------------------------------------

def _table(rows, header=None) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def quarantine_reasons(report: Mapping) -> dict[str, int]:
    for key in ("reject_reasons", "quarantine_reasons", "quarantined_by_reason", "reasons"):
        value = report.get(key)
        if isinstance(value, Mapping):
            return {str(k): int(v) for k, v in value.items() if isinstance(v, (int, float)) and v > 0}
    return {}


def evaluation_section(evaluation: Mapping | None) -> str:
    """Custom model vs the managed baseline and the cost (the run's evaluation report), when there is one."""
    if not evaluation:
        return ""
    rows = []
    for name, key in (("custom model", "custom_model"), ("Amazon Comprehend", "comprehend")):
        section = evaluation[key]
        if section.get("status") != "available":
            rows.append((name, section.get("status"), "", "", "", section.get("reason", "")))
            continue
        m = section["metrics"]
        rows.append((name, m["reviews"], m["accuracy"], m["f1"], json.dumps(m["confusion_matrix"]),
                     section.get("cost_per_1000_reviews")))
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in evaluation_report.summary_lines(evaluation))
    return (f"<h2>Build or buy: custom model vs Amazon Comprehend</h2>"
            f"{_table(rows, ('model', 'reviews', 'accuracy', 'F1', 'confusion matrix', 'cost per 1,000 / note'))}"
            f"<ul>{lines}</ul>")


def cleaning_section(dq_report: Mapping) -> str:
    """The cleaning rules of the run (every threshold and switch), the repairs per kind and the quarantine reasons."""
    if not dq_report:
        return ""
    rules = _table([(k, json.dumps(v)) for k, v in (dq_report.get("thresholds") or {}).items()], ("setting", "value"))
    repairs = _table(sorted((dq_report.get("repairs") or {}).items()), ("repair", "rows"))
    reasons = _table(list((dq_report.get("quarantine_reasons") or {}).items()), ("reason", "rows"))  # zeros too
    return (f"<h2>Cleaning</h2><p>Mode: <code>{html.escape(str(dq_report.get('mode', 'train')))}</code></p>"
            f"<h3>Rules and thresholds</h3>{rules}<h3>Repairs</h3>{repairs}<h3>Quarantine reasons</h3>{reasons}")


def write_report(run_dir: Path, summary: Mapping, dq_report: Mapping | None, curated_dir: Path | None,
                 predictions: list[dict] | None, *, evaluation: Mapping | None = None) -> Path:
    """Write ``report.html`` (+ PNGs) into ``run_dir`` and return its path. Plots without data are skipped."""
    plots: dict[str, bytes] = {}
    notes: list[str] = []
    dq_report = dq_report or {}
    if dq_report:
        plots["data_quality"] = plot_data_quality(dq_counts(dq_report), quarantine_reasons(dq_report))
    curated = load_curated(curated_dir) if curated_dir and Path(curated_dir).is_dir() else None
    if curated is not None and not curated.empty:
        plots["class_balance"] = plot_class_balance(curated)
        plots["text_length"] = plot_text_length(curated)
    else:
        notes.append("no curated data: class balance and text length plots skipped")
    if predictions:
        plots["confusion_matrix"] = plot_confusion(predictions)
        if len({r["label"] for r in predictions}) == 2:
            plots["roc_curve"] = plot_roc(predictions)
    else:
        notes.append("no validation predictions: confusion matrix and ROC curve skipped")
    for name, png in plots.items():
        (run_dir / f"{name}.png").write_bytes(png)

    checks = dq_report.get("checks") or []
    check_rows = [(c.get("name"), c.get("threshold"), c.get("value"), "pass" if c.get("passed") else "FAIL")
                  for c in checks if isinstance(c, Mapping)]
    images = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{name.replace('_', ' ')}</figcaption></figure>" for name, png in plots.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ds-on-aws run {html.escape(str(summary.get('run_id')))}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}figure{{display:inline-block;margin:1em}}
.fail{{color:#c31}}</style></head><body>
<h1>ds-on-aws offline run <code>{html.escape(str(summary.get('run_id')))}</code></h1>
<p>Outcome: <strong>{html.escape(str(summary.get('outcome')))}</strong></p>
<h2>Summary</h2>{_table(summary_rows(summary))}
<h2>Data-quality checks</h2>{_table(check_rows, ("check", "threshold", "value", "result")) if check_rows else "<p>no data-quality report</p>"}
{cleaning_section(dq_report)}
<h2>Model metrics</h2>{_table(sorted((summary.get('metrics') or {}).items()), ("metric", "value")) if summary.get('metrics') else "<p>no model trained</p>"}
{evaluation_section(evaluation)}
<h2>Plots</h2>{images}
{"".join(f"<p><em>{html.escape(n)}</em></p>" for n in notes)}
<h2>Stage durations</h2>{_table([(k, f"{v:.1f} s") for k, v in (summary.get('durations') or {}).items()], ("stage", "time"))}
<h2>Data-quality report (raw)</h2><pre>{html.escape(json.dumps(dq_report, indent=2, default=str)[:20000])}</pre>
</body></html>
"""
    path = run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def summary_rows(summary: Mapping) -> list[tuple[str, str]]:
    """The rows of the end-of-run table (also the top table of the HTML report)."""
    def fmt(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    rows = [("run id", fmt(summary.get("run_id"))), ("input", fmt(summary.get("input")))]
    rows += [(name, fmt((summary.get("counts") or {}).get(name))) for name in COUNT_KEYS]
    rows += [("validation accuracy", fmt(summary.get("accuracy"))),
             ("data-quality gate", fmt(summary.get("data_quality_gate"))),
             ("model-quality gate", fmt(summary.get("model_quality_gate"))),
             ("endpoint", fmt(summary.get("endpoint"))),
             ("smoke test", fmt(summary.get("smoke_test")))]
    rows += [(f"time: {k}", f"{v:.1f} s") for k, v in (summary.get("durations") or {}).items()]
    rows += [("report", fmt(summary.get("report")))]
    return rows
