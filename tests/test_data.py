"""Data sources: the project's named sets, local files by path, and the hub path with the network off."""

import datasets
import pandas as pd
import pytest

from pairings import data
from pairings.data import DataError


def test_named_set_loads_with_standard_columns():
    loaded = data.load_nli("snli:test", 50, "test_data")
    assert loaded.dataset.column_names == ["premise", "hypothesis", "label"]
    assert len(loaded.dataset) == 50 and set(loaded.dataset["label"]) <= {0, 1, 2}
    assert loaded.rows_read == 9824  # SNLI test, as its README says


def test_subset_is_fixed_whatever_the_training_seed():
    assert data.load_nli("snli:dev", 20, "train_data").dataset["premise"] == \
        data.load_nli("snli:dev", 20, "train_data").dataset["premise"]


def test_stsb_scores_are_scaled_to_unit_interval():
    stsb = data.load_stsb("stsb:test", None).dataset
    assert len(stsb) == 1379 and 0 <= min(stsb["score"]) and max(stsb["score"]) <= 1


def test_local_csv_by_path_with_aliases_and_blank_rows(tmp_path):
    path = tmp_path / "nli.csv"
    pd.DataFrame({"sentence1": ["A dog runs.", " ", "A cat sleeps."], "sentence2": ["An animal moves.", "x", "A dog barks."],
                  "gold_label": ["entailment", "neutral", "contradiction"]}).to_csv(path, index=False)
    loaded = data.load_nli(str(path), None, "train_data")
    assert loaded.dataset["label"] == [0, 2]
    assert loaded.dropped["empty text"] == 1


def test_missing_named_set_lists_what_exists():
    with pytest.raises(DataError, match=r"parameter 'train_data' = 'snly:dev': no such file .*data/snly/dev.parquet; the project's data/ has: .*snli"):
        data.load_nli("snly:dev", None, "train_data")


def test_missing_column_names_the_file_and_its_columns(tmp_path):
    path = tmp_path / "pairs.parquet"
    pd.DataFrame({"premise": ["a"], "hypo": ["b"], "label": [0]}).to_parquet(path)
    with pytest.raises(DataError, match=r"no column 'hypothesis'.*the file has 'premise', 'hypo', 'label'"):
        data.load_nli(str(path), None, "train_data")


def test_truncated_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.parquet"
    good = tmp_path / "good.parquet"
    pd.DataFrame({"premise": ["a"] * 100, "hypothesis": ["b"] * 100, "label": [0] * 100}).to_parquet(good)
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match=r"parameter 'train_data' = .*broken.parquet.*: cannot read"):
        data.load_nli(str(path), None, "train_data")


def test_labels_out_of_range_are_refused(tmp_path):
    path = tmp_path / "nli.parquet"
    pd.DataFrame({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [0, 7]}).to_parquet(path)
    with pytest.raises(DataError, match=r"labels \[7\] are outside 0..2"):
        data.load_nli(str(path), None, "train_data")


def test_hub_source_uses_load_dataset_and_drops_unlabelled(monkeypatch):
    calls = []

    def fake_hub(repo, name, split):
        calls.append((repo, name, split))
        return datasets.Dataset.from_dict({"premise": ["a", "b", "c"], "hypothesis": ["d", "e", "f"], "label": [0, -1, 2]})

    monkeypatch.setattr(data, "_hub_load", fake_hub)
    loaded = data.load_nli("hub:stanfordnlp/snli:train", None, "train_data")
    assert calls == [("stanfordnlp/snli", None, "train")]
    assert loaded.dataset["label"] == [0, 2] and loaded.dropped["no gold label"] == 1


def test_hub_source_offline_says_how_to_provide_the_data(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"'hub:stanfordnlp/snli:train': this data is not local.*hub is offline.*"
                                        r"to_parquet\('my.parquet'\) and set train_data to that path"):
        data.load_nli("hub:stanfordnlp/snli:train", None, "train_data")


def test_hub_config_is_passed(monkeypatch):
    seen = {}
    monkeypatch.setattr(data, "_hub_load", lambda repo, name, split: seen.update(repo=repo, name=name, split=split)
                        or datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "score": [0.5]}))
    data.load_stsb("hub:sentence-transformers/stsb@default:test", None)
    assert seen == {"repo": "sentence-transformers/stsb", "name": "default", "split": "test"}


def test_greetings_generator_is_deterministic_and_shaped_like_the_card():
    a, b = data.generate_greetings(300, "random"), data.generate_greetings(300, "random")
    assert a.dataset.to_dict() == b.dataset.to_dict()
    assert a.dataset[0]["prompt"].split(", ", 1)[0] in data.GREETING_PREFIXES
    intents = data.generate_greetings(300, "by_intent").dataset
    for row in intents:
        assert row["reply"] in data.GREETING_INTENTS[row["intent"]][1]
    # random pairing: replies ignore the intent, as in the seed's samples
    assert any(r["reply"] not in data.GREETING_INTENTS[r["intent"]][1] for r in a.dataset)


def test_greetings_test_prompts_are_held_out():
    train = set(data.generate_greetings(3000, "by_intent").dataset["prompt"])
    queries, corpus, relevant = data.greetings_retrieval_task()
    assert not train & set(queries.values())
    assert len(corpus) == len(data.GREETING_REPLIES) and all(len(r) == 2 for r in relevant.values())


def test_in_batch_duplicates_counts_false_negatives():
    assert data.in_batch_duplicates(["a"] * 16, 8, 0) == 1.0
    assert data.in_batch_duplicates([str(i) for i in range(16)], 8, 0) == 0.0
