"""Property-based tests (hypothesis): generated params and generated user data files either pass the checks a run
makes before training, or are refused with one line naming the parameter or file; never another exception (which
the command line would report as an "internal error"), never a traceback. The examples hypothesis finds that once
failed are pinned with @example, so the catalogue keeps them."""

import math
import string

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pairings import data as data_sets
from pairings.data import strict_yaml
from pairings.data.sources import DataError
from pairings.params import Params, ParamsError

KEYS = ["epochs", "batch_size", "learning_rate", "train_pairs", "test_pairs", "stsb_pairs", "transfer_pairs",
        "torch_threads", "max_seq_length", "seed", "loss", "normalize", "warmup_ratio", "logging_steps",
        "head_warmup_epochs", "head_warmup_lr", "interpolation_points", "eval_points", "train_loop", "encode_dtype",
        "device", "checkpoint_steps", "variant", "train_data", "ncert_path", "epoch", "bach_size", "", "lossy"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["mnrl", "softmax", "cosine", "lean", "trainer", "auto", "float16", "cpu", "quora:train",
                     "/nonexistent.csv", "hub:a/b:train", "1e-5", "yes"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def one_line(err: BaseException) -> bool:
    return "\n" not in str(err).strip() and len(str(err)) < 2000


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4), st.sampled_from(["quora-mnrl", "snli-softmax", "udemy-cosine"]))
@example({"batch_size": 10**18}, "quora-mnrl")
@example({"transfer_pairs": 1}, "quora-mnrl")
@example({"learning_rate": math.nan}, "snli-softmax")
@example({"loss": "softmax", "batch_size": 1}, "udemy-cosine")
def test_generated_params_are_accepted_or_refused_in_one_line(changes, pairing):
    try:
        params = Params.load("quick", pairing, changes)
    except ParamsError as err:
        assert one_line(err), str(err)
        return
    assert params.to_dict()["pairing"] == pairing  # accepted: a whole, valid recipe


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(alphabet=string.printable + "äé€\u2028", max_size=120))
@example("a: [1, 2\n")
@example("a: &x 1\nb: *x\n")
@example("- just a list\n")
def test_generated_yaml_text_is_read_or_refused_in_one_line(text):
    try:
        strict_yaml.loads(text, "generated.yaml")
    except strict_yaml.YAMLInputError as err:
        assert one_line(err), str(err)


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
CELL = st.one_of(TEXT, st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=False), st.none())


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(CELL, CELL, CELL), max_size=40),
       names=st.lists(st.sampled_from(["q", "a", "id", "label", "score", "text", "Q", "é"]), min_size=1, max_size=3,
                      unique=True),
       form=st.sampled_from(["csv", "csv;", "tsv", "latin-1", "jsonl", "parquet", "empty", "header"]),
       loss=st.sampled_from(["mnrl", "softmax", "cosine"]))
@example(rows=[("x", "y", 1)] * 30, names=["id", "q", "a"], form="csv", loss="mnrl")
@example(rows=[], names=["q", "a"], form="header", loss="mnrl")
@example(rows=[("a", 1, None), (2.5, "b", "c")] * 15, names=["id", "q", "a"], form="csv", loss="softmax")
@example(rows=[("x", "y", 1)] * 30, names=["q", "a"], form="latin-1", loss="mnrl")
def test_generated_user_files_pass_the_checks_or_are_refused_in_one_line(tmp_path, rows, names, form, loss):
    frame = pd.DataFrame([r[:len(names)] for r in rows], columns=names) if rows else pd.DataFrame(columns=names)
    path = tmp_path / {"jsonl": "mine.jsonl", "parquet": "mine.parquet"}.get(form, "mine.csv")
    if form == "empty":
        path.write_bytes(b"")
    elif form == "header":
        path.write_text(",".join(names) + "\n")
    elif form == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif form == "parquet":
        try:
            frame.to_parquet(path)
        except Exception:  # noqa: BLE001 - pandas cannot write this mix of types: not a file a user could have
            return
    else:
        frame.to_csv(path, index=False, sep={"csv;": ";", "tsv": "\t"}.get(form, ","),
                     encoding="latin-1" if form == "latin-1" else "utf-8", errors="replace")
    params = Params.from_mapping({"pairing": "mine", "data_set": "file", "train_data": str(path), "loss": loss,
                                  "stsb_pairs": 20, "sick_pairs": 20})
    try:
        data_sets.get("file").prepare(params)
    except DataError as err:
        assert one_line(err), str(err)
        assert str(path) in str(err) or "train_data" in str(err) or "loss" in str(err), str(err)


@pytest.mark.parametrize("name", ["a" * 300, "index", "../escape", "UPPER", "ok-name"])
def test_pairing_names_from_users_are_checked_by_pattern(name):
    try:
        Params.from_mapping({"pairing": name, "data_set": "file", "train_data": "x.csv"})
    except ParamsError as err:
        assert one_line(err)
