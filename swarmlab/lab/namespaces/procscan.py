"""Find a lab's processes wherever their cgroup is: by the node's namespaces and mounts.

The lab's cgroup holds everything the lab starts, but a process can leave it: a
container started with `--cgroup-parent=/elsewhere`, the containers of a dockerd a
student started by hand, a process moved by writing to cgroup.procs. Such a process
still lives in a node's network namespace, or in a mount namespace that holds mounts
of the lab's folder (a node's /var/lib/docker, a container's /etc/hosts), and that is
how it is found here.
"""
from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cgroup import LabCgroup
from .network import NETNS_DIR, lab_netns

CGROUP_ROOT = Path("/sys/fs/cgroup")
_CONTAINER_ID = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Targets:
    """What marks a process as the lab's."""

    netns: frozenset[int]  # inodes of the lab's network namespaces
    device: str | None  # "major:minor" of the filesystem that holds the lab's folder
    root: str | None  # the lab's folder as a path inside that filesystem
    spared: frozenset[int] = field(default_factory=frozenset)  # mount namespaces never matched
    cgroup: str = ""  # the lab's cgroup, relative to each hierarchy's top (its mark: see kill)

    @classmethod
    def of_lab(cls, name: str, folder: Path) -> "Targets":
        inodes = set()
        for ns in lab_netns(name):
            try:
                inodes.add(os.stat(NETNS_DIR / ns).st_ino)
            except OSError:
                pass
        device, root = _where_in_filesystem(os.path.abspath(folder))
        # The host's own mount namespace is never a lab's, whatever is mounted in it.
        spared = {i for i in (_ns_inode("self", "mnt"), _ns_inode(1, "mnt")) if i}
        return cls(frozenset(inodes), device, root, frozenset(spared), str(LabCgroup(name).rel))


def find(targets: Targets) -> dict[int, str]:
    """pid -> why it is the lab's, for every live process in the lab's namespaces or mounts."""
    found = {}
    verdict: dict[int, bool] = {}  # mount namespace inode -> holds the lab's mounts
    protected = _ancestors()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in protected:
            continue
        pid = int(entry)
        net, mnt = _ns_inode(pid, "net"), _ns_inode(pid, "mnt")
        if net is None or mnt is None:
            continue  # gone, or a zombie
        if net in targets.netns:
            found[pid] = "in a node's network namespace"
        elif mnt not in targets.spared and targets.root:
            if mnt not in verdict:
                verdict[mnt] = _has_lab_mount(pid, targets)
            if verdict[mnt]:
                found[pid] = "uses the lab's mounts"
    return found


def kill(targets: Targets, timeout: float = 10) -> None:
    """SIGKILL every process find() names, until none is left; then remove the container
    cgroups they leave behind outside the lab's cgroup, and the parents made for them."""
    cgroups, killed = set(), set()
    deadline = time.monotonic() + timeout
    while pids := find(targets):
        if time.monotonic() > deadline:
            break  # leftovers() names them
        for pid in pids:
            cgroups |= _container_cgroups(pid)
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    while any(_running(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.01)
    for top, path in sorted(cgroups, key=lambda c: -len(c[1].parts)):
        _rmdir_when_empty(path)
        _remove_parents_made_since(top, path.parent, top / targets.cgroup)


def describe(pid: int) -> str:
    """The start of a process's command line, for messages."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = ""
    return (cmd[:60] + "...") if len(cmd) > 60 else (cmd or "exited")


def _has_lab_mount(pid: int, targets: Targets) -> bool:
    prefix = targets.root.rstrip("/") + "/"
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            for line in f:
                fields = line.split(" ", 5)
                if fields[2] == targets.device and (fields[3] + "/").startswith(prefix):
                    return True
    except OSError:
        pass
    return False


def _where_in_filesystem(path: str) -> tuple[str | None, str | None]:
    """The device and in-filesystem path of `path`, from this process's mount table."""
    best = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4]
            if path == point or path.startswith(point.rstrip("/") + "/"):
                if best is None or len(point) >= len(best[4]):
                    best = fields
    if best is None:
        return None, None
    rel = os.path.relpath(path, best[4])
    return best[2], os.path.normpath(os.path.join(best[3], rel))


def _container_cgroups(pid: int) -> set[tuple[Path, Path]]:
    """The cgroup folders, named by a container id, that hold `pid` (in every hierarchy), each
    with the top of its hierarchy."""
    found = set()
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if not _CONTAINER_ID.match(os.path.basename(path)):
            continue
        tops = [CGROUP_ROOT / "unified", CGROUP_ROOT] if not controllers else [
            CGROUP_ROOT / controllers.replace("name=", ""), *(CGROUP_ROOT / c for c in controllers.split(","))]
        for top in tops:
            folder = top / path.lstrip("/")
            if folder.is_dir():
                found.add((top, folder))
                break
    return found


def _rmdir_when_empty(path: Path, timeout: float = 2) -> None:
    deadline = time.monotonic() + timeout
    while path.exists():
        try:
            path.rmdir()
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)


def _remove_parents_made_since(top: Path, folder: Path, mark: Path) -> None:
    """Remove `folder` and its parents below `top` while each is empty and newer than `mark`, the
    lab's own cgroup in that hierarchy (made at `lab up`). The kernel numbers a hierarchy's
    cgroups in the order it makes them, so a newer one was made while the lab was up, by its
    container's --cgroup-parent; an older one, or one that holds anything, is not the lab's."""
    try:
        since = mark.stat().st_ino
    except OSError:
        return  # no mark (a lab brought up before marks were made): nothing is known to be the lab's
    while folder != top and top in folder.parents:
        try:
            if folder.stat().st_ino <= since:
                return
            folder.rmdir()
        except OSError:
            return  # not empty, or gone
        folder = folder.parent


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _ns_inode(pid, ns: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino
    except OSError:
        return None


def _ancestors() -> set[int]:
    """This process and its parents up to PID 1: never the lab's, never killed."""
    pids, pid = {1}, os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids
