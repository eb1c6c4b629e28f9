"""The study's faster training path: the same training as the plain trainer, with less work per step.

Its mechanisms, one module each: ``packed`` (the packed encoder, its dropout and attention, the word-embedding
gradient in place), ``rows`` (AdamW and clipping over the rows touched), ``static`` (static-shape encoding on a
GPU), over ``bert`` (the encoder they rewrite and the one ladder of static lengths).

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

from pairings.train.speed.bert import LENGTHS, can_pack, encoder_of, static_length
from pairings.train.speed.packed import PER_TEXT_FROM, attention, dropout, keep_mask, lookup, packed, packed_forward, text_attention
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
