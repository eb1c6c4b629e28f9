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
    "pair_spearman": "held-out pairs: Spearman of cosine vs label",
    "zero_shot_accuracy": "zero-shot subject accuracy", "zero_shot_macro_f1": "zero-shot subject macro-F1",
}
LOWER_IS_BETTER = {"unrelated_cosine", "reply_cosine"}


def label(key: str) -> str:
    """A metric's name for readers; a prefixed key ("clean mrr@10") names its subset first."""
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    prefix, _, rest = key.rpartition(" ")
    return f"{prefix}: {METRIC_LABELS.get(rest, rest)}" if prefix else key


def params_table(params) -> pd.DataFrame:
    return pd.DataFrame({"value": {k: repr(v) if isinstance(v, str) or v is None else v
                                   for k, v in params.to_dict().items()}})


def comparison(before: Mapping[str, float], after: Mapping[str, float], digits: int = 3) -> pd.DataFrame:
    """Before / after / change for every metric both runs have, rounded for the reader (and for nbval)."""
    rows = {}
    for key in before:
        if key in after:
            b, a = float(before[key]), float(after[key])
            rows[label(key)] = {"base model": round(b, digits), "fine-tuned": round(a, digits),
                                                  "change": round(a - b, digits)}
    return pd.DataFrame(rows).T


def training_line(training: dict) -> str:
    """The notebooks' training line; a resumed run says which steps this call trained and timed."""
    steps, first = training["steps"], training.get("resumed_from_step")
    timed = f"{training['train_seconds']:.0f} s ({training['seconds_per_step']:.2f} s/step)"
    if first:
        return f"{steps} steps; resumed from the checkpoint at step {first}: steps {first + 1}–{steps} in {timed}"
    return f"{steps} steps in {timed}"


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
        ax.plot([], [], " ", label=f"seed card {card.file[:3]}: logged no losses")  # a legend line, placed clear of the curves
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


def similarity_table(sentences: Sequence[str], matrices: Mapping[str, np.ndarray | None]) -> pd.DataFrame:
    """The off-diagonal similarities of the example, one column per model."""
    rows = {}
    for i in range(len(sentences)):
        for j in range(i + 1, len(sentences)):
            rows[f"s{i + 1} · s{j + 1}"] = {name: (round(float(m[i, j]), 4) if m is not None else None)
                                            for name, m in matrices.items()}
    return pd.DataFrame(rows).T


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


def save_figures(notebook: Path, folder: Path, prefix: str) -> list[Path]:
    """The PNG figures an executed notebook shows, saved once as files (for the README)."""
    import base64

    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                paths.append(folder / f"{prefix}-{len(paths) + 1}.png")
                paths[-1].write_bytes(base64.b64decode(output["data"]["image/png"]))
    return paths


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
                name, esc(r["data"].get("train_source", "")) + (f'<br><small>stand-in: {esc(r["data"]["stand_in"])}</small>'
                                                                  if r["data"].get("stand_in") else ""), esc(r["params"]["loss"]),
                r["data"].get("train_pairs", ""), r["training"].get("steps", ""),
                f'{esc(label(task))}: {_fmt(m["before"].get(task))} → <b>{_fmt(m["after"].get(task))}</b>',
                f'{_fmt(m["before"].get("stsb_spearman"), 4)} → <b>{_fmt(m["after"].get("stsb_spearman"), 4)}</b>',
                f'{r["timings"].get("total_seconds", 0):.0f} s' + (f'<br><small>resumed at step {r["training"]["resumed_from_step"]}</small>'
                                                                   if r["training"].get("resumed_from_step") else ""), esc(r["device"].get("gpu", r["device"]["device"])),
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


# ---- the summary across pairings (read from the run records) ----------------------------------

def _group(records: list[dict]) -> dict[str, list[dict]]:
    """Runs of the same pairing and variant, over seeds."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        name = r["pairing"] + (f".{r['params'].get('variant')}" if r["params"].get("variant") else "")
        groups.setdefault(name, []).append(r)
    return groups


def _mean_sd(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def _timing(seconds: list[float], runs: int) -> str:
    """Mean ± sd of the timings of the runs that trained from step 0; says how many of the runs those are."""
    if not seconds:
        return "(resumed runs only)"
    return _mean_sd(seconds, 0) + (f" ({len(seconds)} of {runs} runs; resumed runs left out)" if len(seconds) < runs else "")


def within_spread(values: list[float], spread: float | None = None) -> bool | None:
    """Is a mean difference no larger than the seed-to-seed spread (the standard deviation over seeds, or
    the ``spread`` given)? None with one seed: the spread is unknown."""
    if spread is None:
        if len(values) < 2:
            return None
        spread = float(np.std(values, ddof=1))
    return abs(float(np.mean(values))) <= spread


def _change(values: list[float], digits: int = 3) -> str:
    """mean ± sd of a change, marked "n.s." where it is within the seed-to-seed spread."""
    return _mean_sd(values, digits) + (" (n.s.)" if within_spread(values) else "")


def summary_table(records: list[dict]) -> pd.DataFrame:
    """One row per pairing (and ablation): data, loss, size, task metric and STSb before → after, time.
    With several seeds: mean ± standard deviation, and a change no larger than that standard deviation is
    marked "(n.s.)": not significant."""
    rows = {}
    for name, runs in _group(records).items():
        r0, task = runs[0], runs[0]["task_metric"]
        whole = [r for r in runs if not r["training"].get("resumed_from_step")]  # a resumed run timed only its rest
        get = lambda phase, key: [r["metrics"][phase][key] for r in runs]
        rows[name] = {
            "data (stand-in)": r0["data"]["train_source"] + (f" ({r0['data']['stand_in']})" if r0["data"].get("stand_in") else ""),
            "loss": r0["params"]["loss"], "train pairs": r0["data"]["train_pairs"], "steps": r0["training"]["steps"],
            "seeds": len(runs), "path": "/".join(dict.fromkeys(r["training"].get("path", "trainer") for r in runs)),
            "task metric": label(task),
            "task before": _mean_sd(get("before", task)), "task after": _mean_sd(get("after", task)),
            "task change": _change([a - b for a, b in zip(get("after", task), get("before", task))]),
            "STSb before": _mean_sd(get("before", "stsb_spearman"), 4), "STSb after": _mean_sd(get("after", "stsb_spearman"), 4),
            "STSb change": _change([a - b for a, b in zip(get("after", "stsb_spearman"), get("before", "stsb_spearman"))], 4),
            "train time (s)": _timing([r["training"]["train_seconds"] for r in whole], len(runs)),
            "wall time (s)": _timing([r["timings"]["total_seconds"] for r in whole], len(runs)),
        }
    return pd.DataFrame(rows).T


def ablations(records: list[dict]) -> pd.DataFrame:
    """Each ablation against its pairing's seed recipe, after fine-tuning: the difference of the means and
    whether it exceeds the seed-to-seed spread (the larger standard deviation of the two groups)."""
    groups, rows = _group(records), []
    for name, runs in groups.items():
        base = groups.get(runs[0]["pairing"])
        if name == runs[0]["pairing"] or not base:
            continue
        after = lambda g, k: float(np.mean([r["metrics"]["after"][k] for r in g]))
        shown = [runs[0]["task_metric"], "stsb_spearman"]
        others = [k for k in runs[0]["metrics"]["after"] if k not in shown and k in base[0]["metrics"]["after"]]
        if others:  # what the ablation moved most besides those two, e.g. dot-product retrieval for `normalize`
            shown.append(max(others, key=lambda k: abs(after(runs, k) - after(base, k))))
        for key in dict.fromkeys(shown):
            ours, theirs = ([r["metrics"]["after"][key] for r in g] for g in (runs, base))
            sds = [float(np.std(g, ddof=1)) for g in (ours, theirs) if len(g) > 1]
            spread = max(sds) if sds else None
            diff = float(np.mean(ours) - np.mean(theirs))
            verdict = {None: "spread unknown (one seed)", True: "not significant (within the seed spread)",
                       False: "larger than the seed spread"}[within_spread([diff], spread) if sds else None]
            rows.append({"ablation": name, "metric": label(key), "seed recipe": _mean_sd(theirs, 4),
                         "ablation ": _mean_sd(ours, 4), "difference": f"{diff:+.4f}",
                         "seed spread (sd)": "—" if spread is None else f"{spread:.4f}", "verdict": verdict})
    return pd.DataFrame(rows).set_index(["ablation", "metric"]) if rows else pd.DataFrame()


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (for the README's results, printed by `python -m pairings table`)."""
    cols = [table.index.name or ""] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in table.iterrows():
        lines.append("| " + " | ".join([f"`{idx}`"] + [str(v) for v in row.values]) + " |")
    return "\n".join(lines)


def all_loss_curves(records: list[dict], cards: Mapping[str, SeedCard]) -> plt.Figure:
    groups = _group(records)
    n = len(groups)
    cols = min(3, n)
    fig, axes = plt.subplots(-(-n // cols), cols, figsize=(5.2 * cols, 3.4 * -(-n // cols)), squeeze=False)
    for ax, (name, runs) in zip(axes.flat, groups.items()):
        for r in runs:
            steps, losses = zip(*r["training"]["loss_history"])
            ax.plot(steps, losses, alpha=0.7, lw=1, label=f"seed {r['params']['seed']}")
        card = cards[runs[0]["pairing"]]
        if card.loss_log:
            ax.plot(card.log_steps, card.log_losses, "s-", color="tab:orange", ms=3, label="seed card")
        if runs[0]["params"]["loss"] == "mnrl":
            ax.axhline(math.log(runs[0]["params"]["batch_size"]), ls="--", color="tab:red", lw=1,
                       label=f"ln {runs[0]['params']['batch_size']}")
        ax.set_xscale("log"), ax.set_title(name, fontsize=10), ax.set_xlabel("step (log)"), ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def stsb_retention(records: list[dict]) -> plt.Figure:
    """Change in STSb Spearman per pairing: which data and loss kept or lost general similarity."""
    groups = _group(records)
    names = list(groups)
    deltas = [[r["metrics"]["after"]["stsb_spearman"] - r["metrics"]["before"]["stsb_spearman"] for r in groups[n]] for n in names]
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
    bases = {round(r["metrics"]["before"]["stsb_spearman"], 4) for r in records}
    ax.set_xlabel("STSb test Spearman: fine-tuned − base" + (f" ({bases.pop():.4f})" if len(bases) == 1 else ""))
    ax.set_title("General similarity kept or lost")
    fig.tight_layout()
    return fig


def seed_reference(records: list[dict], cards: Mapping[str, SeedCard]) -> pd.DataFrame:
    """Where comparable: our loss at the card's logged steps vs the card's, and the example similarities."""
    rows = {}
    for name, runs in _group(records).items():
        r0, card = runs[0], cards[runs[0]["pairing"]]
        history = np.array(r0["training"]["loss_history"])
        for step, loss in zip(card.log_steps, card.log_losses):
            if history[-1, 0] >= step:
                # the card logs the mean loss of the 500 steps before `step`: average ours the same way
                window = history[(history[:, 0] > step - 500) & (history[:, 0] <= step)]
                rows[(name, f"loss at step {step}")] = {"seed card": loss, "ours": round(float(window[:, 1].mean()), 4)}
        sims = r0["extra"].get("example_similarity", {})
        if sims.get("card") is not None:
            ours, theirs = np.array(sims["fine_tuned"]), np.array(sims["card"])
            for i, j in ((0, 1), (0, 2), (1, 2)):
                rows[(name, f"example s{i + 1}·s{j + 1}")] = {"seed card": theirs[i, j], "ours": round(float(ours[i, j]), 4),
                                                              "base model": round(float(np.array(sims["base"])[i, j]), 4)}
        if not any(k[0] == name for k in rows):
            rows[(name, "nothing comparable: no logged step reached, no example values printed")] = {}
    table = pd.DataFrame(rows).T
    table.index.names = ["run", "figure"]
    return table


def conclusions(records: list[dict]) -> list[str]:
    """Sentences whose every number comes from the records."""
    groups = _group(records)
    task_gain = {n: float(np.mean([r["metrics"]["after"][r["task_metric"]] - r["metrics"]["before"][r["task_metric"]] for r in runs]))
                 for n, runs in groups.items()}
    stsb_change = {n: float(np.mean([r["metrics"]["after"]["stsb_spearman"] - r["metrics"]["before"]["stsb_spearman"] for r in runs]))
                   for n, runs in groups.items()}
    stsb_before = {n: float(np.mean([r["metrics"]["before"]["stsb_spearman"] for r in runs])) for n, runs in groups.items()}
    collapse = {n: (float(np.mean([r["metrics"]["before"]["unrelated_cosine"] for r in runs])),
                    float(np.mean([r["metrics"]["after"]["unrelated_cosine"] for r in runs]))) for n, runs in groups.items()}
    best = max(task_gain, key=task_gain.get)
    worst = min(stsb_change, key=stsb_change.get)
    metric = lambda n: label(groups[n][0]["task_metric"])
    out = [
        f"Largest gain on its own task: {best}, {metric(best)} {task_gain[best]:+.3f} (absolute, base → fine-tuned).",
        f"Most general similarity lost: {worst}, STSb Spearman {stsb_change[worst]:+.4f} (from {stsb_before[worst]:.4f}).",
    ]
    kept = [f"{n} ({d:+.4f})" for n, d in stsb_change.items() if d >= -0.005]
    if kept:
        out.append(f"STSb no more than 0.005 below the base model: {', '.join(kept)}.")
    rose = {n: c for n, c in collapse.items() if c[1] - c[0] > 0.1}
    for n, (b, a) in rose.items():
        out.append(f"Signs of collapse in {n}: the mean cosine of unrelated STSb pairs rose from {b:.3f} to {a:.3f}.")
    for n, runs in groups.items():
        r = runs[0]
        if r["params"]["loss"] == "mnrl":  # the mean of the last tenth of the logged losses, over the seeds
            end = float(np.mean([np.mean([l for _, l in h[-max(1, len(h) // 10):]])
                                 for h in (x["training"]["loss_history"] for x in runs)]))
            chance = math.log(r["params"]["batch_size"])
            if abs(end - chance) < 0.1:
                seeds = f" (mean over {len(runs)} seeds)" if len(runs) > 1 else ""
                out.append(f"{n}: the loss ends at {end:.3f}{seeds}, within 0.1 of ln {r['params']['batch_size']} = "
                           f"{chance:.3f}: the in-batch ranking is at chance.")
    return out
