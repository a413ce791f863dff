"""`classroom setup` and `classroom remove`: the classroom's folder, parts, accounts and limits."""
from __future__ import annotations

import os
import secrets
import time
from dataclasses import asdict
from pathlib import Path

from ..errors import ClassroomError
from ..lab import limits
from . import install, roster, tls
from .config import API_OFFSET, HUB_OFFSET, TEACHER_OFFSET, Classroom
from . import release

CONFIG_FILE = """# Made by `swarmlab classroom setup`; the settings are in classroom.json.
from swarmlab.classroom.hubconfig import configure
configure(c, {path!r})
"""


def setup(folder: Path, teacher: str, students: list[str], *, create_accounts: bool, port: int,
          idle_timeout: int, student_limits: limits.Limits, proxy_prefix: Path | None, venv: Path | None,
          base_python: str = "/usr/bin/python3", listen: str = "127.0.0.1", tls_mode: str | None = None,
          tls_cert: str | None = None, tls_key: str | None = None, insecure_http: bool = False,
          say=print) -> Classroom:
    """Everything `start` needs. A failure removes what this call made (accounts included)."""
    if os.geteuid() != 0:
        raise ClassroomError("the classroom runs each student's server as that student: set it up as root")
    tls.check(listen, tls_mode, tls_cert, tls_key, insecure_http)
    roster.read_class_list(teacher)  # the teacher's name is checked as a student's is
    if not 1024 <= port <= 65535 - HUB_OFFSET:
        raise ClassroomError(f"--port {port}: give a port from 1024 to {65535 - HUB_OFFSET} (the hub takes port+{HUB_OFFSET})")
    if teacher in students:
        raise ClassroomError(f"{teacher} is both the teacher and a student: name the teacher apart")
    absent = roster.missing([teacher, *students])
    if absent and not create_accounts:
        raise ClassroomError(f"no account for {', '.join(absent)}: make them, or pass --create-accounts "
                             f"(random passwords, shown once)")
    made: list[str] = []
    earlier = _earlier(folder)
    new_folder = not folder.exists()
    try:
        python = install.environment(venv or folder / "venv", base_python, say)
        proxy = install.proxy(proxy_prefix or folder / "proxy", say)
        room = _folder(folder, teacher, students, port, idle_timeout, student_limits, proxy, python)
        _serving(room, listen, tls_mode, tls_cert, tls_key, insecure_http, say)
        passwords = {}
        for name in absent:
            passwords[name] = roster.create(name)
            made.append(name)
        for name in [teacher, *students]:  # the teacher grades on a userns lab of their own
            roster.prepare(name)
        _can_run(room, students[0])
        _can_run(room, teacher)
        room.created = [*earlier, *made]  # a second setup keeps what the first made, for remove
        limits.write({name: student_limits for name in students})
        release.prepare(room, say)
        release.hand_out_to_all(room, students, say)
        room.save()
        if passwords:
            path = roster.write_passwords(room.path, passwords, time.strftime("%Y%m%d-%H%M%S"))
            say("new accounts (shown once; also in " + str(path) + ", which only root may read):")
            for name, password in passwords.items():
                say(f"  {name}\t{password}")
        return room
    except BaseException:
        for name in made:
            roster.remove(name)
        if not earlier:
            limits.remove(students)
        if new_folder:
            import shutil
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _earlier(folder: Path) -> list[str]:
    """The accounts an earlier setup of this folder made."""
    from .config import load
    try:
        return list(load(str(folder)).created)
    except ClassroomError:
        return []


def _folder(folder: Path, teacher, students, port, idle_timeout, student_limits, proxy, python) -> Classroom:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o711)  # students pass through to their progress folder, and list nothing
    hub = folder / "hub"
    hub.mkdir(exist_ok=True, mode=0o700)
    for secret in ("proxy_token", "api_token"):
        path = hub / secret
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    (folder / "progress").mkdir(exist_ok=True, mode=0o755)
    (folder / "progress").chmod(0o755)  # root's: a student cannot make a folder for another
    (folder / "jupyterhub_config.py").write_text(CONFIG_FILE.format(path=str(folder / "classroom.json")))
    return Classroom(dir=str(folder), teacher=teacher, students=list(students), port=port,
                     hub_port=port + HUB_OFFSET, api_port=port + API_OFFSET, teacher_port=port + TEACHER_OFFSET,
                     idle_timeout=idle_timeout,
                     limits=asdict(student_limits), proxy=str(proxy), python=python,
                     pythonpath=_source_folder())


def _serving(room: Classroom, listen, tls_mode, cert, key, insecure_http, say) -> None:
    room.ip, room.insecure_http = listen, insecure_http
    if tls_mode == tls.SELF_SIGNED:
        made_cert, made_key = tls.self_signed(room.path / "tls", listen)
        cert, key = str(made_cert), str(made_key)
        say(f"self-signed certificate: {made_cert} (hand it to the students to trust; docs/classroom.md says how)")
    room.tls_cert = str(Path(cert).absolute()) if cert else ""
    room.tls_key = str(Path(key).absolute()) if key else ""


def _can_run(room: Classroom, student: str) -> None:
    """A student (and the teacher, who grades) must be able to start the classroom's Python and import
    what their server needs."""
    import subprocess
    from .labs import as_student, student_env
    probe = "import jupyterhub, jupyterlab, nbgrader, swarmlab.lessons, swarmlab.classroom.student"
    done = subprocess.run(as_student(student, [room.python, "-c", probe]), capture_output=True, text=True,
                          cwd="/", env=student_env(student, room.python, room.pythonpath))
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClassroomError(f"{student} cannot run the classroom's Python {room.python} ({said}): "
                             f"every folder on its way, and swarmlab's, must be readable by all")


def _source_folder() -> str:
    """swarmlab's folder for the students' kernels when it runs from a checkout every user may read
    (PYTHONPATH: the students run this very code), else nothing (the copy installed in the venv)."""
    here = install.SOURCE
    if "site-packages" in here.parts or "dist-packages" in here.parts or not install.readable_by_all(here / "swarmlab"):
        return ""
    return str(here)


def remove(room: Classroom, say=print) -> None:
    """Undo setup: the limits, the accounts setup made (homes and all), the folder."""
    import shutil
    limits.remove(room.students)
    for name in room.created:
        roster.remove(name)
        say(f"removed account {name}")
    shutil.rmtree(room.path, ignore_errors=True)
    if room.path.exists():
        raise ClassroomError(f"could not remove {room.path}")
