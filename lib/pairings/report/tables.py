"""What a notebook shows as tables and lines: parameters, data statistics, before / after, the card's example.
Metric names for readers live here (``label``)."""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from datasets import Dataset

from pairings.data.sources import Loaded

# What each metric is called in tables and figures; higher is better unless listed in LOWER_IS_BETTER.
METRIC_LABELS = {
    "stsb_spearman": "STSb test Spearman (cosine)",
    "stsb_pearson": "STSb test Pearson (cosine)",
    "sick_spearman": "SICK-R test Spearman (cosine)",
    "sick_pearson": "SICK-R test Pearson (cosine)",
    "entailment_auc": "entailment vs contradiction: ROC AUC of cosine",
    "unrelated_cosine": "mean cosine of unrelated STSb pairs",
    "nli_accuracy": "NLI accuracy (softmax head)",
    "mrr@10": "MRR@10", "ndcg@10": "nDCG@10", "recall@1": "Recall@1", "recall@10": "Recall@10",
    "reply_cosine": "mean cosine between distinct replies",
    "pair_spearman": "held-out pairs: Spearman of cosine vs label",
    "label_auc": "class 1 vs class 0: ROC AUC of cosine", "accuracy": "accuracy (softmax head)",
    "zero_shot_accuracy": "zero-shot subject accuracy", "zero_shot_macro_f1": "zero-shot subject macro-F1",
}

LOWER_IS_BETTER = {"unrelated_cosine", "reply_cosine"}


def number(value: Any, digits: int = 4) -> str:
    """A metric for a table: a float to ``digits`` decimals, "—" for none, anything else as it is."""
    return "—" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def label(key: str) -> str:
    """A metric's name for readers; a prefixed key ("clean mrr@10") names its subset first."""
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    prefix, _, rest = key.rpartition(" ")
    return f"{prefix}: {METRIC_LABELS.get(rest, rest)}" if prefix else key


def params_table(params) -> pd.DataFrame:
    return pd.DataFrame({"value": {k: repr(v) if isinstance(v, str) or v is None else v
                                   for k, v in params.to_dict().items()}})


class Folded:
    """A run's what-and-how in a few lines, every parameter folded below it (an HTML <details>, closed): what a
    report opens with. In a notebook it shows as HTML; as text (a terminal, a test), the lines and the table."""

    def __init__(self, params, lines: list[str]):
        self.params, self.lines = params, lines
        origins = params.origins()
        values = params.to_dict()
        self.table = pd.DataFrame({"value": {k: repr(v) if isinstance(v, str) or v is None else v for k, v in values.items()
                                             if k != "output_dir"},
                                   "from": {k: origins[k] for k in values if k != "output_dir"}})

    def _repr_html_(self) -> str:
        head = "".join(f"<p>{html.escape(line)}</p>" for line in self.lines)
        return (f"{head}<details><summary>All {len(self.table)} parameters of this run, and where each came from"
                f"</summary>{self.table.to_html()}</details>")

    def __repr__(self) -> str:
        return "\n".join([*self.lines, self.table.to_string()])


def comparison(before: Mapping[str, float], after: Mapping[str, float], digits: int = 3) -> pd.DataFrame:
    """Before / after / change for every metric both runs have, rounded for the reader (and for nbval)."""
    rows = {}
    for key in before:
        if key in after:
            b, a = float(before[key]), float(after[key])
            rows[label(key)] = {"base model": round(b, digits), "fine-tuned": round(a, digits),
                                                  "change": round(a - b, digits)}
    return pd.DataFrame(rows).T


def transfer(values: Mapping[str, Mapping[str, float]], metrics: Mapping[str, str], digits: int = 3) -> pd.DataFrame:
    """Every seed data set's held-out task (head-free), base model / fine-tuned / change: one run's row of
    the transfer matrix (rows "quora: MRR@10", as ``comparison`` names a prefixed metric)."""
    keys = {f"{name} {metric}": name for name, metric in metrics.items()}
    return comparison({k: values["before"][n] for k, n in keys.items()}, {k: values["after"][n] for k, n in keys.items()}, digits)


def training_line(training: dict) -> str:
    """The notebooks' training line; a resumed run says which steps this call trained and timed."""
    steps, first = training["steps"], training.get("resumed_from_step")
    timed = f"{training['train_seconds']:.0f} s ({training['seconds_per_step']:.2f} s/step)"
    if first:
        return f"{steps} steps; resumed from the checkpoint at step {first}: steps {first + 1}–{steps} in {timed}"
    return f"{steps} steps in {timed}"


def similarity_table(sentences: Sequence[str], matrices: Mapping[str, np.ndarray | None]) -> pd.DataFrame:
    """The off-diagonal similarities of the example, one column per model."""
    rows = {}
    for i in range(len(sentences)):
        for j in range(i + 1, len(sentences)):
            rows[f"s{i + 1} · s{j + 1}"] = {name: (round(float(m[i, j]), 4) if m is not None else None)
                                            for name, m in matrices.items()}
    return pd.DataFrame(rows).T


# ---- data statistics --------------------------------------------------------------------------

def describe(ds: Dataset, tokenizer, text_columns: list[str]):
    """A table like the seed cards' dataset statistics: rows and token lengths per text column."""
    import pandas as pd

    rows = {}
    for col in text_columns:
        lengths = np.array([len(ids) for ids in tokenizer(list(ds[col]), truncation=False)["input_ids"]])
        rows[col] = {"rows": len(ds), "distinct": len(set(ds[col])), "tokens min": int(lengths.min()),
                     "tokens mean": round(float(lengths.mean()), 2), "tokens max": int(lengths.max())}
    return pd.DataFrame.from_dict(rows, orient="index")


def label_balance(ds: Dataset, column: str, names: tuple[str, ...] | None = None):
    """Count and share of each label value."""
    import pandas as pd

    counts = pd.Series(ds[column]).value_counts().sort_index()
    index = [names[int(v)] if names else v for v in counts.index]
    return pd.DataFrame({"pairs": counts.values, "share": (counts.values / counts.sum()).round(3)}, index=index)


def problems(loaded: Loaded, text_columns: list[str]) -> dict[str, int]:
    """What a reader should know about a split: rows read and kept, what was dropped, duplicates."""
    ds = loaded.dataset
    pairs = list(zip(*(ds[c] for c in text_columns)))
    out = {"rows read": loaded.rows_read, "rows kept": len(ds)}
    out.update({f"dropped: {k}": v for k, v in loaded.dropped.items()})
    out["duplicate rows"] = len(pairs) - len(set(pairs))
    if len(text_columns) == 2:
        out["identical pair texts"] = sum(a == b for a, b in pairs)
    return out


def loss_tail(history: Sequence[Sequence[float]]) -> float:
    """The mean of the last tenth of a run's logged losses [[step, loss], ...]: where its training ended."""
    tail = [loss for _, loss in history[-max(1, len(history) // 10):]]
    return sum(tail) / len(tail)
