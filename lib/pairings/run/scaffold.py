"""``python -m pairings new NAME --data FILE --loss LOSS``: a user's own pairing, without library code.

It checks the file and the loss as a run would (before writing anything), then writes
``params/quick/NAME.yaml``, ``params/local/NAME.yaml`` and ``notebooks/NAME.ipynb`` from the generic
template (``templates/pairing.ipynb``). It edits no existing file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from importlib import resources
from pathlib import Path

import yaml

from pairings import config, losses
from pairings import data as data_sets
from pairings.params import Params, ParamsError

QUICK_SIZES = {"train_pairs": 256, "test_pairs": 200}
NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")
# names a profile's reports folder holds already: a pairing so named would overwrite its page
RESERVED = ("index", "summary", "figures", "reproduced")


def new_pairing(name: str, data: str, loss: str) -> list[Path]:
    if not NAME.fullmatch(name):
        raise ParamsError(f"pairing name {name[:80]!r}: use 1 to 64 lowercase letters, digits, '_' or '-', starting with "
                          f"a letter or digit (e.g. my-pairs)")
    if name in RESERVED:
        raise ParamsError(f"pairing name {name!r}: reserved (reports/<profile>/{name}.html is the study's own); "
                          f"choose another name")
    path = Path(data).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"--data {data}: no such file")
    try:
        source = str(path.relative_to(config.PROJ_ROOT))
    except ValueError:
        source = str(path)
    targets = [config.PARAMS_DIR / "quick" / f"{name}.yaml", config.PARAMS_DIR / "local" / f"{name}.yaml",
               config.NOTEBOOKS_DIR / f"{name}.ipynb"]
    if name in data_sets.seed_pairings() or any(t.exists() for t in targets):
        raise ParamsError(f"pairing {name!r} exists already ({', '.join(str(t) for t in targets if t.exists()) or 'a seed pairing'}); "
                          "choose another name")
    own = {"data_set": "file", "train_data": source, "loss": loss}
    for profile, extra in (("quick", QUICK_SIZES), ("local", {})):
        params = Params.from_layers([(f"python -m pairings new {name}", {"pairing": name, "profile": profile, **own, **extra})])
        data_sets.get("file").prepare(params)  # the file, its columns and the loss checked before anything is written
    header = f"# {name}: {json.dumps(source, ensure_ascii=False)} under {losses.get(loss).label}, made by `python -m pairings new`.\n"
    quick = header + yaml.safe_dump({**own, **QUICK_SIZES}, sort_keys=False, allow_unicode=True)
    local = header + yaml.safe_dump(own, sort_keys=False, allow_unicode=True)
    template = resources.files("pairings").joinpath("templates/pairing.ipynb").read_text(encoding="utf-8")
    notebook = json.loads(template)
    for cell in notebook["cells"]:
        cell["source"] = (cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])).replace(
            "{name}", name).replace("{loss_name}", losses.get(loss).label).replace("{data}", source)
    texts = [quick, local, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"]
    written: list[Path] = []
    try:  # each file created, never overwritten: a second `new` of the same name at once finds the first's
        for target, text in zip(targets, texts):
            with open(target, "x", encoding="utf-8") as f:
                written.append(target)
                f.write(text)
    except OSError as err:  # none of this pairing's files is left half-made
        for path in written:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if isinstance(err, FileExistsError):
            raise ParamsError(f"pairing {name!r} exists already ({err.filename}); choose another name") from None
        raise
    return targets
