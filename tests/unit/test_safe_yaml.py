"""pairings.safe_yaml: each refusal is one line starting with the file; good params load as safe_load."""

import math
import time
import tracemalloc

import pytest
import yaml

from pairings.data.strict_yaml import MAX_BYTES, YAMLInputError, load, loads

PARAMS = """\
# a normal params file
pairing: nli-mnrl   # the pairing
epochs: 1
batch_size: 32
learning_rate: 2.0e-05
warmup_ratio: 0.1
seeds: [0, 1, 2]
eval:
  datasets:
    - stsb
    - sick
  normalize: true
note: null
"""

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def refusal(text=None, data=None, tmp_path=None):
    """The message of the YAMLInputError that loading ``text`` (or raw ``data``) from a file raises."""
    path = tmp_path / "run.yaml"
    path.write_bytes(data if data is not None else text.encode("utf-8"))
    with pytest.raises(YAMLInputError) as info:
        load(path)
    return str(path), str(info.value)


@pytest.mark.parametrize(
    "text, start",
    [
        ("epochs: 1\nlr: 0.1\nepochs: 2\n", "line 3: key 'epochs' appears twice (first on line 1)"),
        ("eval:\n  a: 1\n  b: 2\n  a: 3\n", "line 4: key 'a' appears twice (first on line 2)"),
        ("{x: 1, x: 2}", "line 1: key 'x' appears twice (first on line 1)"),
        ("1: a\n0x1: b\n", "line 2: key 1 appears twice (first on line 1)"),
        ("base: &b {lr: 1}\nrun: *b\n", "line 2: YAML aliases (*b) are not allowed in params files"),
        (BOMB, "line 2: YAML aliases (*a) are not allowed in params files"),
        ("[" * 21 + "]" * 21, "line 1: nested more than 20 levels"),
        ("[" * 5000 + "]" * 5000, "line 1: nested more than 20 levels"),
        ("{a: " * 5000 + "1" + "}" * 5000, "line 1: nested more than 20 levels"),
        ("".join(f"{'  ' * i}a:\n" for i in range(500)), "line 21: nested more than 20 levels"),
        ("epochs: [1, 2\n", "line 2, column 1: not valid YAML: while parsing a flow sequence, expected ',' or ']', but got"),
        ("a: 1\n\tb: 2\n", "line 2, column 1: not valid YAML: while scanning for the next token, found character '\\t' that"),
        ("a: b: c\n", "line 1, column 5: not valid YAML: mapping values are not allowed here"),
        ("a: !!python/object:os.system x\n", "line 1, column 4: not valid YAML: could not determine a constructor"),
        ("a: 1\n---\nb: 2\n", "line 2, column 1: not valid YAML: expected a single document in the stream, but found another"),
        ("day: 2024-13-01\n", "line 1, column 6: not valid YAML: cannot read '2024-13-01': month must be in 1..12"),
        ("n: " + "1" * 5000 + "\n", "line 1, column 4: not valid YAML: cannot read '1111"),
        ("a: \x00\n", "not valid YAML: character #x0000 at position 3: special characters are not allowed"),
    ],
)
def test_bad_yaml_is_one_line_naming_the_file(tmp_path, text, start):
    source, message = refusal(text, tmp_path=tmp_path)
    assert message.startswith(f"{source}: {start}"), message
    assert "\n" not in message


@pytest.mark.parametrize(
    "data, start",
    [
        ("lr: caf\u00e9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at position 7); save it as UTF-8"),
        (b"\xff\xfea\x00:\x00", "not UTF-8 text (byte 0xff at position 0); save it as UTF-8"),
        (b"#" * (MAX_BYTES + 1), f"{MAX_BYTES + 1} bytes; a params file is at most 1 MB"),
    ],
)
def test_bad_file_is_one_line_naming_the_file(tmp_path, data, start):
    source, message = refusal(data=data, tmp_path=tmp_path)
    assert message.startswith(f"{source}: {start}"), message
    assert "\n" not in message


@pytest.mark.parametrize("name, start", [("nowhere.yaml", "params file not found"), (".", "is a folder, not a params file")])
def test_missing_file_and_folder(tmp_path, name, start):
    path = tmp_path / name
    with pytest.raises(YAMLInputError) as info:
        load(path)
    assert str(info.value) == f"{path}: {start}"


def test_loads_names_its_source_and_is_a_value_error():
    with pytest.raises(ValueError, match=r"^params/quick/x\.yaml: line 2: key 'a' appears twice"):
        loads("a: 1\na: 2\n", source="params/quick/x.yaml")
    with pytest.raises(YAMLInputError, match=r"^<string>: line 1: nested more than 20 levels"):
        loads("[" * 30)
    with pytest.raises(YAMLInputError, match=rf"^<string>: {MAX_BYTES + 1} bytes; a params file is at most 1 MB$"):
        loads("#" * (MAX_BYTES + 1))


def test_alias_bomb_fails_fast_and_small():
    assert len(BOMB) < 1024
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(YAMLInputError, match="aliases"):
        loads(BOMB)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 0.5 and peak < 5_000_000, (elapsed, peak)


def test_twenty_levels_are_fine():
    value = loads("[" * 20 + "]" * 20)
    for _ in range(19):
        value = value[0]
    assert value == []
    value = loads("{a: " * 19 + "[1]" + "}" * 19)
    for _ in range(19):
        value = value["a"]
    assert value == [1]


def test_params_load_like_safe_load(tmp_path):
    path = tmp_path / "nli-mnrl.yaml"
    path.write_text(PARAMS, encoding="utf-8")
    assert load(path) == yaml.safe_load(PARAMS)
    assert load(str(path)) == loads(PARAMS)
    assert loads("\ufeffepochs: 1\n") == {"epochs": 1}  # a UTF-8 byte order mark is fine


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "\n\n"])
def test_empty_is_none(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text, encoding="utf-8")
    assert load(path) is None


@pytest.mark.parametrize(
    "text, value",
    [
        ("5e-5", 5e-5), ("5E-5", 5e-5), ("1e3", 1000.0), ("-2.5e-3", -2.5e-3), (".5e-2", 0.005),
        ("+1e+3", 1000.0), ("1.0e5", 1e5), ("2.0e-05", 2e-5), ("1e308", 1e308), ("1_000e-3", 1.0),
        ("'5e-5'", "5e-5"), ('"1e3"', "1e3"), ("e5", "e5"), ("5e", "5e"), ("1e3x", "1e3x"),
        ("0.1", 0.1), ("3", 3), ("-7", -7), ("0x1f", 31), ("1_000", 1000),
        ("true", True), ("no", False), ("null", None), ("~", None), ("1.0.0", "1.0.0"),
    ],
)
def test_scalars(text, value):
    got = loads(f"v: {text}")["v"]
    assert got == value and type(got) is type(value), (got, value)


@pytest.mark.parametrize("text, check", [(".inf", math.isinf), ("-.inf", math.isinf), (".nan", math.isnan)])
def test_inf_and_nan_unchanged(text, check):
    assert check(loads(f"v: {text}")["v"])


def test_safe_load_itself_is_untouched():
    assert yaml.safe_load("v: 5e-5") == {"v": "5e-5"}
