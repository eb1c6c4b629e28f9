"""Udemy courses (seed card 004): course title ↔ subject name, labelled 1 (its own) or 0 (another)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import datasets
from datasets import Dataset

from pairings.data.base import DataSet, Shaped, Task
from pairings.data.sources import (
    DATA_SEED,
    DataError,
    Loaded,
    check_labels,
    drop_blank,
    load_source,
    nonempty,
    split_by_group,
    standardize,
    subset,
    values,
)
from pairings.evaluate import metrics


def load_courses(spec: str, key: str) -> Loaded:
    raw = load_source(spec, key)
    columns = {"title": ("course_title",), "subject": ("category",)}
    if "label" in raw.column_names:
        columns["label"] = ()
    ds = standardize(raw, columns, key, spec)
    ds, n_blank = drop_blank(ds, ["title", "subject"], key, spec)
    ds = ds.add_column("group", [str(t) for t in values(ds, "title")])  # split by course: a repeated title is one course
    return nonempty(Loaded(ds, spec, len(raw), {"empty text": n_blank}), key)


def title_subject_pairs(courses: Dataset, positive_fraction: float, n: int | None) -> Dataset:
    """(title, subject name, label): 1.0 for the course's subject, 0.0 for another, positive_fraction positive."""
    rng = random.Random(DATA_SEED)
    subjects = sorted(set(values(courses, "subject")))
    titles = (values(courses, "title"))
    own = (values(courses, "subject"))
    n_neg = round(len(titles) * (1 - positive_fraction) / positive_fraction)
    rows = {"title": titles[:], "subject": own[:], "label": [1.0] * len(titles)}
    for i in rng.sample(range(len(titles)), min(n_neg, len(titles))) + \
            [rng.randrange(len(titles)) for _ in range(max(0, n_neg - len(titles)))]:
        rows["title"].append(titles[i])
        rows["subject"].append(rng.choice([s for s in subjects if s != own[i]]))
        rows["label"].append(0.0)
    return subset(Dataset.from_dict(rows).shuffle(seed=DATA_SEED), n)


class SubjectTask(Task):
    """Held-out courses: the Spearman of cos(title, subject) against the label on held-out pairs, and
    zero-shot classification of held-out titles by the nearest subject name (its confusion matrix kept)."""

    metric = "zero_shot_accuracy"

    def __init__(self, pairs: Dataset, titles: Dataset, subjects: list[str], courses: tuple[int, int]):
        super().__init__()
        self.pairs, self.titles, self.subjects, self.courses = pairs, titles, subjects, courses

    def transfer(self, model) -> float:
        return metrics.zero_shot(model, self.titles["title"], self.titles["subject"], self.subjects)[0][self.metric]

    def evaluate(self, model, loss) -> dict[str, float]:
        scores, self.artifacts["confusion"] = metrics.zero_shot(model, self.titles["title"], self.titles["subject"], self.subjects)
        return {**metrics.pair_spearman(model, self.pairs, "title", "subject", name="udemy-test"), **scores}


class Udemy(DataSet):
    name, title, pairing, card = "udemy", "Udemy title ↔ subject", "udemy-cosine", "004_91651d10c71c9068"
    @dataclass(frozen=True)
    class Options:
        positive_fraction: float = 0.6  # the share of (title, subject) rows that are the course's own subject
    text_columns = ("title", "subject")
    recipe = {"train_data": "udemy:udemy_courses", "loss": "cosine", "batch_size": 32, "epochs": 3, "max_seq_length": 256}

    def validate(self, p, fail):
        if not 0 < p.options.positive_fraction < 1:
            fail("positive_fraction", "must be between 0 and 1 (exclusive)")

    def load(self, p):
        courses = load_courses(p.train_data, "train_data")
        train_courses, test_courses = split_by_group(courses.dataset)
        subjects = sorted(set(values(courses.dataset, "subject")))
        if len(subjects) < 2:
            raise DataError(f"parameter 'train_data' = {p.train_data!r}: needs at least two subjects, found {subjects}")
        if "label" in courses.dataset.column_names:  # the user's own labelled (title, subject, label) pairs
            check_labels(courses.dataset, "label", 0.0, 1.0, "train_data", p.train_data)
            pairs = subset(train_courses.select_columns(["title", "subject", "label"]), p.train_pairs)
            train_courses = train_courses.filter(lambda r: r["label"] == 1.0)
            test_pairs = subset(test_courses.select_columns(["title", "subject", "label"]), p.test_pairs)
            test_courses = test_courses.filter(lambda r: r["label"] == 1.0)
        else:
            for side, part in (("training", train_courses), ("held-out", test_courses)):
                if len(set(values(part, "subject"))) < 2:
                    raise DataError(f"parameter 'train_data' = {p.train_data!r}: the {side} courses have fewer than "
                                    f"two subjects after the split by course; give more courses")
            pairs = title_subject_pairs(train_courses, p.options.positive_fraction, p.train_pairs)
            test_pairs = title_subject_pairs(test_courses, p.options.positive_fraction, p.test_pairs)
        train = Loaded(pairs, p.train_data, courses.rows_read, courses.dropped)
        check_labels(train.dataset, "label", 0.0, 1.0, "train_data", p.train_data)
        task = SubjectTask(test_pairs, subset(test_courses, p.test_pairs), subjects, (len(train_courses), len(test_courses)))
        return train, task, {}

    def shape_cosine(self, ds, p):
        """(title, subject, label): the card's recipe, cosine pulled to 1.0 for the course's subject, 0.0 for another."""
        return Shaped(ds.select_columns(["title", "subject", "label"]))

    def shape_mnrl(self, ds, p):
        """(title, its subject): the positive rows only; with few subjects many in-batch negatives equal the positive (counted)."""
        return Shaped(ds.filter(lambda r: r["label"] == 1.0).select_columns(["title", "subject"]))

    def shape_softmax(self, ds, p):
        """(title, subject, label as a class): two classes, the course's subject or another."""
        classes = ds.map(lambda r: {"label": int(r["label"] >= 0.5)}).cast_column("label", datasets.Value("int64"))
        return Shaped(classes.select_columns(["title", "subject", "label"]), num_labels=2)

    def stand_in(self, p):
        return "3,678 Kaggle Udemy courses with 4 subjects stand in for the card's 128,696 title-category pairs"

    def record_data(self, p, prep):
        task = prep.task
        return {"test_source": "held-out courses", "test_pairs": len(task.pairs), "test_titles": len(task.titles),
                "empty_strings_dropped": prep.train.dropped["empty text"], "subjects": task.subjects}
