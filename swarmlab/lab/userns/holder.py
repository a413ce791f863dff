"""The process that holds a userns lab: a user namespace of the user's own (root there is the
user; every other id one of the user's subordinate ids), with a network namespace that is the
lab's switch (a bridge), a mount namespace and a PID namespace whose first process is tini.

Everything of the lab (the nodes' namespaces, every dockerd, containerd and container) lives in
that PID namespace, so killing its first process takes all of it away at once, whoever is left.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ...errors import LabError

BRIDGE = "br0"
# Root in the namespace maps to the user, the other ids to /etc/subuid's range (--map-auto,
# through newuidmap): with one id only, runc cannot mount devpts (gid 5) and no container starts.
UNSHARE = ["unshare", "--user", "--map-root-user", "--map-auto", "--net", "--mount", "--pid", "--fork",
           "--kill-child", "--mount-proc", "--propagation", "private"]
# tini as the PID namespace's first process: it reaps what the nodes leave behind.
SCRIPT = (f"ip link set lo up && ip link add {BRIDGE} type bridge && ip link set {BRIDGE} up && "
          "echo ready && exec tini -s -- sleep infinity")
# The holder's `unshare` carries this word and the lab's folder in its arguments, so `lab down` finds
# it even when `up` was killed before it could write holder.json.
MARKER = "swarmlab-lab-holder"


@dataclass(frozen=True)
class Holder:
    """The holder's first process (tini, as this machine numbers it) and when it started: a PID
    alone could be any process's after the lab is gone."""

    pid: int
    start_time: int

    def alive(self) -> bool:
        return start_time(self.pid) == self.start_time

    def enter(self, *namespaces: str) -> list[str]:
        """nsenter into the holder's namespaces (user first, as nsenter does it)."""
        return ["nsenter", "-t", str(self.pid), *(f"--{ns}" for ns in namespaces), "--"]

    def run(self, script: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """A shell script as root in the holder (its switch, mounts and PID namespace)."""
        return subprocess.run([*self.enter("user", "mount", "net", "pid"), "sh", "-c", script],
                              capture_output=True, text=True, timeout=timeout)

    def kill(self, timeout: float = 20) -> None:
        """Kill the whole lab: its PID namespace's first process, then wait until it is gone."""
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise LabError(f"the lab's holder (pid {self.pid}) did not end within {timeout:.0f} s")
            time.sleep(0.05)


def start(folder: Path, timeout: float = 15) -> Holder:
    """Start the holder and record it in folder/holder.json (returns once its switch is up)."""
    log = open(folder / "holder.log", "wb")
    proc = subprocess.Popen([*UNSHARE, "sh", "-c", SCRIPT, MARKER, str(folder)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=log, start_new_session=True, cwd="/")
    line = _readline(proc, timeout)
    if line.strip() != b"ready":
        proc.kill()
        said = (folder / "holder.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise LabError(f"could not make the lab's user namespace: {said[0]}; `swarmlab check` says what is missing")
    holder = Holder(first_child(proc.pid), 0)
    holder = Holder(holder.pid, start_time(holder.pid))
    (folder / "holder.json").write_text(json.dumps(vars(holder)) + "\n")
    return holder


def recorded(folder: Path) -> Holder | None:
    try:
        return Holder(**json.loads((folder / "holder.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def unrecorded(folder: Path) -> list[Holder]:
    """This user's holders of the lab in `folder` found by their arguments (see MARKER); a holder
    whose tini has not started yet is its `unshare`, which takes its child with it (--kill-child)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")[:-1]
            if argv[:1] == [b"unshare"] and argv[-2:] == [MARKER.encode(), os.fsencode(folder)]:
                children = Path(f"/proc/{entry.name}/task/{entry.name}/children").read_text().split()
                found.append(int(children[0]) if children else int(entry.name))
        except OSError:
            continue
    return [Holder(pid, start_time(pid)) for pid in found if start_time(pid) is not None]


def first_child(pid: int, timeout: float = 5) -> int:
    """The first child of process `pid` (nsenter's and unshare's, which fork to enter a PID namespace)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        if time.monotonic() > deadline:
            raise LabError(f"process {pid} started no child within {timeout:.0f} s")
        time.sleep(0.01)


def start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


def in_pid_namespace(pid: int) -> set[int]:
    """Every process of process `pid`'s PID namespace (a lab's, when `pid` is its holder)."""
    inode = os.stat(f"/proc/{pid}/ns/pid").st_ino
    found = set()
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and os.stat(f"/proc/{entry.name}/ns/pid").st_ino == inode:
                found.add(int(entry.name))
        except OSError:
            continue
    return found


def inner_pid(pid: int) -> int:
    """Process `pid`'s number in its own PID namespace (the last of /proc/PID/status's NSpid)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    raise LabError(f"process {pid} has no NSpid line")


def host_pid(inner: int, pidns_inode: int) -> int | None:
    """The process that its PID namespace (by inode) numbers `inner`, as this machine numbers it."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry.name}/ns/pid").st_ino != pidns_inode:
                continue
            if inner_pid(int(entry.name)) == inner:
                return int(entry.name)
        except (OSError, LabError):
            continue
    return None


def _readline(proc: subprocess.Popen, timeout: float) -> bytes:
    import selectors
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return b""
    return proc.stdout.readline()
