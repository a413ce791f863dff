"""labs_up() counts a lab whose holder runs though no holder.json records it (an `up` killed with -9
between starting the holder and recording it): such a lab holds namespaces and memory, so the
classroom's limits must count it. The holder here is a real `unshare` with the holder's arguments."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from swarmlab.lab.userns import driver as userns_driver
from swarmlab.lab.userns.holder import MARKER


@pytest.fixture
def labs_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(userns_driver, "state_root", lambda: tmp_path)
    return tmp_path


def _unrecorded_holder(folder):
    """An `unshare --fork` whose arguments end as a holder's do (MARKER, the lab's folder), returned
    once its child has started: until the child execs, it too carries unshare's arguments, and an
    unshare killed before its child set --kill-child's signal would leave that child behind."""
    proc = subprocess.Popen(["unshare", "--user", "--fork", "--kill-child", "sh", "-c", "sleep 60", MARKER,
                             str(folder)], start_new_session=True)
    deadline = time.monotonic() + 10
    while [h.pid for h in userns_driver.lab_holder.unrecorded(folder)] != [_exec_child(proc.pid)]:
        assert proc.poll() is None and time.monotonic() < deadline, "the stand-in holder did not start"
        time.sleep(0.05)
    return proc


def _exec_child(pid):
    """The pid of `pid`'s child once that child runs a program of its own, else None."""
    try:
        child = int(open(f"/proc/{pid}/task/{pid}/children").read().split()[0])
        return None if open(f"/proc/{child}/cmdline", "rb").read().startswith(b"unshare\0") else child
    except (OSError, IndexError, ValueError):
        return None


def _stop(proc):
    """Kill the stand-in and its child (the session's whole group), and wait until /proc shows neither."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while _group(proc.pid):
        assert time.monotonic() < deadline, "the stand-in holder's child outlived it"
        time.sleep(0.05)


def _group(pgid):
    """The pids of process group `pgid` that are not yet dead (zombies waiting to be reaped are)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            state, _ppid, group = open(f"/proc/{entry.name}/stat").read().rsplit(")", 1)[1].split()[:3]
            if int(group) == pgid and state != "Z":
                found.append(entry.name)
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_a_lab_with_an_unrecorded_holder_counts_as_up(labs_folder):
    ghost = labs_folder / "ghost"
    ghost.mkdir()
    (ghost / "state.json").write_text(json.dumps({"nodes": [{"name": "node1"}, {"name": "node2"}]}))
    (labs_folder / "gone").mkdir()  # a folder with no holder at all: not up
    proc = _unrecorded_holder(ghost)
    try:
        assert not (ghost / "holder.json").exists()
        assert userns_driver.UsernsDriver.labs_up(object.__new__(userns_driver.UsernsDriver)) == {"ghost": 2}
    finally:
        _stop(proc)
    assert userns_driver.UsernsDriver.labs_up(object.__new__(userns_driver.UsernsDriver)) == {}
