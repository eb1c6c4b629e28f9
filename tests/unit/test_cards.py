"""Every saved model's card names its lineage: base model, data and stand-in, recipe, evaluation before and after."""

import pytest
from sentence_transformers import SentenceTransformer

from pairings.params import Params
from pairings.report import cards, record
from pairings.train import base_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    params = Params.load("quick", "quora-mnrl")
    model = base_model.load(params)
    rec = record.build(
        params, data={"train_source": params.train_data, "stand_in": "a tiny fake stand-in", "train_pairs": 12},
        before={"map@10": 0.5, "stsb_spearman": 0.8203, "unrelated_cosine": 0.1},
        after={"map@10": 0.625, "stsb_spearman": 0.8111, "unrelated_cosine": 0.05},
        training={"steps": 3, "loss_history": [[1, 1.0]]}, task_metric="map@10", timings={}, device="cpu",
        base_model=cards.base_model_entry(base_model.source(params)))
    path = tmp_path_factory.mktemp("card") / "model"
    cards.save(model, path, rec)
    return params, path


def test_card_names_base_model_data_recipe_and_both_evaluations(saved):
    params, path = saved
    SentenceTransformer(str(path), device="cpu")  # stock loading
    text = (path / "README.md").read_text(encoding="utf-8")
    front = text.split("---")[1]
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in front
    assert "Unknown](https://huggingface.co/unknown)" not in text
    assert "**Base model:** [sentence-transformers/all-MiniLM-L6-v2]" in text
    section = text[text.index(cards.SECTION):]
    assert params.train_data in section and "a tiny fake stand-in" in section
    for part in ("MultipleNegativesRankingLoss", f"batch size {params.batch_size}", f"epochs {params.epochs}",
                 f"max_seq_length {params.max_seq_length}", f"learning rate {params.learning_rate}",
                 f"seed {params.seed}"):
        assert part in section
    assert "| map@10 (held-out task, headline) | 0.5000 | 0.6250 | +0.1250 |" in section
    assert "| STSb Spearman (general similarity) | 0.8203 | 0.8111 | -0.0092 |" in section


def test_base_model_of_a_hub_id_and_an_unknown_folder(tmp_path):
    assert cards.base_model_entry("org/model")["id"] == "org/model"
    assert cards.base_model_entry(str(tmp_path)) == {"id": None, "source": str(tmp_path)}


def test_a_card_of_the_users_own_data_does_not_speak_of_a_seed_card():
    import json

    from pairings import config
    from pairings.report import cards
    from pairings.report.record import Record

    raw = json.loads((config.report_dir("quick") / "greetings-mnrl.json").read_text())
    raw["params"]["data_set"], raw["data"]["stand_in"] = "file", None
    text = cards.lineage_section(Record.from_dict(raw))
    assert "- **Data:** the user's own (no seed card, so no stand-in)" in text and "seed card's own data" not in text
    raw["params"]["data_set"] = "quora"
    assert "- **Stand-in:** none (the seed card's own data)" in cards.lineage_section(Record.from_dict(raw))
