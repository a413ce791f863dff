"""Lessons 1-7 on an inventory: lab nodes reached only over SSH, under other names, one of
them through a non-root user with passwordless sudo. Each lesson sets up the article's
story on the hosts, checks its claims, and puts the hosts back."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, require_live
from lessonrun import claims_in, printed
from swarmlab.cluster import Cluster
from swarmlab.lab.sshd import LabSSH
from swarmlab.headless import lesson_paths, run_lessons
from swarmlab import lessons as lessons_module, staging, swarm
from swarmlab.staging import journal_path

LESSONS = [p.name[:2] for p in lesson_paths() if p.name[:2] != "00"]
STUDENT = "student"


def add_sudo_user(node) -> None:
    """A non-root login with passwordless sudo, inside the node only (its /etc is its own)."""
    from swarmlab.lab.namespaces.node import NODE_PATH
    # '*' as password: no password login, but not a locked account ('!'), which sshd refuses.
    script = (f"useradd --no-create-home --home-dir /var/lib/{STUDENT} --shell /bin/sh --password '*' {STUDENT} && "
              f"cp /etc/ssh/authorized_keys/root /etc/ssh/authorized_keys/{STUDENT} && "
              f"printf '%s\\n' '{STUDENT} ALL=(ALL) NOPASSWD: ALL' 'Defaults:{STUDENT} secure_path=\"{NODE_PATH}\"' "
              f"> /etc/sudoers.d/{STUDENT} && chmod 440 /etc/sudoers.d/{STUDENT}")
    node.run(script).check()


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    """A 2-node lab with a host link, described as an inventory: alpha (manager, root)
    and beta (worker, user student with sudo); Docker still calls them node1 and node2."""
    from swarmlab.lab import Lab, teardown
    from conftest import unique_lab_name
    require_live()
    if not shutil.which("sudo"):
        pytest.fail("this test logs in to a lab node as a user with sudo: install sudo (`make test-install`)")
    subnet = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"  # clear of other labs' host links
    lab = Lab(name=unique_lab_name("inv"), subnet=subnet, host_link=True)
    path = None
    try:
        lab.up()
        cluster = Cluster.from_lab(lab)
        add_sudo_user(cluster.node("node2"))
        files = LabSSH(lab.dir)
        node1, node2 = lab.nodes["node1"], lab.nodes["node2"]
        path = tmp_path_factory.mktemp("inventory") / "hosts.toml"
        path.write_text(f'''known_hosts = "{files.known_hosts}"
[defaults]
key = "{files.client_key}"
[hosts.alpha]
address = "{node1.address}"
user = "root"
role = "manager"
[hosts.beta]
address = "{node2.address}"
user = "{STUDENT}"
sudo = true
role = "worker"
''')
        yield path, cluster
    finally:
        teardown(lab.name)
        if path is not None:  # a test that failed halfway leaves no journal of hosts that are gone
            journal_path(path).unlink(missing_ok=True)


def test_the_sudo_user_is_not_root_and_sudo_works(inventory):
    path, _ = inventory
    with Cluster.from_inventory(path) as hosts:
        beta = hosts.node("beta")
        assert beta.transport.sudo
        plain = beta.transport  # the same connection, without sudo, for this one look
        plain.sudo = False
        try:
            assert plain.run("id -un").stdout.strip() == STUDENT
        finally:
            plain.sudo = True
        assert beta.run("id -un").stdout.strip() == "root"
        assert beta.run("docker info --format '{{.Name}}'").stdout.strip() == "node2"


@pytest.fixture(scope="module")
def executed(inventory, tmp_path_factory):
    path, _ = inventory
    out = tmp_path_factory.mktemp("lessons")
    table = run_lessons("inventory", out=out, only=LESSONS, inventory=path, progress=None)
    return {row["lesson"][:2]: row for row in table.to_dict("records")}, out


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_on_the_inventory_checks_its_claims_and_puts_the_hosts_back(executed, inventory, lesson):
    rows, out = executed
    path, lab_cluster = inventory
    row = rows[lesson]
    assert row["status"] == "ok", row["error"]
    assert row["backend"] == "inventory"
    assert row["claims"] == claims_in(lesson) > 0
    text = printed(_notebook(out, lesson))
    assert f"lesson {lesson} changes your hosts" in text and "your hosts are back as they were" in text
    assert not journal_path(path).exists()
    for node in lab_cluster:  # back as before: out of any swarm, no fault, no network of the lessons'
        assert node.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "inactive"
        assert "proto 199" not in node.run("ip route").stdout
        networks = set(node.run("docker network ls --format '{{.Name}}'").stdout.split())
        assert networks == {"bridge", "host", "none"}, networks


def test_the_set_up_said_what_it_changes_before_it_did(executed):
    _, out = executed
    text = printed(_notebook(out, "03"))
    said = text.index("lesson 03 changes your hosts")
    assert said < text.index("ready: ")
    for line in ("beta: ip route add 172.16.0.0/12 dev ens33 proto 199", "alpha: docker swarm init --advertise-addr",
                 "beta: docker swarm join", "alpha: docker network create -d overlay uber-net"):
        assert line in text[said:text.index("ready: ")], line


def test_a_failed_lesson_on_the_inventory_puts_the_hosts_back(inventory, tmp_path):
    from lessonrun import with_claim_changed
    path, lab_cluster = inventory
    claim = 'has("uber-net", node1) and matrix.loc["uber-net", node2.name] == views.NOT_YET'
    lessons = with_claim_changed("02", claim, 'has("uber-net", node2)', tmp_path / "lessons")
    table = run_lessons("inventory", directory=lessons, out=tmp_path / "out", only=["02"], inventory=path,
                        progress=None)
    assert table.iloc[0]["status"].startswith("failed: ClaimError"), table.iloc[0]["status"]
    assert not journal_path(path).exists()
    for node in lab_cluster:
        assert node.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "inactive"
        assert "proto 199" not in node.run("ip route").stdout


def test_a_host_already_in_a_swarm_is_refused_and_left_alone(inventory, tmp_path):
    path, lab_cluster = inventory
    node1 = lab_cluster.node("node1")
    node1.run(f"docker swarm init --advertise-addr {node1.address}").check()
    try:
        table = run_lessons("inventory", out=tmp_path, only=["02"], inventory=path, progress=None)
        assert "alpha already in a swarm" in table.iloc[0]["status"] or \
            "alpha already in a swarm" in printed(_notebook(tmp_path, "02"))
        assert node1.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "active"
        assert "proto 199" not in lab_cluster.node("node2").run("ip route").stdout
    finally:
        node1.run("docker swarm leave --force")
        swarm.remove_networks(lab_cluster, node1, ["docker_gwbridge"], missing_ok=True)  # its join made it


def test_a_host_whose_gossip_port_is_taken_is_refused_and_left_alone(inventory, tmp_path):
    """A join on beta would fail ("error in agentInit ... bind: address already in use", seen once in
    CI after a leave): the lesson says so before it changes anything. A real listener takes the port."""
    path, lab_cluster = inventory
    node2 = lab_cluster.node("node2")
    listener = node2.run("nohup python3 -c 'import socket, time; s = socket.socket(); "
                         "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"0.0.0.0\", 7946)); "
                         "s.listen(); time.sleep(120)' >/dev/null 2>&1 & echo $!").check().stdout.strip()
    try:
        deadline = time.monotonic() + 10
        while not swarm.gossip_port_holder(node2):
            assert time.monotonic() < deadline, "the stand-in listener did not start"
            time.sleep(0.2)
        table = run_lessons("inventory", out=tmp_path, only=["02"], inventory=path, progress=None)
        said = table.iloc[0]["status"] + printed(_notebook(tmp_path, "02"))
        assert "beta: port 7946/tcp is taken" in said and '"python3"' in said, said
        assert not journal_path(path).exists()
        for node in lab_cluster:
            assert node.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "inactive"
            assert "proto 199" not in node.run("ip route").stdout
    finally:
        node2.run(f"kill {listener}")


def _notebook(out: Path, lesson: str):
    import nbformat
    return nbformat.read(next(Path(out).glob(f"{lesson}-*.ipynb")), as_version=4)


# --- a lesson stopped halfway, and the hosts' own networks (issue 21, items 3 and 4) -------------
SWARMLAB = [sys.executable, "-m", "swarmlab.cli"]


def _cli_env() -> dict:
    """The CLI and its notebook kernels import this checkout's swarmlab."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args, timeout=600):
    return subprocess.run([*SWARMLAB, *args], capture_output=True, text=True, cwd=ROOT, env=_cli_env(),
                          timeout=timeout)


def test_the_cli_imports_this_checkout():
    where = subprocess.run([sys.executable, "-c", "import swarmlab; print(swarmlab.__file__)"], capture_output=True,
                           text=True, cwd="/", env=_cli_env(), timeout=60).stdout.strip()
    assert where == str(ROOT / "swarmlab" / "__init__.py"), where


def _state(node) -> str:
    return node.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip()


def _assert_hosts_back(path, lab_cluster):
    assert not journal_path(path).exists(), journal_path(path).read_text()
    for node in lab_cluster:
        assert _state(node) == "inactive", node.name
        assert "proto 199" not in node.run("ip route").stdout, node.name
        networks = set(node.run("docker network ls --format '{{.Name}}'").stdout.split())
        assert networks == {"bridge", "host", "none"}, (node.name, networks)
        assert not [l for l in node.run("iptables-save").stdout.splitlines() if "docker_gwbridge" in l], node.name


def _lesson_03_stopped_when(path, tmp_path, ready, how):
    """`swarmlab lessons run --backend inventory --only 03`, sent `how` (a signal, to its process
    group as a terminal sends Ctrl-C) once `ready()` holds; returns the finished process's
    (returncode, stderr)."""
    proc = subprocess.Popen([*SWARMLAB, "lessons", "run", "--backend", "inventory", "--only", "03",
                             "--inventory", str(path), "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_cli_env(),
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"the lesson ended before the moment to stop it: {proc.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail("the lesson never reached the moment to stop it")
            time.sleep(0.5)
        os.killpg(proc.pid, how)
        _, stderr = proc.communicate(timeout=300)
        return proc.returncode, stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _one_line_end(stderr: str, line: str) -> None:
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == line, stderr


def test_ctrl_c_after_the_join_puts_the_hosts_back(inventory, tmp_path):
    path, lab_cluster = inventory
    node2 = lab_cluster.node("node2")
    rc, stderr = _lesson_03_stopped_when(path, tmp_path, lambda: _state(node2) == "active", signal.SIGINT)
    _one_line_end(stderr, "swarmlab: interrupted")
    assert rc == 130, stderr
    _assert_hosts_back(path, lab_cluster)


def test_sigterm_after_uber_net_puts_the_hosts_back(inventory, tmp_path):
    path, lab_cluster = inventory
    node1 = lab_cluster.node("node1")

    def overlay_made():
        return "uber-net" in node1.run("docker network ls --format '{{.Name}}'").stdout.split()
    rc, stderr = _lesson_03_stopped_when(path, tmp_path, overlay_made, signal.SIGTERM)
    _one_line_end(stderr, "swarmlab: terminated (SIGTERM)")
    assert rc == 128 + signal.SIGTERM, stderr
    _assert_hosts_back(path, lab_cluster)


def test_after_kill_9_every_command_says_the_hosts_are_staged_and_restore_puts_them_back(inventory, tmp_path):
    path, lab_cluster = inventory
    node2 = lab_cluster.node("node2")
    rc, _ = _lesson_03_stopped_when(path, tmp_path, lambda: _state(node2) == "active", signal.SIGKILL)
    assert rc == -signal.SIGKILL
    deadline = time.monotonic() + 60  # the kernel notices its runner is gone and ends
    while staging.owner_running(staging.pending(path)):
        assert time.monotonic() < deadline, "the lesson's kernel outlived its runner"
        time.sleep(0.5)
    assert _state(node2) == "active" and "proto 199" in node2.run("ip route").stdout  # staged, as killed
    restore = f"swarmlab lessons restore --inventory {path}"
    for args in (["doctor", "--inventory", str(path)], ["run", str(path), "--", "true"]):
        said = cli(*args)
        assert "still staged by lesson 03" in said.stderr and restore in said.stderr, said.stderr
        assert "Traceback" not in said.stderr, said.stderr
    assert journal_path(path).exists()  # saying it changes nothing
    put_back = cli("lessons", "restore", "--inventory", str(path))
    assert put_back.returncode == 0, put_back.stderr
    assert "back as they were before lesson 03" in put_back.stderr and "left the swarm" in put_back.stderr
    _assert_hosts_back(path, lab_cluster)
    again = cli("lessons", "restore", "--inventory", str(path))
    assert again.returncode == 0 and "not staged" in again.stderr, again.stderr


def _stage_02(path):
    """What lesson 02's set-up does on the hosts, in this process: journal, fault, swarm (its
    wait for the joins left out: only alpha's docker_gwbridge is waited for, beta has no pool)."""
    from swarmlab import story
    hosts = Cluster.from_inventory(path)
    staging.begin(hosts, "02", path, [("vpn-routes", "beta")])
    lessons_module._node2_fails_as_in_the_article(hosts)
    story.form_swarm(hosts)
    deadline = time.monotonic() + 60
    while not hosts.node("alpha").run("docker network inspect docker_gwbridge").ok:
        assert time.monotonic() < deadline, "alpha made no docker_gwbridge on its swarm init"
        time.sleep(0.5)
    staging.record_made(hosts, path)
    return hosts


def test_any_lesson_00_too_puts_hosts_left_staged_back_first(inventory, monkeypatch, capsys):
    path, lab_cluster = inventory
    _stage_02(path).close()
    staging_journal = staging.pending(path)
    staging_journal["owner"]["pid"] = 2 ** 22 + 1  # as after kill -9: its process is gone
    journal_path(path).write_text(__import__("json").dumps(staging_journal))
    monkeypatch.setenv("SWARMLAB_INVENTORY", str(path))
    lesson = lessons_module.open_lesson("00", "inventory")
    try:
        assert "left staged by lesson 02: putting them back first" in capsys.readouterr().out
        _assert_hosts_back(path, lab_cluster)
    finally:
        lesson.cluster.close()


def test_a_lesson_running_on_the_hosts_is_not_undone_by_another(inventory):
    path, lab_cluster = inventory
    hosts = _stage_02(path)  # this process staged them, and runs
    try:
        journal = staging.pending(path)
        journal["owner"]["pid"] = os.getppid()  # another process that runs: pytest's parent
        journal["owner"]["started"] = None
        journal_path(path).write_text(__import__("json").dumps(journal))
        said = cli("lessons", "restore", "--inventory", str(path))
        assert said.returncode == 1 and "is running on the hosts" in said.stderr, said.stderr
        assert _state(lab_cluster.node("node2")) == "active"
        journal["owner"]["pid"] = os.getpid()
        journal_path(path).write_text(__import__("json").dumps(journal))
    finally:
        staging.restore(hosts, path)
        hosts.close()
    _assert_hosts_back(path, lab_cluster)


def test_restore_removes_only_the_networks_swarmlab_made_never_the_users(inventory):
    path, lab_cluster = inventory
    node1, node2 = lab_cluster.node("node1"), lab_cluster.node("node2")
    hosts = _stage_02(path)
    try:
        # The user's own, made after the journal: one in use, one named like a lesson's network.
        node2.run("docker network create --subnet 10.199.77.0/24 userlater").check()  # node2 has no free pool
        node2.run("docker run -d --name userthing --network userlater busybox:latest sleep 600").check()
        node1.run("docker network create projX_default").check()
        ids = {n.name: n.run("docker network ls -q --no-trunc --filter name=^userlater$ --filter "
                             "name=^projX_default$").stdout.split() for n in (node1, node2)}
        done = staging.restore(hosts, path)
        assert any("docker_gwbridge" in line for line in done), done
        for node in (node1, node2):
            assert _state(node) == "inactive"
            assert "proto 199" not in node.run("ip route").stdout
            assert node.run("docker network ls -q --no-trunc --filter name=^userlater$ --filter "
                            "name=^projX_default$").stdout.split() == ids[node.name]
            names = set(node.run("docker network ls --format '{{.Name}}'").stdout.split())
            assert "docker_gwbridge" not in names, names
        assert node2.run("docker inspect -f '{{.State.Running}}' userthing").stdout.strip() == "true"
        assert not journal_path(path).exists()
    finally:
        node2.run("docker rm -f userthing")
        node2.run("docker network rm userlater")
        node1.run("docker network rm projX_default")
        if journal_path(path).exists():
            staging.restore(hosts, path)
        hosts.close()
    _assert_hosts_back(path, lab_cluster)
