"""A student's labs, from root's side: every action runs as the student (student.py), with the
student's uid, groups, home and a plain environment, never as root in the student's files."""
from __future__ import annotations

import json
import os
import pwd
import subprocess

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def student_env(name: str, python: str, pythonpath: str = "") -> dict[str, str]:
    info = pwd.getpwnam(name)
    env = {"HOME": info.pw_dir, "USER": name, "LOGNAME": name, "LANG": "C.UTF-8",
           "PATH": f"{os.path.dirname(python)}:{SAFE_PATH}"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def as_student(name: str, command: list[str]) -> list[str]:
    """`command` with the student's uid, gid and groups (setpriv: no PAM session, no password)."""
    return ["setpriv", f"--reuid={name}", f"--regid={pwd.getpwnam(name).pw_gid}", "--init-groups", *command]


def run(room, name: str, action: list[str], timeout: float = 120):
    """Run student.py's `action` as student `name` with the classroom's Python (one every student
    may run); its JSON answer (a dict with "error" when it failed)."""
    command = as_student(name, [room.python, "-m", "swarmlab.classroom.student", *action])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/",
                              env=student_env(name, room.python, room.pythonpath))
    except subprocess.TimeoutExpired:
        return {"error": f"{' '.join(action)} took over {timeout:.0f} s"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (done.stderr.strip().splitlines() or ["no answer"])[-1]}


def run_for_each(room, names: list[str], action: list[str], timeout: float = 120) -> dict:
    """`run` for every student at once (each in a process of its own): a class waits for its slowest
    student's answer, not for the sum of them."""
    from concurrent.futures import ThreadPoolExecutor
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return dict(zip(names, pool.map(lambda name: run(room, name, action, timeout), names)))
