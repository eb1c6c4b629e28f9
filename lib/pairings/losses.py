"""The losses the study trains with: one entry each, the one place that knows what a loss is.

A :class:`Loss` says its name (the value of the ``loss`` parameter), its label, what a training row must hold for
it, whether it takes its negatives from the batch, whether it has a classifier of its own (a head), its chance
level, and how sentence-transformers builds it. Everything else asks this registry: nothing outside this module
compares a loss name with a string (a test reads the source). Adding a loss is an entry in ``REGISTRY``, plus a
``shape_<name>`` on each data set (``pairings.data``) that can feed it, unless it reads another loss's rows
(``rows``: a CoSENT-style loss reads CosineSimilarityLoss's scored pairs, and every data set that feeds one feeds both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Loss:
    name: str  # the ``loss`` parameter's value, and the suffix of the data sets' ``shape_<name>``
    label: str  # sentence-transformers' class name, as reports print it
    needs: str  # what each training row holds besides its two texts: "pairs" (nothing), "classes", "scores"
    in_batch_negatives: bool  # the rest of the batch are its negatives: a batch of one cannot train
    head: bool  # a classifier of its own (trained with the encoder; a warm-up can fit it first)
    build: Callable  # (model, num_labels, seed) -> the sentence-transformers loss
    rows: str = ""  # the loss whose training rows it reads, where it needs the same (e.g. a scored-pairs loss): ""
    # for its own, made by each data set's ``shape_<name>``

    @property
    def rows_of(self) -> str:
        """The name of the ``shape_<name>`` methods that make this loss's training rows."""
        return self.rows or self.name

    def make(self, model, num_labels: int | None = None, seed: int = 42):
        """The sentence-transformers loss on ``model``; a head's initial weights are drawn from ``seed``."""
        return self.build(model, num_labels, seed)

    def chance(self, batch_size: int) -> float | None:
        """The loss of a model that ranks at random, where the loss has one: ln(batch size) with in-batch
        negatives (one right answer among the batch's candidates)."""
        return math.log(batch_size) if self.in_batch_negatives else None


def _mnrl(model, num_labels, seed):
    from sentence_transformers import losses, util

    return losses.MultipleNegativesRankingLoss(model, scale=20.0, similarity_fct=util.cos_sim)


def _softmax(model, num_labels, seed):
    import transformers
    from sentence_transformers import losses

    transformers.set_seed(seed)
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return losses.SoftmaxLoss(model, get(), num_labels or 3)


def _cosine(model, num_labels, seed):
    from sentence_transformers import losses

    return losses.CosineSimilarityLoss(model)


REGISTRY: dict[str, Loss] = {loss.name: loss for loss in (
    Loss("mnrl", "MultipleNegativesRankingLoss", "pairs", in_batch_negatives=True, head=False, build=_mnrl),
    Loss("softmax", "SoftmaxLoss", "classes", in_batch_negatives=False, head=True, build=_softmax),
    Loss("cosine", "CosineSimilarityLoss", "scores", in_batch_negatives=False, head=False, build=_cosine),
)}
NAMES = tuple(REGISTRY)


def get(name: str) -> Loss:
    """The loss of that name; a ValueError naming the parameter and the known losses otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"parameter 'loss' = {name!r}: unknown; known: {', '.join(NAMES)}") from None


def label(name: str) -> str:
    """The loss's label as reports print it; the name itself for a loss this code does not know (an old record's)."""
    return REGISTRY[name].label if name in REGISTRY else name


def has_head(name: str | None) -> bool:
    """Whether the named loss has a classifier of its own (False for None: no loss, head-free)."""
    return name is not None and get(name).head


def own_weights(loss) -> dict:
    """A built loss's own weights (SoftmaxLoss's classifier), without the model's: {} for a loss without any."""
    return {k: v for k, v in loss.state_dict().items() if not k.startswith("model.")}


def head_features(loss, u, v):
    """What SoftmaxLoss's classifier reads for embeddings ``u``, ``v``: [u, v, |u - v|, u * v] as its flags choose."""
    import torch

    parts = [u, v] if loss.concatenation_sent_rep else []
    if loss.concatenation_sent_difference:
        parts.append(torch.abs(u - v))
    if loss.concatenation_sent_multiplication:
        parts.append(u * v)
    return torch.cat(parts, 1).to(loss.classifier.weight.dtype)
