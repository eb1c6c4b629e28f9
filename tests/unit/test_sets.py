"""The data sets: each shaped for every loss it can feed (a few rows each, the pairs and labels it makes);
the registry; generic modules that name no data set; a user's own pairing from a file."""

import re
from pathlib import Path

import pandas as pd
import pytest
from datasets import Dataset

from pairings import config, losses
from pairings import data as data_sets
from pairings.data import greetings, ncert, quora, snli, udemy
from pairings.data.sources import DataError
from pairings.params import Params, ParamsError

P = Params.from_mapping({"pairing": "quora-mnrl"})  # shapings read no parameter but the loss


@pytest.mark.parametrize("name", list(data_sets.seed_pairings().values()))
def test_every_seed_data_set_feeds_every_loss_and_says_why(name):
    spec = data_sets.registry()[name]
    assert spec.losses() == losses.NAMES
    for loss in spec.losses():
        assert len(spec.shaping(loss)) > 20, (name, loss)  # the docstring's first line explains the choice


def test_the_five_seed_pairings_keep_their_names_and_losses():
    assert data_sets.seed_pairings() == {"quora-mnrl": "quora", "ncert-mnrl": "ncert", "snli-softmax": "snli",
                                    "greetings-mnrl": "greetings", "udemy-cosine": "udemy"}
    for pairing, name in data_sets.seed_pairings().items():
        assert data_sets.registry()[name].recipe["loss"] == pairing.split("-")[-1]


def test_generic_modules_name_no_data_set():
    """Every module but the data sets' own (reading, evaluators, training, records, statistics, figures, the site,
    the runner, the command line) names no data set."""
    names = [n for n in data_sets.registry() if n != "file"]
    own = {f"{n}.py" for n in data_sets.registry()}
    lib = config.PROJ_ROOT / "lib" / "pairings"
    for path in sorted(lib.rglob("*.py")):
        if path.parent.name == "data" and path.name in {*own, "__init__.py"}:  # the data sets and their registry
            continue
        if path.name == "cli.py":  # its help texts give seed pairings as examples
            continue
        code = re.sub(r'"""[\s\S]*?"""|#.*', "", path.read_text())  # docstrings and comments may give examples
        found = [n for n in names if re.search(rf"\b{n}\b", code, flags=re.I)]
        assert not found, f"{path.relative_to(lib)} names {found}"


QUESTIONS = Dataset.from_dict({"anchor": ["how do i cook rice", "what is love", "why is the sky blue"],
                               "positive": ["how to cook rice", "define love", "sky blue why"]})


def test_quora_shapings():
    assert quora.Quora().shape_mnrl(QUESTIONS, P).dataset.to_dict() == QUESTIONS.to_dict()
    for loss, positive, negative, classes in (("cosine", 1.0, 0.0, None), ("softmax", 1, 0, 2)):
        shaped = getattr(quora.Quora(), f"shape_{loss}")(QUESTIONS, P)
        rows = shaped.dataset.to_pandas()
        assert shaped.num_labels == classes and list(rows.columns) == ["anchor", "positive", "label"]
        assert sorted(rows.label) == [negative] * 3 + [positive] * 3
        duplicates = dict(zip(QUESTIONS["anchor"], QUESTIONS["positive"]))
        for _, row in rows.iterrows():  # a negative is another pair's question, never the duplicate
            assert (row.positive == duplicates[row.anchor]) == (row.label == positive)


NLI = Dataset.from_dict({"premise": ["a man sleeps"] * 3 + ["a dog runs"] * 2,
                         "hypothesis": ["a person rests", "a man dreams", "a man dances", "an animal moves", "a cat sits"],
                         "label": [0, 1, 2, 0, 2]})


def test_snli_shapings():
    s = snli.Snli()
    assert s.shape_softmax(NLI, P).num_labels == 3 and s.shape_softmax(NLI, P).dataset.to_dict() == NLI.to_dict()
    triplets = s.shape_mnrl(NLI, P).dataset.to_dict()  # premise → entailed, the contradiction as hard negative
    assert triplets == {"anchor": ["a man sleeps", "a dog runs"], "positive": ["a person rests", "an animal moves"],
                        "negative": ["a man dances", "a cat sits"]}
    assert s.shape_cosine(NLI, P).dataset["score"] == [1.0, 0.5, 0.0, 1.0, 0.0]


def test_snli_headline_is_the_head_under_softmax_and_head_free_otherwise():
    task = snli.NliTask(None)
    assert task.headline("softmax") == "nli_accuracy" and task.headline("mnrl") == "entailment_auc"


PASSAGES = Dataset.from_dict({"passage": ["Rome was founded in 753 BC.", "Paris is in France.", "Water boils at 100 C."],
                              "phrase": ["753 BC", "in France", "100 C"], "kind": ["date"] * 3, "group": ["a", "b", "c"]})


def test_ncert_shapings():
    n = ncert.Ncert()
    assert n.shape_mnrl(PASSAGES, P).dataset.column_names == ["passage", "phrase"]
    rows = n.shape_softmax(PASSAGES, P).dataset.to_pandas()
    own = dict(zip(PASSAGES["passage"], PASSAGES["phrase"]))
    assert all((r.phrase == own[r.passage]) == (r.label == 1) for r in rows.itertuples()) and rows.label.sum() == 3
    assert n.shape_cosine(PASSAGES, P).dataset.features["label"].dtype == "float64"


def test_greetings_shapings():
    pairs = greetings.generate_greetings(40, "by_intent").dataset
    g = greetings.Greetings()
    assert g.shape_mnrl(pairs, P).dataset.column_names == ["prompt", "reply"]
    rows = g.shape_cosine(pairs, P).dataset.to_pandas()
    assert len(rows) == 80 and rows.label.mean() == 0.5
    negatives = rows[rows.label == 0.0]
    assert set(negatives.prompt) <= set(pairs["prompt"]) and set(negatives.reply) <= set(pairs["reply"])
    assert g.shape_softmax(pairs, P).num_labels == 2


COURSES = Dataset.from_dict({"title": ["Learn Python", "Learn Python", "Jazz Piano", "Jazz Piano"],
                             "subject": ["Web Development", "Musical Instruments", "Musical Instruments", "Web Development"],
                             "label": [1.0, 0.0, 1.0, 0.0]})


def test_udemy_shapings():
    u = udemy.Udemy()
    assert u.shape_cosine(COURSES, P).dataset.to_dict() == COURSES.to_dict()
    assert u.shape_mnrl(COURSES, P).dataset.to_dict() == {"title": ["Learn Python", "Jazz Piano"],
                                                          "subject": ["Web Development", "Musical Instruments"]}
    softmax = u.shape_softmax(COURSES, P)
    assert softmax.num_labels == 2 and softmax.dataset["label"] == [1, 0, 1, 0]
    assert softmax.dataset.features["label"].dtype == "int64"  # SoftmaxLoss's cross-entropy takes class ids


@pytest.mark.parametrize("name", ["quora", "ncert", "snli", "greetings", "udemy"])
def test_every_shaping_gives_its_loss_the_label_type_it_takes(name):
    """SoftmaxLoss: integer class ids below num_labels; CosineSimilarityLoss: a float in [0, 1]; MNRL: no label."""
    pairing = data_sets.get(name).pairing
    for loss in data_sets.get(name).losses():
        shaped = data_sets.get(name).prepare(Params.load("quick", pairing, {"loss": loss})).shaped
        column = shaped.dataset.column_names[-1]
        if loss == "mnrl":
            assert "label" not in shaped.dataset.column_names and "score" not in shaped.dataset.column_names
        elif loss == "softmax":
            assert shaped.dataset.features[column].dtype == "int64"
            assert set(shaped.dataset[column][:]) <= set(range(shaped.num_labels))
        else:
            assert shaped.dataset.features[column].dtype in ("float32", "float64")
            assert all(0.0 <= v <= 1.0 for v in shaped.dataset[column][:])


@pytest.mark.parametrize("columns, loss, ok", [
    ({}, "mnrl", True), ({"label": [0, 1] * 10}, "softmax", True), ({"score": [0.2, 0.9] * 10}, "cosine", True),
    ({}, "cosine", True), ({}, "softmax", True), ({"label": [0, 1] * 10}, "mnrl", True),
    ({"label": [0, 1] * 10}, "cosine", True), ({"score": [0.2, 0.9] * 10}, "mnrl", True),
    ({"score": [0.2, 0.9] * 10}, "softmax", False), ({"label": [0, 1, 2, 3] * 5}, "mnrl", False),
    ({"label": [0, 1, 2, 3] * 5}, "cosine", False),
])
def test_a_users_file_feeds_the_loss_its_columns_allow(tmp_path, columns, loss, ok):
    path = tmp_path / "mine.csv"
    pd.DataFrame({"question": [f"q{i}" for i in range(20)], "answer": [f"a{i}" for i in range(20)], **columns}).to_csv(path, index=False)
    params = Params.from_mapping({"pairing": "mine", "data_set": "file", "train_data": str(path), "loss": loss})
    if ok:
        prep = data_sets.get("file").prepare(params)
        assert prep.train_dataset.column_names[:2] == ["text1", "text2"] and len(prep.task.rows) == 4
        assert not set(prep.train.dataset["text1"]) & set(prep.task.rows["text1"])  # held-out first texts
    else:
        with pytest.raises(DataError, match=r"data set 'file' cannot be shaped for it from .*mine\.csv"):
            data_sets.get("file").prepare(params)


def test_new_writes_params_and_a_notebook_and_edits_nothing(tmp_path, monkeypatch):
    from pairings.run import cli

    for folder in ("PARAMS_DIR", "NOTEBOOKS_DIR"):
        monkeypatch.setattr(config, folder, tmp_path / folder)
    for profile in ("quick", "local"):
        (tmp_path / "PARAMS_DIR" / profile).mkdir(parents=True)
    (tmp_path / "NOTEBOOKS_DIR").mkdir()
    data = tmp_path / "faq.csv"
    pd.DataFrame({"question": [f"how do I {i}" for i in range(30)], "answer": [f"you {i}" for i in range(30)]}).to_csv(data, index=False)
    assert cli.main(["new", "faq", "--data", str(data), "--loss", "mnrl"]) == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and p != data)
    assert written == ["NOTEBOOKS_DIR/faq.ipynb", "PARAMS_DIR/local/faq.yaml", "PARAMS_DIR/quick/faq.yaml"]
    params = Params.load("quick", "faq")
    assert (params.data_set, params.loss, params.train_data, params.train_pairs) == ("file", "mnrl", str(data), 256)
    notebook = (tmp_path / "NOTEBOOKS_DIR" / "faq.ipynb").read_text()
    assert 'pairing = \\"faq\\"' in notebook and "{name}" not in notebook
    with pytest.raises(ParamsError, match="pairing 'faq' exists already"):
        from pairings.run import scaffold
        scaffold.new_pairing("faq", str(data), "mnrl")


def test_new_refuses_a_loss_the_file_cannot_feed_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from pairings.run import cli

    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path)
    data = tmp_path / "scores.csv"
    pd.DataFrame({"a": ["x", "y", "z"] * 5, "b": ["one", "two", "three"] * 5, "score": [0.1, 0.5, 0.9] * 5}).to_csv(data, index=False)
    assert cli.main(["new", "scores", "--data", str(data), "--loss", "softmax"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("(scores): loss 'softmax' needs a 'label' column of class ids for its head; scores "
                                      "are not classes; this file can feed mnrl, cosine") in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["scores.csv"]


def write_rows(tmp_path, name, rows):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def shaped(tmp_path, rows, loss):
    """The training rows a file of ``rows`` gives ``loss`` (a user's pairing, as `new` makes it)."""
    spec = write_rows(tmp_path, f"{loss}.csv", rows)
    params = Params.from_mapping({"pairing": "mine", "data_set": "file", "train_data": spec, "loss": loss,
                                  "test_data": spec})
    prep = data_sets.get("file").prepare(params)
    return prep.shaped, prep.task.headline(loss)


PAIR_ROWS = {"q": [f"question {i}" for i in range(24)], "a": [f"answer {i}" for i in range(24)]}


def test_a_file_of_pairs_feeds_every_loss_as_the_seed_data_sets_do(tmp_path):
    """Its own second text is the positive; for SoftmaxLoss and CosineSimilarityLoss another row's is the negative."""
    mnrl, metric = shaped(tmp_path, PAIR_ROWS, "mnrl")
    assert mnrl.dataset.to_dict() == {"text1": PAIR_ROWS["q"], "text2": PAIR_ROWS["a"]} and metric == "mrr@10"
    softmax, metric = shaped(tmp_path, PAIR_ROWS, "softmax")
    rows = softmax.dataset.to_dict()
    assert softmax.num_labels == 2 and sorted(rows["label"]) == [0] * 24 + [1] * 24 and metric == "mrr@10"
    for a, b, y in zip(rows["text1"], rows["text2"], rows["label"]):
        assert (b == a.replace("question", "answer")) == (y == 1)  # its own answer is 1, another row's 0
    cosine, _ = shaped(tmp_path, PAIR_ROWS, "cosine")
    assert sorted(cosine.dataset["label"]) == [0.0] * 24 + [1.0] * 24


def test_a_file_of_two_classes_feeds_every_loss_and_of_scores_all_but_a_head(tmp_path):
    classes = {**PAIR_ROWS, "label": [1, 0] * 12}
    mnrl, metric = shaped(tmp_path, classes, "mnrl")
    assert mnrl.dataset["text1"] == PAIR_ROWS["q"][0::2] and metric == "label_auc"  # class 1 only; head-free AUC
    cosine, _ = shaped(tmp_path, classes, "cosine")
    assert cosine.dataset["score"] == [1.0, 0.0] * 12
    softmax, metric = shaped(tmp_path, classes, "softmax")
    assert softmax.dataset["label"] == [1, 0] * 12 and softmax.num_labels == 2 and metric == "accuracy"
    scores = {**PAIR_ROWS, "score": [0.9, 0.2, 0.5, 0.4] * 6}
    mnrl, metric = shaped(tmp_path, scores, "mnrl")
    assert mnrl.dataset["text2"] == PAIR_ROWS["a"][0::2] and metric == "pair_spearman"  # scored ≥ 0.5
    with pytest.raises(DataError, match=r"\(scores\): loss 'softmax' needs a 'label' column of class ids for its head"):
        shaped(tmp_path, scores, "softmax")
    three = {**PAIR_ROWS, "label": [0, 1, 2] * 8}
    with pytest.raises(DataError, match=r"loss 'mnrl' needs positive pairs, and a 'label' with classes \[0, 1, 2\] does "
                                        r"not say which class is the positive one .*; this file can feed softmax$"):
        shaped(tmp_path, three, "mnrl")


def test_snli_triplets_come_from_the_whole_split_not_from_a_subset_of_rows():
    """512 of SNLI dev's 9,842 rows rarely hold both hypotheses of a premise: the triplets are built first."""
    params = Params.from_mapping({"pairing": "snli-softmax", "loss": "mnrl", "train_pairs": 64, "test_pairs": 50})
    prep = data_sets.get("snli").prepare(params)
    assert len(prep.train_dataset) == 64 and prep.train_dataset.column_names == ["anchor", "positive", "negative"]


def test_new_refuses_reserved_and_overlong_names_and_quotes_what_yaml_would_misread(tmp_path, monkeypatch):
    """`new index` would overwrite the profile's index page; a 300-character name is refused; a data path holding
    YAML's special characters is written quoted, so the params file reads back as the same path."""
    from pairings.run import scaffold

    for folder in ("quick", "local"):
        (tmp_path / "params" / folder).mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path / "params")
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", tmp_path / "notebooks")
    odd = tmp_path / "my data: #1 [v2] 'x'.csv"
    pd.DataFrame({"q": [f"question {i}" for i in range(40)], "a": [f"answer {i}" for i in range(40)]}).to_csv(odd, index=False)
    with pytest.raises(ParamsError, match="pairing name 'index': reserved"):
        scaffold.new_pairing("index", str(odd), "mnrl")
    with pytest.raises(ParamsError, match="use 1 to 64 lowercase letters"):
        scaffold.new_pairing("a" * 300, str(odd), "mnrl")
    scaffold.new_pairing("odd", str(odd), "mnrl")
    assert Params.load("quick", "odd").train_data == str(odd)
    assert Params.load("local", "odd").train_data == str(odd)
    with pytest.raises(ParamsError, match="pairing 'odd' exists already"):
        scaffold.new_pairing("odd", str(odd), "mnrl")
    # a second `new` of the same name that lost the race leaves the winner's files and none of its own
    real_exists = Path.exists
    def exists(self):  # the pairing's own files look absent when checked, then are there when written
        return False if self.suffix in (".yaml", ".ipynb") and tmp_path in self.parents else real_exists(self)

    monkeypatch.setattr(scaffold.Path, "exists", exists)
    with pytest.raises(ParamsError, match=r"pairing 'odd' exists already \(.*odd\.yaml\)"):
        scaffold.new_pairing("odd", str(odd), "mnrl")
    assert Params.load("quick", "odd").train_data == str(odd)
