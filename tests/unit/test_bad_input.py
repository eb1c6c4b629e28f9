"""The bad-input catalogue: each case is a mistake a user can make, and the clear error it must get.

Every case goes through the runner's own entry, ``plan.plan`` (what ``python -m pairings run`` calls
first): it must raise an error that names the parameter or the file, before any model is loaded or
trained, within 5 seconds.
"""

import time

import pandas as pd
import pytest
import sentence_transformers

from pairings import config
from pairings.data.sources import DataError
from pairings.params import ParamsError
from pairings.run import plan
from pairings.train.base_model import ModelError


def quick_yaml(pairing: str) -> str:
    return (config.PARAMS_DIR / "quick" / f"{pairing}.yaml").read_text()


def edit(pairing, **changes):
    """A params file for `pairing`: the quick one with keys changed (None deletes a key is not needed)."""
    import yaml

    values = yaml.safe_load(quick_yaml(pairing))
    values.update(changes)
    return {pairing: yaml.safe_dump(values, sort_keys=False)}


def write_file(name, content):
    """A maker of a file in the test's folder: a DataFrame as parquet, or raw bytes."""
    def make(tmp):
        path = tmp / name
        content.to_parquet(path) if isinstance(content, pd.DataFrame) else path.write_bytes(content)
        return str(path)
    return make


def truncated_parquet(tmp):
    good = tmp / "good.parquet"
    pd.DataFrame({"sentence1": ["a"] * 200, "sentence2": ["b"] * 200, "gold_label": ["neutral"] * 200}).to_parquet(good)
    bad = tmp / "truncated.parquet"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return str(bad)


def st_lookalike(tmp):
    folder = tmp / "not-a-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return str(folder)


PAIRS = pd.DataFrame({"q": [f"question {i}" for i in range(20)], "a": [f"answer {i}" for i in range(20)]})
NLI = lambda **cols: pd.DataFrame({"sentence1": ["A dog runs.", "A cat sleeps."], "sentence2": ["An animal moves.", "A cat is awake."],
                                   "gold_label": ["entailment", "contradiction"], **cols})

# id, pairing, params-file text or a change, files to make ({placeholder: maker}), error type, message (regex)
CATALOGUE = [
    ("unknown pairing", "snli-softmx", None, {}, ParamsError, r"unknown pairing 'snli-softmx'.*did you mean 'snli-softmax'"),
    ("unknown profile", "snli-softmax", "PROFILE:quik", {}, ParamsError, r"unknown profile 'quik'.*did you mean 'quick'"),
    ("unknown loss", "snli-softmax", {"loss": "sofmax"}, {}, ParamsError, r"snli-softmax\.yaml: parameter 'loss' must be one of mnrl, softmax, cosine \(did you mean 'softmax'\?\)"),
    ("loss the user's file cannot feed", "mine", "TEXT:data_set: file\ntrain_data: FILE\nloss: softmax\n", {"FILE": write_file("scores.parquet", PAIRS.assign(score=0.5))}, DataError, r"parameter 'loss' = 'softmax': data set 'file' cannot be shaped for it from .*scores\.parquet \(scores\): loss 'softmax' needs a 'label' column of class ids for its head; scores are not classes; this file can feed mnrl, cosine"),
    ("user's file with one text column", "mine", "TEXT:data_set: file\ntrain_data: FILE\n", {"FILE": write_file("one.parquet", PAIRS[["q"]])}, DataError, r"parameter 'train_data' = .*one\.parquet.*: needs two text columns; the file has q \((large_)?string\)"),
    ("user's pairing names no data set", "mine", "TEXT:train_data: x.csv\n", {}, ParamsError, r"mine\.yaml \(its place\): pairing 'mine' is not a seed pairing .*must name its 'data_set'"),
    ("unknown data set", "mine", "TEXT:data_set: fiel\ntrain_data: x.csv\n", {}, ParamsError, r"mine\.yaml: parameter 'data_set' must be one of .*file.* \(did you mean 'file'\?\)"),
    ("seed pairing given another data set", "snli-softmax", {"data_set": "quora"}, {}, ParamsError, r"snli-softmax\.yaml: parameter 'data_set' is 'quora', but pairing snli-softmax is seed data set 'snli'"),
    ("data-set key in a profile's file", "snli-softmax", "PROFILE_TEXT:lowercase: true\n", {}, ParamsError, r"_profile\.yaml: parameter 'lowercase' cannot be set for a whole profile"),
    ("duplicate key", "snli-softmax", "TEXT:epochs: 1\nepochs: 2\n", {}, ParamsError, r"snli-softmax\.yaml: line 2: key 'epochs' appears twice \(first on line 1\)"),
    ("YAML alias", "snli-softmax", "TEXT:a: &x 1\nepochs: *x\n", {}, ParamsError, r"snli-softmax\.yaml: line 2: YAML aliases \(\*x\) are not allowed"),
    ("infinite learning rate", "snli-softmax", "TEXT:learning_rate: .inf\n", {}, ParamsError, r"parameter 'learning_rate' must be a finite number in \(0, 1\.0\]"),
    ("absurd epochs", "snli-softmax", {"epochs": 1000000000}, {}, ParamsError, r"parameter 'epochs' must be at most 10,000"),
    ("seed beyond 2**32", "snli-softmax", {"seed": 2**32}, {}, ParamsError, r"parameter 'seed' must be an integer from 0 to 4294967295"),
    ("too few STSb pairs", "snli-softmax", {"stsb_pairs": 1}, {}, ParamsError, r"parameter 'stsb_pairs' must be at least 10"),
    ("misspelled key", "snli-softmax", {"batch_sise": 32}, {}, ParamsError, r"snli-softmax\.yaml: unknown parameter 'batch_sise' \(did you mean 'batch_size'\?\)"),
    ("unknown key", "udemy-cosine", {"dropout": 0.1}, {}, ParamsError, r"udemy-cosine\.yaml: unknown parameter 'dropout'"),
    ("key of another pairing", "snli-softmax", {"ncert_path": "x.parquet"}, {}, ParamsError, r"snli-softmax\.yaml: parameter 'ncert_path' belongs to data set ncert, not to snli"),
    ("string for an int", "snli-softmax", {"epochs": "4"}, {}, ParamsError, r"parameter 'epochs' must be a int, got str '4'"),
    ("list for a float", "snli-softmax", {"learning_rate": [5e-5]}, {}, ParamsError, r"parameter 'learning_rate' must be a float, got list"),
    ("string for a bool", "quora-mnrl", {"lowercase": "yes"}, {}, ParamsError, r"parameter 'lowercase' must be a bool, got str"),
    ("zero epochs", "snli-softmax", {"epochs": 0}, {}, ParamsError, r"parameter 'epochs' must be at least 1 \(0 only with head_warmup_epochs: the head's probe alone\) \(got 0\)"),
    ("head warm-up for a loss without a head", "quora-mnrl", {"head_warmup_epochs": 5}, {}, ParamsError, r"quora-mnrl\.yaml: parameter 'head_warmup_epochs' needs a loss with a head of its own \(softmax\); loss 'mnrl' has none \(got 5\)"),
    ("head learning-rate multiplier without a head", "udemy-cosine", {"head_lr_multiplier": 10.0}, {}, ParamsError, r"parameter 'head_lr_multiplier' needs a loss with a head of its own \(softmax\); loss 'cosine' has none"),
    ("negative head warm-up", "snli-softmax", {"head_warmup_epochs": -1}, {}, ParamsError, r"parameter 'head_warmup_epochs' must be from 0 \(no warm-up\) to 10,000 \(got -1\)"),
    ("zero head learning rate", "snli-softmax", {"head_warmup_epochs": 2, "head_warmup_lr": 0.0}, {}, ParamsError, r"parameter 'head_warmup_lr' must be a finite number in \(0, 1\.0\]"),
    ("head learning rate beyond 1", "snli-softmax", {"head_lr_multiplier": 1.0e+6}, {}, ParamsError, r"parameter 'head_lr_multiplier' must be positive, and times learning_rate at most 1\.0"),
    ("negative batch size", "snli-softmax", {"batch_size": -8}, {}, ParamsError, r"parameter 'batch_size' must be at least 1 \(got -8\)"),
    ("zero learning rate", "snli-softmax", {"learning_rate": 0.0}, {}, ParamsError, r"parameter 'learning_rate' must be a finite number in \(0, 1\.0\]"),
    ("negative learning rate", "udemy-cosine", {"learning_rate": -1.0e-5}, {}, ParamsError, r"parameter 'learning_rate' must be a finite number in \(0, 1\.0\]"),
    ("batch of 1 with in-batch negatives", "greetings-mnrl", {"batch_size": 1}, {}, ParamsError, r"parameter 'batch_size' must be at least 2 with loss 'mnrl'"),
    ("max_seq_length beyond 512 positions", "ncert-mnrl", {"max_seq_length": 1024}, {}, ParamsError, r"parameter 'max_seq_length' must be between 1 and the model's 512 positions \(got 1024\)"),
    ("zero training pairs", "quora-mnrl", {"train_pairs": 0}, {}, ParamsError, r"parameter 'train_pairs' must be at least 1, or null for all"),
    ("warmup ratio above 1", "snli-softmax", {"warmup_ratio": 1.5}, {}, ParamsError, r"parameter 'warmup_ratio' must be in \[0, 1\)"),
    ("impossible positive fraction", "udemy-cosine", {"positive_fraction": 1.0}, {}, ParamsError, r"parameter 'positive_fraction' must be between 0 and 1"),
    ("unknown greetings pairing", "greetings-mnrl", {"greetings_pairing": "sometimes"}, {}, ParamsError, r"parameter 'greetings_pairing' must be 'random'"),
    ("params file is not YAML", "snli-softmax", "TEXT:train_data: [snli:dev\n", {}, ParamsError, r"snli-softmax\.yaml: line \d+, column \d+: not valid YAML"),
    ("params file is a list", "snli-softmax", "TEXT:- epochs: 1\n", {}, ParamsError, r"snli-softmax\.yaml: expected a mapping of parameter: value, got list"),
    ("missing named data set", "snli-softmax", {"train_data": "snly:dev"}, {}, DataError, r"parameter 'train_data' = 'snly:dev': no such file .*data/snly/dev\.parquet; the project's data/ has: .*snli"),
    ("missing data file", "quora-mnrl", {"test_data": "/nowhere/test.parquet"}, {}, DataError, r"parameter 'test_data' = '/nowhere/test\.parquet': no such file"),
    ("data path is a folder", "snli-softmax", {"train_data": "DIR/"}, {"DIR": lambda tmp: str(tmp)}, DataError, r"parameter 'train_data' = .*is not a \.parquet, \.csv or \.jsonl file"),
    ("truncated parquet", "snli-softmax", {"train_data": "FILE"}, {"FILE": truncated_parquet}, DataError, r"parameter 'train_data' = .*truncated\.parquet.*: cannot read .*truncated\.parquet"),
    ("unreadable CSV", "snli-softmax", {"test_data": "FILE"}, {"FILE": write_file("garbage.csv", b"\x00\xff\x00 not,a\ncsv\x00\x00")}, DataError, r"parameter 'test_data' = .*garbage\.csv"),
    ("required column missing", "snli-softmax", {"train_data": "FILE"}, {"FILE": write_file("nolabel.parquet", NLI().drop(columns="gold_label"))}, DataError, r"parameter 'train_data' = .*nolabel\.parquet.*: no column 'label' \(or 'gold_label', 'entailment_label'\); the file has 'sentence1', 'sentence2'"),
    ("column misnamed", "quora-mnrl", {"train_data": "FILE"}, {"FILE": write_file("q.parquet", pd.DataFrame({"question_1": ["a b c"], "question2": ["a b d"]}))}, DataError, r"parameter 'train_data' = .*q\.parquet.*: no column 'anchor' \(or 'question1', 'sentence1', 'query'\)"),
    ("nothing left after dropping empty texts", "snli-softmax", {"train_data": "FILE"}, {"FILE": write_file("blank.parquet", NLI(sentence1=["  ", ""]))}, DataError, r"parameter 'train_data' = .*blank\.parquet.*: no rows left after dropping .*'empty text': 2"),
    ("softmax label outside the class set", "snli-softmax", {"train_data": "FILE"}, {"FILE": write_file("l7.parquet", NLI().drop(columns="gold_label").assign(label=[0, 7]))}, DataError, r"parameter 'train_data' = .*l7\.parquet.*: labels \[7\] are outside 0\.\.2"),
    ("label name not in the class set", "snli-softmax", {"train_data": "FILE"}, {"FILE": write_file("lx.parquet", NLI(gold_label=["entailment", "maybe"]))}, DataError, r"parameter 'train_data' = .*lx\.parquet.*: labels \['maybe'\] are not in \('entailment', 'neutral', 'contradiction'\)"),
    ("non-numeric labels", "snli-softmax", {"train_data": "FILE"}, {"FILE": write_file("lf.parquet", NLI().drop(columns="gold_label").assign(label=[0.5, 1.5]))}, DataError, r"parameter 'train_data' = .*lf\.parquet.*: labels must be NLI label names or integers 0\.\.2"),
    ("cosine labels outside [0, 1]", "udemy-cosine", {"train_data": "FILE"}, {"FILE": write_file("cos.parquet", pd.DataFrame({"course_title": [f"Course {i}" for i in range(10)], "subject": ["A", "B"] * 5, "label": [0.0, 1.0, 2.0, 1.0, 0.0] * 2}))}, DataError, r"parameter 'train_data' = .*cos\.parquet.*: 2 labels outside \[0\.0, 1\.0\]"),
    ("NCERT path at the pages table", "ncert-mnrl", {"ncert_path": "FILE"}, {"FILE": write_file("pages.parquet", pd.DataFrame({"file": ["x"], "page_index": [0], "text": ["t"], "text_garbled": [False]}))}, DataError, r"parameter 'ncert_path' = .*pages\.parquet.*: this is the NCERT pages table; give chapters\.parquet"),
    ("NCERT path at another table", "ncert-mnrl", {"ncert_path": "FILE"}, {"FILE": write_file("other.parquet", pd.DataFrame({"file": ["x"], "body": ["t"]}))}, DataError, r"parameter 'ncert_path' = .*other\.parquet.*: not the NCERT chapters table \(no column 'chapter_title', 'text', 'text_garbled'\)"),
    ("NCERT path missing", "ncert-mnrl", {"ncert_path": "/nowhere/chapters.parquet"}, {}, DataError, r"parameter 'ncert_path' = '/nowhere/chapters\.parquet': no such file"),
    ("hub id while offline", "snli-softmax", {"train_data": "hub:stanfordnlp/snli:train"}, {}, DataError, r"parameter 'train_data' = 'hub:stanfordnlp/snli:train': this data is not local .*hub is offline \(HF_HUB_OFFLINE=1\).*save it with datasets\.load_dataset"),
    ("base model folder is not a sentence-transformers model", "greetings-mnrl", {"base_model": "FILE"}, {"FILE": st_lookalike}, ModelError, r"parameter 'base_model' = .*not-a-model.*: not a sentence-transformers model"),
    ("base model folder missing", "greetings-mnrl", {"base_model": "/nowhere/model"}, {}, ModelError, r"parameter 'base_model' = '/nowhere/model': no such folder"),
    ("output folder cannot be written", "greetings-mnrl", "REPORTS_IS_A_FILE", {}, PermissionError, r"output folder .*reports/quick: cannot write there"),
    # hostile input (the issue "Hostile input and interruptions"): each class at least once
    ("params path is a folder", "greetings-mnrl", "PARAMS_IS_A_FOLDER", {}, ParamsError, r"greetings-mnrl\.yaml: is a folder, not a params file"),
    ("path of an unknown user", "ncert-mnrl", {"ncert_path": "~nosuchuser/x/chapters.parquet"}, {}, DataError, r"parameter 'ncert_path' = '~nosuchuser/x/chapters\.parquet': cannot expand the path"),
    ("numeric text column", "quora-mnrl", {"train_data": "FILE"}, {"FILE": write_file("num.parquet", pd.DataFrame({"question1": range(20), "question2": [f"q {i}" for i in range(20)]}))}, DataError, r"parameter 'train_data' = .*num\.parquet.*: column 'anchor' must hold text, but row 1 holds int 0"),
    ("STSb scores as strings", "greetings-mnrl", {"stsb_data": "FILE"}, {"FILE": write_file("sts.parquet", pd.DataFrame({"sentence1": ["a b"] * 20, "sentence2": ["c d"] * 20, "score": ["3.5"] * 20}))}, DataError, r"parameter 'stsb_data' = .*sts\.parquet.*: column 'score' must be numeric, got str '3\.5'"),
    ("blank test_data where none is held out", "snli-softmax", {"test_data": ""}, {}, ParamsError, r"snli-softmax\.yaml: parameter 'test_data' must name a data source: data set 'snli' holds out no test split"),
    ("base model from the environment", "greetings-mnrl", "ENV:STUDY_BASE_MODEL=/nowhere/model", {}, ModelError, r"^environment variable STUDY_BASE_MODEL = '/nowhere/model': no such folder"),
    ("hub base model while offline", "greetings-mnrl", {"base_model": "someone/not-a-cached-model"}, {}, ModelError, r"greetings-mnrl\.yaml: parameter 'base_model' = 'someone/not-a-cached-model': this model is not local and the hub is offline \(HF_HUB_OFFLINE=1\)"),
    ("device the machine lacks", "greetings-mnrl", {"device": "mps"}, {}, ParamsError, r"greetings-mnrl\.yaml: parameter 'device' = 'mps': this machine has no mps device; use 'auto' or 'cpu'"),
    ("one pair repeated (MNRL)", "quora-mnrl", {"train_data": "FILE"}, {"FILE": write_file("same.parquet", pd.DataFrame({"question1": ["how do i cook rice"] * 64, "question2": ["how to cook rice"] * 64}))}, DataError, r"parameter 'train_data' = .*same\.parquet.*100% of MNRL's in-batch negatives are the positive itself"),
    ("too few pairs after the split", "mine", "TEXT:data_set: file\ntrain_data: FILE\n", {"FILE": write_file("few.parquet", PAIRS.head(8))}, DataError, r"parameter 'train_data' = .*few\.parquet.*: \d training rows left after the split and shaping; at least 10 are needed"),
    ("a split leaving one subject", "udemy-cosine", {"train_data": "FILE"}, {"FILE": write_file("one-subject.parquet", pd.DataFrame({"course_title": [f"Course {i}" for i in range(5)], "subject": ["A", "B", "A", "B", "A"]}))}, DataError, r"parameter 'train_data' = .*one-subject\.parquet.*: the (held-out|training) courses have fewer than two subjects"),
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A params folder and a reports folder of our own; model loading made to fail loudly."""
    params = tmp_path / "params" / "quick"
    params.mkdir(parents=True)
    for src in (config.PARAMS_DIR / "quick").glob("*.yaml"):
        (params / src.name).write_text(src.read_text())
    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path / "params")
    monkeypatch.setattr(config, "REPORTS_DIR", tmp_path / "reports")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the error")

    monkeypatch.setattr(sentence_transformers.SentenceTransformer, "__init__", no_model)
    return tmp_path


@pytest.mark.parametrize("case", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_input_fails_fast_and_clearly(project, case, monkeypatch):
    _, pairing, change, makers, error, message = case
    profile = "quick"
    files = {name: make(project) for name, make in makers.items()}
    if isinstance(change, dict):
        change = {k: files.get(v.rstrip("/"), v) if isinstance(v, str) else v for k, v in change.items()}
        for name, text in edit(pairing, **change).items():
            (project / "params" / "quick" / f"{name}.yaml").write_text(text)
    elif isinstance(change, str) and change.startswith(("TEXT:", "PROFILE_TEXT:")):
        text = change.partition(":")[2]
        for name, path in files.items():
            text = text.replace(name, path)
        target = "_profile" if change.startswith("PROFILE_TEXT:") else pairing
        (project / "params" / "quick" / f"{target}.yaml").write_text(text)
    elif change == "PARAMS_IS_A_FOLDER":
        (project / "params" / "quick" / f"{pairing}.yaml").unlink()
        (project / "params" / "quick" / f"{pairing}.yaml").mkdir()
    elif isinstance(change, str) and change.startswith("ENV:"):
        monkeypatch.setenv(*change[len("ENV:"):].split("=", 1))
    elif change == "REPORTS_IS_A_FILE":
        (project / "reports").write_text("not a folder")
    elif isinstance(change, str) and change.startswith("PROFILE:"):
        profile = change[len("PROFILE:"):]
    start = time.perf_counter()
    with pytest.raises(error, match=message):
        plan.plan(profile, [pairing])
    assert time.perf_counter() - start < 5, "the error took too long to come"


def test_the_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 25


def test_empty_texts_are_dropped_and_counted_not_fatal(project):
    path = project / "some-blank.parquet"
    good = [f"A dog runs {i} times." for i in range(10)]
    pd.DataFrame({"sentence1": good + ["  ", None], "sentence2": ["An animal moves."] * 10 + ["x", "y"],
                  "gold_label": ["entailment"] * 10 + ["neutral", "neutral"]}).to_parquet(path)
    from pairings import data as data_sets
    from pairings.params import Params

    prep = data_sets.get("snli").prepare(Params.load("quick", "snli-softmax").replace(train_data=str(path)))
    assert len(prep.train.dataset) == 10 and prep.train.dropped["empty text"] == 2


def test_cli_prints_the_error_and_exits_2(project, capsys):
    from pairings.run import cli

    (project / "params" / "quick" / "udemy-cosine.yaml").write_text(quick_yaml("udemy-cosine") + "epoch: 3\n")
    assert cli.main(["run", "--pairing", "udemy-cosine"]) == 2
    assert "udemy-cosine.yaml: unknown parameter 'epoch' (did you mean 'epochs'?)" in capsys.readouterr().err


def test_runs_checking_the_output_folder_at_once_do_not_collide(tmp_path):
    """Two `run`s of one profile preflight concurrently (seen: a second run's check deleted the first's probe)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: plan.check_writable(tmp_path), range(200)))
    assert list(tmp_path.iterdir()) == []
