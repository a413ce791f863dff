"""labs_up() counts a lab whose holder runs though no holder.json records it (an `up` killed with -9
between starting the holder and recording it): such a lab holds namespaces and memory, so the
classroom's limits must count it. The holder here is a real `unshare` with the holder's arguments."""
from __future__ import annotations

import json
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
    """An `unshare --fork` whose arguments end as a holder's do (MARKER, the lab's folder)."""
    proc = subprocess.Popen(["unshare", "--user", "--fork", "--kill-child", "sh", "-c", "sleep 60", MARKER,
                             str(folder)], start_new_session=True)
    deadline = time.monotonic() + 10
    while not userns_driver.lab_holder.unrecorded(folder):
        assert proc.poll() is None and time.monotonic() < deadline, "the stand-in holder did not start"
        time.sleep(0.05)
    return proc


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
        proc.kill()
        proc.wait()
    assert userns_driver.UsernsDriver.labs_up(object.__new__(userns_driver.UsernsDriver)) == {}
