"""The grid's evaluations: SICK-R beside STSb, every seed data set's task (the transfer matrix), the params
files of every grid cell, and the base model's evaluation computed once (pairings.evaluate.cache)."""

import numpy as np
import pytest

from pairings import config, params
from pairings import data as data_sets
from pairings.data import general
from pairings.evaluate import cache, metrics
from pairings.params import Params, ParamsError
from pairings.run import pipeline
from pairings.run.pipeline import Run
from pairings.train import base_model


@pytest.mark.parametrize("profile", ["quick", "local"])
def test_every_cell_of_the_grid_has_a_params_file(profile):
    """Every data set under every loss it can be shaped for: its seed pairing, or a variant named after the loss
    that changes the loss only."""
    for pairing, name in data_sets.seed_pairings().items():
        for loss in data_sets.get(name).losses():
            p = Params.load(profile, pairing)
            if loss != p.loss:
                assert loss in params.variants(profile, pairing), f"{profile}/{pairing}.{loss}.yaml is missing"
                cell = Params.load(profile, pairing, variant=loss)
                changed = {k for k, v in cell.to_dict().items() if v != p.to_dict()[k]}
                assert changed == {"loss", "variant"}, (pairing, loss, changed)


def test_sick_is_read_like_stsb():
    sick = general.load("sick:test", None, "sick_data")
    assert len(sick.dataset) == 4906 and sick.dataset.column_names == ["sentence1", "sentence2", "score"]
    scores = np.asarray(sick.dataset["score"])
    assert scores.min() == pytest.approx(0.2) and scores.max() == pytest.approx(1.0)  # relatedness 1-5, divided by 5
    assert sick.dataset[0]["sentence1"] == "There is no boy playing outdoors and there is no man smiling"
    assert (config.DATA_DIR / "sick" / "README.md").read_text().count("CC BY-NC-SA 3.0") >= 1


def test_sick_params_are_checked_and_sick_can_be_left_out():
    with pytest.raises(ParamsError, match="parameter 'sick_pairs' must be at least 10"):
        Params.load("quick", "quora-mnrl", {"sick_pairs": 3})
    with pytest.raises(ParamsError, match="parameter 'sick_data'"):
        Params.load("quick", "quora-mnrl", {"sick_data": "not a source"})
    prep = data_sets.get("greetings").prepare(Params.load("quick", "greetings-mnrl", {"sick_data": ""}))
    assert prep.sick is None


def test_transfer_tasks_are_every_seed_data_set_capped():
    tasks = pipeline.transfer_tasks(Params.load("quick", "greetings-mnrl", {"transfer_pairs": 20}))
    assert list(tasks) == list(data_sets.seed_pairings().values())
    assert {name: t.headline(None) for name, t in tasks.items()} == {
        "quora": "mrr@10", "ncert": "mrr@10", "snli": "entailment_auc", "greetings": "mrr@10", "udemy": "zero_shot_accuracy"}
    assert len(tasks["quora"].pairs.dataset) == 20 and len(tasks["snli"].pairs.dataset) == 20


@pytest.fixture(scope="module")
def model():

    return base_model.load(Params.load("quick", "greetings-mnrl"))


def test_a_tasks_transfer_metric_is_its_head_free_headline(model):
    """Task.transfer may compute its one metric alone: the same value evaluate() gives without a head."""
    for name, task in pipeline.transfer_tasks(Params.load("quick", "greetings-mnrl", {"transfer_pairs": 12})).items():
        assert task.transfer(model) == task.evaluate(model, None)[task.headline(None)], name


def test_the_cache_returns_what_a_fresh_computation_gives_and_recomputes_on_any_change(model, tmp_path, monkeypatch):
    monkeypatch.setenv("PAIRINGS_EVAL_CACHE", str(tmp_path))
    pairs = general.load("stsb:test", 30).dataset
    calls = []

    def compute(ds=pairs):
        calls.append(1)
        return metrics.stsb(model, ds)

    key = cache.model_fingerprint(model)
    fresh = metrics.stsb(model, pairs)
    assert cache.evaluation("general", key, [pairs], compute) == fresh and len(calls) == 1
    assert cache.evaluation("general", key, [pairs], compute) == fresh and len(calls) == 1  # from the cache
    other = pairs.map(lambda r, i: {"sentence1": r["sentence1"] + "!" if i == 0 else r["sentence1"]}, with_indices=True)
    cache.evaluation("general", key, [other], lambda: compute(other))
    assert len(calls) == 2  # one text changed: computed again
    cache.evaluation("general", "another model", [pairs], compute)
    assert len(calls) == 3
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "other code")
    cache.evaluation("general", key, [pairs], compute)
    assert len(calls) == 4
    monkeypatch.setenv("PAIRINGS_EVAL_CACHE", "off")
    cache.evaluation("general", key, [pairs], compute)
    assert len(calls) == 5 and not list(tmp_path.glob("*.tmp"))


def test_the_model_fingerprint_sees_one_weight_and_the_modules(model):
    import torch

    key = cache.model_fingerprint(model)
    weight = next(model.parameters())
    with torch.no_grad():
        weight[0, 0] += 1e-6
        changed = cache.model_fingerprint(model)
        weight[0, 0] -= 1e-6
    assert changed != key
    model.max_seq_length, old = 64, model.max_seq_length
    try:
        assert cache.model_fingerprint(model) != key
    finally:
        model.max_seq_length = old


def test_a_runs_before_metrics_from_the_cache_equal_a_fresh_computation(tmp_path, monkeypatch):
    """The record's "before": computed, then read back from the cache, then with the cache off: all equal."""
    p = Params.load("quick", "udemy-cosine", {"stsb_pairs": 40, "sick_pairs": 40, "transfer_pairs": 12,
                                              "test_pairs": 40, "train_pairs": 40})
    results = []
    for setting in (str(tmp_path), str(tmp_path), "off"):
        monkeypatch.setenv("PAIRINGS_EVAL_CACHE", setting)
        run = Run(p)
        run.load_model(), run.load_data(), run.make_loss()
        results.append((run.evaluate("before"), run.transfer["before"], run.artifacts["before"]["confusion"].tolist()))
    assert len(list(tmp_path.glob("*.json"))) == 3  # the task, general similarity, transfer
    assert results[0] == results[1] == results[2]
    assert {"sick_spearman", "stsb_spearman", "zero_shot_accuracy"} <= set(results[0][0])


def test_encode_dtype_runs_the_encodings_under_autocast(model):
    """float32 leaves the model as it is; bfloat16 gives nearly the same embeddings, not the same numbers."""
    texts = ["a man is playing a guitar", "the cat sleeps on the sofa", "stock markets fell sharply on monday"]
    plain = model.encode(texts, convert_to_tensor=True)
    with metrics.precision(model, "float32"):
        assert np.array_equal(model.encode(texts, convert_to_tensor=True).numpy(), plain.numpy())
    with metrics.precision(model, "bfloat16"):
        low = model.encode(texts, convert_to_tensor=True).float()
    cosine = (low * plain).sum(-1) / (low.norm(dim=-1) * plain.norm(dim=-1))
    assert not np.array_equal(low.numpy(), plain.numpy()) and float(cosine.min()) > 0.99
    with pytest.raises(ParamsError, match="parameter 'encode_dtype' must be one of float32, float16, bfloat16"):
        Params.load("quick", "quora-mnrl").replace(encode_dtype="fp8")
