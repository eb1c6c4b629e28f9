"""Figures and tables a pairing notebook shows, the HTML rendering of executed notebooks, and the index."""

from __future__ import annotations

import html
import textwrap
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .seedcards import SeedCard

plt.rcParams.update({"figure.dpi": 96, "savefig.dpi": 96, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False})

# What each metric is called in tables and figures; higher is better unless listed in LOWER_IS_BETTER.
METRIC_LABELS = {
    "stsb_spearman": "STSb test Spearman (cosine)",
    "stsb_pearson": "STSb test Pearson (cosine)",
    "unrelated_cosine": "mean cosine of unrelated STSb pairs",
    "nli_accuracy": "NLI accuracy (softmax head)",
    "mrr@10": "MRR@10", "ndcg@10": "nDCG@10", "recall@1": "Recall@1", "recall@10": "Recall@10",
    "reply_cosine": "mean cosine between distinct replies",
}
LOWER_IS_BETTER = {"unrelated_cosine", "reply_cosine"}


def params_table(params) -> pd.DataFrame:
    return pd.DataFrame({"value": {k: repr(v) if isinstance(v, str) or v is None else v
                                   for k, v in params.to_dict().items()}})


def comparison(before: Mapping[str, float], after: Mapping[str, float], digits: int = 3) -> pd.DataFrame:
    """Before / after / change for every metric both runs have, rounded for the reader (and for nbval)."""
    rows = {}
    for key in before:
        if key in after:
            b, a = float(before[key]), float(after[key])
            rows[METRIC_LABELS.get(key, key)] = {"base model": round(b, digits), "fine-tuned": round(a, digits),
                                                  "change": round(a - b, digits)}
    return pd.DataFrame(rows).T


def loss_curve(history: Sequence[Sequence[float]], card: SeedCard, *, batch_size: int, loss: str,
               title: str) -> plt.Figure:
    """Our training loss per logged step with the seed card's logged losses on the same axes."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    steps = np.array([h[0] for h in history], dtype=float)
    values = np.array([h[1] for h in history], dtype=float)
    ax.plot(steps, values, color="tab:blue", alpha=0.35 if len(values) > 20 else 1.0, marker=".",
            label="this run (logged steps)")
    if len(values) > 20:
        window = max(5, len(values) // 20)
        smooth = pd.Series(values).rolling(window, min_periods=1).mean()
        ax.plot(steps, smooth, color="tab:blue", label=f"this run, rolling mean of {window}")
    if card.loss_log:
        ax.plot(card.log_steps, card.log_losses, "s-", color="tab:orange", label=f"seed card {card.file[:3]} (logged)")
    else:
        ax.text(0.99, 0.97, f"seed card {card.file[:3]} logged no losses", transform=ax.transAxes,
                ha="right", va="top", color="tab:orange")
    if loss == "mnrl":
        chance = math.log(batch_size)
        ax.axhline(chance, ls="--", color="tab:red", label=f"ln {batch_size} = {chance:.3f}: no better than chance in-batch")
    ax.set_xscale("log")
    ax.set_xlabel(f"optimizer step (batch size {batch_size}; log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def before_after(before: Mapping[str, float], after: Mapping[str, float], keys: Sequence[str],
                 title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(1.7 * len(keys) + 2.5, 3.8))
    x = np.arange(len(keys))
    b = [before[k] for k in keys]
    a = [after[k] for k in keys]
    bars_b = ax.bar(x - 0.2, b, 0.4, label="base model", color="tab:gray")
    bars_a = ax.bar(x + 0.2, a, 0.4, label="fine-tuned", color="tab:blue")
    ax.bar_label(bars_b, fmt="%.3f", fontsize=8)
    ax.bar_label(bars_a, fmt="%.3f", fontsize=8)
    ax.set_xticks(x, [textwrap.fill(METRIC_LABELS.get(k, k), 20) for k in keys], fontsize=8)
    ax.set_ylim(min(0, min(a + b)) * 1.1, max(1.0, max(a + b)) * 1.12)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def similarity_panels(sentences: Sequence[str], matrices: Mapping[str, np.ndarray | None]) -> plt.Figure:
    """The card's usage example: the similarity matrix of each model side by side."""
    shown = {k: v for k, v in matrices.items()}
    fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.4))
    labels = [f"s{i + 1}" for i in range(len(sentences))]
    for ax, (name, m) in zip(np.atleast_1d(axes), shown.items()):
        if m is None:
            ax.text(0.5, 0.5, "not reported\nby the card", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([]), ax.set_yticks([])
        else:
            ax.imshow(m, vmin=-1, vmax=1, cmap="coolwarm")
            for i in range(m.shape[0]):
                for j in range(m.shape[1]):
                    ax.text(j, i, f"{m[i, j]:.3f}", ha="center", va="center", fontsize=9)
            ax.set_xticks(range(len(labels)), labels), ax.set_yticks(range(len(labels)), labels)
        ax.grid(False)
        ax.set_title(name, fontsize=10)
    fig.tight_layout()
    return fig


def similarity_table(sentences: Sequence[str], matrices: Mapping[str, np.ndarray | None]) -> pd.DataFrame:
    """The off-diagonal similarities of the example, one column per model."""
    rows = {}
    for i in range(len(sentences)):
        for j in range(i + 1, len(sentences)):
            rows[f"s{i + 1} · s{j + 1}"] = {name: (round(float(m[i, j]), 4) if m is not None else None)
                                            for name, m in matrices.items()}
    return pd.DataFrame(rows).T


# ---- HTML -------------------------------------------------------------------------------------

def render_html(notebook: Path, html_path: Path) -> Path:
    """nbconvert's lab template, code hidden: the report a reader opens."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_filename(str(notebook))
    html_path.write_text(body, encoding="utf-8")
    return html_path


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def index_html(profile: str, records: list[dict], pages: dict[str, str], failed: list[str]) -> str:
    """The profile's front page: one row per run with its headline numbers, linking each report."""
    esc = html.escape
    rows = []
    for r in records:
        m, task = r["metrics"], r["task_metric"]
        page = pages.get(r["run"])
        name = f'<a href="{esc(page)}">{esc(r["run"])}</a>' if page else esc(r["run"])
        rows.append(
            "<tr>" + "".join(f"<td>{c}</td>" for c in (
                name, esc(r["data"].get("train_source", "")), esc(r["params"]["loss"]),
                r["data"].get("train_pairs", ""), r["training"].get("steps", ""),
                f'{esc(METRIC_LABELS.get(task, task))}: {_fmt(m["before"].get(task))} → <b>{_fmt(m["after"].get(task))}</b>',
                f'{_fmt(m["before"].get("stsb_spearman"), 4)} → <b>{_fmt(m["after"].get("stsb_spearman"), 4)}</b>',
                f'{r["timings"].get("total_seconds", 0):.0f} s', esc(r["device"].get("gpu", r["device"]["device"])),
            )) + "</tr>")
    extra = ""
    if "summary" in pages:
        extra += f'<p><a href="{esc(pages["summary"])}"><b>Summary: the five pairings compared</b></a></p>'
    if failed:
        extra += "<p class=failed>Failed in the last run (the report above is the last good one): " + ", ".join(
            f'<a href="{esc(f)}.failed.html">{esc(f)}</a>' for f in failed) + "</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>minilm-pairings · {esc(profile)} profile</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.92rem; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.45rem 0.6rem; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; }} .failed {{ color: #a00; }} code {{ background: #f4f4f4; padding: 0 .2rem; }}
</style></head><body>
<h1>minilm-pairings: <code>{esc(profile)}</code> profile</h1>
<p>How the data and the loss shape a fine-tuned <code>all-MiniLM-L6-v2</code>. Each row is one run of a pairing
notebook, executed by papermill with <code>params/{esc(profile)}/&lt;pairing&gt;.yaml</code>; every number is read
from that run's record (<code>&lt;run&gt;.json</code> beside this page).</p>
{extra}
<table><thead><tr><th>run</th><th>training data</th><th>loss</th><th>train pairs</th><th>steps</th>
<th>task metric: base → fine-tuned</th><th>STSb Spearman: base → fine-tuned</th><th>wall time</th><th>device</th></tr></thead>
<tbody>
{chr(10).join(rows) or '<tr><td colspan=9>No runs recorded yet.</td></tr>'}
</tbody></table>
</body></html>
"""
