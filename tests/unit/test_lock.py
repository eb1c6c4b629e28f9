"""requirements.lock pins every dependency of pyproject.toml, and this environment has exactly its versions.

environment.yml against pyproject.toml is tests/test_environment.py's job. Refresh the lock with `make lock`.
"""

import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pairings import config


def locked():
    lines = (config.PROJ_ROOT / "requirements.lock").read_text().splitlines()
    return {canonicalize_name(r.name): r for r in map(Requirement, (x for x in lines if x[:1].isalnum()))}


def test_every_dependency_of_pyproject_is_pinned():
    project = tomllib.loads((config.PROJ_ROOT / "pyproject.toml").read_text())["project"]
    wanted = {canonicalize_name(Requirement(r).name)
              for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    assert wanted - set(locked()) == set()


def installed(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_installed_versions_are_the_locked_ones():
    # `==2.13.0` also admits a local build such as 2.13.0+cpu (PEP 440): the CPU torch that `make setup` takes.
    mismatches = [f"package {name}: locked {str(req.specifier)[2:]}, installed {installed(name) or 'nothing'}"
                  for name, req in sorted(locked().items())
                  if installed(name) is None or not req.specifier.contains(installed(name), prereleases=True)]
    assert not mismatches, "this environment drifted from requirements.lock:\n" + "\n".join(mismatches)
