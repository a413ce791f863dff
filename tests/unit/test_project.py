"""The project's own promises: dependencies in step, README commands true, CI wired."""
from __future__ import annotations

import re
import tomllib

import yaml

from conftest import ROOT

# conda-forge spells some packages differently from PyPI.
CONDA_NAMES = {"docker": "docker-py"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {CONDA_NAMES.get(_name(r), _name(r)): r for r in reqs}


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip"))]
    return {_name(d): d for d in deps}


def test_environment_yml_mirrors_pyproject():
    py, conda = _pyproject_requirements(), _conda_requirements()
    assert sorted(py) == sorted(conda), "environment.yml and pyproject.toml list different packages"
    for name, req in py.items():
        spec = req[len(_name(req)):].split("[")[0] if "[" not in req else req.split("]")[1]
        assert conda[name].endswith(spec.strip()), f"{name}: pyproject says {req!r}, environment.yml {conda[name]!r}"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make lessons" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lessons: install", makefile, re.M) and re.search(r"^test: install", makefile, re.M)
