"""SoftmaxLoss's head: the warm-up trains the head alone, the fine-tune starts from the fitted head, and the
diagnostic's accuracies are what the heads score (computed here another way, with NumPy)."""

import random

import numpy as np
import pytest
import torch
from test_loop import pairs

from pairings import losses
from pairings.params import Params
from pairings.train import base_model, head, trainer


def params(**changes) -> Params:
    return Params.load("quick", "greetings-mnrl").replace(**{"loss": "softmax", "batch_size": 4, "epochs": 1,
                                                             "logging_steps": 1, **changes})


def setup(p: Params):
    model = base_model.load(p)
    return model, losses.get("softmax").make(model, 3, seed=p.seed), pairs("softmax")


def test_the_warm_up_trains_the_head_alone_and_leaves_the_random_state():
    p = params()
    model, loss, data = setup(p)
    encoder = {k: v.clone() for k, v in model.state_dict().items()}
    start = head.snapshot(loss)
    states = random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state()
    result = head.warm_up(model, loss, data, epochs=3, learning_rate=1e-2, batch_size=4, seed=42, logging_steps=2)
    assert all(torch.equal(encoder[k], v) for k, v in model.state_dict().items())  # bit-identical encoder
    assert not torch.equal(start["weight"], loss.classifier.weight)  # the head moved
    assert all(p.grad is None for p in loss.classifier.parameters())
    assert random.getstate() == states[0] and np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.random.get_rng_state(), states[2])
    assert result["steps"] == 3 * 6 and result["rows"] == 22  # 22 rows at batch 4: six batches an epoch
    assert [s for s, _ in result["loss_history"]] == [1, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert result["train_accuracy_after"] >= result["train_accuracy_before"]


def test_the_warm_up_fits_the_cross_entropy_it_logs():
    """Its logged loss is the cross-entropy of the head on SoftmaxLoss's features, computed here by hand."""
    p = params()
    model, loss, data = setup(p)
    u = model.encode(data["sentence1"], convert_to_numpy=True)
    v = model.encode(data["sentence2"], convert_to_numpy=True)
    x = np.concatenate([u, v, np.abs(u - v)], 1)
    labels = np.array(data["label"])

    def cross_entropy():
        w, b = (t.detach().numpy() for t in (loss.classifier.weight, loss.classifier.bias))
        logits = x @ w.T + b
        logits -= logits.max(1, keepdims=True)
        return float(-(logits[np.arange(len(labels)), labels] - np.log(np.exp(logits).sum(1))).mean())

    before = cross_entropy()
    head.warm_up(model, loss, data, epochs=30, learning_rate=1e-2, batch_size=4, seed=42)
    assert cross_entropy() < before - 0.05


@pytest.mark.parametrize("train_loop", ["trainer", "lean"])
def test_the_fine_tune_starts_from_the_fitted_head(tmp_path, train_loop):
    p = params(train_loop=train_loop, fast_path=True)
    model, loss, data = setup(p)
    head.warm_up(model, loss, data, epochs=2, learning_rate=1e-2, batch_size=4, seed=42)
    fitted = head.snapshot(loss)
    first = []
    forward = loss.forward

    def recording(features, labels):
        if not first:
            first.append(head.snapshot(loss))
        return forward(features, labels)

    loss.forward = recording
    trainer.fit(model, loss, data, p, tmp_path)
    assert torch.equal(first[0]["weight"], fitted["weight"]) and torch.equal(first[0]["bias"], fitted["bias"])
    assert not torch.equal(loss.classifier.weight, fitted["weight"])  # and trains it on


def test_a_drawn_head_is_the_one_make_loss_draws():
    p = params()
    model = base_model.load(p)
    for seed in (42, 43):
        loss = losses.get("softmax").make(model, 3, seed=seed)
        drawn = head.drawn_head(loss, seed)
        assert torch.equal(drawn["weight"], loss.classifier.weight) and torch.equal(drawn["bias"], loss.classifier.bias)
    assert not torch.equal(head.drawn_head(loss, 44)["weight"], loss.classifier.weight)


def test_the_diagnostic_scores_each_head_as_numpy_does():
    p = params()
    model, loss, data = setup(p)
    start = head.snapshot(loss)
    head.warm_up(model, loss, data, epochs=20, learning_rate=1e-2, batch_size=4, seed=42)
    report = head.diagnose(model, loss, start, (data["sentence1"], data["sentence2"], data["label"]), "rows", seed=42)
    u = model.encode(data["sentence1"], convert_to_numpy=True)
    v = model.encode(data["sentence2"], convert_to_numpy=True)
    x = np.concatenate([u, v, np.abs(u - v)], 1)
    labels = np.array(data["label"])

    def accuracy(state):
        return float(((x @ state["weight"].numpy().T + state["bias"].numpy()).argmax(1) == labels).mean())

    acc = report["accuracy"]
    assert acc["trained"] == pytest.approx(accuracy(head.snapshot(loss)))
    assert acc["start"] == pytest.approx(accuracy(start)) == pytest.approx(acc["initial"])
    assert acc["unseen_seed_43"] == pytest.approx(accuracy(head.drawn_head(loss, 43)))
    assert acc["unseen_seed_44"] == pytest.approx(accuracy(head.drawn_head(loss, 44)))
    change = (loss.classifier.weight.detach() - start["weight"]).abs()
    assert report["weights"]["mean_abs_change"] == pytest.approx(float(change.mean()))
    assert report["weights"]["max_abs_change"] == pytest.approx(float(change.max()))
    lead = acc["trained"] - (acc["unseen_seed_43"] + acc["unseen_seed_44"]) / 2
    expected = (acc["trained"] - acc["start"]) / lead if lead > 0.01 else None
    assert report["head_share"] == (pytest.approx(expected) if expected is not None else None)
    assert report["rows"] == 22 and "trained head" in report["line"]


def test_a_head_learning_rate_of_its_own(tmp_path):
    p = params(head_lr_multiplier=20.0)
    model, loss, data = setup(p)
    st = trainer.make_trainer(model, loss, data, p, tmp_path)
    st.create_optimizer()
    rates = {id(q): g["lr"] for g in st.optimizer.param_groups for q in g["params"]}
    assert rates[id(loss.classifier.weight)] == pytest.approx(p.learning_rate * 20)
    assert rates[id(next(model.parameters()))] == pytest.approx(p.learning_rate)
