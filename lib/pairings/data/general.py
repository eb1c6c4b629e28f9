"""General similarity: STSb and SICK-R, the benchmarks every run is evaluated on (not a pairing's data set)."""

from __future__ import annotations

import numpy as np

from pairings.data.sources import DataError, Loaded, drop_blank, load_source, nonempty, standardize, subset, values


def load(spec: str, n: int | None, key: str = "stsb_data") -> Loaded:
    """sentence1, sentence2, score in [0, 1] (the gold scores divided by 5: STSb's 0-5, SICK-R's 1-5
    relatedness; Spearman only ranks them)."""
    raw = load_source(spec, key)
    ds = standardize(raw, {"sentence1": ("sentence_A",), "sentence2": ("sentence_B",),
                           "score": ("label", "similarity_score", "relatedness_score")}, key, spec)
    ds, n_blank = drop_blank(ds, ["sentence1", "sentence2"], key, spec)
    bad = next((v for v in values(ds, "score") if not isinstance(v, (int, float)) or isinstance(v, bool)), None)
    if bad is not None or None in values(ds, "score"):
        raise DataError(f"parameter '{key}' = {spec!r}: column 'score' must be numeric, "
                        f"got {type(bad).__name__} {bad!r}")
    scores = np.asarray(values(ds, "score"), dtype=float)
    if scores.size and (np.isnan(scores).any() or scores.min() < 0 or scores.max() > 5):
        raise DataError(f"parameter '{key}' = {spec!r}: scores must lie in [0, 5] (or [0, 1])")
    if scores.size and scores.max() > 1:
        ds = ds.map(lambda r: {"score": r["score"] / 5.0})
    return nonempty(Loaded(subset(ds, n), spec, len(raw), {"empty text": n_blank}), key)
