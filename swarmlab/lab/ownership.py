"""Who owns a lab name right now: an identity written at creation, and a lock around every change.

A lab name can be taken down (`swarmlab lab down`) and built again by someone else
while an earlier `up` of that name is still running. So every lab gets a random id
when it is created, written into its state.json; every later step of the `up` that
built it, and its rollback, first checks under the name's lock that the id on disk is
still its own. Teardown takes the same lock, so "check, then create" in an `up` can
never interleave with a `down`: once a lab was taken down or replaced, its old `up`
creates nothing more and destroys nothing that is not its own.

Nothing here knows about namespaces: a lab driver gives a folder (under `state_root()`,
where this user's labs keep their state), and decides what "build" and "tear down" mean.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import pwd
import re
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from ..errors import LabError, LabReplacedError

STATE_FILE = "state.json"
STATE_ROOT = Path("/run/swarmlab")  # root's labs, of every driver


def state_root() -> Path:
    """Where this user's labs keep their state file: /run/swarmlab for root, else ~/.local/state."""
    if os.geteuid() == 0:
        return STATE_ROOT
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "swarmlab" / "labs"


class Owner(NamedTuple):
    """Who made a lab: a user of a machine (a Docker engine may be shared by several of each)."""

    user: str
    host: str
    uid: int | None  # None: not recorded

    def __str__(self) -> str:
        return f"{self.user}@{self.host}" + ("" if self.uid is None else f" (uid {self.uid})")

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}"


def caller() -> Owner:
    """This process's user on this machine: the owner of the labs it makes."""
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no account (a container's, a test's): the number names it
        user = f"uid{uid}"
    return Owner(user, socket.gethostname(), uid)


def owner_from(login: str | None, uid: str | int | None) -> Owner | None:
    """The owner that `login` ("user@host", as Owner.login) and `uid` record; None when not recorded."""
    if not login or "@" not in login:
        return None
    user, host = login.rsplit("@", 1)
    try:
        return Owner(user, host, int(uid))
    except (TypeError, ValueError):
        return Owner(user, host, None)


def name_for(name: str, owner: Owner, max_len: int) -> str:
    """A lab name of `owner`'s own, to suggest when `name` is another's: NAME-USER."""
    user = re.sub(r"[^A-Za-z0-9_-]", "", owner.user) or str(owner.uid)
    return f"{name}-{user}"[:max_len]


class NameLock:
    """An exclusive lock on a lab name (flock on `<folder>.lock`), held only briefly.

    `NameLock.of(folder)` gives every caller in this process the same lock, so a
    teardown called while the lock is held (a rollback) takes it again without
    waiting on itself.

    The lock file is removed when no lab of the name is left; whoever waited on
    the removed file sees that its inode is no longer the one at the path and tries again.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder.with_name(folder.name + ".lock")
        self._threads = threading.RLock()  # flock does not serialise the threads of one process
        self._depth = 0
        self._fd: int | None = None

    _known: dict[Path, "NameLock"] = {}
    _known_lock = threading.Lock()

    @classmethod
    def of(cls, folder: Path) -> "NameLock":
        with cls._known_lock:
            return cls._known.setdefault(Path(folder), cls(Path(folder)))

    def __enter__(self):
        self._threads.acquire()
        if self._depth == 0:
            try:
                self._fd = self._acquire()
            except BaseException:
                self._threads.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            if not self.folder.exists():
                self.remove()  # no lab of this name (any more): leave no lock file behind
            os.close(self._fd)  # closing releases the flock
            self._fd = None
        self._threads.release()

    def remove(self) -> None:
        """Remove the lock file (only while holding the lock)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def _acquire(self) -> int:
        while True:
            fd = _open_creating_parents(self.path)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)  # removed by the lab's teardown meanwhile: lock the new file


def keep_private() -> None:
    """A plain user's labs folder is theirs alone: it holds their labs' SSH keys, join tokens and
    state, and their lab's files (other users would read them in a home that others may enter)."""
    if os.geteuid() == 0:
        return  # /run/swarmlab: root's, and its labs' secrets are files of their own modes
    top = state_root().parent
    top.mkdir(mode=0o700, parents=True, exist_ok=True)
    if top.stat().st_uid != os.getuid():
        raise LabError(f"{top} belongs to another user: your labs go in a folder of your own "
                       f"(unset XDG_STATE_HOME, or set it to a folder of yours)")
    if top.stat().st_mode & 0o077:
        top.chmod(0o700)  # made by an older swarmlab, readable by others


def _open_creating_parents(path: Path) -> int:
    keep_private()
    # Another lab's teardown may remove the shared parent folder at any moment.
    for _ in range(50):
        try:
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            time.sleep(0.01)
    raise LabError(f"cannot create {path}: its folder keeps disappearing")


class Ownership:
    """The identity of one lab, kept in `<folder>/state.json` (key "id")."""

    def __init__(self, name: str, folder: Path, lab_id: str | None):
        self.name = name
        self.folder = folder
        self.lock = NameLock.of(folder)
        self.lab_id = lab_id or None

    @property
    def state_file(self) -> Path:
        return self.folder / STATE_FILE

    def claim(self, state: dict, refuse) -> None:
        """Create the lab's folder and its state.json with this lab's id. `refuse()` raises
        when the name is taken; it runs under the lock, so two `up`s cannot both pass it."""
        with self.lock:
            refuse()
            try:
                self.folder.mkdir(mode=0o755, parents=True)
            except FileExistsError:
                raise LabError(f"a lab named {self.name!r} already exists; take it down with "
                               f"`swarmlab lab down --name {self.name}` or choose another name") from None
            write_json(self.state_file, {**state, "id": self.lab_id})

    def write_state(self, state: dict) -> None:
        """Rewrite state.json (e.g. with what a driver chose), if the lab is still this one."""
        with self.owned():
            write_json(self.state_file, {**state, "id": self.lab_id})

    def on_disk(self) -> str | None:
        """The id of the lab of this name that exists now (None when there is none)."""
        return read_state(self.folder).get("id")

    def is_current(self) -> bool:
        if self.lab_id is None:  # attached to a lab whose state has no id: the lab of that name
            return (self.folder / STATE_FILE).exists()
        return self.on_disk() == self.lab_id

    def check(self) -> None:
        if not self.is_current():
            raise LabReplacedError(
                f"lab {self.name} was taken down or replaced by another `lab up` while this one "
                f"was using it; stopping (the lab of that name now, if any, is left alone)")

    @contextmanager
    def owned(self):
        """Hold the name's lock while the lab on disk is this one; raise LabReplacedError otherwise."""
        with self.lock:
            self.check()
            yield


def read_state(folder: Path) -> dict:
    try:
        return json.loads((folder / STATE_FILE).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        if getattr(exc, "errno", None) == errno.EACCES:
            raise LabError(f"cannot read {folder / STATE_FILE}: the local lab needs root") from None
        return {}


def write_json(path: Path, data: dict, mode: int = 0o644) -> None:
    """Write a JSON file whole or not at all (a reader never sees half of it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
