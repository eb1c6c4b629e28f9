"""Data sources: the project's named sets, local files by path, and the hub path with the network off."""

import datasets
import pandas as pd
import pytest

from pairings.data import general, greetings, ncert, quora, sanity, snli, sources, udemy
from pairings.data.sources import DataError, Loaded


def test_named_set_loads_with_standard_columns():
    loaded = snli.load_nli("snli:test", 50, "test_data")
    assert loaded.dataset.column_names == ["premise", "hypothesis", "label"]
    assert len(loaded.dataset) == 50 and set(loaded.dataset["label"]) <= {0, 1, 2}
    assert loaded.rows_read == 9824  # SNLI test, as its README says


def test_subset_is_fixed_whatever_the_training_seed():
    assert snli.load_nli("snli:dev", 20, "train_data").dataset["premise"] == \
        snli.load_nli("snli:dev", 20, "train_data").dataset["premise"]


def test_stsb_scores_are_scaled_to_unit_interval():
    pairs = general.load("stsb:test", None).dataset
    assert len(pairs) == 1379 and 0 <= min(pairs["score"]) and max(pairs["score"]) <= 1


def test_local_csv_by_path_with_aliases_and_blank_rows(tmp_path):
    path = tmp_path / "nli.csv"
    pd.DataFrame({"sentence1": ["A dog runs.", " ", "A cat sleeps."], "sentence2": ["An animal moves.", "x", "A dog barks."],
                  "gold_label": ["entailment", "neutral", "contradiction"]}).to_csv(path, index=False)
    loaded = snli.load_nli(str(path), None, "train_data")
    assert loaded.dataset["label"] == [0, 2]
    assert loaded.dropped["empty text"] == 1


def test_missing_named_set_lists_what_exists():
    with pytest.raises(DataError, match=r"parameter 'train_data' = 'snly:dev': no such file .*data/snly/dev.parquet; "
                                        r"the project's data/ has: .*snli"):
        snli.load_nli("snly:dev", None, "train_data")


def test_missing_column_names_the_file_and_its_columns(tmp_path):
    path = tmp_path / "pairs.parquet"
    pd.DataFrame({"premise": ["a"], "hypo": ["b"], "label": [0]}).to_parquet(path)
    with pytest.raises(DataError, match=r"no column 'hypothesis'.*the file has 'premise', 'hypo', 'label'"):
        snli.load_nli(str(path), None, "train_data")


def test_truncated_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.parquet"
    good = tmp_path / "good.parquet"
    pd.DataFrame({"premise": ["a"] * 100, "hypothesis": ["b"] * 100, "label": [0] * 100}).to_parquet(good)
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match=r"parameter 'train_data' = .*broken.parquet.*: cannot read"):
        snli.load_nli(str(path), None, "train_data")


def test_labels_out_of_range_are_refused(tmp_path):
    path = tmp_path / "nli.parquet"
    pd.DataFrame({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [0, 7]}).to_parquet(path)
    with pytest.raises(DataError, match=r"labels \[7\] are outside 0..2"):
        snli.load_nli(str(path), None, "train_data")


def test_hub_source_uses_load_dataset_and_drops_unlabelled(monkeypatch):
    calls = []

    def fake_hub(repo, name, split):
        calls.append((repo, name, split))
        return datasets.Dataset.from_dict({"premise": ["a", "b", "c"], "hypothesis": ["d", "e", "f"], "label": [0, -1, 2]})

    monkeypatch.setattr(sources, "_hub_load", fake_hub)
    loaded = snli.load_nli("hub:stanfordnlp/snli:train", None, "train_data")
    assert calls == [("stanfordnlp/snli", None, "train")]
    assert loaded.dataset["label"] == [0, 2] and loaded.dropped["no gold label"] == 1


def test_hub_source_offline_says_how_to_provide_the_data(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"'hub:stanfordnlp/snli:train': this data is not local.*hub is offline.*"
                                        r"to_parquet\('my.parquet'\) and set train_data to that path"):
        snli.load_nli("hub:stanfordnlp/snli:train", None, "train_data")


def test_hub_config_is_passed(monkeypatch):
    seen = {}
    monkeypatch.setattr(sources, "_hub_load", lambda repo, name, split: seen.update(repo=repo, name=name, split=split)
                        or datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "score": [0.5]}))
    general.load("hub:sentence-transformers/stsb@default:test", None)
    assert seen == {"repo": "sentence-transformers/stsb", "name": "default", "split": "test"}


def test_greetings_generator_is_deterministic_and_shaped_like_the_card():
    a, b = greetings.generate_greetings(300, "random"), greetings.generate_greetings(300, "random")
    assert a.dataset.to_dict() == b.dataset.to_dict()
    assert a.dataset[0]["prompt"].split(", ", 1)[0] in greetings.GREETING_PREFIXES
    intents = greetings.generate_greetings(300, "by_intent").dataset
    for row in intents:
        assert row["reply"] in greetings.GREETING_INTENTS[row["intent"]][1]
    # random pairing: replies ignore the intent, as in the seed's samples
    assert any(r["reply"] not in greetings.GREETING_INTENTS[r["intent"]][1] for r in a.dataset)


def test_greetings_test_prompts_are_held_out():
    train = set(greetings.generate_greetings(3000, "by_intent").dataset["prompt"])
    task = greetings.retrieval_task()
    assert not train & set(task.queries.values())
    assert len(task.corpus) == len(greetings.GREETING_REPLIES) and all(len(r) == 2 for r in task.relevant.values())


def test_in_batch_duplicates_counts_false_negatives():
    assert sanity.in_batch_duplicates(["a"] * 16, 8, 0) == 1.0
    assert sanity.in_batch_duplicates([str(i) for i in range(16)], 8, 0) == 0.0


def test_question_normalisation_matches_the_card():
    assert quora.normalize_question("How can I get rid of acne?! (fast)", True, True) == "how can i get rid of acne fast"
    assert quora.normalize_question("Rachel Carson - Silent Spring's e-mail", True, True) == "rachel carson silent spring s e-mail"


def test_duplicate_retrieval_flags_leaked_pairs():
    train = datasets.Dataset.from_dict({"anchor": ["a", "b"], "positive": ["a2", "b2"]})
    test = datasets.Dataset.from_dict({"anchor": ["a", "c", "d"], "positive": ["x", "c2", "d2"]})
    task = quora.DuplicateRetrieval(Loaded(test, "test", 3), train)
    queries, corpus, relevant = task.retrieval.queries, task.retrieval.corpus, task.retrieval.relevant
    assert len(queries) == 3 and sorted(corpus.values()) == ["c2", "d2", "x"]
    assert task.clean == ["q1", "q2"]  # q0's question "a" is a training question
    assert corpus[next(iter(relevant["q1"]))] == "c2"


def test_passages_and_phrases_are_taken_from_the_text():
    text = ("The Estates General was a political body to which the three estates sent their representatives. "
            "The monarch alone could decide when to call a meeting of this body. The last time it was done was in 1614. ") * 6
    pairs = ncert.passage_phrase_pairs([("ch1", text), ("ch2", text)], None)
    assert len(pairs) >= 2
    for row in pairs:
        assert row["phrase"] in row["passage"] and 3 <= len(row["phrase"].split()) <= 12
    assert "date" in pairs["kind"]


def test_split_by_group_keeps_groups_apart():
    ds = datasets.Dataset.from_dict({"passage": [str(i) for i in range(50)], "group": [f"g{i % 10}" for i in range(50)]})
    train, test = sources.split_by_group(ds)
    assert not set(train["group"]) & set(test["group"]) and len(set(test["group"])) == 2


def test_squad_stand_in_pairs_answers_with_their_paragraph():
    pairs, rows = ncert.squad_pairs("squad:dev", "train_data")
    assert rows == 10570 and len(pairs) > 1500
    assert all(p in passage for p, passage in zip(pairs["phrase"][:200], pairs["passage"][:200]))


def test_ncert_wrong_table_is_named(tmp_path):
    pages = tmp_path / "pages.parquet"
    pd.DataFrame({"file": ["x"], "page_index": [0], "text": ["t"], "text_garbled": [False]}).to_parquet(pages)
    with pytest.raises(DataError, match="parameter 'ncert_path' = .*pages table; give chapters.parquet"):
        ncert.load_ncert_chapters(str(pages))
    other = tmp_path / "other.parquet"
    pd.DataFrame({"file": ["x"], "text": ["t"]}).to_parquet(other)
    with pytest.raises(DataError, match="not the NCERT chapters table"):
        ncert.load_ncert_chapters(str(other))


def test_udemy_pairs_are_sixty_percent_positive_and_blank_strings_are_dropped(tmp_path):
    courses = udemy.load_courses("udemy:udemy_courses", "train_data")
    pairs = udemy.title_subject_pairs(courses.dataset, 0.6, None)
    assert abs(sum(pairs["label"]) / len(pairs) - 0.6) < 0.01
    own = dict(zip(courses.dataset["title"], courses.dataset["subject"]))
    assert all((own[t] == s) == (y == 1.0) for t, s, y in zip(pairs["title"], pairs["subject"], pairs["label"]))
    path = tmp_path / "courses.csv"
    pd.DataFrame({"course_title": ["A", "  ", "C", None], "subject": ["X", "Y", "", "Z"]}).to_csv(path, index=False)
    loaded = udemy.load_courses(str(path), "train_data")
    assert len(loaded.dataset) == 1 and loaded.dropped["empty text"] == 3


def test_cosine_labels_outside_unit_interval_are_refused():
    ds = datasets.Dataset.from_dict({"label": [0.0, 1.0, 2.0]})
    with pytest.raises(DataError, match=r"1 labels outside \[0.0, 1.0\]"):
        sources.check_labels(ds, "label", 0.0, 1.0, "train_data", "x.csv")
