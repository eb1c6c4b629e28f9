"""The lean loop (pairings.train.loop) trains as the trainer trains: its batches, learning rates and losses."""

import pytest
import torch
from datasets import Dataset
from torch.utils._python_dispatch import TorchDispatchMode

from pairings import losses
from pairings.params import Params
from pairings.train import base_model, loop, speed, trainer

# 22 rows at batch size 4: five full batches and a last one of two, so an epoch ends on a short batch
ROWS = 22
WORDS = ["river", "bank", "money", "loan", "water", "boat", "stream", "cash", "fish", "bridge", "rain"]


def pairs(labelled: str | None = None) -> Dataset:
    first = [f"row {i}: the {WORDS[i % 11]} " + "and the " * (i % 5) + WORDS[(3 * i) % 11] for i in range(ROWS)]
    second = [f"a reply about {WORDS[(i + 4) % 11]} number {i}" for i in range(ROWS)]
    data = {"sentence1": first, "sentence2": second}
    if labelled == "softmax":
        data["label"] = [i % 3 for i in range(ROWS)]
    elif labelled == "cosine":
        data["score"] = [(i % 5) / 4 for i in range(ROWS)]
    return Dataset.from_dict(data)


def params(loss: str = "mnrl", **changes) -> Params:
    return Params.load("quick", "greetings-mnrl").replace(**{"loss": loss, "batch_size": 4, "epochs": 2,
                                                             "logging_steps": 1, "fast_path": True, **changes})


def run(p: Params, tmp_path, loss_name: str = "mnrl", seen: list | None = None, stop_at: int | None = None):
    """Train a fresh base model with ``fit``: the logged history, the final weights, and (``seen``) the token ids
    of every batch's first column as the loss received them."""
    torch.manual_seed(0)
    model = base_model.load(p)
    data = pairs(loss_name if loss_name != "mnrl" else None)
    loss = losses.get(loss_name).make(model, 3, seed=p.seed)
    forward = loss.forward

    def recording(features, labels):
        if seen is not None:
            seen.append((features[0]["input_ids"].clone(), None if labels is None else labels.clone()))
        return forward(features, labels)

    loss.forward = recording
    callbacks = [Stop(stop_at)] if stop_at else []
    result = trainer.fit(model, loss, data, p, tmp_path, callbacks=callbacks)
    weights = {k: v.detach().clone() for k, v in loss.state_dict().items()}
    return result, weights


class Stop(__import__("transformers").TrainerCallback):
    """An interruption (Ctrl-C) after a given step."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_a_batch_is_what_the_collator_makes_of_its_rows(tmp_path):
    p = params()
    model = base_model.load(p)
    st = trainer.make_trainer(model, losses.get("mnrl").make(model), pairs(), p, tmp_path)
    data = loop.Tokenized(st, st.train_dataset, torch.device("cpu"))
    rows = [3, 17, 0, 9]
    expected, _ = st.collect_features(st.data_collator([st.train_dataset[i] for i in rows]))
    features, labels = data.batch(rows)
    assert labels is None and len(features) == len(expected) == 2
    for got, want in zip(features, expected):
        assert got.keys() == want.keys()
        for key, value in want.items():  # the token tables, and any constant the collator adds (a task name)
            assert torch.equal(got[key], value) if torch.is_tensor(value) else got[key] == value, key
    # padded to a static length (as on CUDA): the same tokens, the rest padding
    static, _ = data.batch(rows, static=p.max_seq_length)
    for got, want, table in zip(static, expected, data.tables):
        width = want["input_ids"].shape[1]
        # the bucket, or the column's longest text where that is shorter: either way one shape for many batches
        assert got["input_ids"].shape[1] == min(speed.static_length(width, p.max_seq_length), table["input_ids"].shape[1])
        assert torch.equal(got["input_ids"][:, :width], want["input_ids"])
        assert not got["attention_mask"][:, width:].any()


def test_static_lengths():
    assert [speed.static_length(n, 256) for n in (1, 16, 17, 100, 129, 256)] == [16, 16, 32, 128, 192, 256]
    assert speed.static_length(300, 128) == 128


class Reads(TorchDispatchMode):
    """Counts the ops that read a tensor back to the host: on a GPU each one waits for its queue to empty."""

    READS = {"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.masked_select.default",
             "aten.is_nonzero.default", "aten._unique2.default"}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += str(func) in self.READS
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("loss_name", ["mnrl", "softmax", "cosine"])
def test_a_lean_step_reads_nothing_back_from_the_device(tmp_path, loss_name):
    """Forward, backward, clipping, the optimiser's and the schedule's step on a padded batch: no read back. Without
    HostPadding, transformers reads every text column's attention mask (the count shows the check can fail)."""
    from transformers import masking_utils

    p = params(loss_name)
    model = base_model.load(p)
    loss = losses.get(loss_name).make(model, 3)
    data = pairs(loss_name if loss_name != "mnrl" else None)  # replies of lengths that differ in every batch:
    data = data.map(lambda row, i: {"sentence2": row["sentence2"] + " again" * (i % 3)}, with_indices=True)
    st = trainer.make_trainer(model, loss, data, p, tmp_path)
    table = loop.Tokenized(st, data, torch.device("cpu"))
    st.create_optimizer_and_scheduler(num_training_steps=10)
    features, labels = table.batch([0, 1, 2, 3], static=p.max_seq_length)
    assert table.padded([0, 1, 2, 3], features)

    def step():
        with Reads() as reads:
            loss(features, labels).backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()), 1.0)
            st.optimizer.step()
            st.lr_scheduler.step()
            st.optimizer.zero_grad(set_to_none=True)
        return reads.count

    original = masking_utils._ignore_bidirectional_mask_sdpa
    assert step() == len(features)  # transformers' own check: one read per text column
    with loop.HostPadding() as masks:
        masks.padded = True
        assert step() == 0
        masks.padded = False  # a batch with a column unpadded: transformers checks as before
        assert step() == len(features)
    assert masking_utils._ignore_bidirectional_mask_sdpa is original


@pytest.mark.parametrize("loss_name, old_sentence_transformers", [
    ("mnrl", False), ("softmax", False), ("cosine", False), ("softmax", True)])
def test_the_lean_loop_trains_as_the_trainer(tmp_path, monkeypatch, loss_name, old_sentence_transformers):
    """The same batches (token ids and labels, in order, over two epochs), the same learning rate at every step
    and the same losses: dropout included, as both draw from the same seeded generator in the same order.

    ``old_sentence_transformers``: as before 6.2 (the GPU image has 6.0.1), whose trainer does not clear the
    gradients of SoftmaxLoss's classifier and lets them add up; trainer.ZeroLossGrads clears them then."""
    if old_sentence_transformers:
        import sentence_transformers.base.trainer as st_trainer

        monkeypatch.setattr(st_trainer, "_OptimizerZeroGradCallback",
                            type("NotInThisVersion", (__import__("transformers").TrainerCallback,), {}), raising=False)
    runs = {}
    for name in ("trainer", "lean"):
        seen = []
        result, weights = run(params(loss_name, train_loop=name), tmp_path / name, loss_name, seen)
        runs[name] = result, weights, seen
    (plain, plain_weights, plain_seen), (lean, lean_weights, lean_seen) = runs["trainer"], runs["lean"]
    assert plain["loop"] == "trainer" and lean["loop"] == "lean"
    assert lean["options"][0].startswith("lean loop")
    assert plain["steps"] == lean["steps"] == 12  # 6 batches × 2 epochs
    assert len(plain_seen) == len(lean_seen) == 12
    for (ids, labels), (lean_ids, lean_labels) in zip(plain_seen, lean_seen):
        assert torch.equal(ids, lean_ids)
        assert (labels is None and lean_labels is None) or torch.equal(labels, lean_labels)
    assert [s for s, _ in plain["loss_history"]] == [s for s, _ in lean["loss_history"]] == list(range(1, 13))
    assert [loss for _, loss in lean["loss_history"]] == pytest.approx([loss for _, loss in plain["loss_history"]],
                                                                       rel=1e-5)
    for key, value in plain_weights.items():
        assert torch.allclose(value, lean_weights[key], atol=1e-6), key


def test_the_lean_loop_logs_the_trainers_learning_rates(tmp_path):
    p = params()
    logs = {}
    for name in ("trainer", "lean"):
        model = base_model.load(p)
        st = trainer.make_trainer(model, losses.get("mnrl").make(model), pairs(), p.replace(train_loop=name),
                                     tmp_path / name)
        if name == "lean":
            loop.train(st, st.loss)
        else:
            st.train()
        logs[name] = [(h["step"], h["learning_rate"]) for h in st.state.log_history if "learning_rate" in h]
    assert len(logs["lean"]) == 12
    assert [s for s, _ in logs["lean"]] == [s for s, _ in logs["trainer"]]
    rates = [rate for _, rate in logs["lean"]]
    assert rates == pytest.approx([rate for _, rate in logs["trainer"]], rel=1e-9)
    assert rates[0] == pytest.approx(5e-5) and rates[-1] == pytest.approx(5e-5 / 12)  # linear decay, no warmup


@pytest.mark.parametrize("train_loop, loss_name, stop_at, last", [
    ("lean", "mnrl", 5, 3), ("lean", "softmax", 7, 6), ("trainer", "softmax", 5, 3)])
def test_an_interrupted_run_resumes_to_the_same_model(tmp_path, train_loop, loss_name, stop_at, last):
    """Checkpoints every 3 steps (6 an epoch); Ctrl-C after step 5 resumes from step 3, within the first epoch,
    and after step 7 from step 6, the first epoch's end: the resumed run ends where the uninterrupted one does,
    with the same losses and weights, SoftmaxLoss's classifier included (the trainer's own checkpoints lack it:
    trainer.SaveHead keeps it beside them)."""
    whole, whole_weights = run(params(loss_name, train_loop=train_loop), tmp_path / "whole", loss_name)
    p = params(loss_name, train_loop=train_loop, checkpoint_steps=3)
    with pytest.raises(KeyboardInterrupt):
        run(p, tmp_path / "cut", loss_name, stop_at=stop_at)
    folder = tmp_path / "cut" / "checkpoints"
    if train_loop == "lean":
        assert loop.checkpoints(folder)[-1].parent.name == f"lean-{last}"
    else:
        assert trainer.complete_checkpoints(folder, torch.nn.Linear(1, 1))[-1].name == f"checkpoint-{last}"
    resumed, weights = run(p.replace(resume=True), tmp_path / "cut", loss_name)
    assert resumed["resumed_from_step"] == last and resumed["steps"] == 12
    assert [s for s, _ in resumed["loss_history"]] == [s for s, _ in whole["loss_history"]]
    assert [v for _, v in resumed["loss_history"]] == pytest.approx([v for _, v in whole["loss_history"]], rel=1e-5)
    assert whole_weights.keys() == weights.keys()
    for key, value in whole_weights.items():
        assert torch.allclose(value, weights[key], atol=1e-5), key


def test_the_lean_loop_needs_the_study_path():
    with pytest.raises(Exception, match="train_loop.*fast_path"):
        params(train_loop="lean", fast_path=False)
    assert params().speed.lean_loop  # auto: lean on the study's path, the CPU's too
    assert not params(fast_path=False).speed.lean_loop  # auto: the trainer on the plain path
    assert not params(train_loop="trainer").speed.lean_loop
    assert params(train_loop="lean").speed.lean_loop


def test_a_failing_compile_trains_on_without_it_and_says_so(tmp_path, monkeypatch):
    """Where torch.compile fails at the first step (here: an encoder whose compiled forward raises), the lean
    loop restores the plain encoder, trains that step again from the same RNG state, and the record says so:
    the same losses as a run that never compiled."""
    plain, _ = run(params(train_loop="lean", torch_compile=False), tmp_path / "plain")

    class Failing(loop.Compiled):
        def __init__(self, model, enabled):
            super().__init__(model, False)
            self.active = enabled

            def broken(*args, **kwargs):
                raise RuntimeError("inductor: no C++ compiler\nmore detail")

            self.bert.forward = broken

    monkeypatch.setattr(loop, "Compiled", Failing)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: None)
    failed, _ = run(params(train_loop="lean", torch_compile=True), tmp_path / "failed")
    assert any("torch.compile of the encoder failed at the first step, trained without it "
               "(RuntimeError: inductor: no C++ compiler)" in o for o in failed["options"])
    assert [v for _, v in failed["loss_history"]] == pytest.approx([v for _, v in plain["loss_history"]], rel=1e-6)
