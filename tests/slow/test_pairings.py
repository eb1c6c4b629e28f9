"""A whole quick run of a pairing made from a user's file, with the real notebook, in a project of its own.
(A seed pairing under another loss is a grid cell of the quick profile: make study runs it, nbval re-runs
it, and tests/unit/test_reports.py checks its record.)"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pairings import config


def _project(tmp: Path) -> Path:
    """A project root of our own: the real notebooks (copied: `new` writes there), data and quick params."""
    root = tmp / "project"
    shutil.copytree(config.NOTEBOOKS_DIR, root / "notebooks")
    (root / "data").symlink_to(config.DATA_DIR)
    shutil.copytree(config.PARAMS_DIR / "quick", root / "params" / "quick")
    (root / "params" / "local").mkdir()
    return root


def _pairings(root: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAIRINGS_ROOT": str(root), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "pairings", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_a_pairing_from_a_users_file_runs_and_is_published(tmp_path):
    root = _project(tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    faq = tmp_path / "faq.csv"
    questions = [f"how do I reset my password for account {i}?" for i in range(60)]
    answers = [f"Open settings, choose security and reset the password of account {i}." for i in range(60)]
    pd.DataFrame({"question": questions, "answer": answers}).to_csv(faq, index=False)
    made = _pairings(root, "new", "faq", "--data", str(faq), "--loss", "mnrl")
    assert made.returncode == 0, made.stdout + made.stderr
    assert all(p.read_bytes() == content for p, content in before.items())  # no existing file edited
    (root / "params" / "quick" / "faq.yaml").write_text(
        (root / "params" / "quick" / "faq.yaml").read_text().replace("train_pairs: 256", "train_pairs: 48"))
    done = _pairings(root, "run", "--profile", "quick", "--pairing", "faq", "--no-summary")
    assert done.returncode == 0, done.stdout + done.stderr
    reports = root / "reports" / "quick"
    record = json.loads((reports / "faq.json").read_text())
    assert record["params"]["data_set"] == "file" and record["task_metric"] == "mrr@10"
    assert {"mrr@10", "stsb_spearman"} <= set(record["metrics"]["before"]) <= set(record["metrics"]["after"])
    assert record["data"]["train_pairs"] == 48 and record["data"]["stand_in"] is None
    assert "faq" in (reports / "faq.html").read_text()
    assert 'href="faq.html"' in (reports / "index.html").read_text()
