"""``python -m pairings new NAME --data FILE --loss LOSS``: a user's own pairing, without library code.

It checks the file and the loss as a run would (before writing anything), then writes
``params/quick/NAME.yaml``, ``params/local/NAME.yaml`` and ``notebooks/NAME.ipynb`` from the generic
template (``templates/pairing.ipynb``). It edits no existing file.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

from pairings import config, losses
from pairings import data as data_sets
from pairings.params import Params, ParamsError

QUICK_SIZES = {"train_pairs": 256, "test_pairs": 200}


def new_pairing(name: str, data: str, loss: str) -> list[Path]:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", name):
        raise ParamsError(f"pairing name {name!r}: use lowercase letters, digits, '_' or '-' (e.g. my-pairs)")
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
    header = f"# {name}: {source} under {losses.get(loss).label}, made by `python -m pairings new`.\n"
    body = "".join(f"{k}: {v}\n" for k, v in own.items())
    targets[0].write_text(header + body + "".join(f"{k}: {v}\n" for k, v in QUICK_SIZES.items()), encoding="utf-8")
    targets[1].write_text(header + body, encoding="utf-8")
    template = resources.files("pairings").joinpath("templates/pairing.ipynb").read_text(encoding="utf-8")
    notebook = json.loads(template)
    for cell in notebook["cells"]:
        cell["source"] = (cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])).replace(
            "{name}", name).replace("{loss_name}", losses.get(loss).label).replace("{data}", source)
    targets[2].write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return targets
