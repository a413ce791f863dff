"""Every process of a lab lives in one freezer cgroup, so teardown can kill them all.

Containers are placed below it too (dockerd's --cgroup-parent), so freezing the
lab's cgroup stops everything at once: nothing can fork or restart while it is
being killed, and `sleep` as a container's PID 1 cannot ignore SIGKILL.
Works on cgroup v1 (a freezer hierarchy) and cgroup v2 (cgroup.kill).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ...errors import LabError

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _unified() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


class LabCgroup:
    """The cgroup subtree `swarmlab/<lab>/<node>` in every hierarchy."""

    def __init__(self, lab: str):
        self.rel = Path("swarmlab") / lab

    # --- where things go -------------------------------------------------
    @property
    def _control(self) -> Path:
        return CGROUP_ROOT / self.rel if _unified() else CGROUP_ROOT / "freezer" / self.rel

    def node_parent(self, node: str) -> str:
        """The --cgroup-parent for a node's containers (an absolute cgroup path)."""
        return f"/{self.rel}/{node}/containers"

    def procs_file(self, node: str) -> Path:
        """Writing a pid here moves that process into the node's cgroup."""
        if _unified():
            return self._control / node / "daemon" / "cgroup.procs"
        return self._control / node / "cgroup.procs"

    def create(self, node: str) -> None:
        try:
            self.procs_file(node).parent.mkdir(parents=True, exist_ok=True)
            for top in hierarchies():  # the lab's mark in each: what teardown tells newer cgroups by
                (top / self.rel).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LabError(f"cannot create cgroup {self.procs_file(node).parent}: {exc}") from None

    # --- teardown --------------------------------------------------------
    def pids(self) -> set[int]:
        found = set()
        if not self._control.exists():
            return found
        for procs in self._control.rglob("cgroup.procs"):
            try:
                found.update(int(p) for p in procs.read_text().split())
            except OSError:
                pass
        return found

    def kill_all(self, timeout: float = 10) -> None:
        """SIGKILL every process of the lab and wait until they are gone."""
        if not self._control.exists():
            return
        if _unified():
            (self._control / "cgroup.kill").write_text("1")
        else:
            self._freeze_and_kill()
        deadline = time.monotonic() + timeout
        while self.pids():
            if time.monotonic() > deadline:
                raise LabError(f"processes {sorted(self.pids())} of cgroup {self.rel} did not die")
            for pid in self.pids():
                _kill(pid)
            time.sleep(0.01)

    def _freeze_and_kill(self) -> None:
        state = self._control / "freezer.state"
        # Ctrl-C or SIGTERM in here waits until the thaw: a lab left frozen hangs every command
        # sent into it (the command joins the frozen cgroup). After kill -9, frozen() says so.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            state.write_text("FROZEN")
            deadline = time.monotonic() + 2
            while state.read_text().strip() != "FROZEN" and time.monotonic() < deadline:
                time.sleep(0.005)
            for pid in self.pids():
                _kill(pid)
        finally:
            state.write_text("THAWED")  # the kills are delivered on thaw
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def frozen(self) -> bool:
        """The lab's processes are frozen: a `lab down` was killed between freezing and thawing."""
        if _unified():
            return False  # cgroup v2: teardown kills with cgroup.kill and never freezes
        try:
            return (self._control / "freezer.state").read_text().strip() in ("FROZEN", "FREEZING")
        except OSError:
            return False

    def remove(self) -> None:
        """Remove the lab's cgroup directories in every hierarchy (deepest first)."""
        for top in CGROUP_ROOT.glob(f"*/{self.rel}") if not _unified() else [CGROUP_ROOT / self.rel]:
            dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            for d in dirs + [top]:
                _rmdir(d)
            _rmdir(top.parent)  # swarmlab/, shared by labs: only when empty

    def leftovers(self) -> list[Path]:
        tops = CGROUP_ROOT.glob(f"*/{self.rel}") if not _unified() else [CGROUP_ROOT / self.rel]
        return [t for t in tops if t.exists()]


def hierarchies() -> list[Path]:
    """The top folder of every cgroup hierarchy (one on cgroup v2; one per controller on v1)."""
    if _unified():
        return [CGROUP_ROOT]
    return sorted(p for p in CGROUP_ROOT.iterdir() if (p / "cgroup.procs").exists())


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # still busy or shared with another lab; leftovers() reports it
