"""The params folders on disk: ``params/<profile>/_profile.yaml``, each pairing's file, the variants every profile
shares (``params/variants/``) or a profile's own, read strictly, as the layers ``Params`` stacks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pairings import config
from pairings import data as data_sets
from pairings.data import strict_yaml

PROFILE_FILE = "_profile.yaml"
VARIANTS = "variants"  # params/variants/: the variants every profile with their pairing's file shares


class ParamsError(ValueError):
    """A parameter is wrong; the message names the key and where it came from."""


def read_yaml(path: Path) -> dict:
    try:
        data = strict_yaml.load(path)
    except strict_yaml.YAMLInputError as err:
        raise ParamsError(str(err)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of parameter: value, got {type(data).__name__}")
    return data


def shown(path: Path) -> str:
    """A path as messages show it: relative to the project where it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(config.PROJ_ROOT.resolve()))
    except ValueError:
        return str(path)


def file_layers(folder: Path, pairing: str, variant: str = "") -> list[tuple[str, dict]]:
    """The layers a profile folder gives a pairing: its _profile.yaml, the pairing's file, the variant's."""
    profile = folder.name
    layers = []
    shared = folder / PROFILE_FILE
    if shared.is_file():
        data = read_yaml(shared)
        for key in data:
            if key in ("pairing", "variant", "data_set", *data_set_options()):
                raise ParamsError(f"{shared}: parameter '{key}' cannot be set for a whole profile; set it in a pairing's file")
        layers.append((shown(shared), data))
    paths = [folder / f"{pairing}.yaml"] + ([variant_file(folder, pairing, variant)] if variant else [])
    for path in paths:
        if not path.exists() and path == paths[0] and variant:
            raise ParamsError(f"{path}: params file not found (the variant {variant!r} needs its pairing's file)")
        layers.append((shown(path), read_yaml(path)))
    implied = {"pairing": pairing, "profile": profile, "variant": variant}
    for origin, data in layers:
        for key in ("pairing", "profile", "variant"):
            if key in data and data[key] != implied[key]:
                raise ParamsError(f"{origin}: parameter '{key}' is {data[key]!r} but the file's place says {implied[key]!r}")
    return [(f"{shown(paths[-1])} (its place)", implied), *layers]


def variant_file(folder: Path, pairing: str, variant: str) -> Path:
    """A variant's file: the profile's own (``params/<profile>/<pairing>.<variant>.yaml``) where it has one, else
    the one every profile shares (``params/variants/``)."""
    own = folder / f"{pairing}.{variant}.yaml"
    return own if own.exists() else config.PARAMS_DIR / VARIANTS / own.name


def pairings(profile: str) -> list[str]:
    """The pairings a profile has a params file for: the seed pairings first, in the cards' order."""
    folder = config.PARAMS_DIR / profile
    found = {p.stem for p in folder.glob("*.yaml") if "." not in p.stem and not p.name.startswith("_")}
    seeds = list(data_sets.seed_pairings())
    return [p for p in seeds if p in found] + sorted(found - set(seeds))


def variants(profile: str, pairing: str) -> list[str]:
    """The variants of a pairing in a profile that has its file: those every profile shares (``params/variants/``)
    and the profile's own."""
    if not (config.PARAMS_DIR / profile / f"{pairing}.yaml").is_file():
        return []
    folders = (config.PARAMS_DIR / VARIANTS, config.PARAMS_DIR / profile)
    return sorted({p.stem.partition(".")[2] for folder in folders for p in folder.glob(f"{pairing}.*.yaml")})


def data_set_options() -> set[str]:
    """The options of every data set (a data set's ``Options``): a profile cannot set them for every pairing."""
    return {f.name for spec in data_sets.registry().values() for f in dataclasses.fields(spec.Options)}
