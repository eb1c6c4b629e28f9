"""A user's own pairing: a file with two text columns, optionally a class label or a score.

``python -m pairings new NAME --data FILE --loss LOSS`` writes a params file with ``data_set: file``
and a notebook from the generic template. The file's first two text columns are the pair; a column
``label`` of integer classes makes it a classification set, a column ``score`` in [0, 1] a scored set; without
either the rows are positive pairs. Like the seed data sets, a file feeds every loss a rule makes sense for
(:data:`RULES`): positive pairs feed all three (another row's second text as the negative); two classes feed
all three (class 1 as the positive); scores feed CosineSimilarityLoss and MNRL (pairs scored ≥ 0.5). The held-out
task follows the file: retrieval MRR@10 for pairs, the head's accuracy for classes under SoftmaxLoss and the
cosine's ROC AUC of class 1 against class 0 head-free, Spearman for scores.
"""

from __future__ import annotations

import random

from datasets import Dataset

from pairings import losses
from pairings.data.base import PairData, Retrieval, Shaped, Task
from pairings.data.sources import DATA_SEED, DataError, Loaded, check_labels, drop_blank, load_source, nonempty, subset, values
from pairings.evaluate import metrics

TEST_SHARE = 0.2
POSITIVE_SCORE = 0.5  # a file of scores feeds MNRL the pairs scored at least this


def refusal(ds: Dataset, kind: str, loss: str) -> str | None:
    """Why a file of this kind cannot feed ``loss`` (None: it can). RULES: pairs feed every loss; classes feed
    SoftmaxLoss, and the others when there are two (0 and 1: which one is the positive is then known); scores feed
    the losses that need scores or pairs, not a head's classes."""
    needs = losses.get(loss).needs
    if kind == "pairs" or needs == kind:
        return None
    if kind == "classes":
        classes = sorted(set(values(ds, "label")))
        if classes == [0, 1]:
            return None
        return (f"loss '{loss}' needs {'positive pairs' if needs == 'pairs' else 'scores'}, and a 'label' with classes "
                f"{classes[:5]} does not say which class is the positive one (two classes, 0 and 1, would)")
    if needs != "classes":
        return None
    return f"loss '{loss}' needs a 'label' column of class ids for its head; scores are not classes"


def read_pairs(spec: str, key: str) -> tuple[Loaded, str]:
    """The file's first two text columns as ``text1``, ``text2`` (and ``label`` or ``score``): (rows, kind)."""
    raw = load_source(spec, key)

    def kind_of(column: str) -> str:  # a nested or JSON column has no dtype: name its type instead
        return getattr(raw.features[column], "dtype", type(raw.features[column]).__name__)

    texts = [c for c in raw.column_names if c not in ("label", "score") and kind_of(c) in ("string", "large_string")]
    if len(texts) < 2:
        one = raw.column_names[0] if len(raw.column_names) == 1 else ""
        separator = next((name for sep, name in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")) if sep in one), None)
        if separator:
            raise DataError(f"parameter '{key}' = {spec!r}: one column named {one!r}: the file seems separated by "
                            f"{separator}; save it comma-separated (or as .parquet / .jsonl)")
        raise DataError(f"parameter '{key}' = {spec!r}: needs two text columns; the file has "
                        f"{', '.join(f'{c} ({kind_of(c)})' for c in raw.column_names)}")
    kind = "classes" if "label" in raw.column_names else "scores" if "score" in raw.column_names else "pairs"
    ds = raw.select_columns(texts[:2] + {"classes": ["label"], "scores": ["score"], "pairs": []}[kind])
    ds = ds.rename_columns({texts[0]: "text1", texts[1]: "text2"})
    ds, blank = drop_blank(ds, ["text1", "text2"], key, spec)
    if kind == "classes" and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values(ds, "label")):
        raise DataError(f"parameter '{key}' = {spec!r}: column 'label' must hold class ids 0, 1, 2, ...")
    if kind == "scores":
        check_labels(ds, "score", 0.0, 1.0, key, spec)
    return nonempty(Loaded(ds, spec, len(raw), {"empty text": blank}), key), kind


def split_rows(ds: Dataset, share: float = TEST_SHARE) -> tuple[Dataset, Dataset]:
    """Hold out a share of the distinct first texts, so no held-out query was trained on."""
    firsts = sorted(set(values(ds, "text1")))
    random.Random(DATA_SEED).shuffle(firsts)
    held = set(firsts[: max(1, round(len(firsts) * share))])
    return (ds.select([i for i, t in enumerate(values(ds, "text1")) if t not in held]),
            ds.select([i for i, t in enumerate(values(ds, "text1")) if t in held]))


class PairTask(Task):
    """Held-out rows of the file: retrieval of each first text's second text (pairs), the SoftmaxLoss head's
    accuracy (classes; head-free: the ROC AUC of the cosine, class 1 against class 0), or the Spearman of cosine
    against the score (scores)."""

    def __init__(self, rows: Dataset, kind: str):
        super().__init__()
        self.rows, self.kind = rows, kind
        self.metric = {"pairs": "mrr@10", "classes": "accuracy", "scores": "pair_spearman"}[kind]

    def headline(self, loss: str | None) -> str:
        if self.kind == "classes" and not losses.has_head(loss):
            return "label_auc"
        return self.metric

    def evaluate(self, model, loss) -> dict[str, float]:
        ds = self.rows
        if self.kind == "classes":
            out = {}
            if loss is not None and hasattr(loss, "classifier"):
                out["accuracy"] = metrics.head_accuracy(model, loss, ds["text1"], ds["text2"], ds["label"], "file-test")
            if sorted(set(values(ds, "label"))) == [0, 1]:
                out["label_auc"] = metrics.cosine_auc(model, ds["text1"], ds["text2"], [y == 1 for y in ds["label"]])
            return out
        if self.kind == "scores":
            return metrics.pair_spearman(model, ds, "text1", "text2", name="file-test", score="score")
        corpus_ids = {t: f"d{i}" for i, t in enumerate(dict.fromkeys(values(ds, "text2")))}
        queries = {f"q{i}": t for i, t in enumerate(dict.fromkeys(values(ds, "text1")))}
        qid = {t: q for q, t in queries.items()}
        relevant: dict[str, set[str]] = {}
        for a, b in zip(values(ds, "text1"), values(ds, "text2")):
            relevant.setdefault(qid[a], set()).add(corpus_ids[b])
        return Retrieval("file-test", queries, {c: t for t, c in corpus_ids.items()}, relevant).evaluate(model)


class File(PairData):
    name, title = "file", "your file"
    text_columns = pair = ("text1", "text2")
    recipe = {"loss": "mnrl", "batch_size": 32, "epochs": 1, "max_seq_length": 256}

    def load(self, p):
        rows, kind = read_pairs(p.train_data, "train_data")
        why = refusal(rows.dataset, kind, p.loss)
        if why:
            feeds = [name for name in losses.NAMES if not refusal(rows.dataset, kind, name)]
            raise DataError(f"parameter 'loss' = {p.loss!r}: data set 'file' cannot be shaped for it from "
                            f"{p.train_data} ({kind}): {why}; this file can feed {', '.join(feeds)}")
        if p.test_data:
            test, _ = read_pairs(p.test_data, "test_data")
            train_ds, test_ds = rows.dataset, test.dataset
        else:
            train_ds, test_ds = split_rows(rows.dataset)
        if len(train_ds) < 2 or len(test_ds) < 2:
            firsts = len(set(values(rows.dataset, "text1")))
            raise DataError(f"parameter 'train_data' = {p.train_data!r}: too few rows to hold out a test set "
                            f"({len(train_ds)} to train, {len(test_ds)} to test: the test set holds out whole first "
                            f"texts, and the file has {firsts:,} distinct ones; give more, or a test_data file)")
        train = Loaded(subset(train_ds, p.train_pairs), p.train_data, rows.rows_read, rows.dropped)
        return train, PairTask(subset(test_ds, p.test_pairs), kind), {"kind": kind}

    def shape_mnrl(self, ds, p):
        """(text1, text2): the positive pairs (a file of classes: class 1; of scores: those scored ≥ 0.5)."""
        if "label" in ds.column_names:
            ds = ds.filter(lambda r: r["label"] == 1)
        elif "score" in ds.column_names:
            ds = ds.filter(lambda r: r["score"] >= POSITIVE_SCORE)
        return Shaped(ds.select_columns(["text1", "text2"]))

    def shape_softmax(self, ds, p):
        """(text1, text2, label): the file's classes; positive pairs: its pair (1) or another row's (0)."""
        if "label" not in ds.column_names:
            return super().shape_softmax(ds, p)
        return Shaped(ds.select_columns(["text1", "text2", "label"]), num_labels=max(values(ds, "label")) + 1)

    def shape_cosine(self, ds, p):
        """(text1, text2, score): the file's scores; two classes: class 1 as 1.0, 0 as 0.0; positive pairs: its
        pair 1.0, another row's 0.0."""
        if "score" in ds.column_names:
            return Shaped(ds.select_columns(["text1", "text2", "score"]))
        if "label" in ds.column_names:
            scored = ds.map(lambda r: {"score": float(r["label"])}).select_columns(["text1", "text2", "score"])
            return Shaped(scored)
        return super().shape_cosine(ds, p)

    def record_data(self, p, prep):
        return {"test_source": p.test_data or "held-out rows of train_data", "test_pairs": len(prep.task.rows),
                "kind": prep.info["kind"]}
