"""The faster training path computes what the padded model computes (pairings.speed)."""

import types

import pytest
import torch

from pairings import speed, train
from pairings.params import Params

# texts of very different lengths, so that most of the padded batch is padding
TEXTS = ["hi", "how do i reset my password if i no longer have the email address i signed up with",
         "the treaty was signed in 1648", "ok thanks",
         "a much longer sentence about the industrial revolution in britain and the growth of its cotton mills "
         "in the north of england during the early nineteenth century"]


@pytest.fixture(scope="module")
def model():
    return train.load_model(Params.load("quick", "greetings-mnrl"))


def test_packed_encoder_gives_the_padded_embeddings(model):
    plain = model.encode(TEXTS, batch_size=len(TEXTS), convert_to_tensor=True)
    with speed.packed(model) as used:
        packed = model.encode(TEXTS, batch_size=len(TEXTS), convert_to_tensor=True)
    assert used
    assert torch.allclose(plain, packed, atol=1e-5), (plain - packed).abs().max()
    # and the patch is gone afterwards
    assert "forward" not in vars(speed.encoder_of(model))


def test_packed_encoder_gives_the_same_loss_and_gradients(model):
    loss = train.make_loss("mnrl", model)
    features = [model.tokenize(TEXTS), model.tokenize(TEXTS[::-1])]
    model.eval()  # no dropout: the two paths then do the same arithmetic
    results = []
    for pack in (False, True):
        model.zero_grad(set_to_none=True)
        with speed.packed(model) if pack else speed.contextlib.nullcontext():
            value = loss([dict(f) for f in features], None)
            value.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((value.item(), grads))
    (plain_loss, plain_grads), (packed_loss, packed_grads) = results
    assert packed_loss == pytest.approx(plain_loss, rel=1e-5)
    assert plain_grads.keys() == packed_grads.keys()
    # relative to the largest gradient: some are zero in exact arithmetic (a key bias shifts every logit of a
    # query alike, which softmax ignores) and rounding noise (~1e-8) on both paths
    scale = max(g.abs().max() for g in plain_grads.values())
    worst = max((plain_grads[n] - packed_grads[n]).abs().max() for n in plain_grads) / scale
    assert worst < 1e-5, worst


def test_other_encoders_are_left_alone():
    config = types.SimpleNamespace(model_type="roberta", is_decoder=False)
    assert not speed.can_pack(types.SimpleNamespace(config=config))
    config = types.SimpleNamespace(model_type="bert", is_decoder=False, position_embedding_type="relative_key")
    assert not speed.can_pack(types.SimpleNamespace(config=config))


def test_fit_on_the_fast_path_says_so(tmp_path):
    from datasets import Dataset

    params = Params.load("quick", "greetings-mnrl").replace(fast_path=True, train_pairs=16)
    model = train.load_model(params)
    pairs = Dataset.from_dict({"prompt": TEXTS * 3, "reply": TEXTS[::-1] * 3})
    result = train.fit(model, train.make_loss("mnrl", model), pairs, params, tmp_path)
    assert result["path"] == "fast" and result["steps"] == 2
    assert result["options"] == ["packed encoder (no compute on padding)", "fused AdamW"]
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss in result["loss_history"])
    assert "forward" not in vars(speed.encoder_of(model))


@pytest.mark.parametrize("pairing, card_optim", [("snli-softmax", "adamw_torch"), ("udemy-cosine", "adamw_torch_fused")])
def test_the_plain_path_uses_the_cards_optimizer_and_the_fast_path_fused_adamw(tmp_path, pairing, card_optim):
    params = Params.load("quick", pairing)
    assert train.training_arguments(params.replace(fast_path=False), tmp_path).optim == card_optim
    assert train.training_arguments(params.replace(fast_path=True), tmp_path).optim == "adamw_torch_fused"
