"""The runs of a profile, planned before any starts: every params file loaded and validated, and everything that
can be checked without loading a model (the output folder, the device, the base model's folder, all of each run's
data, its notebook)."""

from __future__ import annotations

import difflib
import json
import tempfile
from pathlib import Path

from pairings import config
from pairings import data as data_sets
from pairings.params import Params, ParamsError, shown, variants
from pairings.params import pairings as profile_pairings
from pairings.params.files import variant_file
from pairings.run.staging import notebook_of
from pairings.train import base_model


def preflight(params: Params) -> None:
    """Everything that can be checked without loading a model, for every run before any starts: the
    params (validated on load), the output folder, the base model's folder, and all of the run's data
    (read, standardised, shaped for the loss and checked by the same ``prepare`` the notebook calls)."""
    check_writable(config.report_dir(params.profile))
    base_model.check_device(params)
    base_model.check(base_model.source(params), base_model.origin(params))
    data_sets.get(params.data_set).prepare(params)
    if not notebook_of(params).is_file():
        raise FileNotFoundError(f"{notebook_of(params)}: pairing {params.pairing} has no notebook "
                                f"(python -m pairings new writes one for a pairing of your own)")


def plan(profile: str, pairings: list[str] | None = None, seeds: list[int] | None = None,
         resume: bool = False, with_variants: bool = True) -> list[Params]:
    """The runs of a profile, every params file validated and all their data checked first."""
    runs = []
    if profile not in config.PROFILES:
        close = difflib.get_close_matches(profile, config.PROFILES, n=1)
        raise ParamsError(f"unknown profile {profile!r}; known: {', '.join(config.PROFILES)}"
                          + (f" (did you mean '{close[0]}'?)" if close else ""))
    known = profile_pairings(profile)
    for name in dict.fromkeys(pairings or known):  # a pairing named twice runs once
        pairing, _, only = name.partition(".")  # a pairing with its variants, or one run: pairing.variant
        if only and only not in variants(profile, pairing):
            raise ParamsError(f"--pairing {name}: no variant {only!r} of {pairing} in params/variants/ or params/{profile}/ "
                              f"(variants of {pairing}: {', '.join(variants(profile, pairing)) or 'none'})")
        for variant in [only] if only else ["", *(variants(profile, pairing) if with_variants else [])]:
            base = Params.load(profile, pairing, variant=variant)
            for seed in dict.fromkeys(seeds or [base.seed]):
                params = base if seed == base.seed else base.replace(origin="command line (--seed)", seed=seed)
                params = params.replace(origin="command line (--resume)", resume=True) if resume else params
                preflight(params)
                runs.append(params)
    return runs


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # a name of its own: two runs may check at once
            pass
    except OSError as err:
        raise PermissionError(f"output folder {out}: cannot write there: {err}") from None


def longest_first(runs: list[Params]) -> list[Params]:
    """The runs in the order that ends a parallel study soonest: the longest first, by the time each took when
    it was last published (its record's ``timings.total_seconds``), runs never published before the rest."""
    def seconds(params: Params) -> float:
        try:
            rec = json.loads((config.report_dir(params.profile) / f"{params.run_name}.json").read_text(encoding="utf-8"))
            return float(rec["timings"]["total_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return float("inf")
    return sorted(runs, key=seconds, reverse=True)  # stable: ties keep the study's order


def describe(params: Params) -> str:
    """A run, its notebook, its params file and its cell of the grid, as the progress lines name it."""
    folder = config.PARAMS_DIR / params.profile
    source = variant_file(folder, params.pairing, params.variant) if params.variant else folder / f"{params.pairing}.yaml"
    return f"{params.run_name}: notebooks/{params.pairing}.ipynb with {shown(source)} ({params.data_set} × {params.loss})"
