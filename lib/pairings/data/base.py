"""The data set contract: what every data set module defines (:class:`DataSet`, or :class:`PairData` for positive
pairs), its held-out :class:`Task`, and the prepared data a run trains and evaluates on (:class:`Prepared`).

A data set holds its seed card and recipe (the defaults a pairing on it starts from), how it is read and cleaned
(``load``), how it is shaped for each loss it can feed (``shape_<loss>``, whose docstring line explains the
choice), its held-out task with its evaluation and headline metric, the sentence naming its stand-in, and what its
record keeps."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from datasets import Dataset

from pairings import losses
from pairings.data import general, sanity
from pairings.data.sources import DATA_SEED, DataError, Loaded
from pairings.evaluate import metrics

# ---- held-out tasks ---------------------------------------------------------------------------


class Task:
    """A data set's held-out task: ``evaluate`` gives its metrics (plain floats) for a model; ``headline``
    names the one the study reports; ``artifacts`` holds what the last evaluation made besides metrics
    (e.g. a confusion matrix), for the record."""

    metric: str = ""

    def __init__(self) -> None:
        self.artifacts: dict[str, Any] = {}

    def evaluate(self, model, loss) -> dict[str, float]:
        raise NotImplementedError

    def headline(self, loss: str) -> str:
        return self.metric

    def transfer(self, model) -> float:
        """The head-free headline (``headline(None)``) for any model: this task's column of the transfer
        matrix. A task may compute that metric alone."""
        return self.evaluate(model, None)[self.headline(None)]

    def held_out(self) -> set[str]:
        """The held-out first texts (queries, premises, titles), to count those also in training: its
        ``pairs`` or ``rows`` table's first column, else its retrieval's queries."""
        for name in ("pairs", "rows"):
            table = getattr(self, name, None)
            table = table.dataset if isinstance(table, Loaded) else table
            if isinstance(table, Dataset) and table.column_names:
                return {v for v in table[table.column_names[0]] if isinstance(v, str)}
        retrieval = getattr(self, "retrieval", None)
        return set(retrieval.queries.values()) if isinstance(retrieval, Retrieval) else set()


@dataclass
class Retrieval:
    """Queries rank a corpus; ``relevant`` says which documents answer each query."""

    name: str
    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]

    def evaluate(self, model, similarity: str = "cosine") -> dict[str, float]:
        return metrics.retrieval(model, self.queries, self.corpus, self.relevant, name=self.name, similarity=similarity)

    def only(self, query_ids: list[str], name: str) -> "Retrieval":
        return Retrieval(name, {q: self.queries[q] for q in query_ids}, self.corpus,
                         {q: self.relevant[q] for q in query_ids})


# ---- prepared data ----------------------------------------------------------------------------

@dataclass
class Shaped:
    """Training rows for one loss: the columns the loss reads, in order, and the classes of SoftmaxLoss."""

    dataset: Dataset
    num_labels: int | None = None


@dataclass
class Prepared:
    """A run's data: the training rows as read and cleaned, the same rows shaped for the loss, the STSb
    (and SICK-R) test pairs, the held-out task, and what the notebook's data section shows (``info``)."""

    train: Loaded
    shaped: Shaped
    stsb: Loaded
    task: Task
    info: dict[str, Any] = field(default_factory=dict)
    sanity: dict[str, Any] = field(default_factory=dict)  # counts, and the warnings among them (see sanity())
    sick: Loaded | None = None

    @property
    def train_dataset(self) -> Dataset:
        return self.shaped.dataset


# ---- the data set contract --------------------------------------------------------------------

@dataclass(frozen=True)
class NoOptions:
    """A data set without options of its own."""


class DataSet:
    name: ClassVar[str]
    title: ClassVar[str]  # for figure titles: "Quora duplicate questions"
    pairing: ClassVar[str | None] = None  # its seed pairing, e.g. "quora-mnrl"
    card: ClassVar[str | None] = None  # its seed card in data/seed-cards/ (without .md)
    Options: ClassVar[type] = NoOptions  # the parameters only this data set takes (a frozen dataclass)
    text_columns: ClassVar[tuple[str, ...]] = ()  # the training rows' two texts, as read
    generated: ClassVar[bool] = False  # train_data / test_data are 'generated', not sources
    needs_test_data: ClassVar[bool] = False  # test_data must name a source ("" holds none out of train_data)
    # The seed card's recipe and this data set's sources: the defaults a pairing on it starts from
    # (over Params' own defaults; below any params file).
    recipe: ClassVar[dict[str, Any]] = {}

    @classmethod
    def losses(cls) -> tuple[str, ...]:
        """The losses this data set can be shaped for: those whose rows a ``shape_<name>`` method makes (a loss's
        own, or the one whose rows it reads: ``losses.Loss.rows_of``)."""
        return tuple(loss for loss in losses.NAMES if hasattr(cls, f"shape_{losses.get(loss).rows_of}"))

    @classmethod
    def shaping(cls, loss: str) -> str:
        """The one-line reason for the shaping of this data set for ``loss``."""
        return (getattr(cls, f"shape_{losses.get(loss).rows_of}").__doc__ or "").strip().splitlines()[0]

    @classmethod
    def show_example(cls, sentences: list[str]) -> list[str]:
        """The seed card's usage example as reports and records may show it."""
        return list(sentences)

    def validate(self, params, fail) -> None:
        """Checks of this data set's own parameters; ``fail(key, why)`` raises."""

    def load(self, params) -> tuple[Loaded, Task, dict[str, Any]]:
        """Read and clean the training rows; build the held-out task; return what the notebook shows."""
        raise NotImplementedError

    def shape(self, loss: str, train: Loaded, params) -> Shaped:
        if loss not in self.losses():
            raise DataError(unshapeable(self, loss))
        return getattr(self, f"shape_{losses.get(loss).rows_of}")(train.dataset, params)

    def head_pairs(self, prepared: Prepared) -> tuple[tuple[list, list, list], str]:
        """Labelled pairs to score a loss's head on (``pairings.train.head.diagnose``): (first texts, second texts,
        labels) and what they are. By default the training rows as shaped for the loss; a task with labelled
        held-out pairs of the same classes gives those instead."""
        ds = prepared.shaped.dataset
        first, second, labels = ds.column_names[:3]
        return (ds[first], ds[second], ds[labels]), f"{min(len(ds), 2000):,} training rows"

    def stand_in(self, params) -> str | None:
        """The sentence naming what stands in for the seed card's data, or None."""
        return None

    def record_data(self, params, prepared: Prepared) -> dict[str, Any]:
        """What the record keeps about the data besides the common fields."""
        return {}

    def prepare(self, params) -> Prepared:
        """All of a run's data, checked: the runner calls this for every run before any model loads."""
        stsb = general.load(params.stsb_data, params.stsb_pairs)
        sick = general.load(params.sick_data, params.sick_pairs, "sick_data") if params.sick_data else None
        train, task, info = self.load(params)
        try:
            shaped = self.shape(params.loss, train, params)
        except DataError as err:
            if "parameter '" in str(err):
                raise
            raise DataError(f"parameter 'train_data' = {params.train_data!r} (data set '{self.name}', loss "
                            f"'{params.loss}'): {err}") from None
        return Prepared(train, shaped, stsb, task, info, sanity.check(self, params, train, shaped, task), sick)


class PairData(DataSet):
    """A data set of positive pairs (``pair``: its two text columns), shaped for each loss the same way."""

    pair: ClassVar[tuple[str, str]]

    def shape_mnrl(self, ds, params):
        """(text, its pair): the data's own pairs; the batch's other pairs are the negatives."""
        return Shaped(ds.select_columns(list(self.pair)))

    def shape_cosine(self, ds, params):
        """(text, its pair, 1.0) and (text, another row's pair, 0.0): the data hold positive pairs only."""
        return Shaped(with_negatives(ds, *self.pair, 1.0, 0.0))

    def shape_softmax(self, ds, params):
        """(text, its pair, 1) and (text, another row's pair, 0): two classes, its pair or not."""
        return Shaped(with_negatives(ds, *self.pair, 1, 0), num_labels=2)


def unshapeable(data_set: DataSet | type[DataSet], loss: str, why: str = "") -> str:
    return (f"parameter 'loss' = {loss!r}: data set '{data_set.name}' cannot be shaped for it{why}; "
            f"it can feed: {', '.join(data_set.losses())}")


# ---- shapings shared by several data sets -------------------------------------------------------

def with_negatives(ds: Dataset, first: str, second: str, positive, negative) -> Dataset:
    """Each (first, second) pair labelled ``positive``, plus the same first text with the second text of
    another row labelled ``negative`` (a different text, drawn with DATA_SEED): half the rows positive."""
    rng = random.Random(DATA_SEED)
    a, b = list(ds[first]), list(ds[second])
    pool = sorted(set(b))
    if len(pool) < 2:
        raise DataError(f"column '{second}' has fewer than two distinct texts: no negative can be drawn")
    rows = {first: a[:], second: b[:], "label": [positive] * len(a)}
    for text_a, text_b in zip(a, b):
        other = rng.choice(pool)
        while other == text_b:
            other = rng.choice(pool)
        rows[first].append(text_a)
        rows[second].append(other)
        rows["label"].append(negative)
    return Dataset.from_dict(rows).shuffle(seed=DATA_SEED)
