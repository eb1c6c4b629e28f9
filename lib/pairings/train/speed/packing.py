"""The packed encoder: BERT's linear layers, layer norms and GELUs on the real tokens only, packed into one
``[tokens, hidden]`` matrix; attention per text with the padding masked (text by text for long texts on the CPU);
the word-embedding gradient added in place; dropout masks drawn from NumPy's PCG64 on the CPU. The outputs are the
padded model's to float32 rounding (``tests/unit/test_speed.py``)."""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from pairings.train.speed.bert import can_pack, encoder_of
from pairings.train.speed.rows import WordGrad

try:
    from transformers.modeling_outputs import BaseModelOutput
except ImportError:  # pragma: no cover
    BaseModelOutput = None


class WordLookup(torch.autograd.Function):
    """``F.embedding(ids, weight)`` whose backward adds the rows' gradients into ``weight.grad`` itself through
    :class:`WordGrad`, instead of building a new dense matrix per pass. The padding row gets no gradient, as
    with ``padding_idx``."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, ids: torch.Tensor, padding_idx: int | None, grads: WordGrad):
        ctx.save_for_backward(ids)
        ctx.padding_idx, ctx.grads = padding_idx, grads
        return F.embedding(ids, weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (ids,) = ctx.saved_tensors
        if ctx.padding_idx is not None:
            grad = grad.masked_fill((ids == ctx.padding_idx).unsqueeze(1), 0.0)
        ctx.grads.add(ids, grad)
        return None, None, None, None


def lookup(embedding: torch.nn.Embedding, ids: torch.Tensor, grads: WordGrad | None) -> torch.Tensor:
    if (grads is None or grads.weight is not embedding.weight or embedding.max_norm is not None
            or not (embedding.weight.requires_grad and torch.is_grad_enabled())
            or embedding.sparse or embedding.scale_grad_by_freq):
        return embedding(ids)
    return WordLookup.apply(embedding.weight, ids, embedding.padding_idx, grads)


class _KeepMask(torch.autograd.Function):
    """``x * mask / keep`` and its gradient, with ``mask`` drawn by :func:`keep_mask`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float):
        mask = keep_mask(x.shape, 1.0 - p)
        ctx.save_for_backward(mask)
        ctx.scale = 1.0 / (1.0 - p)
        return torch.ops.aten.native_dropout_backward(x, mask, ctx.scale)  # x * mask * scale, as dropout does

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        return torch.ops.aten.native_dropout_backward(grad, mask, ctx.scale), None


def keep_mask(shape: torch.Size, keep: float) -> torch.Tensor:
    """A boolean mask, each element True with probability ``keep`` (to 2^-32): 32 random bits per element
    from NumPy's PCG64, seeded from torch's default generator (so ``torch.manual_seed`` fixes it)."""
    n = math.prod(shape)
    seed = int(torch.randint(0, 2**62, (1,)).item())
    bits = np.random.PCG64(seed).random_raw((n + 1) // 2).view(np.uint32)[:n]
    return torch.from_numpy(bits < np.uint32(min(round(keep * 2**32), 2**32 - 1))).view(shape)


def dropout(x: torch.Tensor, p: float, training: bool, fast: bool = True) -> torch.Tensor:
    """Dropout as ``F.dropout`` (keep with probability 1 - p, scale by 1 / (1 - p)); on the CPU with
    :func:`keep_mask`'s masks (``fast``), elsewhere torch's own."""
    if not training or p == 0.0:
        return x
    if not fast or x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, True)
    return _KeepMask.apply(x, p)


def attention(q, k, v, key_mask: torch.Tensor, p: float, training: bool, scale: float | None,
              fast: bool = True) -> torch.Tensor:
    """Scaled dot-product attention of a padded batch with a boolean key mask; training on the CPU with
    :func:`dropout` (``F.scaled_dot_product_attention``'s math, step by step; ``fast``), else that function."""
    if not (fast and training and p > 0.0 and q.device.type == "cpu"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, dropout_p=p if training else 0.0,
                                              scale=scale)
    scores = (q @ k.transpose(-1, -2)) * (scale or q.shape[-1] ** -0.5)
    weights = torch.softmax(scores.masked_fill(~key_mask, float("-inf")), dim=-1)
    return dropout(weights, p, True) @ v


# Training on the CPU, a batch whose longest text has more tokens than this is attended text by text: one
# text's score matrices then stay in cache and skip the padding; below it, a call per text costs more than
# it saves (greetings' ~15-token texts: 380 against 259 ms a step; NCERT's ~130: 1383 against 1637).
PER_TEXT_FROM = 64


def text_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: list[int], heads: int, p: float,
                   scale: float | None) -> torch.Tensor:
    """Attention of packed ``[tokens, hidden]`` projections, each text's queries over its own keys only: what
    the padded, masked attention computes for the real tokens (a masked key's weight is exactly 0), with
    :func:`dropout` on the weights. Used when training on the CPU, where one text's score matrix is small
    enough to stay in cache and padding costs nothing; ``[tokens, hidden]`` out."""
    out = []
    for qi, ki, vi in zip(q.split(lengths), k.split(lengths), v.split(lengths)):
        n = qi.shape[0]
        if not n:
            continue
        qi, ki, vi = (t.view(n, heads, -1).transpose(0, 1) for t in (qi, ki, vi))  # [heads, n, head size]
        weights = torch.softmax((qi @ ki.transpose(-1, -2)) * (scale or qi.shape[-1] ** -0.5), dim=-1)
        out.append((dropout(weights, p, True) @ vi).transpose(0, 1).reshape(n, -1))
    return torch.cat(out)


def packed_forward(bert, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                   token_type_ids: torch.Tensor | None = None, *, _grads: WordGrad | None = None,
                   _fast_dropout: bool = True, _padded: bool = False, **_: object):
    """BertModel's forward computed on the real tokens only; returns ``last_hidden_state`` padded back.
    ``_fast_dropout``: on the CPU, :func:`dropout`'s masks and attention text by text for long texts.
    ``_padded``: on every position of the padded batch instead (the same outputs for the real tokens), with
    no data-dependent shape and no read of a tensor by the host: what a CUDA graph can replay
    (:func:`static_encoding`)."""
    batch, length = input_ids.shape
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    # positions of real tokens in the flat batch (None: every position)
    keep = None if _padded else attention_mask.reshape(-1).nonzero().squeeze(1)

    def take(t: torch.Tensor) -> torch.Tensor:  # [B * L, ...] -> the kept rows
        return t if keep is None else t[keep]

    def full(t: torch.Tensor) -> torch.Tensor:  # the kept rows -> [B * L, H], zeros at padding
        return t if keep is None else t.new_zeros(batch * length, t.shape[-1]).index_copy(0, keep, t)

    positions = take(torch.arange(length, device=input_ids.device).expand(batch, length).reshape(-1))
    types = take(token_type_ids.reshape(-1)) if token_type_ids is not None else torch.zeros_like(positions)
    emb = bert.embeddings
    training = bert.training
    words = lookup(emb.word_embeddings, take(input_ids.reshape(-1)), _grads)
    x = words + emb.token_type_embeddings(types)
    fast = _fast_dropout
    x = dropout(emb.LayerNorm(x + emb.position_embeddings(positions)), emb.dropout.p, training, fast)

    hidden = x.shape[-1]
    key_mask = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, L]: queries see real keys only

    def unpack(t: torch.Tensor, heads: int) -> torch.Tensor:  # [T, H] -> [B, heads, L, H/heads]
        return full(t).view(batch, length, heads, -1).transpose(1, 2)

    per_text = fast and training and x.device.type == "cpu" and length > PER_TEXT_FROM  # else the masked batch
    lengths = attention_mask.sum(1).tolist() if per_text else []
    for layer in bert.encoder.layer:
        att = layer.attention.self
        heads, p, scale = att.num_attention_heads, att.dropout.p, getattr(att, "scaling", None)
        if per_text:
            ctx = text_attention(att.query(x), att.key(x), att.value(x), lengths, heads, p, scale)
        else:
            q, k, v = (unpack(proj(x), heads) for proj in (att.query, att.key, att.value))
            ctx = attention(q, k, v, key_mask, p, training, scale, fast)
            ctx = take(ctx.transpose(1, 2).reshape(batch * length, hidden))
        out = layer.attention.output
        x = out.LayerNorm(dropout(out.dense(ctx), out.dropout.p, training, fast) + x)
        ffn = layer.output
        x = ffn.LayerNorm(dropout(ffn.dense(layer.intermediate(x)), ffn.dropout.p, training, fast) + x)

    return BaseModelOutput(last_hidden_state=full(x).view(batch, length, hidden))


@contextlib.contextmanager
def packed(model, fast_dropout: bool = True) -> Iterator[WordGrad | None]:
    """Within the block, the model's encoder runs packed; yields its word-embedding gradient (:class:`WordGrad`,
    to :meth:`~WordGrad.attach` to the optimiser), or None where it cannot pack (the encoder then runs as is)."""
    bert = encoder_of(model)
    if bert is None or not can_pack(bert) or BaseModelOutput is None:
        yield None
        return
    grads = WordGrad(bert.embeddings.word_embeddings.weight)
    bert.forward = functools.partial(packed_forward, bert, _grads=grads, _fast_dropout=fast_dropout)  # shadows the method
    try:
        yield grads
    finally:
        del bert.forward
        grads.detach()


# Padded lengths of the static-shape encoding: a batch is padded to the shortest of these that holds its longest
# text (and the model's max_seq_length caps them), so that a few shapes (a CUDA graph each) cover every batch.
