"""The study's faster training path: the same training as the plain trainer, with less work per step.

``fast_path: true`` keeps ``SentenceTransformerTrainer`` (so the batches, their order, the schedule,
logging, checkpoints and resume are the trainer's own) and changes what follows, none of which lowers
precision; the last two, which draw dropout masks of their own, only with ``fast_dropout: true`` (the
default; the local profile keeps torch's dropout, with which its records were trained):

* **packed encoder** (:func:`packed`): the BERT encoder runs its linear layers, layer norms and GELUs on
  the real tokens only, packed into one ``[tokens, hidden]`` matrix, instead of on the batch padded to its
  longest text; attention is computed per text with the padding masked, as before. Padding positions never
  influence a real token or the mean pooling, so the outputs are those of the padded model (to float32
  rounding, see ``tests/unit/test_speed.py``); only dropout draws its masks over a different tensor shape.
* **fused AdamW** (``optim="adamw_torch_fused"``): one kernel per step; the same update rule in float32.
  Three of the five cards already used it (``optim`` in their hyperparameters); the other two used
  ``adamw_torch``, a chain of foreach ops.
* **word-embedding gradient in place** (:class:`WordLookup`): the packed encoder looks its tokens up with a
  function whose backward adds their gradient rows into ``weight.grad`` directly, one buffer kept for the
  whole training. The plain embedding backward builds a dense zero ``[30522, 384]`` matrix (46 MB) on every
  forward pass (an MNRL step has two) and the engine adds them up; on the project's 2-core CPU filling that
  fresh allocation took 18–97 ms a pass (``torch.profiler``: ``aten::fill_``). The same sums of the same rows.
* **AdamW and clipping over the touched rows** (:class:`WordGrad`): a row no step has touched has zero gradient
  and moments, and AdamW without weight decay leaves it exactly as it is; so the optimiser's step updates the
  touched rows only (the same fused function), and the lean loop's clipping reads only this step's rows.
* **dropout masks on the CPU** (:func:`dropout`): ``torch.bernoulli`` draws about 10 ns per element there,
  and attention dropout draws one per query-key pair. The study's path draws its keep-masks from NumPy's
  PCG64 (one generator per mask, seeded from torch's generator, so the trainer's seeding and checkpointed
  RNG state govern it) with the same keep probability (to 2^-32) and scale 1 / (1 - p). The masks differ
  from torch's, as the packed shapes already made them; GPUs keep torch's dropout.
* **attention text by text when training on the CPU** (:func:`text_attention`) for batches of long texts
  (over ``PER_TEXT_FROM`` tokens): each text's queries over its own keys, instead of the batch padded to its
  longest text with the padding masked: the same weights for the real tokens (a masked key's is exactly 0),
  no work on padding, and score matrices small enough to stay in cache (NCERT's padded ``[16, 12, 145, 145]``
  ones cost 5–8 ns per element per element-wise pass). Shorter batches keep the masked batch attention,
  computed step by step (:func:`attention`) to use the masks above.

Evaluation on the study's path (:func:`evaluation`) runs the packed encoder on the CPU; on a GPU, where its
``nonzero()`` is a host synchronisation per batch, :func:`static_encoding`: batches sorted by length, padded to a
few static lengths and replayed from a CUDA graph per shape, the embeddings read once at the end.

Nothing here lowers precision (no bf16, no TF32) or changes batch composition (no length bucketing in training).
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.adam import adam as adam_step  # the function torch's Adam and AdamW steps call

try:
    from transformers.modeling_outputs import BaseModelOutput
except ImportError:  # pragma: no cover
    BaseModelOutput = None


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


class WordGrad:
    """The packed encoder's word-embedding gradient: one buffer for the whole training, into which each pass's
    backward adds its rows (``index_add_``: the sums the plain embedding backward makes), and the rows touched.

    * When a step starts (``weight.grad`` set to None by ``zero_grad``) the buffer is handed out again with
      only the rows the last step touched zeroed: nothing else in it was ever written (clipping scales its zeros).
    * :meth:`attach` makes the optimiser's AdamW step cover only the rows some step has touched. A row never
      touched has zero gradient and zero moments, and AdamW without weight decay moves it by exactly
      ``lr * 0 / (sqrt(0) + eps) = 0``; so the update of the rows touched, by the same fused AdamW function
      with the group's hyper-parameters, is the whole update. Its moments live in the optimiser's state under
      the usual keys (checkpoints and resume keep them). Only for fused AdamW without weight decay, amsgrad or
      maximize (the study's path); otherwise the optimiser steps as it is."""

    def __init__(self, weight: torch.Tensor):
        self.weight = weight
        self.buffer: torch.Tensor | None = None
        self.dirty: list[torch.Tensor] = []  # the ids added into the buffer since it was last handed out
        self.live: torch.Tensor | None = None  # rows some step has touched (bool), once attached
        self._rows: torch.Tensor | None = None  # ``dirty`` as unique rows, once asked for
        self.stepped = self.clipped = False  # whether AdamW / clipping ever ran on the touched rows (the record's)
        self._optimizer, self._hooks, self._held = None, [], None

    def add(self, ids: torch.Tensor, grad: torch.Tensor) -> None:
        weight = self.weight
        if weight.grad is None:
            buffer = self.buffer
            if buffer is None or buffer.shape != weight.shape or buffer.device != weight.device:
                buffer = self.buffer = torch.zeros_like(weight)
            elif self.dirty:
                buffer.index_fill_(0, self.touched(), 0.0)
            self.dirty = []
            weight.grad = buffer
        elif weight.grad is not self.buffer:  # not ours (someone set it): its every row may be written
            self.buffer, self.dirty = None, []
        weight.grad.index_add_(0, ids, grad.to(weight.grad.dtype))
        if weight.grad is self.buffer:
            self.dirty.append(ids)
        self._rows = None

    def touched(self) -> torch.Tensor:
        """The rows written into the buffer since it was last handed out (this step's), each once."""
        if self._rows is None:
            self._rows = torch.cat(self.dirty).unique()
        return self._rows

    def options(self) -> list[str]:
        """What the record says of it: what ran on the touched rows only."""
        return (["AdamW over the word-embedding rows touched so far (the others' update is exactly 0)"] * self.stepped
                + ["gradient clipping reads the word-embedding gradient's touched rows only"] * self.clipped)

    def attach(self, optimizer) -> bool:
        """AdamW on the touched rows only (see the class); False, and nothing changed, where it would not be
        the same update. ``optimizer``: a torch optimiser, or accelerate's wrapper of one."""
        optimizer = getattr(optimizer, "optimizer", optimizer)
        group = next((g for g in optimizer.param_groups if any(p is self.weight for p in g["params"])), None)
        if (group is None or not isinstance(optimizer, torch.optim.Adam) or not group.get("fused")
                or group["weight_decay"] or group["amsgrad"] or group["maximize"]):
            return False
        self.detach()
        self._optimizer, self._group = optimizer, group
        self._hooks = [optimizer.register_step_pre_hook(self._before), optimizer.register_step_post_hook(self._after)]
        return True

    def clip(self, parameters: list[torch.Tensor], max_norm: float) -> torch.Tensor:
        """``torch.nn.utils.clip_grad_norm_(parameters, max_norm)`` (L2, the same formulas) reading the embedding's
        gradient on the rows this step touched only: the others are exactly zero, add nothing to the norm and stay
        zero when scaled. The whole 46 MB gradient is otherwise read twice and written once a step. Falls back to
        torch's where the gradient is not this buffer. The same norm to float32 rounding (the sums' order)."""
        weight = self.weight
        if weight.grad is None or weight.grad is not self.buffer or not self.dirty:
            return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        rows = self.touched()
        touched = self.buffer[rows]
        grads = [p.grad for p in parameters if p.grad is not None]
        others = [g for g in grads if g is not self.buffer]
        norms = iter(torch._foreach_norm(others, 2.0)) if others else iter(())
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(touched) if g is self.buffer
                                                      else next(norms) for g in grads]))
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        if others:
            torch._foreach_mul_(others, coef)
        self.buffer.index_copy_(0, rows, touched * coef)
        self.clipped = True
        return total

    def detach(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks, self._optimizer, self._held = [], None, None

    def _before(self, optimizer, args, kwargs) -> None:
        self._held, self.weight.grad = self.weight.grad, None  # the optimiser skips a parameter without one

    def _after(self, optimizer, args, kwargs) -> None:
        grad, self._held = self._held, None
        if grad is None:
            return
        weight, group, state = self.weight, self._group, optimizer.state[self.weight]
        if not state:  # as the fused AdamW would make it
            state["step"] = torch.zeros((), dtype=torch.float32, device=weight.device)
            state["exp_avg"] = torch.zeros_like(weight, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(weight, memory_format=torch.preserve_format)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if self.live is None:  # first step, or resumed: whatever has moments already
            self.live = (m != 0).any(1) | (v != 0).any(1)
        if grad is self.buffer:
            if self.dirty:
                self.live[self.touched()] = True
        else:
            self.live |= (grad != 0).any(1)
        rows = self.live.nonzero().squeeze(1)
        with torch.no_grad():
            p_rows, m_rows, v_rows = weight[rows], m[rows], v[rows]
            beta1, beta2 = group["betas"]
            # Adam without weight decay is AdamW without it: the same fused kernel's arithmetic
            adam_step([p_rows], [grad[rows]], [m_rows], [v_rows], [], [state["step"]], fused=True, amsgrad=False,
                      beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=0.0, eps=group["eps"], maximize=False)
            weight.index_copy_(0, rows, p_rows)
            m.index_copy_(0, rows, m_rows)
            v.index_copy_(0, rows, v_rows)
        weight.grad = grad
        self.stepped = True


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
STATIC_LENGTHS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
TOKENIZE_BATCHES = 16  # batches tokenized in one call of the tokenizer


class StaticEncoder:
    """``model.encode`` in a few static shapes, for the GPU: the texts sorted by length (as ``encode`` sorts
    them), tokenized in a few large calls, each batch padded to a length of :data:`STATIC_LENGTHS` and the last
    one to the full batch size, all of them copied to the device at once; the encoder runs on the padded batch
    (``packed_forward(_padded=True)``: no data-dependent shape, no read by the host), each shape replayed from
    a CUDA graph captured at its first batch (``graphs``), the embeddings kept on the device and read once.
    The real tokens' outputs are the padded model's, whatever the padding (a masked key weighs exactly 0).

    Handles what the study's evaluations ask of ``encode`` (texts, batch size, normalising, numpy / tensor / list
    out, no prompt); any other call goes to the model's own ``encode``."""

    SUPPORTED = {"batch_size": 32, "show_progress_bar": None, "convert_to_numpy": True, "convert_to_tensor": False,
                 "normalize_embeddings": False, "precision": "float32", "output_value": "sentence_embedding",
                 "device": None, "truncate_dim": None, "pool": None, "chunk_size": None, "prompt": None,
                 "prompt_name": None, "task": None}

    def __init__(self, model, graphs: bool):
        self.model, self.graphs = model, graphs
        self.original = model.encode
        self.captured: dict[tuple[int, int], tuple] = {}  # (batch, length) -> (graph, static input, output)
        self.pool = None
        self.handled = self.replays = 0  # calls encoded here, batches run from a CUDA graph (for the tests)

    def _plain(self, args: tuple, kwargs: dict) -> tuple[list[str] | str | None, dict]:
        """The texts and options of a call this encoder handles, or (None, {})."""
        kwargs = dict(kwargs)
        texts = args[0] if args else kwargs.pop("inputs", kwargs.pop("sentences", None))
        if texts is not None and not isinstance(texts, str):  # a list, a datasets column, an array
            texts = texts.tolist() if isinstance(texts, np.ndarray) else list(texts)
        options = {**self.SUPPORTED, **kwargs}
        prompt = options["prompt"]
        if prompt is None:
            name = options["prompt_name"] or getattr(self.model, "default_prompt_name", None)
            prompt = (getattr(self.model, "prompts", None) or {}).get(name) if name else None
        if (len(args) > 1 or set(kwargs) - set(self.SUPPORTED) or prompt
                or options["precision"] not in (None, "float32")
                or options["output_value"] != "sentence_embedding"
                or options["device"] is not None or options["pool"] is not None
                or (options["truncate_dim"] or getattr(self.model, "truncate_dim", None))
                or any(type(m).__name__ == "Router" for m in self.model)
                or not (isinstance(texts, str) or (texts and all(isinstance(t, str) for t in texts)))):
            return None, {}
        return texts, options

    def __call__(self, *args, **kwargs):
        texts, options = self._plain(args, kwargs)
        if texts is None:
            return self.original(*args, **kwargs)
        single = isinstance(texts, str)
        self.handled += 1
        with torch.inference_mode():
            out = self.embed([texts] if single else list(texts), int(options["batch_size"]))
            if options["normalize_embeddings"]:
                out = F.normalize(out, p=2, dim=1)
        if options["convert_to_tensor"]:
            pass
        elif options["convert_to_numpy"]:
            out = out.cpu().float().numpy() if out.dtype == torch.bfloat16 else out.cpu().numpy()
        else:
            out = list(out)
        return out[0] if single else out

    def batches(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[tuple[list[str], torch.Tensor]]]:
        """The order of the texts (longest first), and each batch's features stacked ``[keys, batch, length]``
        on the host, padded to the batch size and a static length."""
        model = self.model
        order = np.argsort([-len(t) for t in texts], kind="stable")
        cap = model.max_seq_length or STATIC_LENGTHS[-1]
        lengths = sorted({min(n, cap) for n in STATIC_LENGTHS} | {cap})
        pad_id = model.tokenizer.pad_token_id or 0
        out = []
        step = batch_size * TOKENIZE_BATCHES
        for start in range(0, len(texts), step):
            features = model.tokenize([texts[i] for i in order[start:start + step]])
            keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features]
            stacked = torch.stack([features[k] for k in keys])  # [keys, texts, longest]
            real = features["attention_mask"].sum(1)
            for a in range(0, stacked.shape[1], batch_size):
                rows = stacked[:, a:a + batch_size]
                length = next(n for n in lengths if n >= int(real[a:a + batch_size].max()))
                batch = torch.zeros(len(keys), batch_size, length, dtype=rows.dtype)
                batch[0] = pad_id
                width = min(length, rows.shape[2])
                batch[:, :rows.shape[1], :width] = rows[:, :, :width]
                batch[1, rows.shape[1]:, 0] = 1  # rows padding the batch: one token, so their attention is defined
                out.append((keys, batch))
        return order, out

    def embed(self, texts: list[str], batch_size: int) -> torch.Tensor:
        device = self.model.device
        order, batches = self.batches(texts, batch_size)
        flat = torch.cat([b.reshape(-1) for _, b in batches])
        if device.type == "cuda":
            flat = flat.pin_memory()
        flat = flat.to(device, non_blocking=True)  # one copy to the device
        chunks, at = [], 0
        for keys, batch in batches:
            view = flat[at:at + batch.numel()].view(batch.shape)
            at += batch.numel()
            chunks.append(self.run(keys, view)[:min(batch_size, len(texts) - len(chunks) * batch_size)].clone())
        embeddings = torch.cat(chunks)
        inverse = torch.from_numpy(np.argsort(order)).to(device, non_blocking=True)
        return embeddings[inverse]

    def forward(self, keys: list[str], batch: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(keys, batch)))["sentence_embedding"]

    def run(self, keys: list[str], batch: torch.Tensor) -> torch.Tensor:
        if not self.graphs:
            return self.forward(keys, batch)
        shape = tuple(batch.shape[1:])
        if shape not in self.captured:
            try:
                self.captured[shape] = self.capture(keys, batch)
            except Exception as error:  # noqa: BLE001 - any failure to capture: eager from here on
                print(f"static encoding: no CUDA graph ({type(error).__name__}: {error}); running eagerly")
                self.graphs = False
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                return self.forward(keys, batch)
        graph, inputs, output = self.captured[shape]
        inputs.copy_(batch)
        graph.replay()
        self.replays += 1
        return output

    def capture(self, keys: list[str], batch: torch.Tensor) -> tuple:
        """A CUDA graph of the forward on this batch's shape (warmed up on a side stream, as torch advises); under
        autocast without its weight cache, which a graph cannot keep."""
        autocast = (torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False)
                    if torch.is_autocast_enabled("cuda") else contextlib.nullcontext())
        inputs = batch.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), autocast:
            for _ in range(2):
                self.forward(keys, inputs)
        torch.cuda.current_stream().wait_stream(side)
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool), autocast:
            output = self.forward(keys, inputs)
        return graph, inputs, output


@contextlib.contextmanager
def static_encoding(model, graphs: bool | None = None) -> Iterator[StaticEncoder | None]:
    """Within the block, ``model.encode`` is :class:`StaticEncoder`'s (CUDA graphs on a GPU unless ``graphs`` is
    False); yields it, or None where the encoder cannot run padded this way (``encode`` then is the model's)."""
    bert = encoder_of(model)
    if bert is None or not can_pack(bert) or BaseModelOutput is None:
        yield None
        return
    encoder = StaticEncoder(model, model.device.type == "cuda" if graphs is None else graphs)
    model.encode = encoder  # shadows the method
    bert.forward = functools.partial(packed_forward, bert, _padded=True)
    try:
        yield encoder
    finally:
        del model.encode, bert.forward


def evaluation(model):
    """How the study's path evaluates: on a GPU in static shapes (:func:`static_encoding`), elsewhere with the
    packed encoder (:func:`packed`: no work on padding, which the CPU would pay for)."""
    return static_encoding(model) if model.device.type == "cuda" else packed(model)
