"""Data: named sets from the project's ``data/``, local files by path, or the Hugging Face hub by id.

A source string (see :mod:`pairings.params`) says where a split comes from:

* ``"snli:dev"``: ``data/snli/dev.parquet``, a set shipped with the project (README and licence beside it);
* a path (``../shared/data/ncert/chapters.parquet``, ``my/pairs.csv``): a local parquet, CSV or JSON-lines file;
* ``"hub:stanfordnlp/snli:train"`` or ``"hub:<id>@<config>:<split>"``: ``datasets.load_dataset`` from the hub,
  for users who have it. Only this form touches the network.

Every loader returns a ``datasets.Dataset`` with the pairing's standard columns, and a dict of what it
dropped and why, so a notebook can show the problems it found.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from datasets import Dataset

from . import config
from .params import is_path_source

datasets.disable_progress_bars()
datasets.logging.set_verbosity_error()

# Data subsets are drawn with a fixed seed so that training seeds vary the training only.
DATA_SEED = 0
NLI_LABELS = ("entailment", "neutral", "contradiction")


class DataError(ValueError):
    """A data source is missing, unreadable or unfit; the message names the parameter and the file."""


@dataclass
class Loaded:
    """A prepared split: the dataset, where it came from, and what was dropped on the way."""

    dataset: Dataset
    source: str
    rows_read: int
    dropped: dict[str, int] = field(default_factory=dict)


# ---- sources ----------------------------------------------------------------------------------

def source_path(spec: str) -> Path | None:
    """The local file behind a source string, or None for a hub source."""
    if spec.startswith("hub:"):
        return None
    if is_path_source(spec):
        return config.resolve(spec)
    name, split = spec.split(":", 1)
    return config.DATA_DIR / name / f"{split}.parquet"


def check_source(spec: str, key: str) -> None:
    """Fail fast, before any model is loaded, when a local source does not exist."""
    path = source_path(spec)
    if path is not None and not path.exists():
        hint = ""
        if not is_path_source(spec):
            known = sorted(p.name for p in config.DATA_DIR.iterdir() if p.is_dir() and (p / "README.md").exists())
            hint = f"; the project's data/ has: {', '.join(known)}"
        raise DataError(f"parameter '{key}' = {spec!r}: no such file {path}{hint}")


def load_source(spec: str, key: str) -> Dataset:
    """The raw table behind a source string."""
    if spec.startswith("hub:"):
        return _load_hub(spec, key)
    check_source(spec, key)
    path = source_path(spec)
    suffix = path.suffix.lower()
    builder = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json"}.get(suffix)
    if path.is_dir() or builder is None:
        raise DataError(f"parameter '{key}' = {spec!r}: {path} is not a .parquet, .csv or .jsonl file")
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as err:  # pyarrow / pandas errors for truncated or malformed files
        raise DataError(f"parameter '{key}' = {spec!r}: cannot read {path}: {type(err).__name__}: {err}") from None


def _load_hub(spec: str, key: str) -> Dataset:
    body = spec[len("hub:"):]
    repo, _, split = body.partition(":")
    repo, _, name = repo.partition("@")
    try:
        return _hub_load(repo, name or None, split)
    except Exception as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
        why = "the hub is offline (HF_HUB_OFFLINE=1)" if offline else f"{type(err).__name__}: {err}"
        raise DataError(
            f"parameter '{key}' = {spec!r}: this data is not local and could not be loaded from the hub: {why}. "
            f"Where you have network, save it with datasets.load_dataset({repo!r}{', ' + repr(name) if name else ''}, "
            f"split={split!r}).to_parquet('my.parquet') and set {key} to that path."
        ) from None


def _hub_load(repo: str, name: str | None, split: str) -> Dataset:
    """The one call that reaches the hub (tests replace it)."""
    return datasets.load_dataset(repo, name, split=split)


# ---- columns, cleaning, subsets ---------------------------------------------------------------

def standardize(ds: Dataset, columns: dict[str, tuple[str, ...]], key: str, spec: str) -> Dataset:
    """Select and rename columns to the pairing's standard names, accepting the known aliases."""
    rename = {}
    for target, aliases in columns.items():
        found = next((a for a in (target, *aliases) if a in ds.column_names), None)
        if found is None:
            raise DataError(
                f"parameter '{key}' = {spec!r}: no column {target!r} (or {', '.join(map(repr, aliases))}); "
                f"the file has {', '.join(map(repr, ds.column_names))}"
            )
        rename[found] = target
    ds = ds.select_columns(list(rename))
    return ds.rename_columns({k: v for k, v in rename.items() if k != v})


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def drop_blank(ds: Dataset, text_columns: list[str]) -> tuple[Dataset, int]:
    """Drop rows with a null, empty or whitespace-only text; return how many went."""
    keep = [i for i, row in enumerate(zip(*(ds[c] for c in text_columns))) if not any(is_blank(v) for v in row)]
    return (ds if len(keep) == len(ds) else ds.select(keep)), len(ds) - len(keep)


def subset(ds: Dataset, n: int | None) -> Dataset:
    """The first n rows of a fixed shuffle (DATA_SEED), or everything when n is None or too large."""
    if n is None or n >= len(ds):
        return ds
    return ds.shuffle(seed=DATA_SEED).select(range(n))


def _nonempty(loaded: Loaded, key: str) -> Loaded:
    if len(loaded.dataset) == 0:
        raise DataError(f"parameter '{key}' = {loaded.source!r}: no rows left after dropping {loaded.dropped}")
    return loaded


# ---- pairings' data ---------------------------------------------------------------------------

def load_nli(spec: str, n: int | None, key: str) -> Loaded:
    """Premise, hypothesis, label (0 entailment, 1 neutral, 2 contradiction)."""
    raw = load_source(spec, key)
    ds = standardize(raw, {"premise": ("sentence1", "sentence_A"), "hypothesis": ("sentence2", "sentence_B"),
                           "label": ("gold_label", "entailment_label")}, key, spec)
    dropped = {}
    labels = ds["label"]
    if all(isinstance(v, str) for v in labels):
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
    ds, dropped["empty text"] = drop_blank(ds, ["premise", "hypothesis"])
    ds = ds.cast_column("label", datasets.Value("int64"))
    return _nonempty(Loaded(subset(ds, n), spec, len(raw), dropped), key)


def load_stsb(spec: str, n: int | None, key: str = "stsb_data") -> Loaded:
    """sentence1, sentence2, score in [0, 1] (the 0-5 gold scores divided by 5)."""
    raw = load_source(spec, key)
    ds = standardize(raw, {"sentence1": (), "sentence2": (), "score": ("label", "similarity_score")}, key, spec)
    ds, n_blank = drop_blank(ds, ["sentence1", "sentence2"])
    scores = np.asarray(ds["score"], dtype=float)
    if scores.size and (np.isnan(scores).any() or scores.min() < 0 or scores.max() > 5):
        raise DataError(f"parameter '{key}' = {spec!r}: scores must lie in [0, 5] (or [0, 1])")
    if scores.size and scores.max() > 1:
        ds = ds.map(lambda r: {"score": r["score"] / 5.0})
    return _nonempty(Loaded(subset(ds, n), spec, len(raw), {"empty text": n_blank}), key)


# ---- greetings: a deterministic generator shaped like seed card 003 ----------------------------

GREETING_PREFIXES = ("Hi", "Hello", "Hey there", "Greetings")
# intent: (openers, replies). The last opener of each intent is held out: test prompts use only it.
GREETING_INTENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "assist": (
        ("May I assist you in any way?", "How can I help you right now?", "Is there anything I can do for you?"),
        ("It’s my pleasure to help. How can I assist?", "I am at your service. Kindly tell me how I can help."),
    ),
    "guide": (
        ("Would you like me to guide you through something?", "Do you need any guidance right now?",
         "Shall I walk you through anything?"),
        ("Absolutely! I would be happy to guide you.", "I am here to make things easier for you. What do you need?"),
    ),
    "feeling": (
        ("How are you feeling today?", "How is your day going so far?", "How have you been lately?"),
        ("I am listening patiently. Please tell me how I may help.", "I am here for you. How may I support you today?"),
    ),
    "brighten": (
        ("How can I make your day better?", "What would make today great for you?", "How can I brighten your day?"),
        ("With pleasure! How may I serve you today?", "Let us make today a good one. Tell me what you need."),
    ),
    "questions": (
        ("Do you have any questions for me?", "Is there something you want to ask?", "Any questions on your mind?"),
        ("Please feel free to ask me anything, I am here for you.", "Ask away, I will do my best to answer."),
    ),
}
GREETING_REPLIES = tuple(r for _, replies in GREETING_INTENTS.values() for r in replies)


def generate_greetings(n: int, pairing: str = "random") -> Loaded:
    """n (prompt, reply) training pairs: "<prefix>, <opener>" → an assistant reply.

    ``random`` pairs each prompt with any reply, as the seed's data do (its samples answer the same
    prompt with different replies); ``by_intent`` draws the reply from the opener's intent.
    """
    rng = random.Random(DATA_SEED)
    rows = {"prompt": [], "reply": [], "intent": []}
    intents = list(GREETING_INTENTS)
    for _ in range(n):
        intent = rng.choice(intents)
        openers, replies = GREETING_INTENTS[intent]
        prompt = f"{rng.choice(GREETING_PREFIXES)}, {rng.choice(openers[:-1])}"
        reply = rng.choice(GREETING_REPLIES if pairing == "random" else replies)
        rows["prompt"].append(prompt)
        rows["reply"].append(reply)
        rows["intent"].append(intent)
    return Loaded(Dataset.from_dict(rows), f"generated ({pairing})", n)


def greetings_retrieval_task() -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """Held-out prompts (the held-out opener of each intent × every prefix) → the replies of their intent."""
    corpus = {f"r{i}": reply for i, reply in enumerate(GREETING_REPLIES)}
    queries, relevant = {}, {}
    for intent, (openers, replies) in GREETING_INTENTS.items():
        for prefix in GREETING_PREFIXES:
            qid = f"q{len(queries)}"
            queries[qid] = f"{prefix}, {openers[-1]}"
            relevant[qid] = {cid for cid, text in corpus.items() if text in replies}
    return queries, corpus, relevant


# ---- statistics -------------------------------------------------------------------------------

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


# ---- quora: duplicate questions (seed card 000) -----------------------------------------------

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
    ds, n_blank = drop_blank(ds, ["anchor", "positive"])
    ds = subset(ds, n)
    ds = ds.map(lambda r: {c: normalize_question(r[c], lowercase, strip_punctuation) for c in ("anchor", "positive")})
    ds, n_blank_after = drop_blank(ds, ["anchor", "positive"])  # a question of punctuation only
    return _nonempty(Loaded(ds, spec, len(raw), {"empty text": n_blank + n_blank_after}), key)


def duplicate_retrieval_task(test: Dataset, train: Dataset | None = None):
    """Queries: each held-out pair's first question; corpus: every held-out second question; relevant:
    its duplicate. Returns (queries, corpus, relevant, clean_query_ids): the clean queries are those
    whose two questions never occur in the training data (the rest leak)."""
    corpus_ids: dict[str, str] = {}
    for text in test["positive"]:
        corpus_ids.setdefault(text, f"d{len(corpus_ids)}")
    corpus = {cid: text for text, cid in corpus_ids.items()}
    seen = set(train["anchor"]) | set(train["positive"]) if train is not None else set()
    queries, relevant, clean = {}, {}, []
    for i, (q, d) in enumerate(zip(test["anchor"], test["positive"])):
        qid = f"q{i}"
        queries[qid] = q
        relevant[qid] = {corpus_ids[d]}
        if q not in seen and d not in seen:
            clean.append(qid)
    return queries, corpus, relevant, clean


# ---- NCERT passage → answer phrase (seed card 001), and its SQuAD stand-in -------------------

NCERT_COLUMNS = ("file", "chapter_title", "text", "text_garbled")
PASSAGE_WORDS = 75  # about 100 tokens, the card's mean passage length


def load_ncert_chapters(path: str, key: str = "ncert_path") -> tuple[Dataset, int]:
    """NCERT chapters.parquet (read by path: the text is copyrighted). Returns (chapters, garbled dropped)."""
    raw = load_source(path, key)
    if "page_index" in raw.column_names:
        raise DataError(f"parameter '{key}' = {path!r}: this is the NCERT pages table; give chapters.parquet")
    missing = [c for c in NCERT_COLUMNS if c not in raw.column_names]
    if missing:
        raise DataError(f"parameter '{key}' = {path!r}: not the NCERT chapters table (no column {', '.join(map(repr, missing))})")
    keep = [i for i, g in enumerate(raw["text_garbled"]) if not g]
    return raw.select(keep), len(raw) - len(keep)


MAX_PHRASE_WORDS = 12  # the longest answer phrase kept (the card's answers are short phrases)


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
    for title, context, answers in zip(ds["title"], ds["context"], ds["answers_text"]):
        answers = answers["text"] if isinstance(answers, dict) else answers
        if context in seen or not answers or len(answers[0].split()) > MAX_PHRASE_WORDS:
            continue
        seen.add(context)
        rows["passage"].append(context), rows["phrase"].append(answers[0])
        rows["kind"].append("answer span"), rows["group"].append(title)
    return Dataset.from_dict(rows), len(raw)


def split_by_group(ds: Dataset, test_share: float = 0.2) -> tuple[Dataset, Dataset]:
    """Hold out whole groups (chapters, articles, courses) so no test passage shares a source with training."""
    groups = sorted(set(ds["group"]))
    random.Random(DATA_SEED).shuffle(groups)
    held = set(groups[: max(1, round(len(groups) * test_share))])
    test = [i for i, g in enumerate(ds["group"]) if g in held]
    train = [i for i, g in enumerate(ds["group"]) if g not in held]
    return ds.select(train), ds.select(test)


def passage_retrieval_tasks(test: Dataset):
    """phrase → passage and passage → phrase over the held-out pairs: (queries, corpus, relevant) each."""
    passages = {f"p{i}": p for i, p in enumerate(dict.fromkeys(test["passage"]))}
    pid = {p: k for k, p in passages.items()}
    phrases = {f"a{i}": a for i, a in enumerate(dict.fromkeys(test["phrase"]))}
    aid = {a: k for k, a in phrases.items()}
    to_passage = {f"q{i}": a for i, a in enumerate(test["phrase"])}
    to_passage_rel = {f"q{i}": {pid[p]} for i, p in enumerate(test["passage"])}
    to_phrase_rel: dict[str, set[str]] = {}
    for p, a in zip(test["passage"], test["phrase"]):
        to_phrase_rel.setdefault(pid[p], set()).add(aid[a])
    return (to_passage, passages, to_passage_rel), (dict(passages), phrases, to_phrase_rel)


# ---- Udemy: course title ↔ subject, label 1/0 (seed card 004) --------------------------------

def load_courses(spec: str, key: str) -> Loaded:
    raw = load_source(spec, key)
    columns = {"title": ("course_title",), "subject": ("category",)}
    if "label" in raw.column_names:
        columns["label"] = ()
    ds = standardize(raw, columns, key, spec)
    ds, n_blank = drop_blank(ds, ["title", "subject"])
    ds = ds.add_column("group", ds["title"])  # split by course: a repeated title is one course
    return _nonempty(Loaded(ds, spec, len(raw), {"empty text": n_blank}), key)


def title_subject_pairs(courses: Dataset, positive_fraction: float, n: int | None) -> Dataset:
    """(title, subject name, label): 1.0 for the course's subject, 0.0 for another, positive_fraction positive."""
    rng = random.Random(DATA_SEED)
    subjects = sorted(set(courses["subject"]))
    titles = list(courses["title"])
    own = list(courses["subject"])
    n_neg = round(len(titles) * (1 - positive_fraction) / positive_fraction)
    rows = {"title": titles[:], "subject": own[:], "label": [1.0] * len(titles)}
    for i in rng.sample(range(len(titles)), min(n_neg, len(titles))) + \
            [rng.randrange(len(titles)) for _ in range(max(0, n_neg - len(titles)))]:
        rows["title"].append(titles[i])
        rows["subject"].append(rng.choice([s for s in subjects if s != own[i]]))
        rows["label"].append(0.0)
    return subset(Dataset.from_dict(rows).shuffle(seed=DATA_SEED), n)


def check_labels(ds: Dataset, column: str, low: float, high: float, key: str, spec: str) -> None:
    values = ds[column]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise DataError(f"parameter '{key}' = {spec!r}: column {column!r} must be numeric")
    bad = [v for v in values if not low <= v <= high]
    if bad:
        raise DataError(f"parameter '{key}' = {spec!r}: {len(bad)} labels outside [{low}, {high}], e.g. {bad[0]}")


# ---- one entry per pairing: everything a run reads, prepared before any model is loaded ----------

@dataclass
class Prepared:
    """A run's data: the training pairs (``train_columns`` go to the loss, in order), the STSb test
    pairs, and the pairing's held-out task data in ``test``."""

    train: Loaded
    train_columns: list[str]
    stsb: Loaded
    test: dict[str, Any] = field(default_factory=dict)

    @property
    def train_dataset(self) -> Dataset:
        return self.train.dataset.select_columns(self.train_columns)


def prepare(params) -> Prepared:
    """Load and check all of a run's data. The runner calls it for every run before any notebook
    starts, so a bad file, column or label stops the study before a model is loaded."""
    stsb = load_stsb(params.stsb_data, params.stsb_pairs)
    return _PREPARE[params.pairing](params, stsb)


def _prepare_snli(p, stsb: Loaded) -> Prepared:
    train = load_nli(p.train_data, p.train_pairs, "train_data")
    test = load_nli(p.test_data, p.test_pairs, "test_data")
    return Prepared(train, ["premise", "hypothesis", "label"], stsb, {"nli": test})


def _prepare_greetings(p, stsb: Loaded) -> Prepared:
    train = generate_greetings(p.train_pairs or 3000, p.greetings_pairing)
    queries, corpus, relevant = greetings_retrieval_task()
    return Prepared(train, ["prompt", "reply"], stsb, {"queries": queries, "corpus": corpus, "relevant": relevant})


def _prepare_quora(p, stsb: Loaded) -> Prepared:
    norm = dict(lowercase=p.lowercase, strip_punctuation=p.strip_punctuation)
    train = load_question_pairs(p.train_data, p.train_pairs, "train_data", **norm)
    test = load_question_pairs(p.test_data, p.test_pairs, "test_data", **norm)
    queries, corpus, relevant, clean = duplicate_retrieval_task(test.dataset, train.dataset)
    return Prepared(train, ["anchor", "positive"], stsb,
                    {"pairs": test, "queries": queries, "corpus": corpus, "relevant": relevant, "clean": clean})


def _prepare_ncert(p, stsb: Loaded) -> Prepared:
    if p.ncert_path:
        chapters, garbled = load_ncert_chapters(p.ncert_path)
        pairs = passage_phrase_pairs(list(zip(chapters["file"], chapters["text"])), None)
        source, rows_read, group_name = "NCERT chapter text (ncert_path)", len(chapters) + garbled, "chapter"
        dropped = {"garbled chapters": garbled}
    else:
        pairs, rows_read = squad_pairs(p.train_data, "train_data")
        source, group_name, dropped = f"SQuAD v1.1 ({p.train_data}), standing in for NCERT", "article", {}
    pairs, blank = drop_blank(pairs, ["passage", "phrase"])
    key = "ncert_path" if p.ncert_path else "train_data"
    train_all, test_all = split_by_group(_nonempty(Loaded(pairs, source, rows_read), key).dataset)
    train = _nonempty(Loaded(subset(train_all, p.train_pairs), source, rows_read, {**dropped, "empty text": blank}), key)
    test = subset(test_all, p.test_pairs)
    return Prepared(train, ["passage", "phrase"], stsb, {
        "pairs": test, "to_passage": passage_retrieval_tasks(test)[0], "to_phrase": passage_retrieval_tasks(test)[1],
        "source": source, "group_name": group_name, "all_pairs": len(pairs),
        "groups": (len(set(pairs["group"])), len(set(train_all["group"])), len(set(test_all["group"])))})


def _prepare_udemy(p, stsb: Loaded) -> Prepared:
    courses = load_courses(p.train_data, "train_data")
    train_courses, test_courses = split_by_group(courses.dataset)
    subjects = sorted(set(courses.dataset["subject"]))
    if len(subjects) < 2:
        raise DataError(f"parameter 'train_data' = {p.train_data!r}: needs at least two subjects, found {subjects}")
    if "label" in courses.dataset.column_names:  # the user's own labelled (title, subject, label) pairs
        check_labels(courses.dataset, "label", 0.0, 1.0, "train_data", p.train_data)
        pairs = subset(train_courses.select_columns(["title", "subject", "label"]), p.train_pairs)
        train_courses = train_courses.filter(lambda r: r["label"] == 1.0)
        test_pairs = subset(test_courses.select_columns(["title", "subject", "label"]), p.test_pairs)
        test_courses = test_courses.filter(lambda r: r["label"] == 1.0)
    else:
        pairs = title_subject_pairs(train_courses, p.positive_fraction, p.train_pairs)
        test_pairs = title_subject_pairs(test_courses, p.positive_fraction, p.test_pairs)
    train = Loaded(pairs, p.train_data, courses.rows_read, courses.dropped)
    check_labels(train.dataset, "label", 0.0, 1.0, "train_data", p.train_data)
    return Prepared(train, ["title", "subject", "label"], stsb, {
        "pairs": test_pairs,
        "titles": subset(test_courses, p.test_pairs), "subjects": subjects,
        "courses": (len(train_courses), len(test_courses))})


_PREPARE = {"snli-softmax": _prepare_snli, "greetings-mnrl": _prepare_greetings, "quora-mnrl": _prepare_quora,
            "ncert-mnrl": _prepare_ncert, "udemy-cosine": _prepare_udemy}
