"""The project's own promises: dependencies in step, README commands that run, CI wired."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from conftest import ROOT
from swarmlab.cli import main as cli_main

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


def readme_commands() -> list[str]:
    """The command lines of the README's ```sh blocks, without their comments."""
    readme = (ROOT / "README.md").read_text()
    return [line.split("  #")[0].strip() for block in re.findall(r"```sh\n(.*?)```", readme, re.S)
            for line in block.splitlines() if line.strip()]


def make_dry_run(target: str) -> list[str]:
    """What `make TARGET` would run (make -n), line by line."""
    ran = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, f"make -n {target}: {ran.stderr}"
    return [line.strip() for line in ran.stdout.splitlines()]


def test_the_two_make_commands_run_the_lessons_and_every_test():
    assert [c for c in readme_commands() if c.startswith("make ")] == ["make lessons", "make test"]
    assert ".venv/bin/swarmlab lessons run" in make_dry_run("lessons")
    runs = [line for line in make_dry_run("test") if " -m pytest" in line]
    assert runs == [".venv/bin/python -m pytest -q -n 2 --dist loadgroup"], runs  # no path: the whole suite


def test_ci_runs_make_test_from_the_checkout(tmp_path):
    """.ci/run with a `make` that writes down where and how it was called."""
    log = tmp_path / "make.log"
    (tmp_path / "make").write_text(f'#!/bin/sh\necho "$(pwd) $*" >> {log}\n')
    (tmp_path / "make").chmod(0o755)
    ran = subprocess.run([str(ROOT / ".ci" / "run")], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert log.read_text().splitlines() == [f"{ROOT} test"]


def help_of(path: list[str], capsys) -> str:
    """What `swarmlab PATH --help` prints (the CLI's own parser, in this process)."""
    with pytest.raises(SystemExit) as done:
        cli_main([*path, "--help"])
    assert done.value.code == 0, f"swarmlab {' '.join(path)} --help exited {done.value.code}"
    return capsys.readouterr().out


def test_every_swarmlab_command_in_the_readme_exists_with_its_options(capsys):
    commands = [c for c in readme_commands() if c.startswith("swarmlab ")]
    assert len(commands) >= 10
    for command in commands:
        words = command.split()[1:]
        path = words[:2] if words[0] in ("lab", "fix", "lessons", "drill", "classroom") else words[:1]
        shown = help_of(path, capsys)
        for option in re.findall(r"--[a-z-]+", command):
            assert option in shown, f"`{command}`: `swarmlab {' '.join(path)}` has no {option}"


def test_the_readmes_fault_list_is_the_registry(capsys):
    inject = next(line for line in (ROOT / "README.md").read_text().splitlines()
                  if line.startswith("swarmlab lab inject"))
    listed = [name.strip() for name in inject.split("#", 1)[1].split(",")]
    assert cli_main(["lab", "faults"]) == 0
    faults = capsys.readouterr().out
    assert sorted(listed) == sorted(line.split()[0] for line in faults.splitlines() if line.strip())


def test_importing_swarmlab_leaves_docker_py_paramiko_and_nbformat_unloaded():
    """Every CLI call and lesson kernel imports swarmlab; docker-py and paramiko (0.3 s of a
    1.3 s start) load only when the docker driver, an SSH host or a Docker API is used, and
    nbformat (with jsonschema's format checks, 2 s of a 2.8 s `swarmlab lab exec` on this machine)
    and nbconvert only when a notebook is read or written."""
    script = ("import sys, swarmlab, swarmlab.cli, swarmlab.lessons, swarmlab.doctor; "
              "print(' '.join(m for m in ('docker', 'paramiko', 'nbformat', 'nbconvert', 'jsonschema') "
              "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"imported at start: {out.stdout.strip()}"


def test_a_swarmlab_command_that_reads_notebooks_skips_the_slow_iri_checker(tmp_path):
    """`swarmlab lessons strip` reads every lesson with nbformat (so jsonschema loads) without
    rfc3987_syntax (swarmlab/startup.py); a process that only imports swarmlab keeps the checker."""
    command = ("import sys; from swarmlab.cli import main; assert main(['lessons', 'strip', '--out', sys.argv[1]]) == 0; "
               "print('jsonschema' in sys.modules, sys.modules.get('rfc3987_syntax', 'absent'))")
    out = subprocess.run([sys.executable, "-c", command, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split()[-2:] == ["True", "None"], out.stdout + out.stderr
    library = subprocess.run([sys.executable, "-c", "import sys, swarmlab, nbformat, jsonschema; "
                              "print(type(sys.modules.get('rfc3987_syntax')).__name__)"],
                             capture_output=True, text=True, cwd=ROOT, check=True)
    assert library.stdout.strip() == "module"  # swarmlab as a library changes nothing in its user's process


def documented_imports() -> list[str]:
    """Every `from swarmlab... import ...` line in the README and docs/ (code a user copies)."""
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return sorted({line.strip() for path in texts for line in path.read_text().splitlines()
                   if re.match(r"\s*from swarmlab(\.\w+)* import \w", line)})


def test_every_import_the_docs_show_works():
    lines = documented_imports()
    assert "from swarmlab import Recorder" in lines
    for line in lines:
        exec(line, {})  # an ImportError names the line a user would copy in vain


def test_the_readmes_layout_names_every_part_of_the_package_and_nothing_else():
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout\n", 1)[1].split("```")[1]
    named = set(re.findall(r"\b([a-z][a-z0-9_]*(?:\.py|/))", layout))
    package = ROOT / "swarmlab"
    parts = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    parts |= {p.name + "/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    parts |= {p.name + "/" for p in (package / "lab").iterdir() if (p / "__init__.py").is_file()}
    assert sorted(parts - named) == [], "the README's Layout leaves these out"
    tree = {p.name for p in ROOT.rglob("*.py") if ".venv" not in p.parts} | {
        p.name + "/" for p in ROOT.rglob("*") if p.is_dir() and ".venv" not in p.parts}
    assert sorted(named - tree) == [], "the README's Layout names what is not in the tree"
