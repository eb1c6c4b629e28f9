"""Figures: a run's loss curve, before / after bars, the card's example, confusion matrices; and the
summary's curves and STSb-retention chart."""

from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pairings import losses
from pairings.data.seedcards import SeedCard, logs_loss
from pairings.report.record import Record
from pairings.report.stats import group
from pairings.report.tables import label

plt.rcParams.update({"figure.dpi": 96, "savefig.dpi": 96, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False})


def loss_curve(history: Sequence[Sequence[float]], card: SeedCard | None, *, batch_size: int, loss: str,
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
    if card is None:
        ax.plot([], [], " ", label="no seed card for this data set")
    elif card.loss_log and not logs_loss(card, loss):
        ax.plot([], [], " ", label=f"seed card {card.file[:3]} logged another loss: not comparable")
    elif card.loss_log:
        ax.plot(card.log_steps, card.log_losses, "s-", color="tab:orange", label=f"seed card {card.file[:3]} (logged)")
    else:
        ax.plot([], [], " ", label=f"seed card {card.file[:3]}: logged no losses")  # a legend line, placed clear of the curves
    chance = losses.get(loss).chance(batch_size)
    if chance is not None:
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
    ax.set_xticks(x, [textwrap.fill(label(k), 20) for k in keys], fontsize=8)
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


def confusion(matrices: Mapping[str, np.ndarray], classes: Sequence[str]) -> plt.Figure:
    """Confusion matrices side by side (rows: true class, columns: predicted)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.6 * len(matrices), 4.2))
    short = [textwrap.fill(c, 12) for c in classes]
    for ax, (name, m) in zip(np.atleast_1d(axes), matrices.items()):
        ax.imshow(m, cmap="Blues")
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if m[i, j] > m.max() / 2 else "black")
        ax.set_xticks(range(len(classes)), short, fontsize=8), ax.set_yticks(range(len(classes)), short, fontsize=8)
        ax.set_xlabel("predicted"), ax.set_ylabel("true subject"), ax.grid(False), ax.set_title(name, fontsize=10)
    fig.tight_layout()
    return fig


def all_loss_curves(records: list[Record], cards: Mapping[str, SeedCard]) -> plt.Figure:
    groups = group(records)
    n = len(groups)
    cols = min(3, n)
    fig, axes = plt.subplots(-(-n // cols), cols, figsize=(5.2 * cols, 3.4 * -(-n // cols)), squeeze=False)
    for ax, (name, runs) in zip(axes.flat, groups.items()):
        for r in runs:
            steps, values = zip(*r.loss_history)
            ax.plot(steps, values, alpha=0.7, lw=1, label=f"seed {r.seed}")
        card = cards.get(runs[0].pairing)
        if logs_loss(card, runs[0].loss):
            ax.plot(card.log_steps, card.log_losses, "s-", color="tab:orange", ms=3, label="seed card")
        chance = losses.get(runs[0].loss).chance(runs[0].batch_size)
        if chance is not None:
            ax.axhline(chance, ls="--", color="tab:red", lw=1,
                       label=f"ln {runs[0].batch_size}")
        ax.set_xscale("log"), ax.set_title(name, fontsize=10), ax.set_xlabel("step (log)"), ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def stsb_retention(records: list[Record]) -> plt.Figure:
    """Change in STSb Spearman per pairing: which data and loss kept or lost general similarity."""
    groups = group(records)
    names = list(groups)
    deltas = [[r.after["stsb_spearman"] - r.before["stsb_spearman"] for r in groups[n]] for n in names]
    means = [float(np.mean(d)) for d in deltas]
    sds = [float(np.std(d, ddof=1)) if len(d) > 1 else 0.0 for d in deltas]
    order = np.argsort(means)
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(names) + 1.4))
    colors = ["tab:red" if means[i] < 0 else "tab:green" for i in order]
    ax.barh([names[i] for i in order], [means[i] for i in order], xerr=[sds[i] for i in order], color=colors)
    for y, i in enumerate(order):
        end = means[i] + (sds[i] if means[i] >= 0 else -sds[i])  # past the error bar
        label = f" {means[i]:+.4f}" + (f" ± {sds[i]:.4f} " if sds[i] else " ")
        ax.text(end, y, label, va="center", ha="left" if means[i] >= 0 else "right", fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.margins(x=0.45)  # room for the labels
    bases = {round(r.before["stsb_spearman"], 4) for r in records}
    ax.set_xlabel("STSb test Spearman: fine-tuned − base" + (f" ({bases.pop():.4f})" if len(bases) == 1 else ""))
    ax.set_title("General similarity kept or lost")
    fig.tight_layout()
    return fig


def transfer_heatmap(matrix: pd.DataFrame) -> plt.Figure:
    """The transfer matrix: rows = the run (pairing and variant), columns = every seed data set's held-out task
    (head-free metric), colour = fine-tuned − base model (red: lost, blue: gained), each value written."""
    values = matrix.to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(values))) if values.size else 1.0
    fig, ax = plt.subplots(figsize=(1.5 * matrix.shape[1] + 3.5, 0.42 * matrix.shape[0] + 1.8))
    image = ax.imshow(values, cmap="RdBu", vmin=-(limit or 1.0), vmax=limit or 1.0, aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), [c.replace(": ", "\n") for c in matrix.columns], fontsize=8)
    ax.set_yticks(range(matrix.shape[0]), list(matrix.index), fontsize=8)
    ax.grid(False)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:+.3f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(values[i, j]) > 0.6 * limit else "black")
    fig.colorbar(image, ax=ax, label="fine-tuned − base model")
    ax.set_xlabel("held-out task (head-free metric)")
    ax.set_ylabel("fine-tuned on (run)")
    ax.set_title("What each fine-tuning does to every task: change against the base model")
    fig.tight_layout()
    return fig


def way_back(points: Sequence[Mapping[str, float]], task_label: str, title: str,
             tolerance: float = 0.01) -> plt.Figure:
    """The encoder interpolated toward the base model: the head-free task metric against STSb at each α (labelled),
    the base model (α = 0) and the fine-tuned one (α = 1) marked, and the band within ``tolerance`` of the base's
    STSb shaded."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    stsb = [p["stsb_spearman"] for p in points]
    task = [p["task"] for p in points]
    ax.axvspan(stsb[0] - tolerance, max(max(stsb), stsb[0]) + tolerance / 4, color="tab:green", alpha=0.08,
               label=f"STSb within {tolerance:g} of the base model's")
    ax.plot(stsb, task, "-o", color="tab:blue", ms=4, label="θ(α) = (1 − α)·base + α·fine-tuned")
    ax.plot(stsb[0], task[0], "s", color="black", ms=8, label="base model (α = 0)")
    ax.plot(stsb[-1], task[-1], "*", color="tab:red", ms=12, label="fine-tuned (α = 1)")
    for p in points:
        ax.annotate(f"{p['alpha']:g}", (p["stsb_spearman"], p["task"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=7)
    ax.set_xlabel("STSb test Spearman (general similarity)")
    ax.set_ylabel(f"{task_label} (held-out task, head-free)")
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def along_training(history: Sequence[Sequence[float]], points: Sequence[Mapping[str, float]], task_label: str,
                   title: str) -> plt.Figure:
    """Beside the loss curve, the evaluations along training: the head-free task metric, STSb and SICK-R at each
    evaluated step (step 0: the base model; the last: the fine-tuned one)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    top.plot([h[0] for h in history], [h[1] for h in history], color="tab:gray", marker=".", ms=3)
    top.set_ylabel("training loss")
    top.set_title("\n".join(textwrap.wrap(title, 80)), fontsize=10)
    steps = [p["step"] for p in points]
    for key, name, style in (("task", f"{task_label} (head-free)", "o-"), ("stsb_spearman", "STSb Spearman", "s-"),
                             ("sick_spearman", "SICK-R Spearman", "^-")):
        if all(key in p for p in points):
            bottom.plot(steps, [p[key] for p in points], style, ms=4, label=name)
    bottom.axhspan(points[0]["stsb_spearman"] - 0.01, points[0]["stsb_spearman"], color="tab:green", alpha=0.08,
                   label="STSb within 0.01 of the base model's")
    bottom.set_xlabel("training step (0: the base model)")
    bottom.set_ylabel("held-out score")
    bottom.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
