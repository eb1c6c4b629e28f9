"""The benchmark runs end to end and writes what the README's Performance table is made from."""

import json

from benchmarks import run


def test_window_means_average_each_block_of_fifty_steps():
    history = [[s, 1.0 if s <= 50 else 3.0] for s in range(1, 121)]
    assert run.window_means(history) == {1: 1.0, 51: 3.0, 101: 3.0}


def test_benchmark_writes_its_json(tmp_path, capsys):
    assert run.main(["--profile", "quick", "--pairing", "greetings-mnrl", "--steps", "2", "--warmup", "1",
                     "--encode-sentences", "64", "--torch-compile", "--repeats", "2", "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*.json")
    result = json.loads(path.read_text())
    assert result["device"] in ("cpu", "cuda") and result["versions"]["torch"]
    assert result["torch_compile"] is True  # the probe's flag, recorded (the compile itself is CUDA-only)
    recipe = result["recipes"]["greetings-mnrl"]
    assert recipe["speedup_ratio"] == recipe["study_steps_per_s"] / recipe["peer_steps_per_s"] > 0
    # the paths took turns twice; each counts its fastest run
    assert recipe["repeats"] == 2 and len(recipe["peer_steps_per_s_runs"]) == len(recipe["study_steps_per_s_runs"]) == 2
    assert recipe["peer_steps_per_s"] == max(recipe["peer_steps_per_s_runs"])
    assert recipe["study_steps_per_s"] == max(recipe["study_steps_per_s_runs"])
    assert recipe["encode_sentences"] == 64 and recipe["peer_encode_per_s"] > 0
    assert "| greetings-mnrl | 8 |" in capsys.readouterr().out


def test_the_benchmark_times_the_study_paths_defaults_not_the_local_profiles_pins():
    """params/local keeps torch's dropout and the trainer's loop for its records; the study's path, as the quick
    and seed profiles and any new study run it, draws CPU dropout masks and trains in the lean loop."""
    local = run.recipe("local", "ncert-mnrl")
    assert (local.speed.fast_dropout, local.speed.lean_loop) == (False, False)
    ours = run.study(local)
    assert (ours.speed.fast_path, ours.speed.fast_dropout, ours.speed.lean_loop, ours.speed.torch_compile) == (True, True, True, False)
    assert (ours.batch_size, ours.max_seq_length, ours.epochs) == (local.batch_size, local.max_seq_length, local.epochs)
