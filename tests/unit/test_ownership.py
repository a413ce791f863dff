"""The name lock and a lab's identity, on real files and real flock(2) locks (no lab needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from swarmlab.errors import LabError, LabReplacedError
from swarmlab.lab.ownership import NameLock, Ownership, read_state, write_json

# A second process that takes the lock the way NameLock does, and says what it got.
OTHER_PROCESS = """
import os, sys, time
from pathlib import Path
from swarmlab.lab.ownership import NameLock
folder = Path(sys.argv[1])
print("waiting", flush=True)
with NameLock.of(folder) as lock:
    print("got", os.fstat(lock._fd).st_ino == os.stat(lock.path).st_ino, flush=True)
"""


def other_process(folder):
    return subprocess.Popen([sys.executable, "-c", OTHER_PROCESS, str(folder)], stdout=subprocess.PIPE, text=True)


def test_the_lock_keeps_another_process_out_until_it_is_released(tmp_path):
    folder = tmp_path / "lab1"
    folder.mkdir()
    with NameLock.of(folder):
        child = other_process(folder)
        assert child.stdout.readline() == "waiting\n"
        time.sleep(0.5)
        assert child.poll() is None  # still blocked on flock
    out, _ = child.communicate(timeout=20)
    assert out == "got True\n"


def test_a_waiter_on_a_removed_lock_file_locks_the_new_one(tmp_path):
    """A teardown removes the lock file while another process waits on it: that process
    must not go on holding a lock on a file nobody else can find."""
    folder = tmp_path / "lab1"
    folder.mkdir()
    lock = NameLock.of(folder)
    with lock:
        child = other_process(folder)
        assert child.stdout.readline() == "waiting\n"
        time.sleep(0.5)
        lock.remove()
    out, _ = child.communicate(timeout=20)
    assert out == "got True\n"  # it holds the flock of the file now at the path


def test_one_lock_per_name_in_a_process_and_it_can_be_taken_again_inside_itself(tmp_path):
    folder = tmp_path / "lab1"
    folder.mkdir()
    assert NameLock.of(folder) is NameLock.of(tmp_path / "lab1")
    with NameLock.of(folder):
        with NameLock.of(folder):  # a rollback inside an `up` takes it again
            pass
        assert NameLock.of(folder)._fd is not None  # still held by the outer block
    assert NameLock.of(folder)._fd is None


def test_the_lock_serialises_the_threads_of_one_process(tmp_path):
    folder = tmp_path / "lab1"
    folder.mkdir()
    inside, overlaps = [], []

    def work():
        for _ in range(20):
            with NameLock.of(folder):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(len(inside))
                time.sleep(0.001)
                inside.pop()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []


def test_the_lock_file_goes_with_the_lab_and_stays_while_the_lab_exists(tmp_path):
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    kept.mkdir()
    for folder in (kept, gone):
        with NameLock.of(folder):
            pass
    assert (tmp_path / "kept.lock").exists()
    assert not (tmp_path / "gone.lock").exists()


def test_claim_writes_the_id_and_a_second_claim_of_the_name_is_refused(tmp_path):
    folder = tmp_path / "lab1"
    first = Ownership("lab1", folder, "id-1")
    first.claim({"nodes": 2}, refuse=lambda: None)
    assert read_state(folder) == {"nodes": 2, "id": "id-1"}
    assert first.is_current()
    second = Ownership("lab1", folder, "id-2")
    with pytest.raises(LabError, match="a lab named 'lab1' already exists; take it down with"):
        second.claim({"nodes": 3}, refuse=lambda: None)
    assert read_state(folder)["id"] == "id-1"  # the first lab's state is untouched


def test_refuse_runs_under_the_lock_and_stops_the_claim(tmp_path):
    folder = tmp_path / "lab1"
    held = []

    def refuse():
        held.append(NameLock.of(folder)._fd is not None)
        raise LabError("taken")
    with pytest.raises(LabError, match="taken"):
        Ownership("lab1", folder, "id-1").claim({}, refuse)
    assert held == [True] and not folder.exists()


def test_a_replaced_lab_is_not_the_owners_any_more(tmp_path):
    folder = tmp_path / "lab1"
    mine = Ownership("lab1", folder, "id-1")
    mine.claim({}, refuse=lambda: None)
    with mine.owned():
        pass
    write_json(folder / "state.json", {"id": "id-2"})  # taken down and built again by another `up`
    assert not mine.is_current()
    with pytest.raises(LabReplacedError, match="lab lab1 was taken down or replaced"):
        with mine.owned():
            pytest.fail("owned() must not yield for a lab that is not this one")
    with pytest.raises(LabReplacedError):
        mine.write_state({"nodes": 5})
    assert read_state(folder) == {"id": "id-2"}


def test_without_an_id_the_lab_of_that_name_is_the_one(tmp_path):
    folder = tmp_path / "lab1"
    attached = Ownership("lab1", folder, None)
    assert not attached.is_current()
    folder.mkdir()
    write_json(folder / "state.json", {"nodes": 2})
    assert attached.is_current()


def test_write_json_replaces_whole_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "state.json"
    write_json(path, {"a": 1})
    write_json(path, {"b": 2}, mode=0o600)
    assert json.loads(path.read_text()) == {"b": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_owner_is_a_user_of_a_machine_and_reads_back_from_what_it_records(monkeypatch):
    import socket

    from swarmlab.lab.ownership import Owner, caller, name_for, owner_from
    monkeypatch.setattr(os, "geteuid", lambda: 65533)  # no account: the number names the user
    monkeypatch.setattr(socket, "gethostname", lambda: "box")
    me = caller()
    assert me == Owner("uid65533", "box", 65533) and str(me) == "uid65533@box (uid 65533)"
    assert owner_from(me.login, str(me.uid)) == me
    assert owner_from("al@ice@box", None) == Owner("al@ice", "box", None)  # the host is after the last @
    assert owner_from(None, "0") is None and owner_from("nobody", "0") is None  # not recorded
    assert name_for("swarmlab", Owner("a.b", "box", 1), 32) == "swarmlab-ab"
