"""The runner's plan and the comparison of a re-run with its record (no training)."""

import json

import pytest

from pairings import config
from pairings.report.record import Record


def test_resume_flag_reaches_every_run(monkeypatch):
    from pairings.run import plan

    runs = plan.plan("quick", ["greetings-mnrl"], resume=True)
    assert runs and all(p.resume for p in runs)


def test_compare_records_fails_beyond_the_tolerance():
    from pairings.run import reproduce

    old = Record.load(config.report_dir("quick") / "greetings-mnrl.json")
    same = reproduce.compare_records(old, old, 0.005)
    assert same["within_tolerance"] and same["largest_metric_gap"] == 0 and same["largest_loss_gap"] == 0
    moved = Record.from_dict(json.loads(json.dumps(old.to_dict())))
    moved.after["mrr@10"] += 0.01
    result = reproduce.compare_records(old, moved, 0.005)
    assert not result["within_tolerance"] and result["largest_metric_gap"] == pytest.approx(0.01)
    del moved.after["mrr@10"]  # a metric the re-run lacks is a failure, not a pass
    assert not reproduce.compare_records(old, moved, 0.005)["within_tolerance"]
    drifted = Record.from_dict(json.loads(json.dumps(old.to_dict())))
    drifted.transfer["after"]["snli"] += 0.004  # the transfer row counts, at its own key
    result = reproduce.compare_records(old, drifted, 0.001)
    assert not result["within_tolerance"] and result["metric_gaps"]["after transfer snli"] == pytest.approx(0.004)
    diverged = Record.from_dict(json.loads(json.dumps(old.to_dict())))
    diverged.training["loss_history"][-1][1] += 0.01  # the metrics equal, a logged loss not: a failure
    result = reproduce.compare_records(old, diverged, 0.005)
    assert result["largest_metric_gap"] == 0 and result["largest_loss_gap"] == pytest.approx(0.01)
    assert not result["within_tolerance"]


def test_a_record_from_before_fast_path_reproduces_on_the_path_it_trained_on():
    from pairings.train import speed

    def rerun_params(raw):
        return Record.from_dict({"pairing": raw["params"]["pairing"], "profile": "local", "run": "r", "data": {},
                                 "metrics": {}, "timings": {}, **raw}).rerun_params()

    old = {"params": {"pairing": "udemy-cosine"}, "training": {"path": "trainer"}}
    assert rerun_params(old)["fast_path"] is False
    assert rerun_params({**old, "training": {"path": "fast"}})["fast_path"] is True
    assert rerun_params({"params": {"pairing": "udemy-cosine", "fast_path": False}, "training": {"path": "fast"}})["fast_path"] is False
    # and one made before fast_dropout, with torch's dropout
    assert rerun_params({**old, "training": {"path": "fast", "options": ["fused AdamW"]}})["fast_dropout"] is False
    options = speed.options(True, True, fast_dropout=True)
    assert rerun_params({**old, "training": {"path": "fast", "options": options}})["fast_dropout"] is True
    # "auto" meant the trainer's loop on the CPU until the lean loop became its choice there: the loop it names
    auto = {"params": {"pairing": "snli-softmax", "train_loop": "auto"}}
    assert rerun_params({**auto, "training": {"path": "fast", "loop": "trainer"}})["train_loop"] == "trainer"
    assert rerun_params({**auto, "training": {"path": "fast", "loop": "lean"}})["train_loop"] == "lean"
    assert rerun_params({**old, "training": {"path": "fast"}})["train_loop"] == "trainer"  # before the lean loop
    pinned = {"params": {"pairing": "quora-mnrl", "train_loop": "lean"}, "training": {"path": "fast", "loop": "lean"}}
    assert rerun_params(pinned)["train_loop"] == "lean"


def test_a_pairing_runs_with_its_variants_and_pairing_dot_variant_runs_one(monkeypatch):
    from pairings.params import ParamsError
    from pairings.run import plan

    monkeypatch.setattr(plan, "preflight", lambda params: None)
    assert [p.run_name for p in plan.plan("quick", ["snli-softmax"])] == \
        ["snli-softmax", "snli-softmax.cosine", "snli-softmax.lp", "snli-softmax.mnrl", "snli-softmax.probe"]
    assert [p.run_name for p in plan.plan("quick", ["snli-softmax.mnrl", "greetings-mnrl.cosine"])] == \
        ["snli-softmax.mnrl", "greetings-mnrl.cosine"]
    assert [p.run_name for p in plan.plan("quick", ["snli-softmax"], with_variants=False)] == ["snli-softmax"]
    with pytest.raises(ParamsError, match=r"--pairing snli-softmax.nope: no variant 'nope' of snli-softmax in params/variants/ or "
                                          r"params/quick/ \(variants of snli-softmax: cosine, lp, mnrl, probe\)"):
        plan.plan("quick", ["snli-softmax.nope"])


def test_parallel_runs_start_longest_first(tmp_path, monkeypatch):
    """By the seconds each took when last published; a run never published (no record) first of all."""
    from pairings.params import Params
    from pairings.run import plan

    monkeypatch.setattr(plan.config, "report_dir", lambda profile: tmp_path)
    runs = [Params.load("quick", p) for p in ("greetings-mnrl", "quora-mnrl", "udemy-cosine", "snli-softmax")]
    for name, seconds in (("greetings-mnrl", 12.0), ("quora-mnrl", 30.5), ("udemy-cosine", 19.0)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"timings": {"total_seconds": seconds}}))
    assert [p.run_name for p in plan.longest_first(runs)] == ["snli-softmax", "quora-mnrl", "udemy-cosine",
                                                                "greetings-mnrl"]


def test_parallel_runs_print_whole_lines(tmp_path, monkeypatch):
    """Runs starting at once each print their [start] line whole: print writes a line's text and its end
    separately, and CI once saw ``[start] a…[start] b…`` on one line. The log here writes like print, with
    a pause between the two writes, from two threads starting together."""
    import io
    import threading
    import time

    from pairings.params import Params
    from pairings.run import executors, plan, staging

    monkeypatch.setattr(plan.config, "report_dir", lambda profile: tmp_path)
    monkeypatch.setattr(plan.config, "NOTEBOOKS_DIR", tmp_path)
    together = threading.Barrier(2)

    def attempt(params, follow=True):
        return staging.Outcome(params.run_name, ok=True, seconds=0.0)

    describe = plan.describe

    def started(params):  # both threads reach their [start] line at the same moment
        together.wait(timeout=10)
        return describe(params)

    monkeypatch.setattr(executors, "attempt", attempt)
    monkeypatch.setattr(executors, "describe", started)
    monkeypatch.setattr(executors, "land", lambda params, outcome, log: log("done") or True)
    out = io.StringIO()

    def like_print(line):
        out.write(line)
        time.sleep(0.05)
        out.write("\n")

    runs = [Params.load("quick", p) for p in ("greetings-mnrl", "udemy-cosine")]
    assert executors.Threads(2).run_all(runs, log=like_print) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert sorted(line.split(":")[0] for line in lines[:2]) == ["[start] greetings-mnrl", "[start] udemy-cosine"], lines
    assert [line.count("[start]") for line in lines[:2]] == [1, 1], lines
    assert [line.split(" ")[0] for line in lines[2:]] == ["[1/2]", "[2/2]"] and lines[2].endswith(": done"), lines


def test_one_interface_picks_the_executor_a_command_names():
    """--executor ray → OnRay with its options; --jobs N with several runs → Threads; else Sequential; each
    answers where() and run_all(), and a Ray option without Ray, or --jobs 0, is refused by name."""
    from pairings.params import ParamsError
    from pairings.run import executors

    assert executors.executor_for() == executors.Sequential()
    assert executors.executor_for(jobs=2, n_runs=1) == executors.Sequential()
    assert executors.executor_for(jobs=3, n_runs=5) == executors.Threads(3)
    assert executors.executor_for("ray", address="auto", cpus_per_run=2) == executors.OnRay(address="auto", cpus_per_run=2)
    assert executors.Threads(3).where(2) == ", 2 at once" and executors.OnRay().where(9) == " on Ray"
    for chosen in (executors.Sequential(), executors.Threads(2), executors.OnRay()):
        assert callable(chosen.run_all) and isinstance(chosen.where(1), str)
    with pytest.raises(ParamsError, match="--gpus-per-run is an option of --executor ray"):
        executors.executor_for(gpus_per_run=1)
    with pytest.raises(ParamsError, match="--jobs 0"):
        executors.executor_for(jobs=0)
    with pytest.raises(ParamsError, match="--executor dask"):
        executors.executor_for("dask")
