"""Faults on Docker 28 nodes where 28 behaves unlike 20.10: advertise-unreachable's undo.

On 28.5, a worker that runs a task and advertises an address nobody reaches fails to
`docker swarm leave --force` ("context deadline exceeded", the node stays in the swarm);
20.10 leaves. The undo must still put the node back on its own address.
"""
from __future__ import annotations

import json

import pytest

from swarmlab import faults, story
from swarmlab.cluster import Cluster
from swarmlab.doctor import doctor
from swarmlab.lab import Lab, teardown
from swarmlab.lab.docker import debian

from conftest import unique_lab_name

DOCKER = "28"


@pytest.fixture(scope="module")
def cluster28(docker_engine):
    """A 2-node Docker 28 lab on the test engine, its swarm formed, the article's service running."""
    if not debian.rootfs_path(debian.release(DOCKER)).exists():
        pytest.fail(f"no Docker {DOCKER} root file system: `make test-install` builds it")
    lab = Lab(name=unique_lab_name("v28f"), driver="docker", engine=docker_engine.url, docker=DOCKER)
    try:
        lab.up()
        lab.form_swarm()
        cluster = Cluster.from_lab(lab)
        story.create_overlay(cluster).check()
        story.service_create(cluster, restart_delay="1s").check()
        story.wait_for_running(cluster, timeout=30)
        yield cluster
    finally:
        teardown(lab.name, engine=docker_engine.url, driver="docker")


def test_advertise_unreachable_is_found_and_undone_on_28_with_a_task_on_the_node(cluster28):
    node2 = cluster28.node("node2")
    faults.inject(cluster28, "advertise-unreachable", node="node2")
    found = doctor(cluster28)
    assert ((found["node"] == "node2") & (found["check"] == "advertise address") & (found["severity"] == "error")).any()
    faults.undo(cluster28, "advertise-unreachable", node="node2")
    assert node2.run("docker info --format '{{.Swarm.NodeAddr}}'").check().stdout.strip() == node2.address
    rows = [json.loads(line) for line in
            cluster28.manager.run("docker node ls --format '{{json .}}'").check().stdout.splitlines()]
    assert sorted((r["Hostname"], r["Status"]) for r in rows) == [("node1", "Ready"), ("node2", "Ready")]
