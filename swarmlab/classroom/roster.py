"""The class: who the students and the teacher are, and their Unix accounts.

Two ways, as a class needs: students who already have accounts here log in with their own
password (PAM); or a class list whose missing accounts `setup --create-accounts` makes, each
with a random password. Those passwords are handed out once: printed on the terminal that ran
setup and written to a file only root may read (0600); they are never stored anywhere else.
Every account a student uses gets a home only they may enter (0700) and the 65536 subordinate
uids and gids their user-namespace lab needs.
"""
from __future__ import annotations

import os
import pwd
import re
import secrets
import subprocess
from pathlib import Path

from ..errors import ClassroomError
from ..userns_check import subordinate_range

NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")
SUBIDS = 65536
FIRST_SUBID = 100000


def read_class_list(text: str) -> list[str]:
    """Names, one a line (`#` starts a comment; blank lines skipped); each a valid Unix name, once."""
    names = []
    for number, line in enumerate(text.splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not NAME.match(name):
            raise ClassroomError(f"class list line {number}: {name!r} is not a user name (lower-case letters, "
                                 f"digits, _ and -, starting with a letter or _, at most 31 characters)")
        if name in names:
            raise ClassroomError(f"class list line {number}: {name} is listed twice")
        names.append(name)
    if not names:
        raise ClassroomError("the class list names no student")
    return names


def exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def missing(names) -> list[str]:
    return [n for n in names if not exists(n)]


def create(name: str) -> str:
    """Make the account `name` with a random password; return the password (shown once by the caller)."""
    password = secrets.token_urlsafe(12)
    run(["useradd", "--create-home", "--shell", "/bin/bash", name])
    try:
        # chpasswd reads the pair on stdin: the password is never on a command line (ps shows those).
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        remove(name)
        raise ClassroomError(f"could not set {name}'s password: {exc.stderr.strip()}") from None
    return password


def prepare(name: str) -> None:
    """What a student's account needs, made if missing: a home of their own only (0700), subordinate ids."""
    home = Path(pwd.getpwnam(name).pw_dir)
    if home.is_dir():
        home.chmod(0o700)
    for kind, option in (("subuid", "--add-subuids"), ("subgid", "--add-subgids")):
        found = subordinate_range(name, kind)
        if found is None or found[1] < SUBIDS:
            start = free_subordinate_start(Path(f"/etc/{kind}"))
            run(["usermod", option, f"{start}-{start + SUBIDS - 1}", name])


def free_subordinate_start(path: Path, text: str | None = None) -> int:
    """The first id past every range in /etc/subuid (or subgid): a new range overlaps none."""
    text = path.read_text() if text is None and path.exists() else (text or "")
    end = FIRST_SUBID
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            end = max(end, int(parts[1]) + int(parts[2]))
    return end


def remove(name: str) -> None:
    """Remove an account setup made, its home and its subordinate ids (its lab's files in the home
    belong to those ids: a user namespace of the student's removes them first)."""
    if not exists(name):
        return
    info = pwd.getpwnam(name)
    subprocess.run(["setpriv", f"--reuid={info.pw_uid}", f"--regid={info.pw_gid}", "--clear-groups",
                    "unshare", "--user", "--map-root-user", "--map-auto", "rm", "-rf", "--one-file-system",
                    info.pw_dir], capture_output=True, cwd="/")
    options = []
    for kind, option in (("subuid", "--del-subuids"), ("subgid", "--del-subgids")):
        found = subordinate_range(name, kind)
        if found:
            options += [option, f"{found[0]}-{found[0] + found[1] - 1}"]
    if options:
        subprocess.run(["usermod", *options, name], capture_output=True)
    run(["userdel", "--remove", name])


def write_passwords(folder: Path, passwords: dict[str, str], stamp: str) -> Path:
    """The new accounts' passwords, in a file only root may read (created 0600, never wider)."""
    path = folder / f"passwords-{stamp}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{name}\t{password}\n" for name, password in passwords.items()))
    return path


def run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ClassroomError(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.stdout.strip()}")
