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
from swarmlab.fix import fix_address_pools, fix_gwbridge, recreate_service, verified, verify_service

ARTICLE_ERROR = "starting container failed: error creating external connectivity network"
POOL_ERROR = "could not find an available, non-overlapping IPv4 address pool"


def problems(findings):
    """What the doctor finds wrong, past the one warning this machine's kernel earns every swarm with a VIP
    service (no ip_vs here; tests/unit/doctor/test_diagnose.py checks that warning)."""
    found = findings[findings["severity"] != "info"]
    return found[found["check"] != "kernel limits: ip_vs"]


def doctor_until_clean(cluster, timeout: float = 30):
    """The doctor reads the daemons' last GOSSIP_WINDOW seconds of gossip: a fault just undone clears soon after."""
    deadline = time.monotonic() + timeout
    while True:
        found = problems(doctor(cluster))
        if found.empty or time.monotonic() > deadline:
            return found
        time.sleep(2)


def broken_article_swarm(make_lab, restart_delay=None) -> Cluster:
    """The article's swarm with node2 behind the VPN routes before it joins; `test` created."""
    cluster = Cluster.from_lab(make_lab())
    faults.inject(cluster, "vpn-routes", node="node2")
    story.form_swarm(cluster)
    story.create_overlay(cluster).check()
    story.service_create(cluster, restart_delay=restart_delay).check()
    return cluster


def test_article_story_fault_failure_doctor_fix(make_lab):
    # Tasks retry after 1 s instead of 5 s: the same story as the article's, told in 8 s instead of 22.
    cluster = broken_article_swarm(make_lab, restart_delay="1s")
    node2 = cluster.node("node2")

    # The failure, as the article saw it: the replica on node2 never starts, and the
    # scheduler ends up putting both replicas on node1 (about 8 s here with 1 s restarts;
    # a busy machine takes longer, hence the 60 s bound).
    timeline = story.placement_timeline(cluster, duration=60, interval=0.25,
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
    verification = verified(cluster, from_node="node2")
    assert verification.ok, verification.terminal()
    assert set(story.placement(story.tasks(cluster))) == {"node1", "node2"}

    # What stays: the VPN routes still exhaust the pools (a warning now), nothing is an error.
    after = doctor(cluster)
    assert worst(after) == "warning", problems(after).to_string()
    assert set(problems(after)["check"]) == {"address pools"}


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
    verification = verified(cluster, from_node="node2")
    assert verification.ok, verification.terminal()


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
    verification = verified(cluster, from_node="node2")
    assert verification.ok, verification.terminal()


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
    healthy = doctor(cluster)
    assert problems(healthy).empty, problems(healthy).to_string()
    assert cli_main(["doctor", "--lab", cluster.lab.name]) == 0

    faults.inject(cluster, "vxlan-blocked", node="node2")
    findings = problems(doctor(cluster))
    assert list(zip(findings["node"], findings["check"])) == [("node1, node2", "overlay traffic"),
                                                               ("node2", "firewall 4789/udp")]
    # Real pings over the ingress overlay: the probe scripts' own lines, and their summary.
    overlay = findings.iloc[0]["evidence"]
    assert any(line.startswith("ping ") and line.endswith(" 56 - lost 2") for line in overlay.splitlines())
    assert "lost (2 tries)" in overlay
    assert "--dport 4789" in findings.iloc[1]["evidence"] and "DROP" in findings.iloc[1]["evidence"]
    # The fault's effect: the overlay no longer carries traffic between the nodes (a healthy
    # path answers the first ping here; a few seconds of patience are plenty to call it dark).
    blocked = verify_service(cluster, from_node="node2", reach_timeout=5)
    assert not blocked.ok
    assert "tries over 5 s" in blocked.checks["detail"].iloc[-1], blocked.terminal()
    # Each side still knows the other as a peer of uber-net: gossip works, the data path does not.
    assert [f" {node.address}\n" in blocked.terminal() for node in cluster] == [True, True], blocked.terminal()
    assert "Keys:[[" not in blocked.terminal()  # the gossip keys, secrets, are not shown
    # The overlay's forwarding tables, on both nodes, are shown for the reader to compare.
    assert blocked.terminal().count("# fdb\n") == 2 and blocked.terminal().count("# neigh\n") == 2
    assert blocked.missing_peer == ""  # node1 knows node2's task: the firewall, not Docker, drops the pings

    faults.undo(cluster, "vxlan-blocked", node="node2")
    assert problems(doctor(cluster)).empty
    verification = verified(cluster, from_node="node2")
    assert verification.ok, verification.terminal()


def test_gossip_blocked_is_found_by_probe_and_rule(make_lab):
    cluster = healthy_swarm(make_lab)
    faults.inject(cluster, "gossip-blocked", node="node2")
    findings = problems(doctor(cluster)).set_index("check")
    assert {"reach 7946/tcp", "firewall 7946/tcp", "firewall 7946/udp"} <= set(findings.index)
    assert any(line.startswith("tcp ") and " 7946 timeout " in line
               for line in findings.loc["reach 7946/tcp", "evidence"].splitlines())
    # UDP 7946 has no answer to probe for; the daemons' own gossip probes say it, within seconds.
    deadline = time.monotonic() + 30
    while "gossip udp/7946" not in findings.index and time.monotonic() < deadline:
        time.sleep(2)
        findings = problems(doctor(cluster)).set_index("check")
    assert findings.loc["gossip udp/7946", "node"] == "node2"
    assert "but other probes failed" in findings.loc["gossip udp/7946", "evidence"]
    faults.undo(cluster, "gossip-blocked", node="node2")
    # CI once saw one error left 30 s after this undo (which finding, it did not print; not
    # reproduced here in 4 runs with 2 busy loops): wait longer, and say what is left.
    left = doctor_until_clean(cluster, timeout=60)
    assert left.empty, left[["severity", "node", "check", "cause", "evidence"]].to_string()


def test_vpn_routes_on_a_joined_node_says_when_it_bites(make_lab, capsys):
    lab = make_lab(swarm=True)
    assert cli_main(["lab", "inject", "--name", lab.name, "vpn-routes", "node2"]) == 0
    printed = capsys.readouterr().out
    assert "already in the swarm" in printed and "rejoin" in printed
    assert "172.16.155.131 dev ens33" in printed  # node2 still reaches node1 on-link
    assert cli_main(["lab", "undo", "--name", lab.name, "vpn-routes", "node2"]) == 0
    assert "proto 199" not in lab.node("node2").run("ip route").stdout


# What a fault changes on a node; undo must give each back exactly. (Swarm-scope networks
# are left out: they come and go with gossip, which gossip-blocked cuts for a while.)
# Routes without `linkdown` (a bridge's carrier comes and goes with its containers) and rules
# in order (a restarted dockerd writes the same rules in another order).
NODE_STATE = {"routes": "ip route | sed 's/ linkdown//'", "firewall": "iptables -S | sort",
              "networks": "docker network ls --filter scope=local --format '{{.Name}} {{.Driver}}'",
              "hostname": "hostname",
              "daemon": "docker info --format '{{.ServerVersion}} {{.Swarm.LocalNodeState}} {{.Swarm.NodeAddr}}'"}
# These two change what lies around node2 (the switch's port, the manager's networks), not node2:
# tests/live/test_faults.py checks each of them, with the traffic that shows it.
AROUND_THE_NODE = {"mtu-blackhole", "overlay-overlaps-lan"}


def node_state(node, tries: int = 20) -> dict[str, str]:
    """What NODE_STATE reads on node, once two reads in a row agree: dockerd rewrites some of
    it for a moment whenever it creates a network (the FORWARD jump to DOCKER-USER is deleted,
    then inserted again), and a read in that moment is no state the node stays in."""
    previous = None
    for _ in range(tries):
        state = {what: node.run(command).stdout for what, command in NODE_STATE.items()}
        if state == previous:
            return state
        previous = state
        time.sleep(0.2)
    raise AssertionError(f"{node.name}'s state kept changing over {tries} reads; the last: {state}")


@pytest.mark.parametrize("fault", sorted(set(faults.FAULTS) - AROUND_THE_NODE))
def test_every_fault_changes_its_node_and_undo_gives_it_back(swarm_lab, fault, capsys):
    assert cli_main(["lab", "faults"]) == 0
    listed = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    assert listed[fault] == faults.FAULTS[fault].description
    cluster = Cluster.from_lab(swarm_lab)
    story.wait_for_network(cluster, "docker_gwbridge")  # Docker makes it just after the join
    node2 = cluster.node("node2")
    before = node_state(node2)
    assert cli_main(["lab", "inject", "--name", swarm_lab.name, fault, "node2"]) == 0
    injected = node_state(node2)
    assert injected != before, f"{fault} changed none of {', '.join(NODE_STATE)} on node2"
    assert cli_main(["lab", "undo", "--name", swarm_lab.name, fault, "node2"]) == 0
    assert node_state(node2) == before, f"undo {fault} left node2 changed"


def foreign_routes(node) -> list[str]:
    """node's routes other than those of its own Docker networks (each bridge network adds one)."""
    subnets = node.run("docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' "
                       "$(docker network ls -q)").check().stdout.split()
    return [line for line in node.run("ip route").check().stdout.splitlines()
            if line.split()[0] not in subnets]


@pytest.mark.parametrize("fault", ["vpn-routes", "pools-exhausted"])
def test_both_causes_give_the_articles_error_and_undo_lets_docker_heal(make_lab, capsys, fault):
    """Two causes of one error: routes over every pool (vpn-routes), or networks holding them all."""
    cluster = Cluster.from_lab(make_lab())
    node2 = cluster.node("node2")
    routes_before = foreign_routes(node2)
    assert cli_main(["lab", "inject", "--name", cluster.lab.name, fault, "node2"]) == 0
    printed = capsys.readouterr().out
    if fault == "pools-exhausted":
        assert f"30 networks created; then: Error response from daemon: {POOL_ERROR}" in printed
        assert foreign_routes(node2) == routes_before  # only the LAN route: no route covers a pool
    else:
        assert len(foreign_routes(node2)) == len(routes_before) + 2

    story.form_swarm(cluster)
    story.create_overlay(cluster).check()
    story.service_create(cluster, restart_delay="1s").check()
    table = story.wait_for_failure(cluster, node="node2")
    errors = set(story.failed(table)["error"])
    assert errors == {f"{ARTICLE_ERROR}: {POOL_ERROR} among the defaults to assign to the network"}
    assert "docker_gwbridge" not in story.network_ls(node2).stdout

    findings = doctor(cluster)
    errors = findings[(findings["severity"] == "error") & (findings["node"] == "node2")].set_index("check")
    pools_finding = errors.loc["address pools"]
    if fault == "pools-exhausted":
        assert "proj0_default" in pools_finding["evidence"] and "172.18.0.0/16" in pools_finding["evidence"]
        assert "docker network prune" in pools_finding["fix"]
        assert "route (" not in pools_finding["cause"]
    else:
        assert "route (172.16.0.0/12, 192.168.0.0/16)" in pools_finding["cause"]

    # The pools come back (for pools-exhausted by the doctor's own fix, prune); the task retrying
    # on node2 then makes docker_gwbridge itself (what undo's note promises, when it sees it missing).
    if fault == "pools-exhausted":
        assert node2.run("docker network prune -f").check().stdout.count("proj") == 30
    assert cli_main(["lab", "undo", "--name", cluster.lab.name, fault, "node2"]) == 0
    story.wait_for_network(cluster, "docker_gwbridge", nodes=["node2"], timeout=20)
    recreate_service(cluster)  # the scheduler moved node2's replica to node1 meanwhile
    verification = verified(cluster, from_node="node2")
    assert verification.ok, verification.terminal()
