"""A classroom's limits for each student: how many labs, nodes per lab and MB of lab memory.

The limits live in one file that only root may write (LIMITS, root's, not writable by group or
others); `swarmlab classroom setup` writes it. `Lab(...)` reads it for a plain user whose lab runs
on this machine and refuses, in one line, a lab that would put that user over a limit. Memory is
counted as `lab up` counts it (capacity.NODE_MEMORY_MB per node). These limits hold for swarmlab's
own `lab up`: they keep a class fair, they are not a wall against a student who runs `unshare` by
hand (cgroups would be; this machine's cgroup v1 gives a plain user none).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import LabError
from .capacity import NODE_MEMORY_MB

LIMITS = Path("/etc/swarmlab/limits.json")


@dataclass(frozen=True)
class Limits:
    labs: int = 1
    nodes: int = 2
    memory_mb: int = 2 * NODE_MEMORY_MB


def trusted_text(path: Path = LIMITS) -> str | None:
    """The limits file's text, or None when there is none; refused when others could have written it."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    folder = path.parent.lstat()
    for what, st in ((path, info), (path.parent, folder)):
        if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or stat.S_ISLNK(st.st_mode):
            raise LabError(f"the classroom limits {path} cannot be trusted: {what} must be root's and writable by "
                           f"root only; ask the teacher to run `swarmlab classroom setup` again")
    return path.read_text()


def limits_for(user: str, path: Path = LIMITS) -> Limits | None:
    """This user's limits, or None when the user is no student of a classroom here."""
    text = trusted_text(path)
    if text is None:
        return None
    found = json.loads(text).get("students", {}).get(user)
    return Limits(**found) if found is not None else None


def check_lab(nodes: int, labs_up: dict[str, int], name: str, user: str | None = None,
              path: Path = LIMITS) -> None:
    """Refuse a lab of `nodes` nodes named `name` when, with the user's labs already up
    (`labs_up`: name -> nodes), it would pass one of the user's limits."""
    if os.geteuid() == 0:
        return  # root is the teacher: the limits are for students
    user = user or pwd.getpwuid(os.geteuid()).pw_name
    limits = limits_for(user, path)
    if limits is None:
        return
    others = {lab: n for lab, n in labs_up.items() if lab != name}
    memory = (nodes + sum(others.values())) * NODE_MEMORY_MB
    where = f"your classroom limit (set by your teacher in {path})"
    if len(others) + 1 > limits.labs:
        raise LabError(f"lab {name}: you may have {limits.labs} lab(s) up at once, {where}; labs up now: "
                       f"{', '.join(sorted(others))}; take one down with `swarmlab lab down --name NAME`")
    if nodes > limits.nodes:
        raise LabError(f"lab {name}: {nodes} nodes is over {where} of {limits.nodes} nodes per lab; "
                       f"ask for --nodes {limits.nodes} or fewer")
    if memory > limits.memory_mb:
        raise LabError(f"lab {name}: {memory} MB of lab memory ({NODE_MEMORY_MB} MB a node) is over {where} of "
                       f"{limits.memory_mb} MB; take a lab down or ask for fewer nodes")


def write(students: dict[str, Limits], path: Path = LIMITS) -> None:
    """Set these students' limits (others' entries kept), as root: the folder and file root's, 0755/0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chown(path.parent, 0, 0)
    path.parent.chmod(0o755)
    with _locked(path.parent):  # two classrooms set up at once keep each other's students
        current = json.loads(path.read_text()) if path.exists() else {}
        current.setdefault("students", {}).update({user: asdict(limit) for user, limit in students.items()})
        _replace(path, current)


def remove(users, path: Path = LIMITS) -> None:
    """Forget these students' limits; the file goes when no student is left in it."""
    if not path.exists():
        return
    with _locked(path.parent):
        current = json.loads(path.read_text()) if path.exists() else {}
        for user in users:
            current.get("students", {}).pop(user, None)
        if current.get("students"):
            _replace(path, current)
            return
        path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()  # setup made it; another file there keeps it
    except OSError:
        pass


@contextlib.contextmanager
def _locked(folder: Path):
    """An exclusive lock on the folder itself (no lock file to leave behind)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _replace(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.chown(tmp, 0, 0)
    tmp.chmod(0o644)
    os.replace(tmp, path)
