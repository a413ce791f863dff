"""The local lab, for real: dockerd in namespaces, a swarm, an overlay, and a clean teardown."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, processes_mentioning, require_live, unique_lab_name
from hoststate import changes, snapshot
from swarmlab.errors import LabError
from swarmlab.lab import IMAGE, Lab, leftovers, teardown
from swarmlab.lab.namespaces import hostlink
from swarmlab.lab.namespaces.network import lab_netns


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_gone(name: str) -> None:
    """Check each kind of leftover on its own, not only through the library's own list."""
    assert leftovers(name) == []
    assert lab_netns(name) == []
    assert not hostlink.exists(name)  # the snapshot leaves every lab's host link out
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
    from swarmlab.lab.namespaces.node import NamespaceNode
    original = NamespaceNode.wait_docker
    monkeypatch.setattr(NamespaceNode, "wait_docker", fail_on_node2)
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


# --- a lab nobody can break by accident -------------------------------------------------
def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "swarmlab.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=kw.pop("timeout", 120), **kw)


def test_an_interrupted_up_never_takes_down_the_newer_lab_of_its_name():
    """`up & down; up`: the first `up` must stop at once, and leave the second lab alone."""
    require_live()
    name = unique_lab_name("own")
    first = subprocess.Popen([sys.executable, "-m", "swarmlab.cli", "lab", "up", "--name", name, "--nodes", "4"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        seen = []
        while not any(line.endswith(" s  namespaces\n") for line in seen):  # now it waits for its daemons
            line = first.stderr.readline()
            assert line, f"the first up ended early: {seen}"
            seen.append(line)
        teardown(name)  # as `swarmlab lab down` in another shell
        second = cli("lab", "up", "--name", name, "--nodes", "2", "--swarm")
        assert second.returncode == 0, second.stderr
        out, err = first.communicate(timeout=60)
        err = "".join(seen) + err
        assert first.returncode == 1, err
        assert "was taken down or replaced" in err, err
        assert err.count("Traceback") == 0
        status = cli("lab", "status", "--name", name)
        assert status.returncode == 0 and status.stdout.count("active") == 2, status.stdout + status.stderr
        assert sorted(Lab.attach(name).nodes) == ["node1", "node2"]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        teardown(name)
    assert_gone(name)


def test_an_up_whose_lab_was_replaced_does_not_adopt_the_new_daemons(make_lab):
    """Same node count: the stale `up` must not take the new lab's daemons for its own."""
    from swarmlab.lab.namespaces.node import NamespaceNode
    name = unique_lab_name("own")
    stale = Lab(name=name, nodes=2)
    original = NamespaceNode.wait_docker
    replaced = []

    def replace_then_wait(node, timeout=30):
        if not replaced:  # as if another shell ran `lab down` and `lab up` right now
            replaced.append(True)
            teardown(name)
            make_lab(name=name, nodes=2)
        return original(node, timeout)
    NamespaceNode.wait_docker = replace_then_wait
    try:
        with pytest.raises(LabError, match="was taken down or replaced"):
            stale.up()
    finally:
        NamespaceNode.wait_docker = original
    newer = Lab.attach(name)
    assert all(n.run("docker info -f '{{.ID}}'").ok for n in newer.nodes.values())
    stale.down()  # not its lab any more: must leave the newer one alone
    assert all(n.run("true").ok for n in newer.nodes.values())


def test_a_node_whose_holder_is_gone_is_never_entered_in_the_host(make_lab):
    """The pid file names another process (a reused PID): refuse, never run in the host."""
    lab = make_lab(nodes=1)
    node = lab.node("node1")
    stranger = subprocess.Popen(["sleep", "60"])
    pid_file = node.base / "init.pid"
    real = pid_file.read_text()
    try:
        pid_file.write_text(f"{stranger.pid}\n")
        with pytest.raises(LabError, match="not the node's"):
            node.run("hostname")
        res = cli("lab", "exec", "--name", lab.name, "node1", "--", "hostname")
        assert res.returncode == 1 and res.stdout == "" and "not the node's" in res.stderr, res
        fresh = Lab.attach(lab.name).node("node1")
        with pytest.raises(LabError, match="not the node's"):
            fresh.run("hostname")
    finally:
        stranger.kill()
        stranger.wait()
        pid_file.write_text(real)
    assert node.run("hostname").stdout == "node1\n"


@pytest.mark.parametrize("kept", ["start time", "namespaces"])
def test_a_reused_pid_is_told_from_the_holder_by_start_time_and_namespaces(make_lab, kept):
    """A PID the kernel gave to another process: the records name that PID, and only one
    of the two other marks (start time, namespace inodes) still matches. Each mark alone
    must be enough to refuse."""
    from swarmlab.lab.namespaces.node import Holder
    lab = make_lab(nodes=1)
    node = lab.node("node1")
    stranger = subprocess.Popen(["sleep", "60"])
    files = {f: (node.base / f).read_text() for f in ("init.pid", "holder.json")}
    real, other = json.loads(files["holder.json"]), vars(Holder.of(stranger.pid))
    # The stranger's PID; one mark as the node's, the other as the stranger's own.
    forged = {**other, **({"start_time": real["start_time"]} if kept == "start time"
                         else {"mnt_ns": real["mnt_ns"], "net_ns": real["net_ns"]})}
    try:
        (node.base / "init.pid").write_text(f"{stranger.pid}\n")
        (node.base / "holder.json").write_text(json.dumps(forged))
        with pytest.raises(LabError, match="not the node's"):
            Lab.attach(lab.name).node("node1").run("hostname")
    finally:
        stranger.kill()
        stranger.wait()
        for name, text in files.items():
            (node.base / name).write_text(text)
    assert Lab.attach(lab.name).node("node1").run("hostname").stdout == "node1\n"


def test_a_node_cannot_change_the_hosts_files(make_lab):
    """What a node writes is its own; what it shares with the host is read-only."""
    lab = make_lab(nodes=1)
    node = lab.node("node1")
    tag = f"swarmlab-test-{lab.name}"
    victim = f"/usr/local/share/{tag}"  # a host folder the node sees and tries to delete
    os.makedirs(f"{victim}/sub")
    open(f"{victim}/sub/keep", "w").write("host\n")
    paths = [f"/root/{tag}", f"/home/{tag}", f"/usr/{tag}", f"/opt/{tag}", f"/{tag}", f"/var/{tag}",
             f"/srv/{tag}", f"/etc/{tag}", f"{ROOT}/{tag}"]
    try:
        for path in paths:
            res = node.run(["touch", path])
            assert not os.path.exists(path), f"the node created {path} on the host"
            if res.ok:  # where the node may write, the file is its own and stays there
                assert node.run(["test", "-e", path]).ok
        node.run(["rm", "-rf", victim])
        assert open(f"{victim}/sub/keep").read() == "host\n"
        assert node.run(["test", "-e", victim]).exit_code == 1  # gone for the node only
        assert node.run("mkdir -p /root/.docker && echo ok > /root/.docker/x && cat /root/.docker/x").stdout == "ok\n"
        # root's home is the node's own: the host's dotfiles and keys do not show through.
        open(f"/root/{tag}.host", "w").write("host\n")
        assert node.run(["test", "-e", f"/root/{tag}.host"]).exit_code == 1
        assert node.run("stat -c %a /root").stdout == "700\n"
    finally:
        subprocess.run(["rm", "-f", f"/root/{tag}.host"])
        for path in paths:
            subprocess.run(["rm", "-f", path])
        subprocess.run(["rm", "-rf", victim])


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed process waits to be reaped by its parent)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _escape_cgroup_dirs(tag):
    return [str(p) for p in __import__("pathlib").Path("/sys/fs/cgroup").glob(f"*/{tag}")]


def test_down_kills_what_escaped_the_labs_cgroup_and_leftovers_sees_it(make_lab):
    """A container under --cgroup-parent=/elsewhere and a process moved out of the lab's
    cgroup still live in the node's namespaces: leftovers() names them, down kills them."""
    lab = make_lab(nodes=1)
    node = lab.node("node1")
    tag = f"elsewhere-{lab.name}"
    cid = node.run(f"docker run -d --cgroup-parent=/{tag} {IMAGE} sleep infinity").check().stdout.strip()
    container_pid = int(node.run(f"docker inspect -f '{{{{.State.Pid}}}}' {cid}").check().stdout)
    node.run("setsid sh -c 'for f in /sys/fs/cgroup/*/cgroup.procs; do echo $$ > $f 2>/dev/null; done; "
             "exec sleep 1000' </dev/null >/dev/null 2>&1 &").check()
    deadline = time.monotonic() + 5
    escaped = []
    while not escaped and time.monotonic() < deadline:
        escaped = [p for p in processes_mentioning("sleep 1000") if "setsid" not in p]
        time.sleep(0.05)
    assert escaped, "the hand-started process did not start"
    escaped_pid = int(escaped[0].split()[0])
    try:
        assert escaped_pid not in lab.driver.cgroup.pids() and container_pid not in lab.driver.cgroup.pids()
        lab.driver.cgroup.kill_all()  # what an old `down` did: the lab's cgroup only
        left = " ".join(leftovers(lab.name))
        assert str(container_pid) in left and str(escaped_pid) in left, left
        teardown(lab.name)
        assert not running(container_pid) and not running(escaped_pid)
        assert not any(os.path.exists(f"{d}/{cid}") for d in _escape_cgroup_dirs(tag))
        assert_gone(lab.name)
    finally:
        for pid in (container_pid, escaped_pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        for d in _escape_cgroup_dirs(tag):
            subprocess.run(["find", d, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"], capture_output=True)


def test_more_nodes_than_memory_allows_are_refused_up_front():
    require_live()
    name = unique_lab_name("big")
    with pytest.raises(LabError, match=r"at most \d+ nodes.*MemAvailable"):
        Lab(name=name, nodes=1000, subnet="10.99.0.0/16")
    assert leftovers(name) == []


def test_join_tokens_never_show_in_any_command_line(make_lab):
    """While the swarm forms, no process's /proc/PID/cmdline holds a join token."""
    import threading
    lab = make_lab(nodes=4)
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
    # The swarm formed: a node that just joined may show Unknown for a moment before Ready.
    deadline = time.monotonic() + 30
    while True:
        ls = json_lines(lab.manager.run("docker node ls --format '{{json .}}'").check().stdout)
        statuses = sorted(n["Status"] for n in ls)
        if statuses == ["Ready"] * 4 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert statuses == ["Ready"] * 4


def test_a_dead_node_is_reported_as_dead_not_as_a_broken_lab(make_lab):
    lab = make_lab(nodes=2)
    holder = lab.node("node2").init_pid
    os.kill(holder, signal.SIGKILL)
    while running(holder):
        time.sleep(0.01)
    status = cli("lab", "status", "--name", lab.name)
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines()[1:]}
    assert "active" in rows["node1"] or "inactive" in rows["node1"]
    assert "dead" in rows["node2"] and "lab down" in rows["node2"], status.stdout
    res = cli("lab", "exec", "--name", lab.name, "node2", "--", "true")
    assert res.returncode == 1 and "is dead" in res.stderr and "lab down" in res.stderr, res.stderr
    # The doctor still checks node1 and says node2 is out of reach, with what to do.
    doctor = cli("doctor", "--lab", lab.name, "--json", "--all")
    assert doctor.returncode == 1, doctor.stderr
    findings = json.loads(doctor.stdout)
    node2 = [f for f in findings if f["node"] == "node2"]
    assert [(f["check"], f["severity"]) for f in node2] == [("reachable", "error")], node2
    assert node2[0]["fix"].startswith("take the lab down with `swarmlab lab down --name")
    assert {"iptables chains", "swarm"} <= {f["check"] for f in findings if f["node"] == "node1"}, findings
