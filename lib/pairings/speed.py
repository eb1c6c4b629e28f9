"""The study's faster training path: the same training as the plain trainer, with less work per step.

``fast_path: true`` keeps ``SentenceTransformerTrainer`` (so the batches, their order, the schedule,
logging, checkpoints and resume are the trainer's own) and changes two things that do not change the
arithmetic being done:

* **packed encoder** (:func:`packed`): the BERT encoder runs its linear layers, layer norms and GELUs on
  the real tokens only, packed into one ``[tokens, hidden]`` matrix, instead of on the batch padded to its
  longest text; attention is computed per text with the padding masked, as before. Padding positions never
  influence a real token or the mean pooling, so the outputs are those of the padded model (to float32
  rounding, see ``tests/test_speed.py``); only dropout draws its masks over a different tensor shape.
* **fused AdamW** (``optim="adamw_torch_fused"``): one kernel per step; the same update rule in float32.
  Three of the five cards already used it (``optim`` in their hyperparameters); the other two used
  ``adamw_torch``, a chain of foreach ops.

Nothing here lowers precision (no bf16, no TF32) or changes batch composition (no length bucketing).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import torch
import torch.nn.functional as F

try:
    from transformers.modeling_outputs import BaseModelOutput
except ImportError:  # pragma: no cover
    BaseModelOutput = None



def options(fast_path: bool, packed: bool) -> list[str]:
    """What a run's record says about its training path."""
    if not fast_path:
        return ["SentenceTransformerTrainer with the seed card's arguments (padded batches, the card's optim)"]
    return ["packed encoder (no compute on padding)"] * bool(packed) + ["fused AdamW"]


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


def packed_forward(bert, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                   token_type_ids: torch.Tensor | None = None, **_: object):
    """BertModel's forward computed on the real tokens only; returns ``last_hidden_state`` padded back."""
    batch, length = input_ids.shape
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    keep = attention_mask.reshape(-1).nonzero().squeeze(1)  # positions of real tokens in the flat batch
    positions = torch.arange(length, device=input_ids.device).expand(batch, length).reshape(-1)[keep]
    types = (token_type_ids.reshape(-1)[keep] if token_type_ids is not None
             else torch.zeros_like(positions))
    emb = bert.embeddings
    x = emb.word_embeddings(input_ids.reshape(-1)[keep]) + emb.token_type_embeddings(types)
    x = emb.dropout(emb.LayerNorm(x + emb.position_embeddings(positions)))

    hidden = x.shape[-1]
    key_mask = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, L]: queries see real keys only

    def unpack(t: torch.Tensor, heads: int) -> torch.Tensor:  # [T, H] -> [B, heads, L, H/heads]
        full = t.new_zeros(batch * length, t.shape[-1]).index_copy(0, keep, t)
        return full.view(batch, length, heads, -1).transpose(1, 2)

    for layer in bert.encoder.layer:
        att = layer.attention.self
        heads = att.num_attention_heads
        q, k, v = (unpack(proj(x), heads) for proj in (att.query, att.key, att.value))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask,
                                             dropout_p=att.dropout.p if att.training else 0.0,
                                             scale=getattr(att, "scaling", None))
        ctx = ctx.transpose(1, 2).reshape(batch * length, hidden)[keep]
        out = layer.attention.output
        x = out.LayerNorm(out.dropout(out.dense(ctx)) + x)
        ffn = layer.output
        x = ffn.LayerNorm(ffn.dropout(ffn.dense(layer.intermediate(x))) + x)

    last = x.new_zeros(batch * length, hidden).index_copy(0, keep, x).view(batch, length, hidden)
    return BaseModelOutput(last_hidden_state=last)


@contextlib.contextmanager
def packed(model) -> Iterator[bool]:
    """Within the block, the model's encoder runs packed; yields whether it could (else it runs as is)."""
    bert = encoder_of(model)
    if bert is None or not can_pack(bert) or BaseModelOutput is None:
        yield False
        return
    bert.forward = functools.partial(packed_forward, bert)  # an instance attribute shadows the method
    try:
        yield True
    finally:
        del bert.forward
