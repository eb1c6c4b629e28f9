"""Quora duplicate questions (seed card 000): question → its duplicate."""

from __future__ import annotations

import re
from dataclasses import dataclass

from datasets import Dataset

from pairings.data.base import PairData, Retrieval, Task
from pairings.data.sources import Loaded, drop_blank, load_source, nonempty, standardize, subset, values


def normalize_question(text: str, lowercase: bool, strip_punctuation: bool) -> str:
    """The seed card's normalisation: lowercased, punctuation stripped ("how do i get rid of acne")."""
    if lowercase:
        text = text.lower()
    if strip_punctuation:
        text = re.sub(r"[^\w\s-]", " ", text)
        text = re.sub(r"(?<!\w)-|-(?!\w)", " ", text)  # keep hyphens inside words only
    return " ".join(text.split())


def load_question_pairs(spec: str, n: int | None, key: str, lowercase: bool, strip_punctuation: bool) -> Loaded:
    """anchor, positive: duplicate questions (positives only, for in-batch negatives)."""
    raw = load_source(spec, key)
    ds = standardize(raw, {"anchor": ("question1", "sentence1", "query"), "positive": ("question2", "sentence2")}, key, spec)
    ds, n_blank = drop_blank(ds, ["anchor", "positive"], key, spec)
    ds = subset(ds, n)
    ds = ds.map(lambda r: {c: normalize_question(str(r[c]), lowercase, strip_punctuation) for c in ("anchor", "positive")})
    ds, n_blank_after = drop_blank(ds, ["anchor", "positive"])  # a question of punctuation only
    return nonempty(Loaded(ds, spec, len(raw), {"empty text": n_blank + n_blank_after}), key)


class DuplicateRetrieval(Task):
    """Each held-out pair's first question ranks every held-out second question; also on the clean
    queries, whose two questions never occur in the training data (the rest leak)."""

    metric = "mrr@10"

    def __init__(self, pairs: Loaded, train: Dataset | None = None):
        super().__init__()
        self.pairs = pairs
        test = pairs.dataset
        corpus_ids: dict[str, str] = {}
        for text in values(test, "positive"):
            corpus_ids.setdefault(text, f"d{len(corpus_ids)}")
        seen = set(values(train, "anchor")) | set(values(train, "positive")) if train is not None else set()
        queries, relevant, self.clean = {}, {}, []
        for i, (q, d) in enumerate(zip(values(test, "anchor"), values(test, "positive"))):
            queries[f"q{i}"], relevant[f"q{i}"] = q, {corpus_ids[d]}
            if q not in seen and d not in seen:
                self.clean.append(f"q{i}")
        self.retrieval = Retrieval("quora-test", queries, {c: t for t, c in corpus_ids.items()}, relevant)

    def transfer(self, model) -> float:
        return self.retrieval.evaluate(model)[self.metric]

    def evaluate(self, model, loss) -> dict[str, float]:
        out = self.retrieval.evaluate(model)
        if self.clean:
            clean = self.retrieval.only(self.clean, "quora-clean").evaluate(model)
            out.update({f"clean-queries {k}": v for k, v in clean.items()})
        return out


class Quora(PairData):
    name, title, pairing, card = "quora", "Quora duplicate questions", "quora-mnrl", "000_d6ee03156673cccf"
    @dataclass(frozen=True)
    class Options:
        lowercase: bool = False
        strip_punctuation: bool = False
    text_columns = pair = ("anchor", "positive")
    needs_test_data = True
    recipe = {"train_data": "quora:train", "test_data": "quora:test", "train_pairs": 12973,
              "lowercase": True, "strip_punctuation": True,
              "loss": "mnrl", "batch_size": 32, "epochs": 1, "max_seq_length": 256}

    def load(self, p):
        norm = dict(lowercase=p.options.lowercase, strip_punctuation=p.options.strip_punctuation)
        train = load_question_pairs(p.train_data, p.train_pairs, "train_data", **norm)
        test = load_question_pairs(p.test_data, p.test_pairs, "test_data", **norm)
        return train, DuplicateRetrieval(test, train.dataset), {}

    def stand_in(self, p):
        return None if p.train_data.startswith("hub:") else "real Quora duplicates; not the card's own 12,973-pair sample"

    def record_data(self, p, prep):
        task = prep.task
        return {"test_source": p.test_data, "test_pairs": len(task.pairs.dataset),
                "leaked_test_pairs": len(task.retrieval.queries) - len(task.clean)}

