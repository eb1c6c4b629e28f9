"""How sure the decomposition's shares are: the data × loss decomposition recomputed over resamples of each cell's
seeds (a bootstrap, cell by cell), giving each share an interval. A cell with one seed contributes its one run to
every resample, so its noise is not in the interval: the interval is as narrow as the single-seed cells make it,
and the table says how many cells have a single seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pairings.report.grid import GRID_LOSSES, GRID_METRICS, decompose, grid_cells
from pairings.report.record import Record

RESAMPLES = 1000
SEED = 0  # the resampling's own seed: the same intervals every time from the same records


def share_intervals(records: list[Record], metric: str, columns: tuple[str, ...] = GRID_LOSSES,
                    resamples: int = RESAMPLES, level: float = 0.95) -> dict[str, tuple[float, float, float]] | None:
    """Per part (data, loss, residual): (share on the records, low, high) of the ``level`` percentile interval over
    ``resamples`` bootstrap resamples of every cell's seeds; None where the records cannot be decomposed."""
    point = decompose(records, metric, columns)
    if point is None:
        return None
    cells = [runs for runs in grid_cells(records, columns).values() if runs]
    rng = np.random.default_rng(SEED)
    draws: dict[str, list[float]] = {k: [] for k in point.share}
    for _ in range(resamples):
        sample = [runs[i] for runs in cells for i in rng.integers(0, len(runs), len(runs))]
        d = decompose(sample, metric, columns)
        for k in draws:
            draws[k].append(d.share[k])
    tail = (1 - level) / 2 * 100
    return {k: (point.share[k], float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
            for k, v in draws.items()}


def intervals_table(records: list[Record], columns: tuple[str, ...] = GRID_LOSSES) -> pd.DataFrame:
    """Each metric's shares with their 95 % bootstrap intervals over seeds, and how many cells have one seed."""
    single = sum(1 for runs in grid_cells(records, columns).values() if len(runs) == 1)
    out = {}
    for metric, name in GRID_METRICS.items():
        shares = share_intervals(records, metric, columns)
        if shares is None:
            continue
        col = {k: f"{s:.0%} [{lo:.0%}, {hi:.0%}]" for k, (s, lo, hi) in shares.items()}
        col["cells with one seed"] = str(single)
        out[f"{name} change"] = col
    table = pd.DataFrame(out)
    if len(table):
        table.index.name = "share of the variation [95 % interval over seeds]"
    return table
