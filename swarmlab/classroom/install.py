"""The hub's parts, from their registries:

- a Python environment every student may run (the hub, each student's JupyterLab and kernel, and
  the teacher's page run from it): a venv on the system's python3 with swarmlab and its
  `classroom`, `lessons` and `grading` extras from PyPI (jupyterhub, jupyterhub-idle-culler,
  JupyterLab, nbgrader: its Assignments list in every student's JupyterLab).
  Not the Python that runs this command when students cannot run it (e.g. pyenv under /root);
- configurable-http-proxy from the npm registry, into a prefix of the classroom's own (never a
  global npm install).
"""
from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

from ..errors import ClassroomError

MODULES = ("jupyterhub", "jupyterhub_idle_culler", "jupyterlab", "nbgrader", "ipykernel", "nbformat", "pandas")
PROXY_PACKAGE = "configurable-http-proxy"
SOURCE = Path(__file__).resolve().parents[2]  # the checkout swarmlab runs from (pyproject.toml beside it)
SYSTEM_CACHE = Path("/var/cache/swarmlab")


def readable_by_all(path: Path) -> bool:
    """Every user may reach `path` and read it: each folder on the way searchable by others."""
    path = path.resolve()
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH or (folder == path and not mode & stat.S_IROTH):
            return False
    return True


def shared_cache(checkout: Path = SOURCE) -> Path:
    """Where the students' environment and the proxy are kept between classrooms (tests, benchmarks):
    the checkout's .cache when every user may read it, else /var/cache/swarmlab (a checkout under
    /root is the students' to read neither)."""
    return checkout / ".cache" if readable_by_all(checkout) else SYSTEM_CACHE


def prepare_cache(say=print) -> None:
    """`make test-install`: the students' environment and the proxy in the shared cache, once."""
    cache = shared_cache()
    environment(cache / "classroom-venv", "/usr/bin/python3", say)
    proxy(cache / "chp", say)


def environment(venv: Path, base_python: str, say=print) -> str:
    """`venv`'s python, with every module the classroom needs (made, or completed, when not)."""
    python = venv / "bin" / "python"
    if python.exists() and _has_modules(str(python)):
        return str(python)
    if not (SOURCE / "pyproject.toml").exists():
        raise ClassroomError(f"{venv} lacks the classroom's modules and no swarmlab checkout is here to install "
                             f"from: pass --venv an environment with swarmlab[classroom,lessons,grading]")
    if not python.exists():
        say(f"making the students' Python environment {venv} (on {base_python})")
        _run([base_python, "-m", "venv", str(venv)], "python3 -m venv")
    say(f"installing swarmlab[classroom,lessons,grading] and their packages from PyPI into {venv}")
    _run([str(python), "-m", "pip", "install", "--quiet", f"{SOURCE}[classroom,lessons,grading]"], "pip install")
    return str(python)


def _has_modules(python: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(any(importlib.util.find_spec(m) is None for m in {MODULES!r}))"
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


def proxy(prefix: Path, say=print) -> Path:
    """configurable-http-proxy under `prefix` (npm install --prefix, once); its path."""
    prefix = prefix.absolute()
    command = prefix / "node_modules" / ".bin" / PROXY_PACKAGE
    if command.exists():
        return command
    if not shutil.which("npm"):
        raise ClassroomError("configurable-http-proxy comes from npm, and npm is missing: "
                             "`apt-get install npm`, or Node.js with its npm (make test-install installs it where it is missing)")
    prefix.mkdir(parents=True, exist_ok=True)
    say(f"installing {PROXY_PACKAGE} from the npm registry into {prefix}")
    _run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
          PROXY_PACKAGE], "npm install")
    if not command.exists():
        raise ClassroomError(f"npm installed {PROXY_PACKAGE} but {command} is missing")
    return command


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ClassroomError(f"{what} failed ({tail[0]}); run `{' '.join(command)}` to see why")
