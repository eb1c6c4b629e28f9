"""Every path of the project, derived from PROJ_ROOT; nothing else hard-codes one."""

from __future__ import annotations

import os
from pathlib import Path

PROJ_ROOT = Path(os.environ.get("PAIRINGS_ROOT", Path(__file__).resolve().parents[2])).resolve()
DATA_DIR = PROJ_ROOT / "data"
SEED_CARDS_DIR = DATA_DIR / "seed-cards"
PARAMS_DIR = PROJ_ROOT / "params"
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
REPORTS_DIR = PROJ_ROOT / "reports"
MODELS_DIR = PROJ_ROOT / "models"
RUNS_DIR = PROJ_ROOT / "runs"  # scratch output of interactive (JupyterLab) runs

PROFILES = ("quick", "local", "seed")


def resolve(path: str | os.PathLike) -> Path:
    """A path from a params file: absolute as given, else relative to the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJ_ROOT / p


def report_dir(profile: str) -> Path:
    return REPORTS_DIR / profile
