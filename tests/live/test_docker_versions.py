"""Docker 28 nodes for real: the node image built from Debian sid's packages (the root file
system `make test-install` kept in the cache; nothing is downloaded here), a lab of it on the
test engine, its swarm, and the version every node reports; the article's cause and the faults
where 28 behaves unlike 20.10. Every fault on 28, one by one, is `python benchmarks/versions.py
--dockers 28 --only-faults`.

Where 28 behaves unlike 20.10: on 28.5, a worker that runs a task and advertises an address
nobody reaches fails to `docker swarm leave --force` ("context deadline exceeded", the node
stays in the swarm); 20.10 leaves. advertise-unreachable's undo must still put the node back
on its own address.
"""
from __future__ import annotations

import json

import pytest

from swarmlab import faults, messages, story
from swarmlab.cluster import Cluster
from swarmlab.doctor import doctor
from swarmlab.lab import Lab
from swarmlab.lab.docker import debian, nodeimage

from conftest import docker_swarm, unique_lab_name

DOCKER = "28"


@pytest.fixture(scope="module")
def lab28(docker_engine):
    """A 2-node docker-driver lab whose nodes run Docker 28, its swarm formed."""
    with docker_swarm(docker_engine, "v28", DOCKER) as lab:
        yield lab


def test_the_image_is_tagged_and_labelled_with_its_docker(lab28, docker_engine):
    client = docker_engine.client()
    try:
        image = client.images.get(nodeimage.image_ref(DOCKER))
    finally:
        client.close()
    assert image.tags == [nodeimage.image_ref(DOCKER)] and nodeimage.image_ref(DOCKER).endswith("-docker28")
    assert image.labels[nodeimage.LABEL_DOCKER].startswith("28.5.")
    assert image.labels[nodeimage.LABEL_SOURCE] == nodeimage.DEBIAN


def test_every_node_runs_docker_28_in_one_swarm(lab28):
    n1, n2 = lab28.node("node1"), lab28.node("node2")
    rows = [json.loads(line) for line in n1.run("docker node ls --format '{{json .}}'").check().stdout.splitlines()]
    assert {r["Hostname"]: r["EngineVersion"].split(".")[0] for r in rows} == {"node1": "28", "node2": "28"}
    assert n2.run("docker version --format '{{.Server.Version}}'").check().stdout.startswith("28.5.")
    assert "Docker 28.5" in lab28.describe()


def test_the_node_has_the_article_s_tools_and_swarmlab_s_scripts(lab28):
    node = lab28.node("node2")
    for command in ("brctl show", "ifconfig ens33", "ip -br addr", "ps -e", "ping -c1 -W2 -M do 172.16.155.131",
                    "nsenter --version", "test -x /usr/sbin/sshd", "systemctl is-active docker"):
        assert node.run(command).ok, command
    # busybox fills in only what the packages lack: awk is the real one, the task image is busybox's.
    assert node.run("readlink -f $(command -v awk)").stdout.strip() != debian.BUSYBOX
    assert "busybox:latest" in node.run("docker image ls --format '{{.Repository}}:{{.Tag}}'").stdout.split()


def test_a_chosen_docker_is_refused_by_the_namespaces_driver_with_a_way_out():
    with pytest.raises(Exception, match=r"--docker 28: the namespaces driver runs this machine's own dockerd.*"
                                        r"--driver docker"):
        Lab(name=unique_lab_name("v28n"), driver="namespaces", docker="28")


def test_the_article_s_cause_on_28_gives_28_s_words_and_the_doctor_names_the_pools(lab28):
    """vpn-routes on node2, which joins again, then the article's service: Docker 28's own task
    error (messages.task_error("28"), captured), read by the doctor as the address pools' doing."""
    cluster = Cluster.from_lab(lab28)
    faults.inject(cluster, "vpn-routes", node="node2", rejoin=True)
    try:
        story.create_overlay(cluster).check()
        story.service_create(cluster, restart_delay="1s").check()
        table = story.wait_for_failure(cluster, node="node2", timeout=30)
        assert set(story.failed(table)["error"]) == {messages.task_error("28")}
        found = doctor(cluster)
        errors = found[(found["severity"] == "error") & (found["node"] == "node2")].set_index("check")
        assert "route (172.16.0.0/12, 192.168.0.0/16)" in errors.loc["address pools", "cause"]
        assert "task errors: no address pool for docker_gwbridge" in errors.index
    finally:
        story.service_rm(cluster)
        faults.undo(cluster, "vpn-routes", node="node2")
        story.rejoin(cluster, "node2")  # a join with the pools free gives node2 its docker_gwbridge back


def test_pools_exhausted_is_injected_found_and_undone_on_28(lab28):
    """The fault waits for Docker's no-pool answer; on 28 that is 28's words, so inject must finish."""
    cluster = Cluster.from_lab(lab28)
    node2 = cluster.node("node2")
    failures = story.join_failures(node2)
    report = faults.inject(cluster, "pools-exhausted", node="node2", rejoin=True)
    assert any(f"then: {messages.network_create_no_pool('28')}" in r.stdout for r in report.results)
    assert story.wait_for_join(cluster, [node2], failures_before={"node2": failures}) == {"node2": "failed"}
    found = doctor(cluster)
    pools = found[(found["node"] == "node2") & (found["check"] == "address pools")].iloc[0]
    assert pools["severity"] == "error" and "proj0_default" in pools["evidence"]
    faults.undo(cluster, "pools-exhausted", node="node2")
    assert node2.run(f"docker network ls -q --filter label={faults.NETWORK_LABEL}").check().stdout == ""
    story.rejoin(cluster, "node2")
    story.wait_for_network(cluster, "docker_gwbridge", nodes=[node2], timeout=20)


@pytest.fixture
def fresh_lab28(docker_engine):
    """A lab of its own (beside the module's, on another subnet): advertise-unreachable rejoins node2
    on a wrong address."""
    with docker_swarm(docker_engine, "v28a", DOCKER, subnet="172.16.157.0/24") as lab:
        yield lab


def test_advertise_unreachable_s_undo_puts_the_node_back_on_its_address_on_28(fresh_lab28):
    cluster = Cluster.from_lab(fresh_lab28)
    story.create_overlay(cluster).check()
    story.service_create(cluster, restart_delay="1s").check()
    story.wait_for_running(cluster, timeout=30)  # a task on node2: what makes 28's leave fail
    node2 = cluster.node("node2")
    faults.inject(cluster, "advertise-unreachable", node="node2")
    found = doctor(cluster)
    assert ((found["node"] == "node2") & (found["check"] == "advertise address") & (found["severity"] == "error")).any()
    faults.undo(cluster, "advertise-unreachable", node="node2")
    assert node2.run("docker info --format '{{.Swarm.NodeAddr}}'").check().stdout.strip() == node2.address
    rows = [json.loads(line) for line in
            cluster.manager.run("docker node ls --format '{{json .}}'").check().stdout.splitlines()]
    assert sorted((r["Hostname"], r["Status"]) for r in rows) == [("node1", "Ready"), ("node2", "Ready")]
