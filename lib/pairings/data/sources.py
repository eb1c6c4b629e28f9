"""Reading and cleaning: a data source string → a ``datasets.Dataset``. Names no data set.

A source string (see :mod:`pairings.params`) says where a split comes from:

* ``"snli:dev"``: ``data/snli/dev.parquet``, a set shipped with the project (README and licence beside it);
* a path (``../shared/data/ncert/chapters.parquet``, ``my/pairs.csv``): a local parquet, CSV or JSON-lines file;
* ``"hub:stanfordnlp/snli:train"`` or ``"hub:<id>@<config>:<split>"``: ``datasets.load_dataset`` from the hub,
  for users who have it. Only this form touches the network.
"""

from __future__ import annotations

import glob
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset

from pairings import config

datasets.disable_progress_bars()
datasets.logging.set_verbosity_error()

# Data subsets are drawn with a fixed seed so that training seeds vary the training only.
DATA_SEED = 0


class DataError(ValueError):
    """A data source is missing, unreadable or unfit; the message names the parameter and the file."""


@dataclass
class Loaded:
    """A prepared split: the dataset, where it came from, and what was dropped on the way."""

    dataset: Dataset
    source: str
    rows_read: int
    dropped: dict[str, int] = field(default_factory=dict)


def is_path_source(spec: str) -> bool:
    """Whether a data source names a file by its path (else ``name:split`` of data/, or ``hub:...``)."""
    return "/" in spec and not spec.startswith("hub:") or spec.endswith((".parquet", ".csv", ".jsonl", ".json"))


def source_path(spec: str, key: str = "data") -> Path | None:
    """The local file behind a source string, or None for a hub source."""
    if spec.startswith("hub:"):
        return None
    if is_path_source(spec):
        try:
            return config.resolve(spec)
        except RuntimeError as err:  # expanduser: "~nosuchuser/x"
            raise DataError(f"parameter '{key}' = {spec!r}: cannot expand the path ({err}); "
                            f"give an absolute path or one relative to the project") from None
    name, split = spec.split(":", 1)
    return config.DATA_DIR / name / f"{split}.parquet"


def check_source(spec: str, key: str) -> None:
    """Fail fast, before any model is loaded, when a local source does not exist."""
    path = source_path(spec, key)
    if path is not None and not path.exists():
        hint = ""
        if not is_path_source(spec):
            known = sorted(p.name for p in config.DATA_DIR.iterdir() if p.is_dir() and (p / "README.md").exists())
            hint = f"; the project's data/ has: {', '.join(known)}"
        raise DataError(f"parameter '{key}' = {spec!r}: no such file {path}{hint}")


def load_source(spec: str, key: str) -> Dataset:
    """The raw table behind a source string."""
    if spec.startswith("hub:"):
        return _load_hub(spec, key)
    check_source(spec, key)
    path = source_path(spec, key)
    builder = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json"}.get(path.suffix.lower())
    if path.is_dir() or builder is None:
        raise DataError(f"parameter '{key}' = {spec!r}: {path} is not a .parquet, .csv or .jsonl file")
    where = f"parameter '{key}' = {spec!r}: {path}"
    if not path.is_file():
        raise DataError(f"{where} is not a regular file (a folder, a FIFO or a device): give a data file")
    if path.stat().st_size == 0:
        raise DataError(f"{where} is empty")
    if builder in ("csv", "json"):
        head = path.read_bytes()[:1 << 20]
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as err:
            if err.start < len(head) - 4:  # not a character cut at the end of the sample
                raise DataError(f"{where} is not UTF-8 text (byte {head[err.start]:#04x} at position {err.start}; "
                                f"Latin-1 or Windows-1252?): save it as UTF-8") from None
    try:
        # a file's name is not a pattern: '[', '*' or '?' in it must not make datasets look for other files
        return datasets.load_dataset(builder, data_files=glob.escape(str(path)), split="train")
    except Exception as err:  # pyarrow / pandas errors for truncated or malformed files
        if "corresponds to no data" in str(err):
            raise DataError(f"{where} has no rows (a header alone?)") from None
        cause = err.__cause__ or err.__context__  # datasets wraps the reader's own error
        detail = f"{type(cause).__name__}: {cause}" if cause is not None and "generating the dataset" in str(err) else \
            f"{type(err).__name__}: {err}"
        raise DataError(f"parameter '{key}' = {spec!r}: cannot read {path} as {builder}: "
                        f"{' '.join(detail.split())[:300]}") from None


def _load_hub(spec: str, key: str) -> Dataset:
    body = spec[len("hub:"):]
    repo, _, split = body.partition(":")
    repo, _, name = repo.partition("@")
    try:
        return _hub_load(repo, name or None, split)
    except Exception as err:
        why = "the hub is offline (HF_HUB_OFFLINE=1)" if hub_offline() else f"{type(err).__name__}: {err}"
        raise DataError(
            f"parameter '{key}' = {spec!r}: this data is not local and could not be loaded from the hub: {why}. "
            f"Where you have network, save it with datasets.load_dataset({repo!r}{', ' + repr(name) if name else ''}, "
            f"split={split!r}).to_parquet('my.parquet') and set {key} to that path."
        ) from None


def hub_offline() -> bool:
    """HF_HUB_OFFLINE is set: the hub is not to be reached (data sets and models alike)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _hub_load(repo: str, name: str | None, split: str) -> Dataset:
    """The one call that reaches the hub (tests replace it)."""
    return datasets.load_dataset(repo, name, split=split)


# ---- columns, cleaning, subsets, splits -------------------------------------------------------

def standardize(ds: Dataset, columns: dict[str, tuple[str, ...]], key: str, spec: str) -> Dataset:
    """Select and rename columns to the data set's standard names, accepting the known aliases."""
    rename = {}
    for target, aliases in columns.items():
        found = next((a for a in (target, *aliases) if a in ds.column_names), None)
        if found is None:
            raise DataError(
                f"parameter '{key}' = {spec!r}: no column {target!r} (or {', '.join(map(repr, aliases))}); "
                f"the file has {', '.join(map(repr, ds.column_names))}"
            )
        rename[found] = target
    ds = ds.select_columns(list(rename))
    return ds.rename_columns({k: v for k, v in rename.items() if k != v})


def values(ds: Dataset, column: str) -> list:
    """A column as a list, read at once (``ds[column]`` formats row by row: a second for 50k rows)."""
    return ds.select_columns([column]).to_dict()[column]


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def drop_blank(ds: Dataset, text_columns: list[str], key: str = "", spec: str = "") -> tuple[Dataset, int]:
    """Drop rows with a null, empty or whitespace-only text; return how many went. With ``key`` (the
    parameter naming the source), a value that is not text (a number, a list) is an error first."""
    if key:
        check_texts(ds, text_columns, key, spec)
    keep = [i for i, row in enumerate(zip(*(values(ds, c) for c in text_columns))) if not any(is_blank(v) for v in row)]
    return (ds if len(keep) == len(ds) else ds.select(keep)), len(ds) - len(keep)


def check_texts(ds: Dataset, text_columns: list[str], key: str, spec: str) -> None:
    """Every value of a text column is a string (or null, dropped later as blank)."""
    for column in text_columns:
        if getattr(ds.features.get(column), "dtype", None) in ("string", "large_string"):
            continue  # typed as text: every value is a string or null
        for i, value in enumerate(values(ds, column)):
            if value is not None and not isinstance(value, str):
                raise DataError(f"parameter '{key}' = {spec!r}: column {column!r} must hold text, but row {i + 1} "
                                f"holds {type(value).__name__} {value!r}; quote the values or give a text column")


def subset(ds: Dataset, n: int | None) -> Dataset:
    """The first n rows of a fixed shuffle (DATA_SEED), or everything when n is None or too large."""
    if n is None or n >= len(ds):
        return ds
    return ds.shuffle(seed=DATA_SEED).select(range(n))


def nonempty(loaded: Loaded, key: str) -> Loaded:
    if len(loaded.dataset) == 0:
        raise DataError(f"parameter '{key}' = {loaded.source!r}: no rows left after dropping {loaded.dropped}")
    return loaded


def check_labels(ds: Dataset, column: str, low: float, high: float, key: str, spec: str) -> None:
    values = ds[column]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise DataError(f"parameter '{key}' = {spec!r}: column {column!r} must be numeric")
    bad = [v for v in values if not low <= v <= high]
    if bad:
        raise DataError(f"parameter '{key}' = {spec!r}: {len(bad)} labels outside [{low}, {high}], e.g. {bad[0]}")


def split_by_group(ds: Dataset, test_share: float = 0.2) -> tuple[Dataset, Dataset]:
    """Hold out whole groups (chapters, articles, courses) so no test passage shares a source with training."""
    groups = sorted(set(values(ds, "group")))
    random.Random(DATA_SEED).shuffle(groups)
    held = set(groups[: max(1, round(len(groups) * test_share))])
    test = [i for i, g in enumerate(values(ds, "group")) if g in held]
    train = [i for i, g in enumerate(values(ds, "group")) if g not in held]
    return ds.select(train), ds.select(test)
