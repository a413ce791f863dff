"""The docker driver for real: node containers running dockerd on a real engine (a namespace lab's)."""
from __future__ import annotations

import json
import threading
import time

import pytest

import swarmlab
from swarmlab import faults
from swarmlab.cluster import Cluster
from swarmlab.errors import LabError
from swarmlab.lab import IMAGE, Lab, leftovers, teardown
from swarmlab.lab.docker.engine import EXPLICIT, LABEL_ID, LABEL_LAB

from conftest import processes_mentioning, unique_lab_name


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_swarm_forms_on_node_containers_with_the_articles_world(docker_swarm_lab, docker_engine):
    lab = docker_swarm_lab
    n1, n2 = lab.node("node1"), lab.node("node2")
    nodes = {n["Hostname"]: n for n in json_lines(n1.run("docker node ls --format '{{json .}}'").check().stdout)}
    assert set(nodes) == {"node1", "node2"}
    assert nodes["node1"]["ManagerStatus"] == "Leader" and nodes["node2"]["Status"] == "Ready"
    assert n2.run("hostname").stdout == "node2\n"
    assert "172.16.155.131/24" in n1.run("ip -4 -o addr show dev ens33").check().stdout
    assert "172.16.155.132/24" in n2.run("ip -4 -o addr show dev ens33").check().stdout
    assert n2.run("ip link show eth0").exit_code != 0  # renamed, as the article's NIC
    assert "default" not in n2.run("ip route").check().stdout
    assert "bridge name" in n2.run("brctl show").check().stdout
    assert "ens33" in n2.run("ifconfig").check().stdout
    images = n2.run("docker image ls --format '{{.Repository}}:{{.Tag}}'").check().stdout.split()
    assert IMAGE in images
    # Each node runs its own daemon.
    assert n1.run("docker info --format '{{.ID}}'").stdout != n2.run("docker info --format '{{.ID}}'").stdout
    # The engine holds exactly the lab's containers, network and volumes, labelled with its name and id.
    found = docker_engine.objects(f"{LABEL_LAB}={lab.name}")
    assert sorted(found["containers"]) == [f"swarmlab-{lab.name}-node1", f"swarmlab-{lab.name}-node2"]
    assert found["networks"] == [f"swarmlab-{lab.name}"]
    assert len(found["volumes"]) == 2
    assert docker_engine.objects(f"{LABEL_ID}={lab.id}") == found


def test_the_privileges_chosen_are_detected_and_recorded(docker_swarm_lab):
    # This machine's bounding set lacks CAP_SYS_RESOURCE: --privileged is refused (DESIGN.md).
    assert docker_swarm_lab.driver.privileges == EXPLICIT
    assert docker_swarm_lab.describe().endswith(f", {EXPLICIT}")
    again = Lab.attach(docker_swarm_lab.name)
    assert again.driver.name == "docker" and again.driver.privileges == EXPLICIT
    assert again.node("node2").run("hostname").stdout == "node2\n"


def test_exec_passes_stdin_exit_codes_and_stderr(docker_swarm_lab):
    node = docker_swarm_lab.node("node2")
    assert node.run("cat", input="over stdin\n").stdout == "over stdin\n"
    big = bytes(range(256)) * 4096  # 1 MiB: stdin is written while the output is read
    assert node.run("wc -c", input=big).stdout.strip() == str(len(big))
    res = node.run("echo out; echo err >&2; exit 7")
    assert (res.stdout, res.stderr, res.exit_code) == ("out\n", "err\n", 7)
    assert node.run(["printf", "%s|", "a b", "$HOME", "'q'"]).stdout == "a b|$HOME|'q'|"


def test_exec_timeout_kills_the_command_and_what_it_started(docker_swarm_lab):
    node = docker_swarm_lab.node("node2")
    started = time.monotonic()
    res = node.run("sleep 300 & sleep 301", timeout=1)
    assert res.exit_code == 124 and "timed out after 1 s" in res.stderr
    assert time.monotonic() - started < 30  # not the 300 s the command would take
    assert node.run("pgrep -f 'sleep 30[01]'").exit_code == 1  # nothing left running


def test_status_shows_daemons_and_swarm(docker_swarm_lab):
    table = docker_swarm_lab.status()
    assert list(table["node"]) == ["node1", "node2"]
    assert list(table["swarm"]) == ["active", "active"]
    assert all(isinstance(p, int) and p > 0 for p in table["daemon pid"])


def test_a_service_runs_on_both_nodes_over_an_overlay(docker_swarm_lab):
    n1 = docker_swarm_lab.node("node1")
    n1.run("docker network create -d overlay --attachable dd-net").check()
    n1.run(f"docker service create --detach --name dd --network dd-net --replicas 2 {IMAGE} sleep infinity").check()
    deadline = time.monotonic() + 60
    while True:
        tasks = json_lines(n1.run("docker service ps dd --filter desired-state=running --format '{{json .}}'").stdout)
        if len(tasks) == 2 and all(t["CurrentState"].startswith("Running") for t in tasks):
            break
        assert time.monotonic() < deadline, tasks
        time.sleep(0.5)
    assert {t["Node"] for t in tasks} == {"node1", "node2"}


def test_down_removes_exactly_the_labs_objects_and_works_twice(make_docker_lab, docker_engine):
    other = docker_engine.client().volumes.create("not-a-lab-volume", labels={"keep": "1"})
    try:
        lab = make_docker_lab(nodes=1, subnet="172.16.156.0/24")
        assert docker_engine.objects(f"{LABEL_LAB}={lab.name}")["containers"]
        lab.down()
        assert docker_engine.objects(f"{LABEL_LAB}={lab.name}") == {"containers": [], "networks": [], "volumes": []}
        assert leftovers(lab.name, engine=docker_engine.url, driver="docker") == []
        teardown(lab.name, engine=docker_engine.url, driver="docker")  # twice: nothing to do, no error
        assert not lab.dir.exists()
        assert docker_engine.client().volumes.get("not-a-lab-volume")  # what is not the lab's stays
    finally:
        other.remove()


def test_no_default_route_no_nameserver_unless_asked(docker_swarm_lab, make_docker_lab):
    # The engine's DNS (127.0.0.11) would answer from inside a node with no way out and
    # make every registry lookup wait 20 s: a node without a default route has no nameserver.
    node = docker_swarm_lab.node("node1")
    assert "nameserver" not in node.run("cat /etc/resolv.conf").check().stdout.replace("no nameserver", "")
    lookup = node.run("docker pull busybox:1.0")
    assert lookup.exit_code != 0 and "127.0.0.11" not in lookup.stderr
    routed = make_docker_lab(nodes=1, subnet="172.16.157.0/24", default_route=True).node("node1")
    assert routed.run("ip route").stdout.startswith("default via 172.16.157.254 dev ens33")
    assert "nameserver 127.0.0.11" in routed.run("cat /etc/resolv.conf").stdout


def test_systemctl_and_service_manage_a_node_containers_dockerd(docker_swarm_lab):
    """The admin commands of a host, word for word, in a node container (as on a namespace node)."""
    node2 = docker_swarm_lab.node("node2")
    before = node2.dockerd_pid
    status = node2.run("systemctl status docker")
    assert status.exit_code == 0 and "Active: active (running)" in status.stdout, status.stderr
    assert node2.run("service docker stop").ok and node2.dockerd_pid is None
    assert node2.run("systemctl is-active docker").stdout.strip() == "inactive"
    restarted = node2.run("systemctl restart docker")
    assert restarted.ok, restarted.stderr
    assert node2.dockerd_pid not in (None, before)
    assert node2.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "active"


def test_node_containers_answer_over_ssh_through_the_engine_with_their_host_keys_checked(docker_swarm_lab, tmp_path):
    """Lesson 7 on Docker Desktop: each node container runs sshd; the SSH client here reaches it
    through the engine (an exec of `nc` in the node), so no address of the engine's network
    needs to be routable from this machine. The host key is the one the lab wrote down."""
    from swarmlab.cluster import Cluster
    from swarmlab.errors import HostKeyMismatchError
    from swarmlab.lab.sshd import LabSSH
    lab = docker_swarm_lab
    with Cluster.from_lab(lab, via="ssh") as remote:
        assert remote.source == f"lab {lab.name} over SSH"
        node2 = remote.node("node2")
        assert node2.transport.kind == "ssh"
        res = node2.run("hostname; docker info --format '{{.Swarm.LocalNodeState}}'; echo err >&2; exit 3")
        assert (res.stdout.split(), res.stderr, res.exit_code) == (["node2", "active"], "err\n", 3)
        big = bytes(range(256)) * 4096  # 1 MiB each way through the tunnel
        assert node2.run("wc -c", input=big).stdout.strip() == str(len(big))
        assert node2.run("head -c 1048576 /dev/zero | tr '\\0' x").stdout == "x" * 1048576
        # sshd is the node's own: its log in the node, its process beside dockerd.
        assert "sshd" in node2.run("ps -o comm= -p $(cat /run/sshd.pid)").stdout
    # Another key for node2 in known_hosts: refused, naming the node.
    files = LabSSH(lab.dir)
    other = tmp_path / "known_hosts"
    lines = files.known_hosts.read_text().splitlines()
    node1_key = next(l for l in lines if l.startswith(lab.node("node1").address + " ")).split(" ", 1)[1]
    other.write_text("".join(f"{l.split(' ')[0]} {node1_key}\n" for l in lines))
    inventory = tmp_path / "hosts.toml"
    inventory.write_text(files.inventory.read_text().replace(str(files.known_hosts), str(other)))
    with Cluster.from_inventory(inventory, connector=lab.driver.ssh_connector(lab)) as wrong:
        with pytest.raises(HostKeyMismatchError) as err:
            wrong.node("node2").run("true")
    assert "node2" in str(err.value)


def test_the_doctors_probes_run_on_node_containers(docker_swarm_lab):
    """The node image has bash and iputils' ping: the doctor's probe scripts run there, so its
    port and overlay checks judge the nodes (without bash they printed nothing and said nothing)."""
    from swarmlab import story
    from swarmlab.cluster import Cluster
    cluster = Cluster.from_lab(docker_swarm_lab)
    story.wait_for_join(cluster)  # each node's docker_gwbridge and ingress sandbox, which the overlay pings use
    findings = swarmlab.doctor(cluster)
    checks = dict(zip(findings["check"], findings["severity"]))
    assert checks.get("swarm ports") == "info" and checks.get("overlay traffic") == "info", findings
    assert "probes" not in checks
    # Nothing the probes judge is amiss (the module's other tests leave services behind, which
    # the task checks may mention).
    probed = findings[findings["check"].str.match(r"reach |swarm ports|overlay|ping|path mtu")]
    assert set(probed["severity"]) == {"info"}, probed


def test_join_tokens_never_show_in_any_command_line_on_node_containers(make_docker_lab):
    """The engine here runs on this machine, so every process in a node container shows in
    this /proc: none holds a join token while the swarm forms (the node's own Docker API
    gets it, through `docker system dial-stdio`)."""
    lab = make_docker_lab(nodes=3, subnet="172.16.162.0/24")
    seen, done = [], threading.Event()

    def watch():
        while not done.is_set():
            seen.extend(processes_mentioning("SWMTKN-1-"))
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        lab.form_swarm()
    finally:
        done.set()
        watcher.join()
    assert seen == []
    states = lab.status()["swarm"].tolist()
    assert states == ["active"] * 3


def test_a_join_longer_than_dockerds_20_s_is_waited_for(make_docker_lab):
    """dockerd gives up answering a join after 20 s and goes on in the background: with the
    manager's 2377 dropped for 25 s, form_swarm waits, and the worker is active once it opens."""
    lab = make_docker_lab(nodes=2, subnet="172.16.162.0/24")
    cluster = Cluster.from_lab(lab)
    faults.inject(cluster, "manager-port-blocked", node="node1")
    failed = []
    former = threading.Thread(target=lambda: _catch(lab.form_swarm, failed))
    started = time.monotonic()
    former.start()
    time.sleep(25)
    assert former.is_alive() and not failed  # still waiting: the join had not been answered
    log = lab.node("node2").run("grep -c 'Timeout was reached before node joined' /var/log/dockerd.log").stdout
    assert int(log or 0) >= 1, "dockerd never said its join went on in the background"
    faults.undo(cluster, "manager-port-blocked", node="node1")
    former.join(timeout=120)
    assert not former.is_alive() and failed == [], failed
    assert lab.status()["swarm"].tolist() == ["active", "active"]
    assert time.monotonic() - started > 25


def _catch(fn, errors: list) -> None:
    try:
        fn()
    except Exception as exc:  # the test reads it
        errors.append(exc)
