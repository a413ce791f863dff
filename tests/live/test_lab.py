"""The local lab, for real: dockerd in namespaces, a swarm, an overlay, and a clean teardown."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, require_live, unique_lab_name
from hoststate import changes, snapshot
from swarmlab.errors import LabError
from swarmlab.lab import IMAGE, Lab, leftovers, teardown
from swarmlab.lab.network import lab_netns


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and int(pid) != os.getpid():
            found.append(f"{pid} {cmd}")
    return found


def assert_gone(name: str) -> None:
    """Check each kind of leftover on its own, not only through the library's own list."""
    assert leftovers(name) == []
    assert lab_netns(name) == []
    assert not os.path.exists(f"/run/swarmlab/{name}")
    mounts = [line for line in open("/proc/self/mountinfo") if f"swarmlab/{name}" in line or f"swarmlab.{name}" in line]
    assert mounts == []
    cgroups = [d for d in os.listdir("/sys/fs/cgroup") if os.path.exists(f"/sys/fs/cgroup/{d}/swarmlab/{name}")]
    assert cgroups == []
    assert processes_mentioning(f"swarmlab/{name}/") == []


def test_swarm_forms_with_the_articles_nodes(swarm_lab):
    ls = swarm_lab.node("node1").run("docker node ls --format '{{json .}}'").check()
    nodes = {n["Hostname"]: n for n in json_lines(ls.stdout)}
    assert set(nodes) == {"node1", "node2"}
    assert nodes["node1"]["ManagerStatus"] == "Leader"
    assert nodes["node2"]["Status"] == "Ready" and nodes["node2"]["ManagerStatus"] == ""
    assert swarm_lab.node("node2").run("hostname").stdout.strip() == "node2"
    addr = swarm_lab.node("node1").run("ip -4 -o addr show dev ens33").check().stdout
    assert "172.16.155.131/24" in addr


def test_each_node_sees_only_its_own_docker_and_bridges(swarm_lab):
    n1, n2 = swarm_lab.node("node1"), swarm_lab.node("node2")
    id1 = n1.run("docker info --format '{{.ID}}'").check().stdout
    id2 = n2.run("docker info --format '{{.ID}}'").check().stdout
    assert id1 != id2
    bridges = n2.run("brctl show").check().stdout
    assert "docker0" in bridges
    assert "switch" not in bridges  # the LAN switch lives in its own namespace
    n1.run("echo '{\"debug\": false}' > /etc/docker/daemon.json").check()
    assert "debug" not in n2.run("cat /etc/docker/daemon.json").stdout
    assert not os.path.exists("/var/lib/docker/swarm")  # the host's folder is untouched


def test_overlay_service_runs_one_task_per_node_and_carries_traffic(swarm_lab):
    n1, n2 = swarm_lab.node("node1"), swarm_lab.node("node2")
    n1.run("docker network create -d overlay --attachable uber-net").check()
    n1.run(f"docker service create --detach --name test --network uber-net --replicas 2 {IMAGE} sleep infinity").check()
    deadline = time.monotonic() + 60
    while True:
        tasks = json_lines(n1.run("docker service ps test --filter desired-state=running --format '{{json .}}'").stdout)
        if len(tasks) == 2 and all(t["CurrentState"].startswith("Running") for t in tasks):
            break
        assert time.monotonic() < deadline, f"service did not start: {tasks}"
        time.sleep(0.2)
    assert sorted(t["Node"] for t in tasks) == ["node1", "node2"]
    target = n1.run("docker ps -q --filter name=test. | head -1").check().stdout.strip()
    ip = n1.run(f"docker inspect -f '{{{{(index .NetworkSettings.Networks \"uber-net\").IPAddress}}}}' {target}").check().stdout.strip()
    source = n2.run("docker ps -q --filter name=test. | head -1").check().stdout.strip()
    ping = n2.run(f"docker exec {source} ping -c 2 -W 2 {ip}")
    assert ping.ok and "2 packets received" in ping.stdout, ping.terminal()


def test_teardown_leaves_nothing_and_host_is_untouched():
    require_live()
    before = snapshot()
    name = unique_lab_name()
    lab = Lab(name=name)
    lab.up()
    lab.form_swarm()
    lab.node("node1").run(f"docker service create --detach --name s --replicas 2 {IMAGE} sleep infinity").check()
    assert len(lab.driver.cgroup.pids()) > 4
    lab.down()
    assert_gone(name)
    assert changes(before, snapshot()) == []
    lab.down()  # twice is fine
    assert_gone(name)


def test_failed_up_rolls_back(monkeypatch):
    require_live()
    name = unique_lab_name()
    calls = []

    def fail_on_node2(node, timeout=30):
        calls.append(node.name)
        if node.name == "node2":
            raise LabError("injected failure")
        original(node, timeout)
    from swarmlab.lab.node import LabNode
    original = LabNode.wait_docker
    monkeypatch.setattr(LabNode, "wait_docker", fail_on_node2)
    with pytest.raises(LabError, match="injected failure"):
        Lab(name=name).up()
    assert "node2" in calls
    assert_gone(name)


def test_a_real_failure_rolls_back_too():
    """An image the host's Docker cannot give: the lab is built, then taken away."""
    require_live()
    name = unique_lab_name()
    with pytest.raises(LabError, match="cannot copy image 'no-such-image:1'"):
        Lab(name=name, images=("no-such-image:1",)).up()
    assert_gone(name)


def test_two_labs_side_by_side(make_lab):
    a = make_lab(swarm=True)
    b = make_lab(swarm=True)  # same subnet, same addresses: separate worlds
    for lab in (a, b):
        ls = json_lines(lab.node("node1").run("docker node ls --format '{{json .}}'").check().stdout)
        assert len(ls) == 2
    id_a = a.node("node1").run("docker info --format '{{.Swarm.Cluster.ID}}'").stdout
    id_b = b.node("node1").run("docker info --format '{{.Swarm.Cluster.ID}}'").stdout
    assert id_a.strip() and id_a != id_b
    teardown(a.name)
    assert_gone(a.name)
    assert b.node("node2").run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "active"


def test_down_after_the_builder_was_killed():
    require_live()
    name = unique_lab_name()
    builder = subprocess.Popen(
        [sys.executable, "-c", f"import swarmlab, time; swarmlab.Lab(name={name!r}).up(); print('up', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert builder.stdout.readline().strip() == b"up"
    finally:
        os.kill(builder.pid, signal.SIGKILL)
        builder.wait()
    assert Lab.attach(name).node("node2").run("docker version -f '{{.Server.Version}}'").ok
    teardown(name)
    assert_gone(name)
    teardown(name)


def test_down_after_a_kill_in_the_middle_of_up():
    require_live()
    name = unique_lab_name()
    builder = subprocess.Popen([sys.executable, "-c", f"import swarmlab; swarmlab.Lab(name={name!r}).up()"], cwd=ROOT)
    deadline = time.monotonic() + 10
    while not lab_netns(name) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(builder.pid, signal.SIGKILL)
    builder.wait()
    teardown(name)
    assert_gone(name)


def test_a_name_in_use_is_refused_and_the_running_lab_is_kept(make_lab):
    lab = make_lab()
    with pytest.raises(LabError, match="already exists"):
        Lab(name=lab.name).up()
    assert lab.node("node1").run("true").ok


def test_run_reports_exit_code_stderr_timeout_and_input(make_lab):
    node = make_lab(nodes=1).node("node1")
    res = node.run("echo out; echo err >&2; exit 7")
    assert (res.stdout, res.stderr, res.exit_code) == ("out\n", "err\n", 7)
    assert node.run(["printf", "%s", "it's quoted"]).stdout == "it's quoted"
    assert node.run("cat", input="piped").stdout == "piped"
    slow = node.run("sleep 5", timeout=0.5)
    assert slow.exit_code == 124 and "timed out" in slow.stderr and slow.duration < 3


def test_images_are_copied_from_another_docker(make_lab):
    """`images=` copies what a Docker daemon has into every node (here: another lab's node
    plays the host's Docker, which this machine does not run)."""
    source = make_lab(nodes=1).node("node1")
    source.run("docker tag busybox:latest class/tools:1").check()
    lab = make_lab(images=("class/tools:1",), image_source=source.docker_host)
    for node in lab.nodes.values():
        assert node.run("docker image inspect -f '{{.Id}}' class/tools:1").ok
    assert lab.node("node2").run("docker run --rm class/tools:1 echo copied").stdout == "copied\n"
