"""The faults from the field (docs/faults.md), each on a real lab: inject, the error users see,
the doctor's finding with its evidence, the fix, and the swarm working again."""
from __future__ import annotations

import re
import time

from swarmlab import faults, story
from swarmlab.cluster import Cluster
from swarmlab.doctor import doctor
from swarmlab.fix import restart_docker

LAN_PEER = "172.16.155.131"  # node1 on the lab's LAN


def findings_of(cluster, check: str):
    found = doctor(cluster)
    return found[(found["check"] == check) & (found["severity"] != "info")]


def swarm(make_lab) -> Cluster:
    cluster = Cluster.from_lab(make_lab(swarm=True))
    story.wait_for_network(cluster, "docker_gwbridge")
    return cluster


def wait_until(predicate, timeout: float = 30, interval: float = 1):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)


def test_manager_port_blocked_join_times_out_and_the_probe_says_where(make_lab):
    cluster = Cluster.from_lab(make_lab())
    story.swarm_init(cluster).check()
    faults.inject(cluster, "manager-port-blocked", node="node1")
    joined = story.swarm_join(cluster, "node2")
    assert joined.exit_code != 0
    assert "Timeout was reached before node joined" in joined.stderr  # what users see (docs/faults.md)

    found = doctor(cluster)
    reach = found[found["check"] == "reach 2377/tcp"].iloc[0]
    assert (reach["severity"], reach["node"]) == ("error", "node1")
    # A filter, proven by traffic: the manager answers a ping and resets a closed port. The probe
    # script's own lines on node2, and the summary that reads them.
    manager = cluster.node("node1").address
    lines = reach["evidence"].splitlines()
    assert f"tcp {manager} 2377 timeout 2" in lines
    # Each control line ends with its tries (a busy machine may need the retry).
    assert any(re.fullmatch(rf"ctl-ping {re.escape(manager)} ok [12]", line) for line in lines), lines
    assert any(re.fullmatch(rf"ctl-tcp {re.escape(manager)} 1 refused [12]", line) for line in lines), lines
    assert "timeout (2 tries)" in reach["evidence"] and "ping: ok; closed port: refused" in reach["evidence"]
    pending = found[(found["check"] == "swarm") & (found["node"] == "node2")].iloc[0]
    assert pending["severity"] == "error" and "pending" in pending["evidence"]

    faults.undo(cluster, "manager-port-blocked", node="node1")  # the fix: open 2377/tcp
    node2 = cluster.node("node2")
    wait_until(lambda: node2.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "active", 60)
    assert findings_of(cluster, "reach 2377/tcp").empty


def _containers_on(cluster, network: str, mtu: str | None = None) -> dict[str, str]:
    """An attachable overlay with a container on each node; their addresses by node."""
    opt = f"-o com.docker.network.driver.mtu={mtu} " if mtu else ""
    cluster.manager.run(f"docker network create -d overlay --attachable {opt}{network}").check()
    addresses = {}
    for node in cluster:
        node.run(f"docker run -d --name {network}-c --network {network} busybox sleep 3600").check()
        addresses[node.name] = node.run(
            f"docker inspect -f '{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}' {network}-c"
        ).check().stdout.strip()
    return addresses


def test_mtu_blackhole_small_pings_pass_big_ones_vanish_and_a_smaller_overlay_mtu_fixes_it(make_lab):
    cluster = swarm(make_lab)
    node1 = cluster.node("node1")
    default = _containers_on(cluster, "bignet")
    small = _containers_on(cluster, "smallnet", mtu="1350")  # the fix, set up while the path is whole
    faults.inject(cluster, "mtu-blackhole", node="node2")
    node2_address = cluster.node("node2").address
    assert node1.run(f"ping -c 1 -W 1 -s 56 {node2_address}").ok
    assert not node1.run(f"ping -c 1 -W 1 -M do -s 1472 {node2_address}").ok  # lost, no error back
    # Over the default overlay (MTU 1450): small passes, a 1400-byte ping does not.
    assert node1.run(f"docker exec bignet-c ping -c 1 -W 2 -s 56 {default['node2']}").ok
    assert not node1.run(f"docker exec bignet-c ping -c 1 -W 2 -s 1400 {default['node2']}").ok

    found = doctor(cluster)
    errors = found[found["severity"] == "error"]
    assert {"path mtu", "overlay mtu"} <= set(errors["check"])
    path = errors[errors["check"] == "path mtu"].iloc[0]
    assert f"ping {node2_address} 1472 df lost 2" in path["evidence"].splitlines()  # node1's probe line
    assert "-M do -s 1472" in path["evidence"] and "lost (2 tries)" in path["evidence"]

    # The fix while the path stays narrow: an overlay whose MTU + 50 fits the path.
    assert node1.run(f"docker exec smallnet-c ping -c 1 -W 2 -s 1400 {small['node2']}").ok

    faults.undo(cluster, "mtu-blackhole", node="node2")
    assert node1.run(f"ping -c 1 -W 1 -M do -s 1472 {node2_address}").ok
    assert findings_of(cluster, "path mtu").empty


def test_advertise_unreachable_node_is_ready_but_cut_off(make_lab):
    cluster = swarm(make_lab)
    faults.inject(cluster, "advertise-unreachable", node="node2")
    nodes = cluster.manager.run("docker node ls --format '{{.Hostname}} {{.Status}}'").check().stdout
    assert "node2 Ready" in nodes  # nothing looks wrong from the manager

    found = findings_of(cluster, "advertise address")
    row = found.iloc[0]
    assert (row["severity"], row["node"]) == ("error", "node2")
    assert "Swarm.NodeAddr is 10.99.0.3;" in row["evidence"]
    # The manager's own probe lines for that address, one of them unreachable.
    assert any(line.startswith(("ping 10.99.0.3 ", "tcp 10.99.0.3 ")) and " unreachable " in line
               for line in row["evidence"].splitlines())
    assert "--advertise-addr 172.16.155.132" in row["fix"]

    faults.undo(cluster, "advertise-unreachable", node="node2")  # the fix: join again on the right address
    assert findings_of(cluster, "advertise address").empty


def test_iptables_flushed_published_port_fails_and_a_restart_brings_the_chains_back(make_lab):
    cluster = swarm(make_lab)
    node2 = cluster.node("node2")
    faults.inject(cluster, "iptables-flushed", node="node2")
    run = node2.run("docker run -d -p 8081:80 busybox sleep 3600")
    assert run.exit_code != 0
    assert "No chain/target/match by that name" in run.stderr  # what users see (docs/faults.md)

    row = findings_of(cluster, "iptables chains").iloc[0]
    assert (row["severity"], row["node"]) == ("error", "node2")
    assert "nat/DOCKER" in row["cause"] and row["fix"] == "systemctl restart docker"

    restart_docker(node2)  # the fix
    assert node2.run("docker run -d -p 8082:80 busybox sleep 3600").ok
    assert findings_of(cluster, "iptables chains").empty
    faults.undo(cluster, "iptables-flushed", node="node2")  # keeps the rules the restart wrote
    assert node2.run("iptables -t nat -S DOCKER").ok


def test_duplicate_hostname_makes_node_commands_ambiguous(make_lab):
    cluster = swarm(make_lab)
    faults.inject(cluster, "duplicate-hostname", node="node2")
    update = cluster.manager.run("docker node update --label-add zone=a node1")
    assert update.exit_code != 0
    assert "node node1 is ambiguous (2 matches found)" in update.stderr  # what users see

    row = findings_of(cluster, "duplicate hostname").iloc[0]
    assert row["node"] == "node1" and row["evidence"].count("node1 Ready") == 2  # both entries of node ls

    faults.undo(cluster, "duplicate-hostname", node="node2")  # the fix: its own name, dockerd restarted
    assert cluster.manager.run("docker node update --label-add zone=a node1").ok
    assert findings_of(cluster, "duplicate hostname").empty


def test_dockerd_killed_the_doctor_says_the_daemon_is_gone(make_lab):
    cluster = swarm(make_lab)
    node2 = cluster.node("node2")
    faults.inject(cluster, "dockerd-killed", node="node2")
    info = node2.run("docker info")
    assert "Cannot connect to the Docker daemon" in (info.stdout + info.stderr)  # what users see
    row = findings_of(cluster, "daemon").iloc[0]
    assert (row["severity"], row["node"]) == ("error", "node2")
    assert "Cannot connect to the Docker daemon" in row["evidence"]
    # The containerd it started is dead (a zombie here): the pid file names a process not running.
    assert "/var/run/docker/containerd/containerd.pid" in row["cause"], row["cause"]
    assert re.search(r"^\d+ (Z|gone)$", row["evidence"], re.M), row["evidence"]

    faults.undo(cluster, "dockerd-killed", node="node2")  # the fix: a stale containerd pid file goes, dockerd starts
    wait_until(lambda: "node2 Ready" in cluster.manager.run(
        "docker node ls --format '{{.Hostname}} {{.Status}}'").stdout, 60)
    assert findings_of(cluster, "daemon").empty


def test_overlay_overlapping_the_lan_cuts_its_containers_off_the_lan(make_lab):
    cluster = swarm(make_lab)
    node2 = cluster.node("node2")
    faults.inject(cluster, "overlay-overlaps-lan", node="node2")
    # A container on that overlay cannot reach node1's LAN address; one on the default bridge can.
    assert not node2.run(f"docker run --rm --network lan-overlap busybox ping -c 1 -W 2 {LAN_PEER}").ok
    assert node2.run(f"docker run --rm busybox ping -c 1 -W 2 {LAN_PEER}").ok

    row = findings_of(cluster, "overlay subnet").iloc[0]
    # The overlay's own lines of the manager's `docker network inspect`, and node2's route (a summary).
    assert row["severity"] == "error" and '        "Name": "lan-overlap",' in row["evidence"].splitlines()
    assert '"Subnet": "172.16.155.0/24"' in row["evidence"] and "172.16.155.0/24 dev ens33" in row["evidence"]

    faults.undo(cluster, "overlay-overlaps-lan", node="node2")
    # The fix: the same overlay on a subnet nobody routes.
    cluster.manager.run("docker network create -d overlay --attachable --subnet 10.123.0.0/24 lan-free").check()
    assert node2.run(f"docker run --rm --network lan-free busybox ping -c 1 -W 2 {LAN_PEER}").ok
    assert findings_of(cluster, "overlay subnet").empty


def test_kernel_without_ip_vs_published_port_refused_and_said(make_lab):
    """This machine's kernel has no ip_vs (swarmlab check): the routing mesh cannot work here."""
    cluster = swarm(make_lab)
    manager = cluster.manager
    manager.run("docker service create -d --name web --publish 8080:8080 busybox "
                "sh -c 'while true; do echo ok | nc -l -p 8080; done'").check()
    story.wait_for_running(cluster, service="web", replicas=1)
    connect = manager.run(f"timeout 2 bash -c 'exec 3<>/dev/tcp/{manager.address}/8080'")
    assert connect.exit_code != 0 and "refused" in connect.stderr
    wait_until(lambda: "Native loadbalancing will not work" in manager.run("cat /var/log/dockerd.log").stdout)

    row = findings_of(cluster, "kernel limits: ip_vs").iloc[0]
    assert row["severity"] == "error"  # a refused connection is the proof
    lines = row["evidence"].splitlines()
    assert "ip_vs missing" in lines and "Could not get ipvs family information" in row["evidence"]
    assert f"tcp {manager.address} 8080 refused 2" in lines  # the manager's probe of its published port
    assert "published ports 8080" in row["cause"]
    assert "mode=host" in row["fix"] and "--endpoint-mode dnsrr" in row["fix"] and "tasks.SERVICE" in row["fix"]


def test_kernel_without_esp_encrypted_overlay_said_with_the_daemons_words(make_lab):
    cluster = swarm(make_lab)
    manager = cluster.manager
    manager.run("docker network create -d overlay --opt encrypted secret").check()
    manager.run("docker service create -d --name sec --network secret --replicas 2 busybox sleep 3600").check()
    story.wait_for_running(cluster, service="sec", replicas=2)
    wait_until(lambda: "Failed Adding" in cluster.node("node2").run("cat /var/log/dockerd.log").stdout)

    found = findings_of(cluster, "kernel limits: ESP")
    assert set(found["node"]) >= {"node2"} and (found["severity"] == "error").all()
    row = found[found["node"] == "node2"].iloc[0]
    assert "esp4 missing" in row["evidence"] and "function not implemented" in row["evidence"]
    assert "esp-gcm missing: " in row["evidence"]  # the kernel itself, asked in a throwaway namespace
    assert "rfc4106(gcm(aes))" in row["evidence"] and "Key: <hidden>" in row["evidence"]
    assert "secret" in row["cause"]
