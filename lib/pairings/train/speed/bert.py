"""The BERT encoder inside a SentenceTransformer, which the speed mechanisms rewrite, and the one ladder of static
lengths that every static-shape path (the GPU's encoding, the lean loop's batches on CUDA) pads to."""

from __future__ import annotations

import torch

# a batch padded to the first of these at least as long as its longest text (capped at max_seq_length): a handful
# of shapes, each one CUDA graph
LENGTHS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def static_length(length: int, cap: int) -> int:
    """The ladder's first length at least ``length``, capped at ``cap`` (the model's max_seq_length)."""
    return min(next((n for n in LENGTHS if n >= length), cap), cap)


def encoder_of(model) -> torch.nn.Module | None:
    """The Hugging Face model inside a SentenceTransformer's first module (``auto_model`` or ``model``)."""
    first = model[0]
    return getattr(first, "auto_model", None) or getattr(first, "model", None)


def can_pack(encoder) -> bool:
    """Packing is written for BERT-style encoders with absolute positions (all-MiniLM-L6-v2 is one)."""
    config = getattr(encoder, "config", None)
    return (config is not None and config.model_type == "bert"
            and getattr(config, "position_embedding_type", "absolute") == "absolute"
            and not config.is_decoder)
