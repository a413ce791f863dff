"""Every fault on Docker 28 nodes: injected, found by the doctor, undone, each on a fresh lab
with the article's service running.

Where 28 behaves unlike 20.10: on 28.5, a worker that runs a task and advertises an address
nobody reaches fails to `docker swarm leave --force` ("context deadline exceeded", the node
stays in the swarm); 20.10 leaves. advertise-unreachable's undo must still put the node back
on its own address.
"""
from __future__ import annotations

import json

import pytest

from swarmlab import faults, story
from swarmlab.cluster import Cluster
from swarmlab.doctor import doctor
from swarmlab.lab import Lab

from conftest import docker_swarm

DOCKER = "28"


# The doctor's finding that names each fault on 28 (seen in a run of every fault on 28.5):
# the node the fault goes to, the finding's node column (contains), its check, its severity.
FOUND = {
    "vpn-routes": ("node2", "node2", "address pools", "error"),
    "vxlan-blocked": ("node2", "node2", "firewall 4789/udp", "error"),
    "gossip-blocked": ("node2", "node2", "firewall 7946/udp", "error"),
    "pools-exhausted": ("node2", "node2", "address pools", "error"),
    "manager-port-blocked": ("node1", "node1", "firewall 2377/tcp", "error"),
    "mtu-blackhole": ("node2", "node1 -> node2", "path mtu", "error"),
    "advertise-unreachable": ("node2", "node2", "advertise address", "error"),
    "iptables-flushed": ("node2", "node2", "iptables chains", "error"),
    "duplicate-hostname": ("node2", "node1", "duplicate hostname", "warning"),
    "dockerd-killed": ("node2", "node2", "daemon", "error"),
    "overlay-overlaps-lan": ("node2", "node1, node2", "overlay subnet", "error"),
}


def with_service(lab: Lab) -> Cluster:
    """The lab's cluster with the article's service running on both nodes."""
    cluster = Cluster.from_lab(lab)
    story.create_overlay(cluster).check()
    story.service_create(cluster, restart_delay="1s").check()
    story.wait_for_running(cluster, timeout=30)
    return cluster


@pytest.fixture
def lab28(docker_engine):
    """A fresh 2-node Docker 28 lab on the test engine, its swarm formed."""
    with docker_swarm(docker_engine, "v28f", DOCKER) as lab:
        yield lab


def severities(cluster: Cluster, node: str, check: str) -> set[str]:
    """The severities of the doctor's `check` findings on a node column containing `node`."""
    found = doctor(cluster)
    return set(found[(found["check"] == check) & found["node"].str.contains(node, regex=False)]["severity"])


def test_every_fault_has_its_finding_on_28():
    assert set(FOUND) == set(faults.FAULTS)


@pytest.mark.parametrize("fault", list(FOUND))
def test_each_fault_is_injected_found_and_undone_on_28(lab28, fault):
    cluster = with_service(lab28)
    target, shown_on, check, severity = FOUND[fault]
    faults.inject(cluster, fault, node=target, rejoin=faults.FAULTS[fault].acts_at_join)
    assert severity in severities(cluster, shown_on, check)
    faults.undo(cluster, fault, node=target)
    assert severities(cluster, shown_on, check) <= {"info"}  # info: the check says all is well


def test_advertise_unreachable_s_undo_puts_the_node_back_on_its_address_on_28(lab28):
    cluster28 = with_service(lab28)
    node2 = cluster28.node("node2")
    faults.inject(cluster28, "advertise-unreachable", node="node2")
    found = doctor(cluster28)
    assert ((found["node"] == "node2") & (found["check"] == "advertise address") & (found["severity"] == "error")).any()
    faults.undo(cluster28, "advertise-unreachable", node="node2")
    assert node2.run("docker info --format '{{.Swarm.NodeAddr}}'").check().stdout.strip() == node2.address
    rows = [json.loads(line) for line in
            cluster28.manager.run("docker node ls --format '{{json .}}'").check().stdout.splitlines()]
    assert sorted((r["Hostname"], r["Status"]) for r in rows) == [("node1", "Ready"), ("node2", "Ready")]
