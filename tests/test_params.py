"""Every params file validates offline; bad parameters fail with the key and the file named."""

import pytest
import yaml
from papermill.inspection import inspect_notebook

from pairings import config
from pairings.params import PAIRINGS, Params, ParamsError

PARAM_FILES = sorted(config.PARAMS_DIR.glob("*/*.yaml"))


@pytest.mark.parametrize("path", PARAM_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_params_file_is_valid(path):
    params = Params.from_file(path)
    assert params.profile == path.parent.name and params.pairing == path.stem.split(".")[0]


def test_every_profile_has_every_notebook_pairing():
    for notebook in config.NOTEBOOKS_DIR.glob("*.ipynb"):
        if notebook.stem in PAIRINGS:
            for profile in config.PROFILES:
                assert (config.PARAMS_DIR / profile / f"{notebook.stem}.yaml").is_file(), (profile, notebook.stem)


@pytest.mark.parametrize("pairing", [p for p in PAIRINGS if (config.NOTEBOOKS_DIR / f"{p}.ipynb").exists()])
def test_notebook_defaults_are_the_quick_profile(pairing):
    """The notebook's parameters cell (what papermill --help-notebook lists) equals params/quick."""
    declared = inspect_notebook(str(config.NOTEBOOKS_DIR / f"{pairing}.ipynb"))
    defaults = {name: eval(spec["default"]) for name, spec in declared.items()}  # literals written by us
    expected = Params.load("quick", pairing).to_dict()
    expected.pop("pairing")
    assert defaults == expected


def write(tmp_path, text, name="snli-softmax"):
    path = tmp_path / "quick" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_misspelled_key_names_the_key_the_file_and_a_suggestion(tmp_path):
    path = write(tmp_path, "train_data: snli:dev\ntest_data: snli:test\nloss: softmax\nbatch_sise: 32\n")
    with pytest.raises(ParamsError, match=r"snli-softmax\.yaml: unknown parameter 'batch_sise' \(did you mean 'batch_size'\?\)"):
        Params.from_file(path)


def test_key_of_another_pairing_is_refused(tmp_path):
    path = write(tmp_path, "train_data: snli:dev\ntest_data: snli:test\nloss: softmax\ngreetings_pairing: random\n")
    with pytest.raises(ParamsError, match="'greetings_pairing' belongs to greetings-mnrl, not to snli-softmax"):
        Params.from_file(path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = write(tmp_path, "train_data: [snli:dev\n")
    with pytest.raises(ParamsError, match=r"snli-softmax\.yaml: not valid YAML"):
        Params.from_file(path)


BASE = {"pairing": "snli-softmax", "train_data": "snli:dev", "test_data": "snli:test", "loss": "softmax"}


@pytest.mark.parametrize("change, message", [
    ({"epochs": "3"}, "'epochs' must be a int, got str"),
    ({"learning_rate": [5e-5]}, "'learning_rate' must be a float, got list"),
    ({"normalize": "yes"}, "'normalize' must be a bool"),
    ({"epochs": 0}, "'epochs' must be at least 1"),
    ({"batch_size": -4}, "'batch_size' must be at least 1"),
    ({"learning_rate": 0.0}, "'learning_rate' must be positive"),
    ({"max_seq_length": 1024}, "'max_seq_length' must be between 1 and the model's 512 positions"),
    ({"loss": "mnrl"}, "'loss' must be softmax for snli-softmax"),
    ({"loss": "triplet"}, "'loss' must be one of mnrl, softmax, cosine"),
    ({"profile": "quik"}, "did you mean 'quick'"),
    ({"train_data": "snli dev"}, "'train_data' must be 'name:split'"),
    ({"pairing": "snli-softmx"}, "unknown pairing 'snli-softmx'.*did you mean 'snli-softmax'"),
])
def test_bad_values_name_the_parameter(change, message):
    with pytest.raises(ParamsError, match=message):
        Params.from_mapping({**BASE, **change}, source="test")


def test_in_batch_negatives_need_two_rows_per_batch():
    with pytest.raises(ParamsError, match="'batch_size' must be at least 2 with loss 'mnrl'"):
        Params.from_mapping({"pairing": "greetings-mnrl", "train_data": "generated", "test_data": "generated",
                             "batch_size": 1}, source="test")


def test_runner_stops_on_a_bad_key_before_any_notebook_runs(tmp_path, monkeypatch, capsys):
    from pairings import __main__ as cli, runner

    profile_dir = tmp_path / "params" / "quick"
    profile_dir.mkdir(parents=True)
    for pairing in PAIRINGS:
        src = config.PARAMS_DIR / "quick" / f"{pairing}.yaml"
        if src.exists():
            (profile_dir / f"{pairing}.yaml").write_text(src.read_text())
    (profile_dir / "greetings-mnrl.yaml").write_text(
        (config.PARAMS_DIR / "quick" / "greetings-mnrl.yaml").read_text() + "epoch: 2\n")
    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path / "params")
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("a notebook ran"))
    assert cli.main(["run", "--profile", "quick", "--pairing", "snli-softmax", "--pairing", "greetings-mnrl"]) == 2
    err = capsys.readouterr().err
    assert "greetings-mnrl.yaml: unknown parameter 'epoch' (did you mean 'epochs'?)" in err


def test_to_dict_round_trips():
    params = Params.load("quick", "greetings-mnrl")
    assert Params.from_mapping(params.to_dict()) == params
    assert yaml.safe_load(yaml.safe_dump(params.to_dict())) == params.to_dict()
