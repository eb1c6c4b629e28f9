"""``python -m pairings run --jobs 2``: two runs at once on this machine (pairings.run.executors.run_parallel), each in a project
of its own (tests/slow/projects.py): the records equal the sequential executor's, and Ctrl-C stops both."""

import json
import re
import signal
import subprocess
import sys
import threading
import time

import projects
import pytest


def _start(root, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pairings", "run", "--no-summary", "--jobs", "2", *args],
                            cwd=root, env=projects.env(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_two_runs_at_once_equal_the_sequential_executors(tmp_path):
    root = projects.project(tmp_path)
    run = _start(root)
    out, _ = run.communicate(timeout=900)
    assert run.returncode == 0, out
    assert out.splitlines()[0].endswith("→ reports/quick/, 2 at once"), out
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("[start]")]
    ends = [i for i, line in enumerate(lines) if re.match(r"\[\d/2\] .*: done in \d+ s", line)]
    assert len(starts) == 2 and len(ends) == 2 and max(starts) < min(ends), f"not at once:\n{out}"
    assert "2 of 2 run(s) succeeded" in out
    for name in projects.RUNS:
        projects.same_as_sequential(root, name)
        record = json.loads((root / "reports" / "quick" / f"{name}.json").read_text())
        assert record["device"]["torch_threads"] == max(1, record["device"]["cpu_count"] // 2), record["device"]
    index = (root / "reports" / "quick" / "index.html").read_text()
    assert all(f"{name}.html" in index for name in projects.RUNS)
    assert not list((root / "reports" / "quick" / ".staging").iterdir())


def test_ctrl_c_stops_the_runs_under_way_and_says_what_ran(tmp_path):
    psutil = pytest.importorskip("psutil")
    root = projects.project(tmp_path)
    good = projects.good_reports(root)
    run = _start(root)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(run.stdout.readline, "")), daemon=True)
    reader.start()
    deadline, kernels = time.time() + 120, []
    while len(kernels) < 2 and run.poll() is None and time.time() < deadline:  # both kernels are up
        time.sleep(0.5)
        kernels = projects.kernels(run.pid)
    assert len(kernels) == 2 and run.poll() is None, f"two kernels were not seen at once:\n{''.join(lines)}"
    run.send_signal(signal.SIGINT)
    run.wait(timeout=60)
    reader.join(timeout=10)
    out = "".join(lines)
    assert run.returncode == 130, out
    assert ("interrupted: runs by SIGINT: published none; stopped greetings-mnrl, udemy-cosine; not started none; "
            "every other report is as it was") in out, out
    assert "Traceback" not in out
    for path, content in good.items():
        assert path.read_bytes() == content, f"{path.name} changed"
    reports = root / "reports" / "quick"
    assert not list(reports.glob("*.failed.*")) and not list((reports / ".staging").iterdir())
    psutil.wait_procs(kernels, timeout=10)
    assert not [k for k in kernels if k.is_running()], "a kernel outlived the interrupted runs"
