"""Params: every file valid, every default stated once, each value's origin known; bad parameters fail
with the key and the file (or the command line) named."""

import json

import pytest
import yaml
from papermill.inspection import inspect_notebook

from pairings import config
from pairings import data as data_sets
from pairings.data import udemy
from pairings.params import PROFILE_FILE, Params, ParamsError, Speed, file_layers, pairings, variants

RUNS = [(profile, pairing, variant) for profile in config.PROFILES for pairing in pairings(profile)
        for variant in ["", *variants(profile, pairing)]]


@pytest.mark.parametrize("profile, pairing, variant", RUNS, ids=lambda x: x or "-")
def test_every_params_file_is_valid(profile, pairing, variant):
    params = Params.load(profile, pairing, variant=variant)
    assert (params.profile, params.pairing, params.variant) == (profile, pairing, variant)


def test_every_profile_has_every_seed_pairing_and_its_notebook():
    for pairing in data_sets.seed_pairings():
        assert (config.NOTEBOOKS_DIR / f"{pairing}.ipynb").is_file()
        for profile in config.PROFILES:
            assert pairing in pairings(profile), (profile, pairing)


@pytest.mark.parametrize("pairing", list(data_sets.seed_pairings()))
def test_notebooks_declare_only_profile_and_variant(pairing):
    """The parameters come from params/ (and papermill's injection), not from a copy in the notebook."""
    declared = inspect_notebook(str(config.NOTEBOOKS_DIR / f"{pairing}.ipynb"))
    assert {name: eval(spec["default"]) for name, spec in declared.items()} == {"profile": "quick", "variant": ""}


@pytest.mark.parametrize("profile", config.PROFILES)
def test_no_params_file_restates_what_lies_beneath_it(profile):
    """A profile's file states only what it changes for every pairing; a pairing's file only what it changes
    over the defaults, its data set's recipe and its profile; a variant's only what it changes over its pairing."""
    folder = config.PARAMS_DIR / profile
    shared = yaml.safe_load((folder / PROFILE_FILE).read_text()) or {} if (folder / PROFILE_FILE).exists() else {}

    def own_data(p):  # a pairing of your own (`new`, or a data set of your own) must name its data set and its data
        own = yaml.safe_load((folder / f"{p}.yaml").read_text()) or {}
        return {k: own[k] for k in ("data_set", "train_data", "test_data") if k in own} if "data_set" in own else {}

    for key, value in shared.items():
        beneath = {Params.from_layers([(p, {"pairing": p, "profile": profile, **own_data(p)})]).to_dict()[key]
                   for p in pairings(profile)}
        assert beneath != {value}, f"{profile}/{PROFILE_FILE}: {key}: {value!r} is what every pairing has already"
    for pairing in pairings(profile):
        layers = file_layers(folder, pairing)
        own = layers[-1][1]
        beneath = Params.from_layers([(layers[0][0], {**layers[0][1], **own_data(pairing)}), *layers[1:-1]]).to_dict()
        for key, value in own.items():
            if key in own_data(pairing):
                continue  # what a pairing of your own must state
            assert beneath[key] != value, f"{profile}/{pairing}.yaml: {key}: {value!r} restates what lies beneath"
        for variant in variants(profile, pairing):
            vlayers = file_layers(folder, pairing, variant)
            base = Params.from_layers(vlayers[:-1]).to_dict()
            for key, value in vlayers[-1][1].items():
                assert base[key] != value, f"{profile}/{pairing}.{variant}.yaml: {key}: {value!r} restates its pairing"


def test_each_value_says_where_it_came_from():
    params = Params.load("quick", "ncert-mnrl", {"seed": 7}, variant="normalized")
    origin = {key: where for key, _, where in params.explain()}
    assert origin["learning_rate"] == "default"
    assert origin["batch_size"] == "data set 'ncert' (its recipe)"
    assert origin["epochs"] == "params/quick/_profile.yaml"
    assert origin["max_seq_length"] == "params/quick/ncert-mnrl.yaml"
    assert origin["normalize"] == "params/variants/ncert-mnrl.normalized.yaml"  # shared by every profile
    assert origin["seed"] == "command line"


def test_params_command_prints_values_and_origins(capsys):
    from pairings.run import cli

    assert cli.main(["params", "snli-softmax", "--profile", "local"]) == 0
    out = capsys.readouterr().out
    assert "data set snli × loss softmax" in out
    assert any(line.split()[:2] == ["epochs", "4"] and "data set 'snli' (its recipe)" in line for line in out.splitlines())
    assert any(line.split()[:2] == ["checkpoint_steps", "500"] and "params/local/_profile.yaml" in line for line in out.splitlines())


def write(tmp_path, text, name="snli-softmax"):
    path = tmp_path / "quick" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_misspelled_key_names_the_key_the_file_and_a_suggestion(tmp_path):
    path = write(tmp_path, "train_pairs: 32\nbatch_sise: 32\n")
    with pytest.raises(ParamsError, match=r"snli-softmax\.yaml: unknown parameter 'batch_sise' \(did you mean 'batch_size'\?\)"):
        Params.from_file(path)


def test_key_of_another_data_set_is_refused(tmp_path):
    path = write(tmp_path, "greetings_pairing: random\n")
    with pytest.raises(ParamsError, match="'greetings_pairing' belongs to data set greetings, not to snli"):
        Params.from_file(path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = write(tmp_path, "train_data: [snli:dev\n")
    with pytest.raises(ParamsError, match=r"snli-softmax\.yaml: line \d+, column \d+: not valid YAML"):
        Params.from_file(path)


def test_a_variant_changes_the_loss_and_the_data_are_shaped_for_it(tmp_path):
    write(tmp_path, "train_pairs: 64\n")
    variant = write(tmp_path, "loss: mnrl\n", name="snli-softmax.mnrl")
    params = Params.from_file(variant)
    assert (params.run_name, params.loss, params.data_set, params.train_pairs) == ("snli-softmax.mnrl", "mnrl", "snli", 64)


BASE = {"pairing": "snli-softmax"}


@pytest.mark.parametrize("change, message", [
    ({"epochs": "3"}, "'epochs' must be a int, got str"),
    ({"learning_rate": [5e-5]}, "'learning_rate' must be a float, got list"),
    ({"normalize": "yes"}, "'normalize' must be a bool"),
    ({"epochs": 0}, "'epochs' must be at least 1"),
    ({"batch_size": -4}, "'batch_size' must be at least 1"),
    ({"batch_size": 10**18}, "'batch_size' must be at least 1 and at most 65,536"),
    ({"torch_threads": 1_000_000}, "'torch_threads' must be at least 1 and at most 1,024"),
    ({"transfer_pairs": 1}, "'transfer_pairs' must be at least 10, or null for all"),
    ({"interpolation_points": 1}, "'interpolation_points' must be 0 \\(none\\) or from 2"),
    ({"eval_points": 500}, "'eval_points' must be from 0 \\(none\\) to 101"),
    ({"learning_rate": 0.0}, r"'learning_rate' must be a finite number in \(0, 1.0\]"),
    ({"max_seq_length": 1024}, "'max_seq_length' must be between 1 and the model's 512 positions"),
    ({"loss": "triplet"}, "'loss' must be one of mnrl, softmax, cosine"),
    ({"profile": "quik"}, "did you mean 'quick'"),
    ({"train_data": "snli dev"}, "'train_data' must be 'name:split'"),
    ({"pairing": "snli-softmx"}, "pairing 'snli-softmx' is not a seed pairing.*did you mean 'snli-softmax'"),
    ({"data_set": "quora"}, "'data_set' is 'quora', but pairing snli-softmax is seed data set 'snli'"),
])
def test_bad_values_name_the_parameter(change, message):
    with pytest.raises(ParamsError, match=message):
        Params.from_mapping({**BASE, **change}, source="test")


def test_in_batch_negatives_need_two_rows_per_batch():
    with pytest.raises(ParamsError, match="'batch_size' must be at least 2 with loss 'mnrl'"):
        Params.from_mapping({"pairing": "greetings-mnrl", "batch_size": 1}, source="test")


def test_a_loss_the_data_set_cannot_feed_is_refused(monkeypatch):
    """Every seed data set feeds all three losses; one without a shaping is refused, naming what it feeds."""
    monkeypatch.delattr(udemy.Udemy, "shape_softmax")
    feeds = ", ".join(udemy.Udemy.losses())  # whatever losses the registry holds, but softmax
    assert "softmax" not in feeds
    with pytest.raises(ParamsError, match=rf"test: parameter 'loss' cannot be fed by data set 'udemy': "
                                          rf"it can be shaped for {feeds} \(got 'softmax'\)"):
        Params.from_mapping({"pairing": "udemy-cosine", "loss": "softmax"}, source="test")


def test_runner_stops_on_a_bad_key_before_any_notebook_runs(tmp_path, monkeypatch, capsys):
    from pairings.run import cli, executors

    profile_dir = tmp_path / "params" / "quick"
    profile_dir.mkdir(parents=True)
    for src in (config.PARAMS_DIR / "quick").glob("*.yaml"):
        (profile_dir / src.name).write_text(src.read_text())
    (profile_dir / "greetings-mnrl.yaml").write_text(
        (config.PARAMS_DIR / "quick" / "greetings-mnrl.yaml").read_text() + "epoch: 2\n")
    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path / "params")
    monkeypatch.setattr(executors, "execute", lambda *a, **k: pytest.fail("a notebook ran"))
    assert cli.main(["run", "--profile", "quick", "--pairing", "snli-softmax", "--pairing", "greetings-mnrl"]) == 2
    err = capsys.readouterr().err
    assert "greetings-mnrl.yaml: unknown parameter 'epoch' (did you mean 'epochs'?)" in err


def test_to_dict_round_trips():
    params = Params.load("quick", "greetings-mnrl")
    assert Params.from_mapping(params.to_dict()) == params
    assert yaml.safe_load(yaml.safe_dump(params.to_dict())) == params.to_dict()


def test_the_speed_options_are_one_object_written_flat():
    """fast_path, fast_dropout, train_loop, torch_compile and encode_dtype live in ``Params.speed`` (one Speed), are
    written flat in params files and records, in the order records have always kept them, and are checked there."""
    local = Params.load("local", "ncert-mnrl")
    assert isinstance(local.speed, Speed) and local.speed.train_loop == "trainer" and not local.speed.fast_dropout
    assert "speed" not in local.to_dict() and local.origins()["train_loop"].endswith("_profile.yaml")
    record = json.loads((config.report_dir("local") / "ncert-mnrl.softmax-probe.json").read_text())
    now = list(Params.load("local", "ncert-mnrl", variant="softmax-probe").to_dict())
    assert list(record["params"]) == [k for k in now if k in record["params"]]  # later parameters aside
    assert local.replace(encode_dtype="bfloat16").speed.encode_dtype == "bfloat16"
    with pytest.raises(ParamsError, match=r"parameter 'train_loop' must be one of auto, trainer, lean \(did you mean 'lean'"):
        local.replace(train_loop="leen")
    with pytest.raises(ParamsError, match="unknown parameter 'speed'"):
        Params.load("quick", "quora-mnrl", {"speed": {"fast_path": False}})


def test_the_params_command_prints_each_limit_beside_its_value(capsys):
    from pairings.run import cli

    assert cli.main(["params", "quora-mnrl", "--profile", "quick"]) == 0
    out = capsys.readouterr().out
    assert "batch_size" in out and "[1 … 65536]" in out and "[10 … ]" in out
