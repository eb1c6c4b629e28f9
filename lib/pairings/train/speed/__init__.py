"""The study's faster training path (``fast_path``): the same training as the plain trainer, with less work per
step and nothing that lowers precision. Its mechanisms, one module each: ``packing`` (the encoder on the real tokens
only, packed; attention per text; the word-embedding gradient added in place; on the CPU, dropout masks from NumPy's
PCG64 and attention text by text for long texts, with ``fast_dropout``), ``rows`` (AdamW and clipping over the
word-embedding rows touched), ``static`` (static-shape encoding replayed from CUDA graphs, for evaluation on a GPU),
over ``bert`` (the encoder they rewrite and the one ladder of static lengths). ``options`` says in the record what a
run used; docs/performance.md gives the measurements behind each.
"""

from __future__ import annotations

from pairings.train.speed.bert import LENGTHS, can_pack, encoder_of, static_length
from pairings.train.speed.packing import PER_TEXT_FROM, attention, dropout, keep_mask, lookup, packed, packed_forward, text_attention
from pairings.train.speed.rows import WordGrad
from pairings.train.speed.static import StaticEncoder, evaluation, static_encoding

__all__ = ["LENGTHS", "PER_TEXT_FROM", "StaticEncoder", "WordGrad", "attention", "can_pack", "dropout", "encoder_of",
           "evaluation", "keep_mask", "lookup", "options", "packed", "packed_forward", "static_encoding", "static_length",
           "text_attention"]


def options(fast_path: bool, packed: bool, fast_dropout: bool = True, grads: "WordGrad | None" = None) -> list[str]:
    """What a run's record says about its training path (``grads``: the packed encoder's, what it did)."""
    if not fast_path:
        return ["SentenceTransformerTrainer with the seed card's arguments (padded batches, the card's optim)"]
    if not packed:
        return ["fused AdamW"]
    cpu = ["dropout masks from NumPy's PCG64 on the CPU",
           "attention text by text for long texts when training on the CPU"] if fast_dropout else []
    rows = grads.options() if grads is not None else []
    return ["packed encoder (no compute on padding)", "word-embedding gradient accumulated in place", *cpu,
            "fused AdamW", *rows]
