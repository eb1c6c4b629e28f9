"""SNLI (seed card 002): premise, hypothesis and an entailment / neutral / contradiction label."""

from __future__ import annotations

import datasets
import numpy as np
from datasets import Dataset

from pairings import losses
from pairings.data.base import DataSet, Shaped, Task
from pairings.data.sources import DataError, Loaded, drop_blank, load_source, nonempty, standardize, subset, values
from pairings.evaluate import metrics

NLI_LABELS = ("entailment", "neutral", "contradiction")


def load_nli(spec: str, n: int | None, key: str) -> Loaded:
    """Premise, hypothesis, label (0 entailment, 1 neutral, 2 contradiction)."""
    raw = load_source(spec, key)
    ds = standardize(raw, {"premise": ("sentence1", "sentence_A"), "hypothesis": ("sentence2", "sentence_B"),
                           "label": ("gold_label", "entailment_label")}, key, spec)
    dropped = {}
    labels = values(ds, "label")
    if labels and all(isinstance(v, str) for v in labels):
        unknown = sorted({v for v in labels if v.lower() not in NLI_LABELS and v != "-"})
        if unknown:
            raise DataError(f"parameter '{key}' = {spec!r}: labels {unknown[:5]} are not in {NLI_LABELS}")
        keep = [i for i, v in enumerate(labels) if v != "-"]
        ds = ds.select(keep).map(lambda r: {"label": NLI_LABELS.index(r["label"].lower())})
        dropped["no gold label"] = len(labels) - len(keep)
    elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        bad = sorted({int(v) for v in labels if not -1 <= v < len(NLI_LABELS)})
        if bad:
            raise DataError(f"parameter '{key}' = {spec!r}: labels {bad[:5]} are outside 0..{len(NLI_LABELS) - 1}")
        keep = [i for i, v in enumerate(labels) if v >= 0]  # the hub's SNLI marks unlabelled pairs -1
        ds = ds.select(keep)
        dropped["no gold label"] = len(labels) - len(keep)
    else:
        raise DataError(f"parameter '{key}' = {spec!r}: labels must be NLI label names or integers 0..2")
    ds, dropped["empty text"] = drop_blank(ds, ["premise", "hypothesis"], key, spec)
    ds = ds.cast_column("label", datasets.Value("int64"))
    return nonempty(Loaded(subset(ds, n), spec, len(raw), dropped), key)


class NliTask(Task):
    """Held-out labelled pairs: the accuracy of a trained SoftmaxLoss head where the loss has one, and,
    head-free, how well the cosine separates entailed from contradicted hypotheses (ROC AUC)."""

    def __init__(self, pairs: Loaded):
        super().__init__()
        self.pairs = pairs

    def headline(self, loss: str) -> str:
        return "nli_accuracy" if losses.has_head(loss) else "entailment_auc"

    def evaluate(self, model, loss) -> dict[str, float]:
        ds = self.pairs.dataset
        out = {}
        if getattr(loss, "classifier", None) is not None and loss.classifier.out_features == len(NLI_LABELS):
            out["nli_accuracy"] = metrics.head_accuracy(model, loss, ds["premise"], ds["hypothesis"], ds["label"], "nli-test")
        sided = [i for i, label in enumerate(values(ds, "label")) if label != 1]
        sub = ds.select(sided)
        out["entailment_auc"] = metrics.cosine_auc(model, values(sub, "premise"), values(sub, "hypothesis"),
                                                    [label == 0 for label in values(sub, "label")])
        return out


def entailment_triplets(ds: Dataset) -> Dataset:
    """(premise, entailed hypothesis, contradicted hypothesis) for every premise that has both."""
    by_premise: dict[str, tuple[list[str], list[str]]] = {}
    for premise, hypothesis, label in zip(values(ds, "premise"), values(ds, "hypothesis"), values(ds, "label")):
        if label != 1:
            by_premise.setdefault(premise, ([], []))[label // 2].append(hypothesis)
    rows = {"anchor": [], "positive": [], "negative": []}
    for premise, (entailed, contradicted) in by_premise.items():
        for i, hypothesis in enumerate(entailed if contradicted else []):
            rows["anchor"].append(premise)
            rows["positive"].append(hypothesis)
            rows["negative"].append(contradicted[i % len(contradicted)])
    return Dataset.from_dict(rows)


class Snli(DataSet):
    name, title, pairing, card = "snli", "SNLI", "snli-softmax", "002_58ad264ba52a8346"
    text_columns = ("premise", "hypothesis")
    needs_test_data = True
    recipe = {"train_data": "snli:dev", "test_data": "snli:test",
              "loss": "softmax", "batch_size": 32, "epochs": 4, "max_seq_length": 256}

    def load(self, p):
        self.full = load_nli(p.train_data, None, "train_data").dataset  # MNRL's triplets come from all of it
        train = load_nli(p.train_data, p.train_pairs, "train_data")
        test = load_nli(p.test_data, p.test_pairs, "test_data")
        return train, NliTask(test), {}

    def shape_softmax(self, ds, p):
        """(premise, hypothesis, label): the card's recipe, three classes on (u, v, |u - v|)."""
        return Shaped(ds.select_columns(["premise", "hypothesis", "label"]), num_labels=len(NLI_LABELS))

    def shape_mnrl(self, ds, p):
        """(premise, entailed hypothesis, contradiction of the same premise as a hard negative), as sentence-transformers' NLI v2 recipe.

        The triplets are built from the whole training split, then ``train_pairs`` of them are taken: a subset of
        rows drawn first would rarely keep both hypotheses of a premise."""
        full = getattr(self, "full", ds)
        return Shaped(subset(entailment_triplets(full), p.train_pairs if full is not ds else None))

    def shape_cosine(self, ds, p):
        """(premise, hypothesis, score): entailment 1.0, neutral 0.5, contradiction 0.0, cosine as a graded entailment."""
        return Shaped(ds.map(lambda r: {"score": (1.0, 0.5, 0.0)[r["label"]]}).select_columns(["premise", "hypothesis", "score"]))

    def head_pairs(self, prep):
        """SNLI's held-out test pairs, with the three labels SoftmaxLoss's head predicts (any other shaping: the
        training rows)."""
        if prep.shaped.num_labels != len(NLI_LABELS):
            return super().head_pairs(prep)
        ds = prep.task.pairs.dataset
        return (ds["premise"], ds["hypothesis"], ds["label"]), f"{min(len(ds), 2000):,} SNLI test pairs"

    def stand_in(self, p):
        return None if p.train_data.startswith("hub:") else "SNLI dev stands in for SNLI train"

    def record_data(self, p, prep):
        return {"test_source": p.test_data, "test_pairs": len(prep.task.pairs.dataset)}
