"""The article, live: the fault, the failure, the doctor, the fix (real labs, root).

Each test builds its own 2-node lab through `make_lab` (node1 172.16.155.131
manager, node2 .132) and leaves nothing behind.
"""
from __future__ import annotations

import ipaddress
import re
import time

import pytest

from swarmlab import faults, story
from swarmlab.cli import main as cli_main
from swarmlab.cluster import Cluster
from swarmlab.doctor import doctor, worst
from swarmlab.fix import fix_address_pools, fix_gwbridge, recreate_service, verify_service

ARTICLE_ERROR = "starting container failed: error creating external connectivity network"
POOL_ERROR = "could not find an available, non-overlapping IPv4 address pool"


def problems(findings):
    return findings[findings["severity"] != "info"]


def broken_article_swarm(make_lab, restart_delay=None) -> Cluster:
    """The article's swarm with node2 behind the VPN routes before it joins; `test` created."""
    cluster = Cluster.from_lab(make_lab())
    faults.inject(cluster, "vpn-routes", node="node2")
    story.form_swarm(cluster)
    story.create_overlay(cluster).check()
    story.service_create(cluster, restart_delay=restart_delay).check()
    return cluster


def test_article_story_fault_failure_doctor_fix(make_lab):
    started = time.monotonic()
    # Tasks retry after 1 s instead of 5 s: the same story as the article's, told in 8 s instead of 22.
    cluster = broken_article_swarm(make_lab, restart_delay="1s")
    node2 = cluster.node("node2")

    # The failure, as the article saw it: the replica on node2 never starts, and the
    # scheduler ends up putting both replicas on node1.
    timeline = story.placement_timeline(cluster, duration=20, interval=0.25,
                                        until=lambda t: story.placement(t) == {"node1": 2})
    assert story.placement(story.tasks(cluster)) == {"node1": 2}, timeline.to_string()
    history = story.task_history(timeline)
    failed_on_node2 = history[(history["node"] == "node2") & (history["state"] == "Failed")]
    assert len(failed_on_node2) >= 4, history.to_string()
    assert failed_on_node2["error"].str.startswith(f"{ARTICLE_ERROR}: {POOL_ERROR}").all()
    assert f'"{ARTICLE_ERROR}' in story.service_ps(cluster, no_trunc=True).stdout

    # Its containers were created but never started; starting one by hand finds no network.
    containers = story.task_containers(node2)
    assert not containers.empty and set(containers["state"]) == {"created"}
    start = story.container_start(node2, containers["id"][0])
    assert not start.ok
    assert re.search(r"Error response from daemon: network \w+ not found", start.stderr), start.stderr
    assert "docker_gwbridge" not in story.network_ls(node2).stdout

    # The doctor names the missing docker_gwbridge and the routes that cover the pools.
    findings = doctor(cluster)
    errors = findings[(findings["severity"] == "error") & (findings["node"] == "node2")].set_index("check")
    assert "no docker_gwbridge" in errors.loc["docker_gwbridge", "evidence"]
    pools_evidence = errors.loc["address pools", "evidence"]
    assert "172.16.0.0/12 dev ens33" in pools_evidence and "192.168.0.0/16 dev ens33" in pools_evidence
    assert "0 of 31 default pools free" in pools_evidence
    assert any(ARTICLE_ERROR in e for e in findings["evidence"])
    assert cli_main(["doctor", "--lab", cluster.lab.name]) == 1

    # The fix: docker_gwbridge on a subnet clear of the VPN, then the service again.
    report = fix_gwbridge(node2, like=cluster.manager)
    assert report.ok and report.subnet == "10.199.0.0/16"
    assert "172.18.0.0/16 is not usable here" in report.explanation
    recreate_service(cluster)
    verification = verify_service(cluster, from_node="node2")
    assert verification.ok, verification.terminal()
    assert set(story.placement(story.tasks(cluster))) == {"node1", "node2"}

    # What stays: the VPN routes still exhaust the pools (a warning now), nothing is an error.
    after = doctor(cluster)
    assert worst(after) == "warning", problems(after).to_string()
    assert set(problems(after)["check"]) == {"address pools"}
    assert time.monotonic() - started < 30


def test_the_articles_exact_command_works_despite_the_covering_route(make_lab, capsys):
    """Docker does not check routes for an explicit --subnet: the article's 172.18.0.0/16 is accepted."""
    cluster = broken_article_swarm(make_lab)
    story.wait_for_failure(cluster, node="node2")
    capsys.readouterr()
    assert cli_main(["fix", "gwbridge", "--lab", cluster.lab.name, "--subnet", "172.18.0.0/16", "node2"]) == 0
    printed = capsys.readouterr().out
    assert ("docker network create --subnet 172.18.0.0/16 --gateway 172.18.0.1 "
            "-o com.docker.network.bridge.enable_icc=false "
            "-o com.docker.network.bridge.name=docker_gwbridge docker_gwbridge") in printed
    assert "although route `172.16.0.0/12 dev ens33" in printed
    recreate_service(cluster)
    assert verify_service(cluster, from_node="node2").ok


def test_lasting_fix_address_pools_before_join(make_lab):
    """default-address-pools clear of the VPN: node2 joins and creates docker_gwbridge itself."""
    cluster = Cluster.from_lab(make_lab())
    node2 = cluster.node("node2")
    faults.inject(cluster, "vpn-routes", node="node2")
    report = fix_address_pools(node2)
    assert report.ok and report.subnet == "10.199.0.0/16"
    story.form_swarm(cluster)
    story.wait_for_network(cluster, "docker_gwbridge", nodes=["node2"])
    subnet = node2.run("docker network inspect --format '{{(index .IPAM.Config 0).Subnet}}' docker_gwbridge")
    assert ipaddress.IPv4Network(subnet.stdout.strip()).subnet_of(ipaddress.IPv4Network("10.199.0.0/16"))
    story.create_overlay(cluster).check()
    story.service_create(cluster).check()
    assert verify_service(cluster, from_node="node2").ok


def healthy_swarm(make_lab) -> Cluster:
    cluster = Cluster.from_lab(make_lab())
    story.form_swarm(cluster)
    story.wait_for_network(cluster, "docker_gwbridge")
    story.create_overlay(cluster).check()
    story.service_create(cluster).check()
    story.wait_for_running(cluster)
    return cluster


def test_healthy_lab_then_vxlan_blocked(make_lab):
    cluster = healthy_swarm(make_lab)
    started = time.monotonic()
    healthy = doctor(cluster)
    assert time.monotonic() - started < 2
    assert problems(healthy).empty, problems(healthy).to_string()
    assert cli_main(["doctor", "--lab", cluster.lab.name]) == 0

    faults.inject(cluster, "vxlan-blocked", node="node2")
    findings = problems(doctor(cluster))
    assert list(zip(findings["node"], findings["check"])) == [("node2", "firewall 4789/udp")]
    assert "--dport 4789" in findings.iloc[0]["evidence"] and "DROP" in findings.iloc[0]["evidence"]
    # The fault's effect: the overlay no longer carries traffic between the nodes.
    assert not verify_service(cluster, from_node="node2").ok

    faults.undo(cluster, "vxlan-blocked", node="node2")
    assert problems(doctor(cluster)).empty
    assert verify_service(cluster, from_node="node2").ok


def test_gossip_blocked_is_found_by_probe_and_rule(make_lab):
    cluster = healthy_swarm(make_lab)
    faults.inject(cluster, "gossip-blocked", node="node2")
    findings = problems(doctor(cluster)).set_index("check")
    assert {"reach 7946/tcp", "firewall 7946/tcp", "firewall 7946/udp"} <= set(findings.index)
    assert "timeout" in findings.loc["reach 7946/tcp", "evidence"]
    faults.undo(cluster, "gossip-blocked", node="node2")
    assert problems(doctor(cluster)).empty


def test_vpn_routes_on_a_joined_node_says_when_it_bites(make_lab, capsys):
    lab = make_lab(swarm=True)
    assert cli_main(["lab", "inject", "--name", lab.name, "vpn-routes", "node2"]) == 0
    printed = capsys.readouterr().out
    assert "already in the swarm" in printed and "rejoin" in printed
    assert "172.16.155.131 dev ens33" in printed  # node2 still reaches node1 on-link
    assert cli_main(["lab", "undo", "--name", lab.name, "vpn-routes", "node2"]) == 0
    assert "proto 199" not in lab.node("node2").run("ip route").stdout


@pytest.mark.parametrize("fault", sorted(faults.FAULTS))
def test_fault_registry_entries_are_complete(fault):
    spec = faults.FAULTS[fault]
    assert spec.name == fault and spec.description and callable(spec.inject) and callable(spec.undo)
