"""The faster training path computes what the padded model computes (pairings.train.speed)."""

import contextlib
import types

import pytest
import torch
from datasets import Dataset

from pairings import losses
from pairings.params import Params
from pairings.train import base_model, speed, trainer
from pairings.train.speed import packing

# texts of very different lengths, so that most of the padded batch is padding
TEXTS = ["hi", "how do i reset my password if i no longer have the email address i signed up with",
         "the treaty was signed in 1648", "ok thanks",
         "a much longer sentence about the industrial revolution in britain and the growth of its cotton mills "
         "in the north of england during the early nineteenth century"]


@pytest.fixture(scope="module")
def model():
    return base_model.load(Params.load("quick", "greetings-mnrl"))


def test_packed_encoder_gives_the_padded_embeddings(model):
    plain = model.encode(TEXTS, batch_size=len(TEXTS), convert_to_tensor=True)
    with speed.packed(model) as used:
        packed = model.encode(TEXTS, batch_size=len(TEXTS), convert_to_tensor=True)
    assert used
    assert torch.allclose(plain, packed, atol=1e-5), (plain - packed).abs().max()
    # and the patch is gone afterwards
    assert "forward" not in vars(speed.encoder_of(model))


@pytest.mark.parametrize("mode", ["eval", "train", "train, text by text"])
def test_packed_encoder_gives_the_same_loss_and_gradients(model, mode, monkeypatch):
    """No dropout, so that the two paths do the same arithmetic: in eval mode (SDPA on the masked batch), and
    in train mode with every dropout probability 0 (on the CPU: the masked batch step by step, or, for
    batches of long texts, attention text by text: here every batch, PER_TEXT_FROM 0)."""
    loss = losses.get("mnrl").make(model)
    features = [model.tokenize(TEXTS), model.tokenize(TEXTS[::-1])]
    model.train(mode != "eval")
    if mode == "train, text by text":
        monkeypatch.setattr(packing, "PER_TEXT_FROM", 0)
    dropouts = {m: m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}  # BERT's every dropout
    for m in dropouts:
        m.p = 0.0
    results = []
    for pack in (False, True):
        model.zero_grad(set_to_none=True)
        with speed.packed(model) if pack else contextlib.nullcontext():
            value = loss([dict(f) for f in features], None)
            value.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((value.item(), grads))
    for m, value in dropouts.items():
        m.p = value
    model.eval()
    (plain_loss, plain_grads), (packed_loss, packed_grads) = results
    assert packed_loss == pytest.approx(plain_loss, rel=1e-5)
    assert plain_grads.keys() == packed_grads.keys()
    # relative to the largest gradient: some are zero in exact arithmetic (a key bias shifts every logit of a
    # query alike, which softmax ignores) and rounding noise (~1e-8) on both paths
    scale = max(g.abs().max() for g in plain_grads.values())
    worst = max((plain_grads[n] - packed_grads[n]).abs().max() for n in plain_grads) / scale
    assert worst < 1e-5, worst


def test_the_word_lookup_gives_the_embedding_gradient_in_one_buffer():
    torch.manual_seed(0)
    plain = torch.nn.Embedding(50, 8, padding_idx=0)
    weight = plain.weight
    passes = [torch.tensor([3, 7, 3, 0, 49, 3]), torch.tensor([7, 1, 0, 2])]  # repeated ids, the padding id
    upstream = [torch.randn(len(ids), 8) for ids in passes]
    for ids, g in zip(passes, upstream):
        plain(ids).backward(g)
    expected = weight.grad.clone()
    weight.grad, grads = None, speed.WordGrad(weight)
    for ids, g in zip(passes, upstream):
        speed.lookup(plain, ids, grads).backward(g)  # two passes, as MNRL's two columns
    assert torch.allclose(weight.grad, expected, atol=1e-6) and not weight.grad[0].any()
    first = weight.grad
    weight.grad.mul_(0.5)  # clipping scales it in place
    weight.grad = None  # the trainer's zero_grad(set_to_none=True): the next step reuses the buffer, zeroed
    speed.lookup(plain, passes[1], grads).backward(upstream[1])
    assert weight.grad is first
    weight.grad = None
    alone = speed.lookup(plain, passes[1], speed.WordGrad(weight))
    alone.backward(upstream[1])
    assert torch.equal(first, weight.grad)  # only the last step's rows were zeroed, and nothing else was written


def _adamw_steps(rows_only: bool, steps: list[list[int]], resume_at: int | None = None):
    """The study path's fused AdamW (the trainer's groups: weight decay 0) on an embedding and a linear layer
    trained through the packed lookup, ``rows_only`` with WordGrad.attach; a checkpoint and resume at a step."""
    torch.manual_seed(1)
    emb, head = torch.nn.Embedding(40, 6, padding_idx=0), torch.nn.Linear(6, 1)
    params = list(emb.parameters()) + list(head.parameters())

    def optimizer():
        return torch.optim.AdamW(params, lr=0.05, weight_decay=0.0, fused=True)

    opt, grads = optimizer(), speed.WordGrad(emb.weight)
    if rows_only:
        assert grads.attach(opt)
    norms = []
    for i, ids in enumerate(steps):
        if i == resume_at:  # a checkpoint, and a new optimiser (and WordGrad) resumed from it
            saved = opt.state_dict()
            grads.detach()
            opt, grads = optimizer(), speed.WordGrad(emb.weight)
            opt.load_state_dict(saved)
            if rows_only:
                assert grads.attach(opt)
        for half in (ids[: len(ids) // 2], ids[len(ids) // 2:]):  # two passes a step
            head(speed.lookup(emb, torch.tensor(half), grads)).pow(2).sum().backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, 0.5)))
        opt.step()
        opt.zero_grad(set_to_none=True)
    return emb.weight.detach().clone(), head.weight.detach().clone(), opt.state_dict(), norms


@pytest.mark.parametrize("resume_at", [None, 2])
def test_adamw_over_the_touched_rows_is_the_whole_update(resume_at):
    """Rows touched once keep moving on their moments afterwards; rows never touched stay; the result and the
    optimiser's state are the full fused AdamW's, bit for bit; with a checkpoint and resume between steps."""
    steps = [[3, 5, 5, 9], [9, 11, 0, 3], [2, 2, 2, 2], [17, 3, 0, 0], [5, 30, 31, 2]]
    full, rows = _adamw_steps(False, steps, resume_at), _adamw_steps(True, steps, resume_at)
    assert torch.equal(full[0], rows[0]) and torch.equal(full[1], rows[1])
    assert full[3] == rows[3]
    for key, state in full[2]["state"].items():
        assert all(torch.equal(state[k], rows[2]["state"][key][k]) for k in state), key
    untouched = [r for r in range(40) if r not in {0, 2, 3, 5, 9, 11, 17, 30, 31}]
    torch.manual_seed(1)
    assert torch.equal(rows[0][untouched], torch.nn.Embedding(40, 6, padding_idx=0).weight[untouched])


@pytest.mark.parametrize("max_norm", [0.05, 100.0])  # clipped, and not (the coefficient then 1)
def test_clipping_on_the_touched_rows_is_torchs_clipping(max_norm):
    """WordGrad.clip reads the embedding's gradient on this step's rows only: the norm torch's clip_grad_norm_
    gives over every row (to float32 rounding) and the same clipped gradients, the untouched rows still zero."""
    torch.manual_seed(2)
    emb, head = torch.nn.Embedding(40, 6, padding_idx=0), torch.nn.Linear(6, 1)
    params = list(emb.parameters()) + list(head.parameters())
    grads = speed.WordGrad(emb.weight)
    results = []
    for ours in (False, True):
        for step in ([3, 5, 5, 9], [9, 11, 0, 2]):  # the second step reuses the buffer
            for p in params:
                p.grad = None
            head(speed.lookup(emb, torch.tensor(step), grads)).pow(2).sum().backward()
            norm = grads.clip(params, max_norm) if ours else torch.nn.utils.clip_grad_norm_(params, max_norm)
        results.append((float(norm), [p.grad.clone() for p in params]))
    (theirs, expected), (norm, clipped) = results
    assert norm == pytest.approx(theirs, rel=1e-6)
    for a, b in zip(expected, clipped):
        assert torch.allclose(a, b, rtol=1e-6, atol=0)
    assert not clipped[0][[r for r in range(40) if r not in (9, 11, 2)]].any()


def test_touched_rows_only_where_it_is_the_same_update():
    emb = torch.nn.Embedding(10, 4)
    for opt in (torch.optim.AdamW(emb.parameters(), weight_decay=0.01, fused=True),  # decay moves every row
                torch.optim.AdamW(emb.parameters(), weight_decay=0.0),  # not the fused kernel
                torch.optim.SGD(emb.parameters(), lr=0.1)):
        assert not speed.WordGrad(emb.weight).attach(opt)
    assert speed.WordGrad(emb.weight).attach(torch.optim.AdamW(emb.parameters(), weight_decay=0.0, fused=True))


def test_cpu_dropout_keeps_1_minus_p_scales_and_follows_the_torch_seed():
    x = torch.ones(1000, 1000, requires_grad=True)
    torch.manual_seed(1)
    y = speed.dropout(x, 0.1, training=True)
    kept = (y != 0).float().mean().item()
    assert kept == pytest.approx(0.9, abs=0.002)  # 1e6 draws: sd 3e-4
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.9))
    y.backward(torch.full_like(y, 2.0))
    assert torch.equal(x.grad, (y != 0) * (2.0 / 0.9))  # the gradient goes through the same mask
    torch.manual_seed(1)
    assert torch.equal(speed.dropout(x, 0.1, training=True), y)  # the same seed, the same mask
    assert not torch.equal(speed.dropout(x, 0.1, training=True), y)
    assert speed.dropout(x, 0.1, training=False) is x


def test_cpu_attention_is_sdpa_step_by_step():
    torch.manual_seed(2)
    q, k, v = (torch.randn(3, 4, 6, 8) for _ in range(3))
    key_mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1, 0, 0, 0, 0, 0]]).bool()[:, None, None, :]
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
    got = speed.attention(q, k, v, key_mask, 1e-12, training=True, scale=None)  # nothing dropped: see below
    assert torch.allclose(got, expected, atol=1e-6), (got - expected).abs().max()


def test_text_by_text_attention_gives_the_padded_masked_attention_of_the_real_tokens():
    torch.manual_seed(2)
    lengths, heads, size = [6, 4, 1], 4, 8
    batch, length = len(lengths), max(lengths)
    mask = torch.tensor([[1] * n + [0] * (length - n) for n in lengths])
    keep = mask.reshape(-1).nonzero().squeeze(1)
    q, k, v = (torch.randn(sum(lengths), heads * size) for _ in range(3))  # packed [tokens, hidden]

    def padded(t):
        full = t.new_zeros(batch * length, t.shape[-1]).index_copy(0, keep, t)
        return full.view(batch, length, heads, size).transpose(1, 2)

    expected = torch.nn.functional.scaled_dot_product_attention(padded(q), padded(k), padded(v),
                                                                attn_mask=mask.bool()[:, None, None, :])
    expected = expected.transpose(1, 2).reshape(batch * length, heads * size)[keep]
    # a drop probability so small that no weight is dropped (keep rounds to 1 - 2^-32): the arithmetic alone
    got = speed.text_attention(q, k, v, lengths, heads, 1e-12, scale=None)
    assert torch.allclose(got, expected, atol=1e-6), (got - expected).abs().max()


@pytest.mark.parametrize("batch_size", [2, 32])  # 2: three batches of different static lengths, the last one half full
def test_static_encoding_gives_the_models_embeddings_in_the_callers_order(model, batch_size):
    texts = TEXTS + ["what is the capital of france"] * 2
    plain = model.encode(texts, batch_size=batch_size, convert_to_tensor=True)
    with speed.static_encoding(model, graphs=False) as encoder:
        static = model.encode(texts, batch_size=batch_size, convert_to_tensor=True)
        order, batches = encoder.batches(texts, batch_size)
        normalized = model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
        single = model.encode(texts[1], batch_size=batch_size)
        listed = model.encode(texts, batch_size=batch_size, convert_to_numpy=False)
        column = model.encode(Dataset.from_dict({"text": texts})["text"], batch_size=batch_size)
    assert isinstance(encoder, speed.StaticEncoder) and encoder.handled == 5  # every call above but the plain one
    assert torch.allclose(plain, static, atol=1e-5), (plain - static).abs().max()
    assert torch.allclose(torch.nn.functional.normalize(plain), torch.from_numpy(normalized), atol=1e-5)
    assert torch.allclose(plain[1], torch.from_numpy(single), atol=1e-5)
    assert torch.allclose(plain, torch.stack(listed), atol=1e-5)
    assert torch.allclose(plain, torch.from_numpy(column), atol=1e-5)
    # longest first; every batch full and of a static length
    assert [len(texts[i]) for i in order] == sorted(map(len, texts), reverse=True)
    assert {b.shape[1] for _, b in batches} == {batch_size}
    assert {b.shape[2] for _, b in batches} <= set(speed.LENGTHS)
    if batch_size == 2:
        assert len({b.shape[2] for _, b in batches}) > 1
    assert "encode" not in vars(model) and "forward" not in vars(speed.encoder_of(model))  # gone afterwards


def test_static_encoding_leaves_other_calls_to_the_models_encode(model, monkeypatch):
    calls = []
    monkeypatch.setattr(speed.StaticEncoder, "embed", lambda self, texts, batch_size: calls.append(texts))
    with speed.static_encoding(model, graphs=False):
        plain = model.encode(TEXTS, prompt="query: ", convert_to_tensor=True)  # a prompt: the model's own
        tokens = model.encode(TEXTS[:1], output_value="token_embeddings")
    assert calls == [] and plain.shape == (len(TEXTS), 384) and tokens[0].shape[-1] == 384


def test_static_encoding_runs_eagerly_when_a_graph_cannot_be_captured(model, monkeypatch, capsys):
    def fail(self, keys, batch):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(speed.StaticEncoder, "capture", fail)
    plain = model.encode(TEXTS, convert_to_tensor=True)
    with speed.static_encoding(model, graphs=True) as encoder:
        static = model.encode(TEXTS, convert_to_tensor=True)
    assert torch.allclose(plain, static, atol=1e-5) and not encoder.graphs and encoder.replays == 0
    assert "no CUDA graph (RuntimeError: operation not permitted" in capsys.readouterr().out


def test_a_capture_failing_after_others_worked_leaves_every_later_batch_eager(model, monkeypatch, capsys):
    """The first shape's graph captures (a stand-in graph on the CPU, replayed into its output) and replays; the
    second shape's capture fails: said once, that batch and every later one eager, the first graph no longer
    replayed, and the embeddings those of the plain encoder whichever way each batch went."""
    class Replayed:
        def __init__(self, encoder, keys, inputs, output):
            self.encoder, self.keys, self.inputs, self.output = encoder, keys, inputs, output

        def replay(self):
            self.output.copy_(self.encoder.forward(self.keys, self.inputs))

    captures = []

    def capture(self, keys, batch):
        captures.append(tuple(batch.shape[1:]))
        if len(captures) > 1:
            raise RuntimeError("CUDA error: out of memory")
        inputs = batch.clone()
        output = self.forward(keys, inputs).clone()
        return Replayed(self, keys, inputs, output), inputs, output

    monkeypatch.setattr(speed.StaticEncoder, "capture", capture)
    texts = TEXTS * 3  # short and long texts: two static lengths, each a batch of its own at batch_size 2
    plain = model.encode(texts, convert_to_tensor=True, batch_size=2)
    with speed.static_encoding(model, graphs=True) as encoder:
        static = model.encode(texts, convert_to_tensor=True, batch_size=2)
        replays = encoder.replays
        again = model.encode(texts, convert_to_tensor=True, batch_size=2)
    assert len(captures) == 2 and captures[0] != captures[1]
    assert replays >= 1 and encoder.replays == replays and not encoder.graphs
    assert torch.allclose(plain, static, atol=1e-5) and torch.allclose(plain, again, atol=1e-5)
    assert capsys.readouterr().out.count("no CUDA graph (RuntimeError: CUDA error: out of memory); running eagerly") == 1


def test_other_encoders_are_left_alone():
    config = types.SimpleNamespace(model_type="roberta", is_decoder=False)
    assert not speed.can_pack(types.SimpleNamespace(config=config))
    config = types.SimpleNamespace(model_type="bert", is_decoder=False, position_embedding_type="relative_key")
    assert not speed.can_pack(types.SimpleNamespace(config=config))


LEAN = "lean loop (the trainer's batches, optimiser and schedule; texts tokenized once; no per-step sync)"


@pytest.mark.parametrize("train_loop, first, last", [
    ("auto", [LEAN], ["gradient clipping reads the word-embedding gradient's touched rows only"]),
    ("trainer", [], [])])  # the trainer clips as it does
def test_fit_on_the_fast_path_says_so(tmp_path, train_loop, first, last):
    """The study's path trains in the lean loop by default, on the CPU too; in either loop the record lists
    every option it used, the touched-rows AdamW included (attached to the trainer's optimiser or the loop's)."""
    from datasets import Dataset

    params = Params.load("quick", "greetings-mnrl").replace(fast_path=True, train_pairs=16, train_loop=train_loop)
    model = base_model.load(params)
    pairs = Dataset.from_dict({"prompt": TEXTS * 3, "reply": TEXTS[::-1] * 3})
    result = trainer.fit(model, losses.get("mnrl").make(model), pairs, params, tmp_path)
    assert result["path"] == "fast" and result["steps"] == 2
    assert result["loop"] == ("lean" if first else "trainer")
    assert result["options"] == [*first, "packed encoder (no compute on padding)",
                                 "word-embedding gradient accumulated in place",
                                 "dropout masks from NumPy's PCG64 on the CPU",
                                 "attention text by text for long texts when training on the CPU", "fused AdamW",
                                 "AdamW over the word-embedding rows touched so far (the others' update is exactly 0)",
                                 *last]
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss in result["loss_history"])
    assert "forward" not in vars(speed.encoder_of(model))


@pytest.mark.parametrize("pairing, card_optim", [("snli-softmax", "adamw_torch"), ("udemy-cosine", "adamw_torch_fused")])
def test_the_plain_path_uses_the_cards_optimizer_and_the_fast_path_fused_adamw(tmp_path, pairing, card_optim):
    params = Params.load("quick", pairing)
    assert trainer.training_arguments(params.replace(fast_path=False), tmp_path).optim == card_optim
    assert trainer.training_arguments(params.replace(fast_path=True), tmp_path).optim == "adamw_torch_fused"
