"""The Ray executor (lib/pairings/cluster.py), each test in a project of its own: two quick runs at once on a
local Ray with 2 CPUs, a failed run beside a good one, Ctrl-C, and a cluster of two Ray nodes on loopback
ports whose second node runs in another copy of the project (so its files come back through Ray).

Ray is an optional extra: these tests skip without it, except in CI, which installs it and sets
PAIRINGS_REQUIRE_RAY=1 so that a missing Ray fails instead."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import projects
import pytest

if os.environ.get("PAIRINGS_REQUIRE_RAY"):
    import ray  # noqa: F401
else:
    pytest.importorskip("ray")

RUNS, QUICK = projects.RUNS, projects.QUICK
_project, _env, _good_reports, _same_as_sequential = (projects.project, projects.env, projects.good_reports,
                                                      projects.same_as_sequential)


def _pairings(root: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pairings", "run", "--executor", "ray", "--no-summary", *args],
                          cwd=root, env=_env(root), capture_output=True, text=True, timeout=timeout)


def _say(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\n  {text}")


def test_two_runs_at_once_on_a_local_ray_equal_the_sequential_executors(tmp_path, capsys):
    root = _project(tmp_path)
    ray_cli = str(Path(sys.executable).parent / "ray")
    # another Ray on this machine (1 CPU) must not be joined: without --address the command starts its own
    try:
        subprocess.run([ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={_free_port()}",
                        "--include-dashboard=false", "--num-cpus=1", "--num-gpus=0", "--disable-usage-stats"],
                       env=_env(root), check=True, capture_output=True)
        start = time.perf_counter()
        done = _pairings(root, "--local-cpus", "2")
        wall = time.perf_counter() - start
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "ray (local): 1 node(s), 2 CPU(s)" in out, out
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("[start]")]
    ends = [i for i, line in enumerate(lines) if re.match(r"\[\d/2\] .*: done in", line)]
    assert len(starts) == 2 and len(ends) == 2, out
    assert max(starts) < min(ends), f"the two runs did not run at once:\n{out}"
    assert "2 of 2 run(s) succeeded" in out
    gaps = {run: _same_as_sequential(root, run) for run in RUNS}
    index = (root / "reports" / "quick" / "index.html").read_text()
    assert all(f"{run}.html" in index for run in RUNS)
    worst = max(max(g["largest_metric_gap"], g["largest_loss_gap"]) for g in gaps.values())
    _say(capsys, f"local Ray, 2 CPUs, {' + '.join(RUNS)} at once: {wall:.0f} s wall (command and Ray start "
                 f"included); largest gap to the sequential records {worst:.1e}")


def _break(notebook: Path, message: str) -> None:
    """A cell right after the parameters that raises: the run fails before it trains."""
    nb = nbformat.read(notebook, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(f"raise RuntimeError({message!r})"))
    nbformat.write(nb, notebook)


def test_a_failed_run_keeps_its_last_good_report_and_the_other_publishes(tmp_path):
    root = _project(tmp_path)
    good = _good_reports(root)
    _break(root / "notebooks" / "udemy-cosine.ipynb", "broken on purpose")
    done = _pairings(root, "--local-cpus", "2")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert re.search(r"udemy-cosine \(.*\): FAILED after \d+ s: RuntimeError: broken on purpose", out), out
    assert "1 of 2 run(s) succeeded" in out
    reports = root / "reports" / "quick"
    for path, content in good.items():
        if path.name.startswith("udemy-cosine"):
            assert path.read_bytes() == content, f"{path.name} changed"
    assert (reports / "udemy-cosine.failed.ipynb").exists() and (reports / "udemy-cosine.failed.html").exists()
    assert (reports / "greetings-mnrl.json").read_bytes() != good[reports / "greetings-mnrl.json"]  # re-published
    _same_as_sequential(root, "greetings-mnrl")


def test_ctrl_c_cancels_the_runs_and_says_what_ran(tmp_path):
    psutil = pytest.importorskip("psutil")
    root = _project(tmp_path)
    good = _good_reports(root)
    run = subprocess.Popen([sys.executable, "-m", "pairings", "run", "--executor", "ray", "--no-summary",
                            "--local-cpus", "1"], cwd=root, env=_env(root), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(run.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.time() + 300
    while not any(line.startswith("[start]") for line in lines) and run.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert any(line.startswith("[start]") for line in lines), "".join(lines)
    time.sleep(5)  # the first run's kernel is busy
    assert run.poll() is None, f"the command ended before Ctrl-C:\n{''.join(lines)}"
    started = sum(line.startswith("[start]") for line in lines)
    run.send_signal(signal.SIGINT)
    run.wait(timeout=120)
    reader.join(timeout=10)
    out = "".join(lines)
    assert run.returncode == 130, out
    assert started == 1, f"a 1-CPU Ray ran {started} runs at once:\n{out}"
    assert re.search(r"interrupted: Ray runs by SIGINT: published none; cancelled (greetings-mnrl|udemy-cosine), "
                     r"(greetings-mnrl|udemy-cosine); every other report is as it was", out), out
    for path, content in good.items():
        assert path.read_bytes() == content, f"{path.name} changed"
    assert not list((root / "reports" / "quick" / ".staging").glob("*.lock"))
    kernels = [p for p in psutil.process_iter(["cmdline"]) if str(root / "reports") in " ".join(p.info["cmdline"] or [])]
    assert not kernels, "a kernel of the cancelled runs is still running"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_two_node_cluster_brings_every_runs_files_home(tmp_path, capsys, monkeypatch):
    head, other = _project(tmp_path / "head"), _project(tmp_path / "other")
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--num-gpus=0", "--disable-usage-stats"]
    # Ray's default for `ray start --head` is token authentication (the token in ~/.ray/auth_token): a node
    # that joins, and the command, say so with RAY_AUTH_MODE=token (docs/scale-out.md)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    try:
        subprocess.run([ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                        "--include-dashboard=false", *common], env=_env(head), check=True, capture_output=True)
        subprocess.run([ray_cli, "start", f"--address={address}", "--node-ip-address=127.0.0.1", *common],
                       env=_env(other), check=True, capture_output=True)
        start = time.perf_counter()
        done = _pairings(head, "--address", address)
        wall = time.perf_counter() - start
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "2 node(s), 2 CPU(s)" in out
    nodes = {m.group(1) for m in re.finditer(r"^\[start\] .* on (\S+), cpu$", out, re.M)}
    assert len(nodes) == 2, f"both runs on one node:\n{out}"
    for run in RUNS:  # published in the head's project, whichever node ran it
        _same_as_sequential(head, run)
        assert (head / "models" / "quick" / run / "model.safetensors").is_file()
        assert not (other / "reports" / "quick" / f"{run}.json").exists()
    _say(capsys, f"two Ray nodes on loopback (1 CPU each), {' + '.join(RUNS)}: {wall:.0f} s wall")
