"""Across runs, the ways back to general similarity: how much of each run's task gain survives where STSb must
stay within 0.01 of the base model's, moving the encoder part of the way back (the way back's α) or stopping
earlier (the evaluations along training); the fronts of one data set's losses as a figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from pairings import losses
from pairings.report.record import Record
from pairings.report.tables import label


def _kept(point: dict | None) -> str:
    if not point:
        return "—"
    if point["gain"] <= 0:
        return f"no gain ({point['gain']:+.3f})"
    return f"{point['kept_share']:.0%} ({point['kept']:+.3f} of {point['gain']:+.3f})"


def table(records: list[Record]) -> pd.DataFrame:
    """One row per run with a way back or evaluations along training (seed 42 where there are several): its
    head-free task metric, the furthest α and the latest step within 0.01 STSb of the base, and the share of the
    task gain kept at each ("—": not measured)."""
    rows = {}
    for r in sorted(records, key=lambda r: r.run):
        back, along = r.way_back or {}, r.along_training or {}
        if not (back or along) or r.params.get("seed", 42) != 42:
            continue
        a, s = back.get("operating_point"), along.get("operating_point")
        rows[r.run] = {"loss": losses.label(r.loss), "head-free task metric": label((back or along)["task_metric"]),
                       "α within 0.01 STSb": "—" if not a else f"{a['alpha']:g}",
                       "task gain kept at that α": _kept(a),
                       "last step within 0.01 STSb": "—" if not s else f"{s['step']:,} of {along['points'][-1]['step']:,}",
                       "task gain kept by stopping there": _kept(s)}
    out = pd.DataFrame(rows).T
    if len(out):
        out.index.name = "run"
    return out


def fronts(records: list[Record], data_set: str) -> plt.Figure | None:
    """One data set's runs (seed 42) with a way back: each loss's interpolation front, task metric against STSb."""
    runs = [r for r in records if r.data_set == data_set and r.way_back and r.params.get("seed", 42) == 42]
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    for r in sorted(runs, key=lambda r: r.run):
        pts = r.way_back["points"]
        ax.plot([p["stsb_spearman"] for p in pts], [p["task"] for p in pts], "-o", ms=3, label=r.run)
        ax.plot(pts[-1]["stsb_spearman"], pts[-1]["task"], "*", ms=10, color=ax.lines[-1].get_color())
    base = runs[0].way_back["points"][0]
    ax.plot(base["stsb_spearman"], base["task"], "s", color="black", ms=8, label="base model (α = 0)")
    ax.axvline(base["stsb_spearman"] - 0.01, color="tab:green", ls=":", label="0.01 below the base's STSb")
    ax.set_xlabel("STSb test Spearman")
    ax.set_ylabel(f"{label(runs[0].way_back['task_metric'])} (head-free)")
    ax.set_title(f"{data_set}: the way back under each loss (★ fine-tuned, α = 1)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
