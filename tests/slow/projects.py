"""Projects of a test's own for the executors' tests (test_ray.py, test_jobs.py): the real notebooks and data,
the quick params of a few runs, the committed quick reports as the last good ones, and the check that a
run's record equals the committed one of the sequential executor."""

import os
import shutil
from pathlib import Path

from pairings import config
from pairings.report.record import Record
from pairings.run import reproduce

RUNS = ("greetings-mnrl", "udemy-cosine")
# A run with fewer torch threads than the committed quick records had (2) does the same float32 sums in
# another order: the records agree to rounding, not bit for bit.
TOLERANCE = 1e-5
QUICK = config.REPORTS_DIR / "quick"


def project(folder: Path, runs=RUNS) -> Path:
    """A project root of our own with the real notebooks and data, and the quick params of ``runs`` only."""
    root = folder / "project"
    shutil.copytree(config.NOTEBOOKS_DIR, root / "notebooks")
    (root / "data").symlink_to(config.DATA_DIR)
    quick = root / "params" / "quick"
    quick.mkdir(parents=True)
    (root / "params" / "local").mkdir()
    for name in ("_profile", *runs):
        shutil.copy(config.PARAMS_DIR / "quick" / f"{name}.yaml", quick)
    return root


def env(root: Path) -> dict:
    return {**os.environ, "PAIRINGS_ROOT": str(root), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def good_reports(root: Path, runs=RUNS) -> dict[Path, bytes]:
    """The committed quick reports of ``runs`` as the project's last good ones."""
    reports = root / "reports" / "quick"
    reports.mkdir(parents=True, exist_ok=True)
    for run in runs:
        for suffix in (".json", ".ipynb", ".html"):
            shutil.copy(QUICK / f"{run}{suffix}", reports)
    return {p: p.read_bytes() for p in reports.iterdir()}


def same_as_sequential(root: Path, run: str) -> dict:
    """The run's record against the committed one of the sequential executor: every metric and logged loss."""
    new = Record.load(root / "reports" / "quick" / f"{run}.json")
    old = Record.load(QUICK / f"{run}.json")
    gaps = reproduce.compare_records(old, new, TOLERANCE)
    assert [s for s, _ in new.loss_history] == [s for s, _ in old.loss_history]
    assert gaps["within_tolerance"] and gaps["largest_loss_gap"] <= TOLERANCE, (run, gaps["metric_gaps"])
    return gaps


def kernels(pid: int) -> list:
    """The ipykernel processes under a process (psutil): a short-lived child that ends while being looked at
    is passed over; none once the process has ended."""
    import psutil

    def cmdline(process) -> str:
        try:
            return " ".join(process.cmdline())
        except psutil.NoSuchProcess:
            return ""

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:  # the command itself has ended: the caller says so, with its output
        return []
    return [p for p in children if "ipykernel" in cmdline(p)]
