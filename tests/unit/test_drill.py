"""Drills: the seed alone decides the fault and the node, only faults check sees, each where it bites;
the secret file is root's alone."""
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


def three_nodes(order=(0, 1, 2)) -> Cluster:
    nodes = [Node("node1", "172.16.155.131", role="manager", transport=None),
             Node("node2", "172.16.155.132", role="worker", transport=None),
             Node("node3", "172.16.155.133", role="worker", transport=None)]
    return Cluster([nodes[i] for i in order])


# What drill.check cannot see (it would pass with no repair) and where the others bite.
# Changing either is a decision about what a drill teaches: say so here.
NOT_DRILLABLE = {"iptables-flushed", "duplicate-hostname", "overlay-overlaps-lan"}
# What check should see but no live drill has run yet (tests/live/test_drill.py runs the rest).
NOT_YET_DRILLED = {"gossip-blocked", "manager-port-blocked", "mtu-blackhole", "advertise-unreachable",
                   "dockerd-killed"}
ON_THE_MANAGER: set[str] = set()  # manager-port-blocked would go there, once it is drilled


def test_a_seed_gives_every_student_the_same_drill():
    cluster = two_nodes()
    assert [drill.choose(cluster, s) for s in range(50)] == [drill.choose(two_nodes(), s) for s in range(50)]
    # Workers are drawn in name order, whatever order the inventory lists the nodes in.
    assert [drill.choose(three_nodes(), s) for s in range(50)] == \
        [drill.choose(three_nodes((2, 0, 1)), s) for s in range(50)]
    chosen = {drill.choose(cluster, s).fault for s in range(300)}
    assert chosen == set(drill.candidates())  # every drillable fault can come up, and only those


def test_the_seeds_of_this_version_give_these_drills():
    # The mapping changes when the registry's drillable faults change (README, Drills).
    assert [drill.choose(two_nodes(), s) for s in (0, 1, 5)] == [
        drill.Drill(0, "vpn-routes", "node2"), drill.Drill(1, "pools-exhausted", "node2"),
        drill.Drill(5, "vxlan-blocked", "node2")]
    # Lesson 08's seed and candidates: its recording replays this drill.
    lesson = ("pools-exhausted", "vpn-routes", "vxlan-blocked")
    assert drill.choose(two_nodes(), 2011, lesson) == drill.Drill(2011, "vxlan-blocked", "node2")


def test_every_fault_is_drillable_somewhere_or_says_why_not():
    for name, spec in faults.FAULTS.items():
        if spec.drillable:
            assert spec.drill_target in faults.DRILL_TARGETS and not spec.not_drillable, name
        else:
            assert spec.drill_target is None and len(spec.not_drillable) > 20, name
    assert {n for n, f in faults.FAULTS.items() if not f.drillable} == NOT_DRILLABLE | NOT_YET_DRILLED
    assert all(faults.FAULTS[n].not_drillable.startswith("not yet run as a drill") for n in NOT_YET_DRILLED)
    assert {n for n, f in faults.FAULTS.items() if f.drill_target == "manager"} == ON_THE_MANAGER
    assert drill.candidates() == sorted(set(faults.FAULTS) - NOT_DRILLABLE - NOT_YET_DRILLED)
    # A drill rejoins the node of a fault that acts at join: that node is a worker.
    assert all(f.drill_target == "worker" for f in faults.FAULTS.values() if f.acts_at_join)


def test_a_fault_must_say_whether_a_drill_may_pick_it():
    pair = (lambda cluster, node: [], lambda cluster, node: [])
    with pytest.raises(ValueError, match="one of the two"):
        faults._fault("new-fault", "a fault", pair)
    with pytest.raises(ValueError, match="one of the two"):
        faults._fault("new-fault", "a fault", pair, drill_target="worker", not_drillable="check cannot see it")
    with pytest.raises(ValueError, match="is not one of"):
        faults._fault("new-fault", "a fault", pair, drill_target="node2")
    with pytest.raises(ValueError, match="a manager cannot do"):
        faults._fault("new-fault", "a fault", pair, acts_at_join=True, drill_target="manager")
    assert faults._fault("new-fault", "a fault", pair, not_drillable="check cannot see it").drillable is False


@pytest.mark.parametrize("cluster", [two_nodes(), three_nodes()], ids=["two nodes", "three nodes"])
def test_choose_puts_only_drillable_faults_where_they_bite(cluster):
    workers = {n.name for n in cluster if n is not cluster.manager}
    seen = set()
    for seed in range(2000):
        d = drill.choose(cluster, seed)
        spec = faults.fault_named(d.fault)
        assert spec.drillable, d
        where = {cluster.manager.name} if spec.drill_target == "manager" else workers
        assert d.node in where, d
        seen.add(d.node)
    assert seen == workers | ({cluster.manager.name} if ON_THE_MANAGER else set())  # every worker comes up


def test_a_lesson_names_its_candidates():
    among = ("vxlan-blocked", "vpn-routes")
    assert {drill.choose(two_nodes(), s, among).fault for s in range(50)} == set(among)
    with pytest.raises(SwarmlabError, match="no fault named 'no-such-fault'"):
        drill.choose(two_nodes(), 1, ("no-such-fault",))
    # A lesson cannot name a fault that check would not see, whatever the seed.
    with pytest.raises(SwarmlabError, match="duplicate-hostname cannot be a drill: the node keeps"):
        drill.choose(two_nodes(), 1, ("vxlan-blocked", "duplicate-hostname"))
    with pytest.raises(SwarmlabError, match="manager-port-blocked cannot be a drill: not yet run as a drill"):
        drill.choose(two_nodes(), 1, ("manager-port-blocked", "vxlan-blocked"))


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
