"""Checks of a run's data after the split and shaping, the same for every data set: errors stop the run before
any model loads; the counts and warnings go into the run's record (``data.sanity``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pairings import losses
from pairings.data.sources import DataError

MIN_TRAIN_ROWS = 10  # fewer training rows after the split and shaping is an error: nothing worth training
MAX_FALSE_NEGATIVES = 0.5  # MNRL: at least this share of in-batch negatives equal to the positive is an error


def check(data_set, params, train, shaped, task) -> dict[str, Any]:
    """Checks of a run's data after the split and shaping, the same for every data set. Errors raise a
    DataError naming the parameter; the counts and the warnings (``warnings``: one phrase each) go into
    the run record (``data.sanity``) and the notebook's data step prints the warnings."""
    where = f"parameter 'train_data' = {params.train_data!r} (data set '{data_set.name}', loss '{params.loss}')"
    rows = len(shaped.dataset)
    if rows < MIN_TRAIN_ROWS:
        raise DataError(f"{where}: {rows} training rows left after the split and shaping; at least "
                        f"{MIN_TRAIN_ROWS} are needed (give more data or a larger train_pairs)")
    columns = [c for c in data_set.text_columns if c in train.dataset.column_names] or train.dataset.column_names[:2]
    pairs = list(zip(*(train.dataset[c] for c in columns)))
    held_out = task.held_out()
    seen = set(train.dataset[columns[0]])
    out: dict[str, Any] = {"train_rows": rows, "duplicate_train_pairs": len(pairs) - len(set(pairs)),
                           "held_out_texts": len(held_out), "held_out_in_train": len(held_out & seen)}
    warnings = []
    if out["held_out_in_train"]:
        warnings.append(f"{out['held_out_in_train']} of {len(held_out)} held-out texts also occur in training (leakage)")
    if out["duplicate_train_pairs"]:
        warnings.append(f"{out['duplicate_train_pairs']} duplicate training pairs")
    if rows < params.batch_size:
        warnings.append(f"{rows} training rows: fewer than one batch of {params.batch_size}")
    if losses.get(params.loss).in_batch_negatives:  # the batch's other positives are the negatives
        positives = shaped.dataset[shaped.dataset.column_names[1]]
        share = out["in_batch_false_negatives"] = in_batch_duplicates(positives, params.batch_size, params.seed)
        if share >= MAX_FALSE_NEGATIVES:
            raise DataError(f"{where}: {share:.0%} of MNRL's in-batch negatives are the positive itself "
                            f"(too few distinct texts in column {shaped.dataset.column_names[1]!r}); "
                            f"at most {MAX_FALSE_NEGATIVES:.0%} can train")
        if share >= 0.01:
            warnings.append(f"{share:.1%} of in-batch negatives equal the positive")
    out["warnings"] = warnings
    return out


def in_batch_duplicates(texts: list[str], batch_size: int, seed: int) -> float:
    """Share of in-batch negatives that are the very text of the positive, over one shuffled epoch.

    MultipleNegativesRankingLoss treats every other row's positive as a negative; a duplicate is a
    false negative it cannot separate. Near 1 / (number of distinct texts) for a few distinct replies.
    """
    order = np.random.default_rng(seed).permutation(len(texts))
    same = total = 0
    for start in range(0, len(order) - batch_size + 1, batch_size):
        batch = [texts[i] for i in order[start:start + batch_size]]
        for i, text in enumerate(batch):
            same += sum(other == text for j, other in enumerate(batch) if j != i)
            total += batch_size - 1
    return same / total if total else 0.0
