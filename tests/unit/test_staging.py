"""What a lesson says it will change on an inventory's hosts (staging.plan), for every lesson."""
from __future__ import annotations

import pytest

from swarmlab import faults, lessons, staging
from swarmlab.cluster import Cluster
from swarmlab.headless import lesson_paths

RECORDING = lessons.RECORDINGS / "04.json"  # a real run whose node2 answers `ip -j addr`


@pytest.mark.parametrize("lesson", sorted(lessons.PREPARE))
def test_every_set_up_step_of_every_lesson_is_described(lesson):
    cluster = Cluster.from_recording(RECORDING)
    worker = cluster.node("node2")
    lines = staging.plan(cluster, worker, lessons.PREPARE[lesson], [])
    names = [step.__name__ for step in lessons.PREPARE[lesson]]
    routes = [line for line in lines if "ip route add" in line]
    if "_node2_fails_as_in_the_article" in names:
        assert [r.split()[4] for r in routes] == list(faults.VPN_ROUTES)
        assert all(r.startswith("node2: ") for r in routes)
    else:
        assert routes == []
    assert any("swarm init" in line for line in lines) == ("_swarm" in names)


def test_every_lesson_has_a_set_up():
    assert sorted(lessons.PREPARE) == sorted(p.name[:2] for p in lesson_paths())


# --- the journal: whose it is, what swarmlab made (issue 21, items 3 and 4) ---------------------
class _Node:
    def __init__(self, name):
        self.name = name


@pytest.fixture
def journal_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "JOURNAL_DIR", tmp_path / "state")
    inventory = tmp_path / "hosts.toml"
    inventory.write_text("")
    return inventory


def test_a_journal_of_a_process_that_is_gone_says_how_to_restore(journal_dir):
    assert staging.staged_note(journal_dir) is None
    assert staging.staged_note("swarmlab") is None  # a lab's name, not a file
    staging._write(staging.journal_path(journal_dir),
                   {"lesson": "03", "owner": {"pid": 2 ** 22 + 1, "host": __import__("os").uname().nodename}})
    note = staging.staged_note(journal_dir)
    assert "still staged by lesson 03" in note and f"swarmlab lessons restore --inventory {journal_dir}" in note


def test_a_journal_of_a_process_that_runs_says_so_and_refuses_a_restore(journal_dir):
    import os
    journal = {"lesson": "03", "owner": {"pid": os.getppid(), "started": None, "host": os.uname().nodename},
               "hosts": {}}
    staging._write(staging.journal_path(journal_dir), journal)
    assert f"lesson 03 is running on the hosts of {journal_dir} now (process {os.getppid()})" in \
        staging.staged_note(journal_dir)
    with pytest.raises(staging.StagingError, match="is running on the hosts"):
        staging.restore(None, journal_dir)
    journal["owner"]["started"] = "1"  # the pid now belongs to a process started at another time
    assert staging.owner_running(journal) is None
    journal["owner"] = {"pid": os.getpid(), "host": os.uname().nodename}  # this process: it may restore
    assert staging.owner_running(journal) is None


def test_only_docker_gwbridge_and_fault_networks_new_since_the_journal_are_swarmlabs():
    journal = {"hosts": {"n": {"swarm": "inactive", "networks": {"b1": "bridge", "old": "docker_gwbridge"}}}}
    networks = {"b1": ("bridge", ""), "old": ("docker_gwbridge", ""), "g2": ("docker_gwbridge", ""),
                "u1": ("userlater", ""), "u2": ("projX_default", "com.docker.compose.project=projX"),
                "f1": ("proj1_default", "swarmlab.fault=pools-exhausted")}
    assert staging._made_by_swarmlab(journal, _Node("n"), networks) == ["g2", "f1"]
