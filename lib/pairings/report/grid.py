"""The data × loss grid, from the records: which cell a run is (``grid_column``), the grid of changes, its two-way
decomposition into data and loss effects, the transfer matrix, and SoftmaxLoss three ways (the card's random head,
the head fitted first, the probe alone). Every number comes from the records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pairings import losses
from pairings.report.record import Record
from pairings.report.stats import change_text, group, markdown
from pairings.report.tables import label
from pairings.train.head import share_text

GRID_LOSSES = losses.NAMES
FITTED_SUFFIX = "-lp"  # a loss with a head, its head fitted on the frozen encoder first (LP-FT): a column of its own
GRID_COLUMNS = tuple(c for name in losses.NAMES for c in (name, *([name + FITTED_SUFFIX] if losses.has_head(name) else [])))
FITTED_LOSSES = tuple(name + FITTED_SUFFIX if losses.has_head(name) else name for name in losses.NAMES)
FITTED = next(c for c in FITTED_LOSSES if c.endswith(FITTED_SUFFIX))  # "softmax-lp"
GRID_METRICS = {"task": "task metric", "stsb_spearman": "STSb", "sick_spearman": "SICK-R"}


def grid_column(params: dict) -> str | None:
    """The grid column a run belongs to: its loss, for a seed pairing or a variant named after its loss (the same
    recipe, only the loss changed); ``softmax-lp`` for SoftmaxLoss with the head fitted first (variant ``lp`` of a
    seed pairing, or ``softmax-lp``); None for an ablation (another variant) and for the probe alone (epochs 0)."""
    loss, variant = params["loss"], params.get("variant", "")
    if loss not in GRID_LOSSES or params.get("epochs", 1) == 0:
        return None
    if params.get("head_warmup_epochs"):
        return loss + FITTED_SUFFIX if variant in ("lp", loss + FITTED_SUFFIX) else None
    return loss if variant in ("", loss) else None


def rate_tag(learning_rate: float) -> str:
    """The variant suffix of a grid cell at another learning rate: 2e-5 → "lr2e-5"."""
    return "lr" + f"{learning_rate:g}".replace("e-0", "e-")


def at_rate(records: list[Record], learning_rate: float) -> list[Record]:
    """The grid trained at another learning rate, as a grid of its own: the records whose variant is ``lr<rate>``
    (a seed pairing's recipe) or ``<column>-lr<rate>`` (a cell) at that rate, each seen as its cell at the cards'
    rate would be (the suffix dropped from its variant), so every grid function applies to it unchanged. The cards'
    grid never holds them (their variants name no loss alone)."""
    tag, out = rate_tag(learning_rate), []
    for r in records:
        variant = r.params.get("variant", "")
        if r.params.get("learning_rate") != learning_rate or not (variant == tag or variant.endswith("-" + tag)):
            continue
        seen = Record.from_dict(r.to_dict())
        seen.params["variant"] = variant.removesuffix(tag).removesuffix("-")
        out.append(seen)
    return out


def grid_cells(records: list[Record], columns: tuple[str, ...] = GRID_COLUMNS) -> dict[tuple[str, str], list[Record]]:
    """The records that are cells of the data × loss grid, by (data set, column), over seeds (see
    ``grid_column``), for the columns asked. Ablations and probes alone are not cells."""
    cells: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        column = grid_column(r.params)
        if column in columns:
            cells.setdefault((r.data_set, column), []).append(r)
    return cells


def changes(runs: list[Record], metric: str) -> list[float]:
    """after − before of ``metric`` ("task": each run's own task metric) over the runs that have it."""
    return [r.change(metric) for r in runs if r.has(r.task_metric if metric == "task" else metric)]


def grid_table(records: list[Record]) -> pd.DataFrame:
    """Rows: data set; columns: (loss, quantity). Each cell: the change of the task metric (named), of STSb
    and of SICK-R, mean ± sd over seeds, "(n.s.)" where within the seed spread; "—" where no run."""
    cells = grid_cells(records)
    data_sets = list(dict.fromkeys(d for d, _ in cells))
    columns = [c for c in GRID_COLUMNS if c in GRID_LOSSES or any(k[1] == c for k in cells)]
    rows = {}
    for d in data_sets:
        row = {}
        for loss in columns:
            runs = cells.get((d, loss), [])
            row[(loss, "task metric")] = runs[0].task_metric if runs else "—"
            for metric, name in GRID_METRICS.items():
                values = changes(runs, metric)
                row[(loss, f"{name} change")] = change_text(values, 3 if metric == "task" else 4) if values else "—"
            row[(loss, "seeds")] = len(runs)
        rows[d] = row
    table = pd.DataFrame(rows).T
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def grid_markdown(records: list[Record]) -> str:
    """The grid for the README (`python -m pairings table --grid`): per data set its task metric, and per loss
    the change of the task metric, STSb and SICK-R ("—": no run, or a record from before SICK-R); then the
    decomposition of each change into data and loss effects."""
    grid = grid_table(records)
    columns = list(dict.fromkeys(c for c, _ in grid.columns))
    metric = {}  # a data set's task metric; where a loss leaves the head-free one (SNLI), each named with its loss
    for d in grid.index:
        named = {loss: m for loss in columns if (m := grid.loc[d, (loss, "task metric")]) != "—"}
        metric[d] = (next(iter(named.values())) if len(set(named.values())) == 1
                     else "; ".join(f"{loss}: {m}" for loss, m in named.items()))
    flat = grid.drop(columns=[c for c in grid.columns if c[1] in ("task metric", "seeds")])
    flat.columns = [(loss, "task" if q == "task metric change" else q.removesuffix(" change")) for loss, q in flat.columns]
    flat.insert(0, "task metric", [metric[d] for d in flat.index])
    flat.index.name = "data set"
    seeds = {(d, loss): n for d in grid.index for loss in columns if (n := grid.loc[d, (loss, "seeds")])}
    note = "Seeds per cell: " + ", ".join(f"{d} × {loss} {n}" for (d, loss), n in seeds.items()) + "."
    out = f"{markdown(flat)}\n\n{note}\n\n{markdown(decomposition_table(records))}"
    if FITTED in columns:
        fitted = decomposition_table(records, FITTED_LOSSES)
        out += (f"\n\nWith the head fitted first ({FITTED} in place of softmax):\n\n{markdown(fitted)}" if len(fitted)
                else f"\n\nWith the head fitted first ({FITTED} in place of softmax): too few cells to decompose yet.")
    return out


@dataclass
class Decomposition:
    """change(d, l) = grand + data[d] + loss[l] + residual(d, l), effects summing to zero (least squares)."""

    metric: str
    grand: float
    data: dict[str, float]
    loss: dict[str, float]
    residual: dict[tuple[str, str], float]
    share: dict[str, float]  # of the sum of squares around the grand mean: data, loss, residual


def decompose(records: list[Record], metric: str, columns: tuple[str, ...] = GRID_LOSSES) -> Decomposition | None:
    """The two-way main effects of the data set and the loss on the mean change of ``metric`` per grid cell
    (sum-to-zero effects, fitted by least squares, so a grid with missing cells works too); what they
    leave is the residual (the interaction). None where the cells cannot tell the effects apart: fewer than two
    data sets or two losses, effects the cells do not determine (e.g. a data set seen under one loss only,
    sharing it with no other), or no cell left over to measure the residual."""
    means = {cell: float(np.mean(v)) for cell, runs in grid_cells(records, columns).items() if (v := changes(runs, metric))}
    data_sets = sorted({d for d, _ in means})
    levels = [loss for loss in columns if any(c[1] == loss for c in means)]
    if len(data_sets) < 2 or len(levels) < 2:
        return None
    cells = list(means)
    y = np.array([means[c] for c in cells])

    def effects(levels: list[str], i: int) -> np.ndarray:
        # sum-to-zero coding: level k < last → indicator; the last level → −1 in every column
        cols = np.zeros((len(cells), len(levels) - 1))
        for row, cell in enumerate(cells):
            k = levels.index(cell[i])
            if k < len(levels) - 1:
                cols[row, k] = 1.0
            else:
                cols[row, :] = -1.0
        return cols

    xd, xl = effects(data_sets, 0), effects(levels, 1)
    x = np.hstack([np.ones((len(cells), 1)), xd, xl])
    if np.linalg.matrix_rank(x) < x.shape[1] or len(cells) <= x.shape[1]:
        return None
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    grand, cd, cl = coef[0], coef[1:len(data_sets)], coef[len(data_sets):]
    data = dict(zip(data_sets, [*cd, -cd.sum()]))
    loss = dict(zip(levels, [*cl, -cl.sum()]))
    fitted = x @ coef
    residual = dict(zip(cells, y - fitted))
    total = float(((y - y.mean()) ** 2).sum())
    ss_data = float(((grand + xd @ cd - y.mean()) ** 2).sum())
    ss_loss = float(((grand + xl @ cl - y.mean()) ** 2).sum())
    ss_res = float(((y - fitted) ** 2).sum())
    parts = ss_data + ss_loss + ss_res
    share = {k: (v / parts if parts else 0.0) for k, v in (("data", ss_data), ("loss", ss_loss), ("residual", ss_res))}
    return Decomposition(metric, float(grand), {k: float(v) for k, v in data.items()},
                         {k: float(v) for k, v in loss.items()}, {k: float(v) for k, v in residual.items()},
                         share if total else {"data": 0.0, "loss": 0.0, "residual": 0.0})


def decomposition_table(records: list[Record], columns: tuple[str, ...] = GRID_LOSSES) -> pd.DataFrame:
    """Each metric's grand mean change, every data set's and every loss's effect, and the share of the
    variation the data, the loss and the residual (interaction) explain; "—" where a metric's cells cannot
    be decomposed (see ``decompose``). ``columns``: the grid's columns to decompose over (``FITTED_LOSSES``:
    SoftmaxLoss with its head fitted first)."""
    out = {}
    for metric, name in GRID_METRICS.items():
        d = decompose(records, metric, columns)
        if d is None:
            continue
        col = {("mean change", "all cells"): f"{d.grand:+.4f}"}
        col.update({("data effect", k): f"{v:+.4f}" for k, v in d.data.items()})
        col.update({("loss effect", k): f"{v:+.4f}" for k, v in d.loss.items()})
        col.update({("share of the variation", k): f"{v:.0%}" for k, v in d.share.items()})
        out[f"{name} change"] = col
    return pd.DataFrame(out).fillna("—")


def transfer_matrix(records: list[Record]) -> pd.DataFrame:
    """Rows: each run (pairing and variant); columns: every seed data set's task (head-free metric); values:
    the mean over seeds of after − before. Runs without a transfer row are left out."""
    rows, names = {}, {}
    for name, runs in group(records).items():
        runs = [r for r in runs if r.transfer]
        if not runs:
            continue
        tasks = runs[0].transfer["metrics"]
        names.update({t: f"{t}: {m}" for t, m in tasks.items()})
        rows[name] = {t: float(np.mean([r.transfer_change(t) for r in runs])) for t in tasks}
    table = pd.DataFrame(rows).T
    return table.rename(columns=names)


def grid_conclusions(records: list[Record]) -> list[str]:
    """Sentences about the grid whose every number comes from the records."""
    cells, out = grid_cells(records, GRID_LOSSES), []
    for metric, name in (("stsb_spearman", "STSb"), ("sick_spearman", "SICK-R")):
        means = {c: float(np.mean(v)) for c, runs in cells.items() if (v := changes(runs, metric))}
        for d in dict.fromkeys(c[0] for c in means):
            row = {loss: means[(d, loss)] for loss in GRID_LOSSES if (d, loss) in means}
            if len(row) > 1:
                best, worst = max(row, key=row.get), min(row, key=row.get)
                out.append(f"{d}: {best} keeps {name} best ({row[best]:+.4f}), {worst} least ({row[worst]:+.4f}).")
        by_data: dict[str, list[float]] = {}
        for (d, _), change in means.items():
            by_data.setdefault(d, []).append(change)
        harmful = [d for d, values in by_data.items() if len(values) > 1 and max(values) < -0.01]
        if harmful:
            out.append(f"{name} falls by more than 0.01 under every loss tried on: {', '.join(harmful)}.")
        dec = decompose(records, metric)
        if dec:
            worst_data = min(dec.data, key=dec.data.get)
            kindest = max(dec.loss, key=dec.loss.get)
            out.append(f"{name} change over the grid: the data set explains {dec.share['data']:.0%} of the variation, the loss "
                       f"{dec.share['loss']:.0%}, their interaction {dec.share['residual']:.0%}; the most harmful data set is "
                       f"{worst_data} ({dec.data[worst_data]:+.4f} against the grid's mean {dec.grand:+.4f}), the kindest loss "
                       f"{kindest} ({dec.loss[kindest]:+.4f}).")
    matrix = transfer_matrix(records)
    if len(matrix) > 1:
        data_set = {name: runs[0].data_set or "?" for name, runs in group(records).items()}
        others = {n: float(matrix.loc[n, [c for c in matrix.columns if not c.startswith(f"{data_set[n]}: ")]].mean())
                  for n in matrix.index}
        best, worst = max(others, key=others.get), min(others, key=others.get)
        out.append(f"Transfer to the other data sets' tasks (mean change of their head-free metrics): best {best} "
                   f"({others[best]:+.3f}), worst {worst} ({others[worst]:+.3f}).")
    return out


# ---- SoftmaxLoss's head: the card's random head, the head fitted first, the probe alone ----------------------

def head_table(records: list[Record]) -> pd.DataFrame:
    """Every run with a head (SoftmaxLoss): how it started, the accuracy of its trained head, of the head it
    started from and of heads drawn from other seeds on its encoder (``pairings.train.head.diagnose``), how far the
    head's weights moved, and the share of the trained head's lead over unseen heads that training the head gave."""
    rows = {}
    for r in records:
        h = r.head
        if not h:
            continue
        acc, w = h["accuracy"], h["weights"]
        unseen = [v for k, v in acc.items() if k.startswith("unseen_seed_")]
        rows[r.run] = {"head started": {"drawn": "at random", "fitted": "fitted first", "probe": "probe alone"}[h.get("start", "drawn")],
                          "scored on": h["pairs"], "trained head": f"{acc['trained']:.3f}",
                          "starting head": f"{acc['start']:.3f}", "unseen heads": f"{np.mean(unseen):.3f}",
                          "weights moved": share_text(w['mean_abs_change'] / w['mean_abs_start']),
                          "from training the head": "—" if h["head_share"] is None else f"{min(max(h['head_share'], 0), 1):.0%}"}
    return pd.DataFrame(rows).T


def fitted_head_table(records: list[Record]) -> pd.DataFrame:
    """Per data set, SoftmaxLoss three ways: the card's recipe (a random head), the head fitted first (LP-FT) and
    the probe alone (the head fitted, the encoder untouched): the change of the head's task metric where the data
    set has one for a head (SNLI's NLI accuracy; elsewhere the head-free task metric), of STSb and of SICK-R, mean
    ± sd over seeds."""
    by: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        if not losses.has_head(r.loss):
            continue
        column = grid_column(r.params)
        way = ("probe alone" if r.params.get("epochs", 1) == 0 else "head fitted first" if column == FITTED
               else "card's recipe" if column is not None else None)
        if way:
            by.setdefault((r.data_set, way), []).append(r)
    rows = {}
    for d in dict.fromkeys(d for d, _ in by):
        if (d, "head fitted first") not in by and (d, "probe alone") not in by:
            continue
        for way in ("card's recipe", "head fitted first", "probe alone"):
            runs = by.get((d, way), [])
            row = {"runs (seeds)": len(runs)}
            for metric, name in GRID_METRICS.items():
                values = changes(runs, metric)
                row[f"{name} change"] = change_text(values, 3 if metric == "task" else 4) if values else "—"
            row["task metric"] = label(runs[0].task_metric) if runs else "—"
            rows[(d, way)] = row
    table = pd.DataFrame(rows).T
    if len(table):
        table.index.names = ["data set", "SoftmaxLoss"]
    return table


def heads_markdown(records: list[Record]) -> str:
    """SoftmaxLoss three ways and what each head learned, for the README (`python -m pairings table --heads`)."""
    ways = fitted_head_table(records)
    ways.index = [f"{d}: {way}" for d, way in ways.index]
    ways.index.name = "data set: SoftmaxLoss"
    heads = head_table(records)
    heads.index.name = "run"
    return (f"{markdown(ways)}\n\nThe head of each run ({', '.join(heads.columns[2:5])}: accuracy on the fine-tuned "
            f"encoder):\n\n{markdown(heads)}")
