"""The scoring run's self-contained ``report.html``: label distribution, score histogram, the most negative texts.

Same style as the training report (``report.py``): one HTML file with its plots embedded as PNG data URIs (mail it,
attach it to a ticket), the PNGs beside it. Everything comes from the scoring summary (``scoring_summary.json``),
so the page shows exactly what the cloud run's summary says.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def plot_labels(summary: Mapping) -> bytes:
    import matplotlib.pyplot as plt

    labels = summary.get("labels") or {}
    names = list(labels)
    counts = [labels[n]["count"] for n in names]
    fig, ax = plt.subplots(figsize=(5, 3))
    bars = ax.bar(names, counts, color=["#c0392b" if n == "negative" else "#27ae60" for n in names])
    for bar, name in zip(bars, names, strict=True):
        ax.annotate(f"{labels[name]['share']:.1%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom")
    ax.set_ylabel("reviews")
    ax.set_title("label distribution")
    return _png(fig)


def plot_histogram(summary: Mapping) -> bytes:
    import matplotlib.pyplot as plt

    histogram = summary.get("score_histogram") or {"edges": [0, 1], "counts": [0]}
    edges, counts = histogram["edges"], histogram["counts"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(edges[:-1], counts, width=[b - a for a, b in zip(edges[:-1], edges[1:], strict=True)], align="edge",
           color="#2980b9", edgecolor="white")
    ax.set_xlabel("P(positive)")
    ax.set_ylabel("reviews")
    ax.set_title("score histogram")
    return _png(fig)


def _table(rows, header=None) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _extremes(entries) -> str:
    rows = [(e["review_id"], f"{e['positive_probability']:.4f}", e["text"]) for e in entries or []]
    return _table(rows, ("review id", "P(positive)", "text")) if rows else "<p>no scored reviews</p>"


def _moderation(summary: Mapping | None) -> str:
    """The moderation section: status, flagged and error counts, labels per record (text at the threshold, images)."""
    m = (summary or {}).get("moderation") or {}
    if not m or m.get("status") == "disabled":
        return "<p>moderation is off (cdk.json <code>moderation.toxicity</code>, <code>moderation.images</code>)</p>"
    head = (f"<p>Status: <strong>{html.escape(str(m.get('status')))}</strong>"
            + (f"; {html.escape(str(m.get('reason')))}" if m.get("reason") else "") + "</p>")
    counts = _table(sorted((m.get("counts") or {}).items()), ("count", "value"))
    labels = [("text", name, n) for name, n in (m.get("toxicity_labels") or {}).items()]
    labels += [("image", name, n) for name, n in (m.get("image_labels") or {}).items()]
    threshold = html.escape(str(m.get("toxicity_threshold")))
    table = _table(labels, ("check", "label", "records")) if labels else "<p>no label found</p>"
    return f"{head}{counts}<p>Labels (text labels scored at or above {threshold}):</p>{table}"


def write_scoring_report(run_dir: Path, run: Mapping, summary: Mapping | None, dq_report: Mapping | None) -> Path:
    """Write ``report.html`` (+ PNGs) of a scoring run into ``run_dir``; plots need the summary (absent on refusal)."""
    plots = {"labels": plot_labels(summary), "score_histogram": plot_histogram(summary)} if summary else {}
    for name, png in plots.items():
        (run_dir / f"{name}.png").write_bytes(png)
    images = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{name.replace('_', ' ')}</figcaption></figure>" for name, png in plots.items())
    checks = [(c.get("name"), c.get("threshold"), c.get("value"), "pass" if c.get("passed") else "FAIL")
              for c in (dq_report or {}).get("checks") or [] if isinstance(c, Mapping)]
    counts = sorted(((summary or {}).get("counts") or {}).items())
    title = html.escape(str(run.get("run_id")))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ds-on-aws scoring run {title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}}figure{{display:inline-block;margin:1em}}
</style></head><body>
<h1>ds-on-aws scoring run <code>{title}</code></h1>
<p>Outcome: <strong>{html.escape(str(run.get("outcome")))}</strong>; input {html.escape(str(run.get("input")))};
model {html.escape(str(run.get("model")))}; {html.escape(str(run.get("reviews_per_second")))} reviews/s end to end.</p>
<h2>Counts</h2>{_table(counts, ("count", "value")) if counts else "<p>nothing scored</p>"}
<h2>Plots</h2>{images or "<p>no summary: nothing was scored</p>"}
<h2>Most negative reviews</h2>{_extremes((summary or {}).get("most_negative"))}
<h2>Most positive reviews</h2>{_extremes((summary or {}).get("most_positive"))}
<h2>Moderation</h2>{_moderation(summary)}
<h2>Data-quality checks</h2>{_table(checks, ("check", "threshold", "value", "result")) if checks else "<p>no data-quality report</p>"}
<h2>Stage durations</h2>{_table([(k, f"{v:.1f} s") for k, v in (run.get("durations") or {}).items()], ("stage", "time"))}
<h2>Summary (raw)</h2><pre>{html.escape(json.dumps(summary or {}, indent=2, ensure_ascii=False)[:20000])}</pre>
</body></html>
"""
    path = run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
