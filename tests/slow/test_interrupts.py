"""Ctrl-C during `python -m pairings run`, and two runs of the same pairing at once, on a project of our own
(the real notebooks and data; our params and reports)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import projects
import pytest

import pairings
from pairings import config

PSUTIL = pytest.importorskip("psutil")


def _project(tmp: Path) -> Path:
    """As tests/slow/test_reliability.py: greetings-mnrl of a few steps, a checkpoint every 2, and a last
    good report to keep."""
    import shutil

    root = tmp / "project"
    (root / "params" / "quick").mkdir(parents=True)
    for name in ("notebooks", "data"):
        (root / name).symlink_to(config.PROJ_ROOT / name)
    shutil.copy(config.PARAMS_DIR / "quick" / "_profile.yaml", root / "params" / "quick")
    (root / "params" / "quick" / "greetings-mnrl.yaml").write_text(
        "train_pairs: 96\nstsb_pairs: 40\ncheckpoint_steps: 2\nbatch_size: 8\n")
    good = root / "reports" / "quick"
    good.mkdir(parents=True)
    for suffix in (".ipynb", ".html", ".json"):
        shutil.copy(config.report_dir("quick") / f"greetings-mnrl{suffix}", good)
    return root


def _env(root: Path) -> dict:
    """The environment of a CLI run on our project, importing this checkout's pairings."""
    lib = str(Path(pairings.__file__).resolve().parents[1])
    return {**os.environ, "PAIRINGS_ROOT": str(root), "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [lib, os.environ.get("PYTHONPATH", "")]))}


def _start(root: Path) -> subprocess.Popen:
    env = _env(root)
    return subprocess.Popen([sys.executable, "-m", "pairings", "run", "--profile", "quick", "--pairing",
                             "greetings-mnrl", "--no-summary"], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _published(root: Path) -> dict:
    return {p.name: p.read_bytes() for p in (root / "reports" / "quick").glob("greetings-mnrl.*")}


def test_sigint_stops_the_run_keeps_the_report_and_resumes(tmp_path):
    root = _project(tmp_path)
    good = _published(root)
    run = _start(root)
    staging = root / "reports" / "quick" / ".staging" / "greetings-mnrl"
    checkpoint = staging / "checkpoints" / "lean-2" / "state.pt"  # the lean loop's: renamed there when complete
    deadline = time.time() + 150
    while not checkpoint.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert checkpoint.exists(), "training never reached its first checkpoint"
    kernels = projects.kernels(run.pid)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith("greetings-mnrl:")]  # but the run's bar
    assert len(lines) == 1 and lines[0].startswith("interrupted: greetings-mnrl by SIGINT; staging kept for --resume"), err
    assert "Traceback" not in out + err
    assert _published(root) == good, "the last good report changed"
    assert not list((root / "reports" / "quick").glob("*.failed.*"))
    assert checkpoint.exists() and not (staging.parent / "greetings-mnrl.lock").exists()
    PSUTIL.wait_procs(kernels, timeout=10)
    assert not [k for k in kernels if k.is_running()], "the kernel outlived the interrupted run"

    latest = max(int(d.name.split("-")[1]) for d in (staging / "checkpoints").glob("lean-*") if (d / "state.pt").exists())
    env = _env(root)
    done = subprocess.run([sys.executable, "-m", "pairings", "run", "--profile", "quick", "--pairing", "greetings-mnrl",
                           "--no-summary", "--resume"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _published(root)["greetings-mnrl.json"] != good["greetings-mnrl.json"]
    resumed = json.loads(_published(root)["greetings-mnrl.json"])
    # it went on from the latest checkpoint the interrupt left, not from the start, to the whole run's last step
    assert resumed["training"]["resumed_from_step"] == latest >= 2, resumed["training"]
    steps = resumed["training"]["steps"]
    assert steps > latest and resumed["training"]["loss_history"][-1][0] == steps  # on to the last step, logged


def test_the_same_run_twice_at_once_the_second_refuses(tmp_path):
    root = _project(tmp_path)
    (root / "params" / "quick" / "greetings-mnrl.yaml").write_text("train_pairs: 80\nstsb_pairs: 40\nbatch_size: 8\n")
    first = _start(root)
    lock = root / "reports" / "quick" / ".staging" / "greetings-mnrl.lock"
    deadline = time.time() + 120
    while not lock.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert lock.exists(), "the first run never took its lock"
    second = _start(root)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2
    assert err.strip() == (f"error: reports/quick/.staging/greetings-mnrl.lock: greetings-mnrl of the quick profile "
                           f"is already running (pid {first.pid}); wait for it to finish or stop it")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out + err
    assert not lock.exists()
