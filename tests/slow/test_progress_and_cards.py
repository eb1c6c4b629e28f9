"""A whole quick run shows its live progress bar on stderr (phases, steps, loss) and saves a model whose card
carries its lineage, while the executed notebook records nothing of the bar."""

import json
import os
import subprocess
import sys
from pathlib import Path

from test_pairings import _project

import pairings
from pairings.report import cards


def _pairings(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m pairings` with this library (the kernel inherits the path), in the project at ``root``."""
    lib = str(Path(pairings.__file__).resolve().parents[1])
    env = {**os.environ, "PAIRINGS_ROOT": str(root), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [lib, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "pairings", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)


def test_a_run_shows_progress_and_saves_a_card_with_lineage(tmp_path):
    root = _project(tmp_path)
    for variant in (root / "params" / "quick").glob("greetings-mnrl.*.yaml"):
        variant.unlink()
    (root / "params" / "quick" / "greetings-mnrl.yaml").write_text("train_pairs: 64\nstsb_pairs: 200\n")
    done = _pairings(root, "run", "--profile", "quick", "--pairing", "greetings-mnrl", "--no-summary")
    assert done.returncode == 0, done.stdout + done.stderr
    bar = done.stderr
    for shown in ("greetings-mnrl:", "phase=evaluate before", "phase=train", "phase=save", "loss="):
        assert shown in bar, bar
    rec = json.loads((root / "reports" / "quick" / "greetings-mnrl.json").read_text())
    steps = rec["training"]["steps"]
    assert f"{steps}/{steps}" in bar, bar
    notebook = (root / "reports" / "quick" / "greetings-mnrl.ipynb").read_text()
    assert "phase=" not in notebook and "progress.jsonl" not in notebook
    readme = (root / "models" / "quick" / "greetings-mnrl" / "README.md").read_text()
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in readme and cards.SECTION in readme
    section = readme[readme.index(cards.SECTION):]
    assert rec["data"]["stand_in"] in section and f"batch size {rec['params']['batch_size']}" in section
    after = rec["metrics"]["after"][rec["task_metric"]]
    assert f"{after:.4f}" in section
