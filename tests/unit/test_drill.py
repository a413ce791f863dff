"""Drills: the seed alone decides the fault and the node; the secret file is root's alone."""
from __future__ import annotations

import os
import stat

import pytest

from swarmlab import drill, faults
from swarmlab.cluster import Cluster, Node
from swarmlab.errors import SwarmlabError


def two_nodes() -> Cluster:
    return Cluster([Node("node1", "172.16.155.131", role="manager", transport=None),
                    Node("node2", "172.16.155.132", role="worker", transport=None)])


def test_a_seed_gives_every_student_the_same_drill():
    cluster = two_nodes()
    assert [drill.choose(cluster, s) for s in range(20)] == [drill.choose(two_nodes(), s) for s in range(20)]
    chosen = {drill.choose(cluster, s).fault for s in range(200)}
    assert chosen == set(faults.FAULTS)  # every registered fault can come up
    assert {drill.choose(cluster, s).node for s in range(50)} == {"node2"}  # a worker, never the manager


def test_a_lesson_names_its_candidates():
    among = ("vxlan-blocked", "gossip-blocked")
    assert {drill.choose(two_nodes(), s, among).fault for s in range(50)} == set(among)
    with pytest.raises(SwarmlabError, match="no fault named 'no-such-fault'"):
        drill.choose(two_nodes(), 1, ("no-such-fault",))


def test_the_drill_is_kept_for_root_only(tmp_path, monkeypatch):
    monkeypatch.setattr(drill, "secret_path", lambda name: tmp_path / name / "drill.json")
    with pytest.raises(SwarmlabError, match="lab 'lab1' is not up here"):
        drill.save("lab1", drill.Drill(3, "vxlan-blocked", "node2"))
    (tmp_path / "lab1").mkdir()
    path = drill.save("lab1", drill.Drill(3, "vxlan-blocked", "node2"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert drill.load("lab1") == drill.Drill(3, "vxlan-blocked", "node2")
    with pytest.raises(SwarmlabError, match="no drill started on lab 'lab2'"):
        drill.load("lab2")
