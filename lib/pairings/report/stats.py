"""The study's statistics across runs, from the records: the summary table (mean ± sd over seeds, with
changes within the seed-to-seed spread marked n.s.), ablations against their recipe, the comparison
with the seed cards, and conclusions whose every number comes from the records."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from pairings import losses
from pairings.data.seedcards import SeedCard, logs_loss
from pairings.report.record import Record
from pairings.report.tables import label, loss_tail


def group(records: list[Record]) -> dict[str, list[Record]]:
    """Runs of the same pairing and variant, over seeds."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(r.name, []).append(r)
    return groups


def mean_sd(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def _timing(seconds: list[float], runs: int) -> str:
    """Mean ± sd of the timings of the runs that trained from step 0; says how many of the runs those are."""
    if not seconds:
        return "(resumed runs only)"
    return mean_sd(seconds, 0) + (f" ({len(seconds)} of {runs} runs; resumed runs left out)" if len(seconds) < runs else "")


def within_spread(values: list[float], spread: float | None = None) -> bool | None:
    """Is a mean difference no larger than the seed-to-seed spread (the standard deviation over seeds, or
    the ``spread`` given)? None with one seed: the spread is unknown."""
    if spread is None:
        if len(values) < 2:
            return None
        spread = float(np.std(values, ddof=1))
    return abs(float(np.mean(values))) <= spread


def change_text(values: list[float], digits: int = 3) -> str:
    """mean ± sd of a change, marked "n.s." where it is within the seed-to-seed spread."""
    return mean_sd(values, digits) + (" (n.s.)" if within_spread(values) else "")


def summary_table(records: list[Record]) -> pd.DataFrame:
    """One row per pairing (and ablation): data, loss, size, task metric and STSb before → after, time.
    With several seeds: mean ± standard deviation, and a change no larger than that standard deviation is
    marked "(n.s.)": not significant."""
    rows = {}
    for name, runs in group(records).items():
        r0, task = runs[0], runs[0].task_metric
        whole = [r for r in runs if not r.resumed_from_step]  # a resumed run timed only its rest
        get = lambda phase, key: [r.metrics[phase][key] for r in runs]
        rows[name] = {
            "data (stand-in)": r0.data["train_source"] + (f" ({r0.data['stand_in']})" if r0.data.get("stand_in") else ""),
            "loss": r0.loss, "train pairs": r0.data["train_pairs"], "steps": r0.training["steps"],
            "seeds": len(runs), "path": "/".join(dict.fromkeys(r.training.get("path", "trainer") for r in runs)),
            "task metric": label(task),
            "task before": mean_sd(get("before", task)), "task after": mean_sd(get("after", task)),
            "task change": change_text([a - b for a, b in zip(get("after", task), get("before", task))]),
            "STSb before": mean_sd(get("before", "stsb_spearman"), 4), "STSb after": mean_sd(get("after", "stsb_spearman"), 4),
            "STSb change": change_text([a - b for a, b in zip(get("after", "stsb_spearman"), get("before", "stsb_spearman"))], 4),
            "train time (s)": _timing([r.training["train_seconds"] for r in whole], len(runs)),
            "wall time (s)": _timing([r.timings["total_seconds"] for r in whole], len(runs)),
        }
    return pd.DataFrame(rows).T


def ablations(records: list[Record]) -> pd.DataFrame:
    """Each ablation against its pairing's seed recipe, after fine-tuning: the difference of the means and
    whether it exceeds the seed-to-seed spread (the larger standard deviation of the two groups). A variant
    that changes the loss is a cell of the data × loss grid (``grid_table``), not an ablation."""
    groups, rows = group(records), []
    for name, runs in groups.items():
        base = groups.get(runs[0].pairing)
        if name == runs[0].pairing or not base or runs[0].loss != base[0].loss:
            continue
        after = lambda g, k: float(np.mean([r.after[k] for r in g]))
        shown = [runs[0].task_metric, "stsb_spearman"]
        others = [k for k in runs[0].after if k not in shown  # metrics every run of both has
                  and all(k in r.after for r in runs + base)]
        if others:  # what the ablation moved most besides those two, e.g. dot-product retrieval for `normalize`
            shown.append(max(others, key=lambda k: abs(after(runs, k) - after(base, k))))
        for key in (k for k in dict.fromkeys(shown) if all(k in r.after for r in runs + base)):
            ours, theirs = ([r.after[key] for r in g] for g in (runs, base))
            sds = [float(np.std(g, ddof=1)) for g in (ours, theirs) if len(g) > 1]
            spread = max(sds) if sds else None
            diff = float(np.mean(ours) - np.mean(theirs))
            verdict = {None: "spread unknown (one seed)", True: "not significant (within the seed spread)",
                       False: "larger than the seed spread"}[within_spread([diff], spread) if sds else None]
            rows.append({"ablation": name, "metric": label(key), "seed recipe": mean_sd(theirs, 4),
                         "ablation ": mean_sd(ours, 4), "difference": f"{diff:+.4f}",
                         "seed spread (sd)": "—" if spread is None else f"{spread:.4f}", "verdict": verdict})
    return pd.DataFrame(rows).set_index(["ablation", "metric"]) if rows else pd.DataFrame()


def seed_reference(records: list[Record], cards: Mapping[str, SeedCard]) -> pd.DataFrame:
    """Where comparable: our loss at the card's logged steps vs the card's, and the example similarities."""
    rows = {}
    for name, runs in group(records).items():
        r0, card = runs[0], cards.get(runs[0].pairing)
        if card is None:
            rows[(name, "no seed card: a pairing of the user's own data")] = {}
            continue
        history = np.array(r0.loss_history)
        for step, loss in zip(card.log_steps, card.log_losses) if logs_loss(card, r0.loss) else ():
            if history[-1, 0] >= step:
                # the card logs the mean loss of the 500 steps before `step`: average ours the same way
                window = history[(history[:, 0] > step - 500) & (history[:, 0] <= step)]
                rows[(name, f"loss at step {step}")] = {"seed card": loss, "ours": round(float(window[:, 1].mean()), 4)}
        sims = r0.extra.get("example_similarity", {})
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


def conclusions(records: list[Record]) -> list[str]:
    """Sentences whose every number comes from the records."""
    groups = group(records)
    task_gain = {n: float(np.mean([r.after[r.task_metric] - r.before[r.task_metric] for r in runs]))
                 for n, runs in groups.items()}
    stsb_change = {n: float(np.mean([r.after["stsb_spearman"] - r.before["stsb_spearman"] for r in runs]))
                   for n, runs in groups.items()}
    stsb_before = {n: float(np.mean([r.before["stsb_spearman"] for r in runs])) for n, runs in groups.items()}
    collapse = {n: (float(np.mean([r.before["unrelated_cosine"] for r in runs])),
                    float(np.mean([r.after["unrelated_cosine"] for r in runs]))) for n, runs in groups.items()}
    best = max(task_gain, key=task_gain.get)
    worst = min(stsb_change, key=stsb_change.get)
    metric = lambda n: label(groups[n][0].task_metric)
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
        if losses.get(r.loss).in_batch_negatives:  # the mean of the last tenth of the logged losses
            chance = losses.get(r.loss).chance(r.batch_size)
            end = float(np.mean([loss_tail(x.loss_history) for x in runs]))
            if abs(end - chance) < 0.1:
                seeds = f" (mean over {len(runs)} seeds)" if len(runs) > 1 else ""
                out.append(f"{n}: the loss ends at {end:.3f}{seeds}, within 0.1 of ln {r.batch_size} = "
                           f"{chance:.3f}: the in-batch ranking is at chance.")
    return out


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (for the README's results, printed by `python -m pairings table`)."""
    name = lambda key: ": ".join(map(str, key)) if isinstance(key, tuple) else str(key)  # a MultiIndex level pair
    cols = [table.index.name or ""] + [name(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in table.iterrows():
        lines.append("| " + " | ".join([f"`{name(idx)}`"] + [str(v) for v in row.values]) + " |")
    return "\n".join(lines)
