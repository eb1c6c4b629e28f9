"""The base model's evaluations, computed once.

Every run of a profile evaluates the same base model on the same held-out data before it trains: the grid's
cells on one data set share their task, and every run shares STSb, SICK-R and the transfer tasks. An
evaluation of a model that no run has changed yet is kept in ``.cache/evaluations/<key>.json``, the key a
sha256 of everything its result depends on:

- the model's content (every weight, its modules and their settings: sequence length, Normalize) and device;
- the data's content (every text, label and id of what is evaluated, read from the objects themselves);
- the evaluation's code (the library's source) and the loss's own weights where the task reads them (a
  SoftmaxLoss head);

so a change to any of them computes afresh. ``PAIRINGS_EVAL_CACHE=off`` turns it off; another value names
the folder. Records carry the "before" metrics either way: a test shows a cached result equals a fresh one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pairings import config, losses

VERSION = 1


def folder() -> Path | None:
    setting = os.environ.get("PAIRINGS_EVAL_CACHE", "")
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    return Path(setting) if setting else config.PROJ_ROOT / ".cache" / "evaluations"


def _update(h, obj: Any) -> None:
    """Feed ``obj``'s content to the hash: plain values, containers, datasets, arrays and objects' fields."""
    from datasets import Dataset

    if isinstance(obj, Dataset):
        h.update(b"dataset")
        _update(h, obj.to_dict())
    elif isinstance(obj, np.ndarray) or hasattr(obj, "detach"):
        array = obj.detach().cpu().numpy() if hasattr(obj, "detach") else obj
        h.update(f"array{array.dtype}{array.shape}".encode())
        h.update(np.ascontiguousarray(array).tobytes())
    elif isinstance(obj, dict):
        h.update(b"dict%d" % len(obj))
        for key in sorted(obj, key=repr):
            _update(h, key)
            _update(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(b"list%d" % len(obj))
        for item in obj:
            _update(h, item)
    elif isinstance(obj, (set, frozenset)):
        _update(h, sorted(obj, key=repr))
    elif obj is None or isinstance(obj, (str, int, float, bool, np.generic)):
        h.update(f"{type(obj).__name__}:{obj!r}".encode())
    elif dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__"):
        fields = {k: v for k, v in vars(obj).items() if k != "artifacts"}  # a task's last results, not its data
        h.update(f"object:{type(obj).__module__}.{type(obj).__qualname__}".encode())
        _update(h, fields)
    else:
        raise TypeError(f"cannot fingerprint a {type(obj).__name__}")


def fingerprint(obj: Any) -> str:
    h = hashlib.sha256()
    _update(h, obj)
    return h.hexdigest()


def model_fingerprint(model) -> str:
    """Every weight, the modules with their settings, and the device."""
    h = hashlib.sha256()
    h.update(repr(model).encode())
    h.update(f"max_seq_length={model.max_seq_length} device={model.device}".encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        _update(h, tensor)
    return h.hexdigest()


def head_fingerprint(loss) -> str:
    """The loss's own weights, which a task may read; "" for a head-free loss (or none)."""
    own = losses.own_weights(loss) if loss is not None else {}
    return fingerprint(own) if own else ""


def code_fingerprint() -> str:
    """The library's source: an evaluation computed by other code is not reused."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return np.asarray(value["__array__"])
        return {k: _restore(v) for k, v in value.items()}
    return value


def evaluation(kind: str, model_key: str, data: Any, compute: Callable[[], dict], loss=None) -> dict:
    """``compute()`` (a dict of metrics and arrays), or its result for the same model, data, code and head."""
    where = folder()
    if where is None:
        return compute()
    key = hashlib.sha256(json.dumps([VERSION, kind, model_key, code_fingerprint(), fingerprint(data),
                                     head_fingerprint(loss)]).encode()).hexdigest()
    path = where / f"{key}.json"
    if path.is_file():
        try:
            return _restore(json.loads(path.read_text())["result"])
        except (OSError, ValueError, KeyError):
            pass  # unreadable: compute it again
    result = compute()
    where.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"kind": kind, "result": _plain(result)}))
    os.replace(tmp, path)
    return result
