"""NCERT passage → answer phrase (seed card 001), and its SQuAD stand-in.

NCERT textbook text is copyrighted: it is read by path (``ncert_path``) and nothing built from it is
committed; records and reports show phrases only, never passages.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from datasets import Dataset

from pairings.data.base import PairData, Retrieval, Task
from pairings.data.sources import (
    DATA_SEED,
    DataError,
    Loaded,
    drop_blank,
    load_source,
    nonempty,
    split_by_group,
    standardize,
    subset,
    values,
)

NCERT_COLUMNS = ("file", "chapter_title", "text", "text_garbled")
PASSAGE_WORDS = 75  # about 100 tokens, the card's mean passage length
MAX_PHRASE_WORDS = 12  # the longest answer phrase kept (the card's answers are short phrases)


def load_ncert_chapters(path: str, key: str = "ncert_path") -> tuple[Dataset, int]:
    """NCERT chapters.parquet (read by path: the text is copyrighted). Returns (chapters, garbled dropped)."""
    raw = load_source(path, key)
    if "page_index" in raw.column_names:
        raise DataError(f"parameter '{key}' = {path!r}: this is the NCERT pages table; give chapters.parquet")
    missing = [c for c in NCERT_COLUMNS if c not in raw.column_names]
    if missing:
        raise DataError(f"parameter '{key}' = {path!r}: not the NCERT chapters table (no column {', '.join(map(repr, missing))})")
    keep = [i for i, g in enumerate(values(raw, "text_garbled")) if not g]
    return raw.select(keep), len(raw) - len(keep)


def _phrase(passage: str, rng: random.Random) -> tuple[str, str] | None:
    """A 3-12 word phrase taken from the passage, as the card's answers: a clause holding a date, a
    figure or a named thing when there is one, else any short clause. Returns (phrase, kind)."""
    clauses = [" ".join(c.split()) for c in re.split(r"[.,;:?!()\[\]“”\"‘’]", passage)]
    clauses = [c for c in clauses if 3 <= len(c.split()) <= MAX_PHRASE_WORDS]
    if not clauses:
        return None

    def kind(c: str) -> str:
        if re.search(r"\b1[0-9]{3}s?\b|\b20[0-9]{2}\b", c):
            return "date"
        if re.search(r"\d", c) or re.search(r"\bper cent\b|\bmillion\b|\bthousand\b", c):
            return "figure"
        if re.search(r"(?<!^)\b[A-Z][a-z]+(?: [A-Z][a-z]+)*", c[1:]):
            return "named thing"
        return "clause"

    rich = [c for c in clauses if kind(c) != "clause"]
    chosen = rng.choice(rich or clauses)
    return chosen, kind(chosen)


def passage_phrase_pairs(documents: list[tuple[str, str]], n: int | None) -> Dataset:
    """(group, text) documents → passages of about PASSAGE_WORDS words → (passage, phrase) pairs."""
    rng = random.Random(DATA_SEED)
    rows = {"passage": [], "phrase": [], "kind": [], "group": []}
    for group, text in documents:
        words = text.split()
        for start in range(0, len(words) - PASSAGE_WORDS // 3, PASSAGE_WORDS):
            passage = " ".join(words[start:start + PASSAGE_WORDS])
            picked = _phrase(passage, rng)
            if picked:
                rows["passage"].append(passage), rows["phrase"].append(picked[0])
                rows["kind"].append(picked[1]), rows["group"].append(group)
    return subset(Dataset.from_dict(rows), n)


def squad_pairs(spec: str, key: str) -> tuple[Dataset, int]:
    """SQuAD paragraphs → answer spans of up to 12 words (the stand-in for NCERT): one pair per paragraph."""
    raw = load_source(spec, key)
    ds = standardize(raw, {"title": (), "context": (), "answers_text": ("answers",)}, key, spec)
    rows, seen = {"passage": [], "phrase": [], "kind": [], "group": []}, set()
    for title, context, answers in zip(values(ds, "title"), values(ds, "context"), values(ds, "answers_text")):
        answers = answers["text"] if isinstance(answers, dict) else answers
        if context in seen or not answers or len(answers[0].split()) > MAX_PHRASE_WORDS:
            continue
        seen.add(context)
        rows["passage"].append(context), rows["phrase"].append(answers[0])
        rows["kind"].append("answer span"), rows["group"].append(title)
    return Dataset.from_dict(rows), len(raw)


def retrieval_tasks(test: Dataset) -> tuple[Retrieval, Retrieval]:
    """phrase → passage and passage → phrase over the held-out pairs."""
    passages = {f"p{i}": p for i, p in enumerate(dict.fromkeys(values(test, "passage")))}
    pid = {p: k for k, p in passages.items()}
    phrases = {f"a{i}": a for i, a in enumerate(dict.fromkeys(values(test, "phrase")))}
    aid = {a: k for k, a in phrases.items()}
    to_passage = Retrieval("phrase-to-passage", {f"q{i}": a for i, a in enumerate(values(test, "phrase"))}, passages,
                           {f"q{i}": {pid[p]} for i, p in enumerate(values(test, "passage"))})
    to_phrase_rel: dict[str, set[str]] = {}
    for p, a in zip(values(test, "passage"), values(test, "phrase")):
        to_phrase_rel.setdefault(pid[p], set()).add(aid[a])
    return to_passage, Retrieval("passage-to-phrase", dict(passages), phrases, to_phrase_rel)


class PassageRetrieval(Task):
    """Held-out chapters (articles): phrase → passage and passage → phrase retrieval by cosine, and
    phrase → passage by dot product, where the Normalize module matters."""

    metric = "mrr@10"

    def __init__(self, pairs: Dataset):
        super().__init__()
        self.pairs = pairs
        self.to_passage, self.to_phrase = retrieval_tasks(pairs)

    def transfer(self, model) -> float:
        return self.to_passage.evaluate(model)[self.metric]

    def evaluate(self, model, loss) -> dict[str, float]:
        q = self.to_phrase.evaluate(model)
        dot = Retrieval("phrase-to-passage-dot", self.to_passage.queries, self.to_passage.corpus,
                        self.to_passage.relevant).evaluate(model, similarity="dot")
        return {**self.to_passage.evaluate(model), **{f"passage→phrase {k}": v for k, v in q.items()},
                "dot-product mrr@10": dot["mrr@10"]}


class Ncert(PairData):
    name, title, pairing, card = "ncert", "NCERT passage → phrase", "ncert-mnrl", "001_57c092bc54082e50"
    @dataclass(frozen=True)
    class Options:
        ncert_path: str | None = None  # NCERT chapters.parquet (copyrighted, read by path); None: the SQuAD stand-in
    text_columns = pair = ("passage", "phrase")
    recipe = {"train_data": "squad:dev", "train_pairs": 1000, "normalize": False,
              "loss": "mnrl", "batch_size": 16, "epochs": 30, "max_seq_length": 512}

    @classmethod
    def show_example(cls, sentences):
        """NCERT text is copyrighted: a sentence of the card's example longer than a short phrase is shown by its length."""
        return [s if len(s.split()) <= MAX_PHRASE_WORDS else f"[the card's NCERT passage, {len(s.split())} words]"
                for s in sentences]

    def load(self, p):
        if p.options.ncert_path:
            chapters, garbled = load_ncert_chapters(p.options.ncert_path)
            pairs = passage_phrase_pairs(list(zip(values(chapters, "file"), values(chapters, "text"))), None)
            source, rows_read, group_name = "NCERT chapter text (ncert_path)", len(chapters) + garbled, "chapter"
            dropped = {"garbled chapters": garbled}
        else:
            pairs, rows_read = squad_pairs(p.train_data, "train_data")
            source, group_name, dropped = f"SQuAD v1.1 ({p.train_data}), standing in for NCERT", "article", {}
        pairs, blank = drop_blank(pairs, ["passage", "phrase"])
        key = "ncert_path" if p.options.ncert_path else "train_data"
        train_all, test_all = split_by_group(nonempty(Loaded(pairs, source, rows_read), key).dataset)
        train = nonempty(Loaded(subset(train_all, p.train_pairs), source, rows_read, {**dropped, "empty text": blank}), key)
        info = {"source": source, "group_name": group_name, "all_pairs": len(pairs),
                "groups": (len(set(values(pairs, "group"))), len(set(values(train_all, "group"))), len(set(values(test_all, "group"))))}
        return train, PassageRetrieval(subset(test_all, p.test_pairs)), info

    def stand_in(self, p):
        if p.options.ncert_path:
            return "our passage → phrase pairs cut from NCERT chapter text stand in for the card's unpublished 1,000"
        return "SQuAD v1.1 dev answer spans stand in for NCERT passage → phrase pairs"

    def record_data(self, p, prep):
        import pandas as pd

        return {"train_source": "ncert_path (NCERT chapter text)" if p.options.ncert_path else p.train_data,
                "test_source": f"held-out {prep.info['group_name']}s", "test_pairs": len(prep.task.pairs),
                "phrase_kinds": dict(pd.Series(prep.train.dataset["kind"]).value_counts())}
