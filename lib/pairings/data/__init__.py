"""The data sets: one module each, holding everything about it.

A data set module defines a :class:`DataSet` subclass: its seed card and recipe (the defaults a pairing on
it starts from), how it is read and cleaned (``load``), how it is shaped for each loss it can feed
(``shape_<loss>``, whose docstring line explains the choice), its held-out task (a :class:`Task`) with its
evaluation and headline metric, the sentence naming its stand-in, and what its record keeps. A *pairing*
is a data set and a loss: the five seed pairings are registered here; a variant may change the loss.

The contract is in ``pairings.data.base``, the checks every run's data pass in ``pairings.data.sanity``, reading and
cleaning in ``pairings.data.sources``. Generic code (training, evaluation, records, reports) goes through this
interface and names no data set.
"""

from __future__ import annotations

from pairings.data.base import DataSet, PairData, Prepared, Retrieval, Shaped, Task, unshapeable, with_negatives
from pairings.data.file import File
from pairings.data.greetings import Greetings
from pairings.data.ncert import Ncert
from pairings.data.quora import Quora
from pairings.data.snli import Snli
from pairings.data.sources import DataError
from pairings.data.udemy import Udemy

__all__ = ["DataSet", "PairData", "Prepared", "Retrieval", "Shaped", "Task", "get", "registry", "seed_pairings",
           "unshapeable", "with_negatives"]


# ---- the registry -----------------------------------------------------------------------------

REGISTRY: dict[str, type[DataSet]] = {s.name: s for s in (Quora, Ncert, Snli, Greetings, Udemy, File)}


def registry() -> dict[str, type[DataSet]]:
    """Every data set by name."""
    return REGISTRY


def seed_pairings() -> dict[str, str]:
    """The five seed pairings, in the seed cards' order: pairing → data set."""
    return {s.pairing: s.name for s in sorted(registry().values(), key=lambda s: s.card or "~") if s.pairing}


def get(name: str) -> DataSet:
    try:
        return registry()[name]()
    except KeyError:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(registry())}") from None
