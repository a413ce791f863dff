"""The article end to end on the docker driver: node containers on a real engine, the VPN routes
on node2 before it joins, the exact error, the doctor, the fix, 2/2 replicas and traffic over uber-net."""
from __future__ import annotations

import time

from swarmlab import faults, story
from swarmlab.cli import main as cli_main
from swarmlab.cluster import Cluster
from swarmlab.doctor import doctor
from swarmlab.fix import fix_gwbridge, recreate_service, verified

ARTICLE_ERROR = ("starting container failed: error creating external connectivity network: could not find "
                 "an available, non-overlapping IPv4 address pool among the defaults to assign to the network")


def test_article_story_on_node_containers(make_docker_lab):
    started = time.monotonic()
    lab = make_docker_lab()
    cluster = Cluster.from_lab(lab)
    assert cluster.node("node2").transport.kind == "docker-exec"
    node2 = cluster.node("node2")

    # node2 behind the VPN routes before it joins, as the author's worker was.
    faults.inject(cluster, "vpn-routes", node="node2")
    assert "172.16.0.0/12 dev ens33 proto 199" in node2.run("ip route").stdout
    story.form_swarm(cluster)
    story.create_overlay(cluster).check()
    story.service_create(cluster, restart_delay="1s").check()

    # The failure, word for word: the task on node2 cannot get docker_gwbridge.
    story.wait_for_failure(cluster, node="node2", timeout=60)
    errors = story.failed(story.tasks(cluster))
    errors = errors[errors["node"] == "node2"]["error"]
    assert not errors.empty and errors.str.startswith(ARTICLE_ERROR).all(), errors.to_string()
    assert "docker_gwbridge" not in story.network_ls(node2).stdout
    assert "docker_gwbridge" in story.network_ls(cluster.node("node1")).stdout

    # The doctor finds the missing bridge on node2, with evidence, and says so on the CLI too.
    findings = doctor(cluster)
    found = findings[(findings["severity"] == "error") & (findings["node"] == "node2")].set_index("check")
    assert "no docker_gwbridge" in found.loc["docker_gwbridge", "evidence"]
    assert "172.16.0.0/12 dev ens33" in found.loc["address pools", "evidence"]
    assert cli_main(["doctor", "--lab", lab.name]) == 1

    # The fix, then the article's service rm + create: both replicas run, one per node,
    # and node2's replica pings node1's over uber-net.
    report = fix_gwbridge(node2, like=cluster.manager)
    assert report.ok, report.terminal()
    assert "docker_gwbridge" in story.network_ls(node2).stdout
    recreate_service(cluster)
    verification = verified(cluster, from_node="node2")
    assert verification.ok, verification.terminal()
    assert story.placement(story.running(story.tasks(cluster))) == {"node1": 1, "node2": 1}
    print(f"docker-driver story end to end: {time.monotonic() - started:.1f} s")


def test_mtu_blackhole_on_node_containers_small_pings_pass_big_ones_vanish(make_docker_lab):
    """The engine's switch is out of reach, so the node itself drops arriving packets over 1400
    bytes: the same symptoms as the namespace lab's narrow switch port, and the doctor's verdict."""
    cluster = Cluster.from_lab(make_docker_lab(swarm=True))
    story.wait_for_join(cluster)
    node1, node2 = cluster.node("node1"), cluster.node("node2")
    faults.inject(cluster, "mtu-blackhole", node="node2")
    assert "--length 1401:65535" in node2.run("iptables -t raw -S PREROUTING").stdout
    assert node1.run(f"ping -c 1 -W 1 -s 56 {node2.address}").ok
    big = node1.run(f"ping -c 1 -W 1 -M do -s 1472 {node2.address}")
    assert not big.ok and "too long" not in big.stdout + big.stderr  # lost, no error back
    found = doctor(cluster)
    path = found[(found["severity"] == "error") & (found["check"] == "path mtu")]
    # Both ways, as with the switch port: node2's own big ping goes out, its big reply does not come in.
    assert sorted(path["node"]) == ["node1 -> node2", "node2 -> node1"], path
    assert f"ping {node2.address} 1472 df lost 2" in path.set_index("node").loc["node1 -> node2", "evidence"].splitlines()
    overlay = found[(found["severity"] == "error") & (found["check"] == "overlay mtu")]
    assert sorted(overlay["node"]) == ["node1 -> node2", "node2 -> node1"], overlay
    faults.undo(cluster, "mtu-blackhole", node="node2")
    assert "mtu-blackhole" not in node2.run("iptables -t raw -S PREROUTING").stdout
    assert node1.run(f"ping -c 1 -W 1 -M do -s 1472 {node2.address}").ok
