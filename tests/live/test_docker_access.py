"""The docker driver as its users meet it: bad input, a killed builder, two labs on one engine,
a user who is not root and has only the engine's socket, and an engine reached over ssh://."""
from __future__ import annotations

import grp
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from swarmlab.lab import Lab, leftovers, teardown
from swarmlab.lab.docker.engine import LABEL_LAB
from swarmlab.lab.namespaces.network import switch_netns
from swarmlab.lab.sshd import LabSSH

from conftest import ROOT, as_user, unique_lab_name

SWARMLAB = [sys.executable, "-m", "swarmlab.cli"]
NOBODY = 65534
EMPTY = {"containers": [], "networks": [], "volumes": []}


def cli(*args, env=None, user=None, groups=(), prefix=(), timeout=300):
    cmd = [*prefix, *SWARMLAB, *args]
    if user:
        cmd = [*as_user(user, groups), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def one_line_error(result, words, after_progress=False):
    """The error is one line, naming what was wrong; only progress lines may come before it."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("swarmlab: ") and words in lines[-1], result.stderr
    assert len(lines) == 1 or after_progress, result.stderr
    assert not any(line.startswith(("swarmlab:", "Traceback")) for line in lines[:-1]), result.stderr


# --- bad input ------------------------------------------------------------------------
def test_an_engine_that_does_not_answer_is_one_line(docker_engine):
    name = unique_lab_name("bad")
    res = cli("lab", "up", "--name", name, "--engine", "unix:///nonexistent/docker.sock")
    one_line_error(res, "cannot reach the Docker engine at unix:///nonexistent/docker.sock")
    res = cli("lab", "up", "--name", name, "--engine", "tcp://127.0.0.1:1")
    one_line_error(res, "cannot reach the Docker engine at tcp://127.0.0.1:1")
    assert not Path(f"/run/swarmlab/{name}").exists()


def test_a_subnet_taken_on_the_engine_is_one_line_and_leaves_nothing(docker_engine):
    client = docker_engine.client()
    taken = client.networks.create("someone-elses", ipam={"Driver": "default", "Config": [{"Subnet": "172.16.155.0/24"}]})
    name = unique_lab_name("bad")
    try:
        res = cli("lab", "up", "--name", name, "--engine", docker_engine.url)
        one_line_error(res, "subnet 172.16.155.0/24 is taken on the engine by network 'someone-elses'")
        assert "--subnet 172.16.156.0/24" in res.stderr
    finally:
        taken.remove()
    assert docker_engine.objects(f"{LABEL_LAB}={name}") == EMPTY
    assert not Path(f"/run/swarmlab/{name}").exists()


def test_an_image_that_cannot_be_built_is_one_line_and_leaves_nothing(docker_engine):
    # No registry here: the Dockerfile's base image cannot be pulled.
    res = cli("lab", "image", "--engine", docker_engine.url, "--rebuild", "--from", "dockerfile")
    one_line_error(res, "cannot build the node image from the Dockerfile", after_progress=True)
    assert "--from host-packages" in res.stderr
    assert docker_engine.client().images.get("swarmlab/node:0.1.0")  # the working image is still there


def test_a_failed_up_rolls_back(docker_engine):
    # Fails in the last phase, when the network, volumes and node containers exist.
    name = unique_lab_name("rb")
    res = cli("lab", "up", "--name", name, "--engine", docker_engine.url, "--image", "no-such-image:1")
    one_line_error(res, "image 'no-such-image:1' is not on the engine", after_progress=True)
    assert "containers (" in res.stderr  # it got that far
    assert docker_engine.objects(f"{LABEL_LAB}={name}") == EMPTY
    assert not Path(f"/run/swarmlab/{name}").exists()


# --- kill -9, two labs ----------------------------------------------------------------
def test_down_after_the_builder_was_killed(docker_engine):
    name = unique_lab_name("k9")
    code = (f"import swarmlab; swarmlab.Lab(name={name!r}, driver='docker', engine={docker_engine.url!r}).up(); "
            f"print('up', flush=True); import time; time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        assert docker_engine.objects(f"{LABEL_LAB}={name}")["containers"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    res = cli("lab", "down", "--name", name)  # the state file says which engine
    assert res.returncode == 0, res.stderr
    assert docker_engine.objects(f"{LABEL_LAB}={name}") == EMPTY
    assert leftovers(name) == []
    assert cli("lab", "down", "--name", name).returncode == 0


def test_down_after_the_builder_was_killed_half_way(docker_engine):
    name = unique_lab_name("k9h")
    code = (f"import swarmlab; swarmlab.Lab(name={name!r}, driver='docker', engine={docker_engine.url!r}, nodes=3, "
            f"subnet='172.16.159.0/24').up()")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not docker_engine.objects(f"{LABEL_LAB}={name}")["containers"]:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    teardown(name)
    assert docker_engine.objects(f"{LABEL_LAB}={name}") == EMPTY
    assert leftovers(name) == []


def test_two_labs_side_by_side_on_one_engine(make_docker_lab, docker_engine):
    a = make_docker_lab(swarm=True)
    b = make_docker_lab(swarm=True, subnet="172.16.160.0/24")
    for lab, prefix in ((a, "172.16.155."), (b, "172.16.160.")):
        ls = lab.node("node1").run("docker node ls --format '{{.Hostname}}'").check().stdout.split()
        assert sorted(ls) == ["node1", "node2"]
        assert prefix in lab.node("node2").run("ip -4 -o addr show ens33").stdout
    a.down()
    assert docker_engine.objects(f"{LABEL_LAB}={a.name}") == EMPTY
    assert b.node("node2").run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "active"


# --- who reaches the engine, and how ---------------------------------------------------
def test_a_user_who_is_not_root_with_only_the_engine_socket(docker_engine):
    """uid 65534 in the group that owns the engine's socket, as a user in the `docker` group."""
    group = os.stat(docker_engine.url.removeprefix("unix://")).st_gid
    assert grp.getgrgid(group).gr_name == "docker"
    name = unique_lab_name("nr")
    with tempfile.TemporaryDirectory(prefix="swarmlab-user-") as home:
        os.chown(home, NOBODY, NOBODY)
        env = {"PATH": os.environ["PATH"], "HOME": home, "DOCKER_HOST": docker_engine.url}
        try:
            up = cli("lab", "up", "--name", name, "--swarm", env=env, user=NOBODY, groups=[group])
            assert up.returncode == 0, up.stderr
            assert f"containers on the Docker engine at {docker_engine.url}" in up.stderr
            assert (Path(home) / ".local/state/swarmlab/labs" / name / "state.json").exists()
            ls = cli("lab", "exec", "--name", name, "node1", "--", "docker", "node", "ls", env=env, user=NOBODY,
                     groups=[group])
            assert ls.returncode == 0 and "node2" in ls.stdout, ls.stderr
            status = cli("lab", "status", "--name", name, env=env, user=NOBODY, groups=[group])
            assert status.stdout.count("active") == 2, status.stdout
            # Without the group, the engine is out of reach: one line, nothing done.
            one_line_error(cli("lab", "status", "--name", name, env=env, user=NOBODY), "cannot reach the Docker engine")
        finally:
            down = cli("lab", "down", "--name", name, env=env, user=NOBODY, groups=[group])
        assert down.returncode == 0, down.stderr
        assert docker_engine.objects(f"{LABEL_LAB}={name}") == EMPTY
        assert not (Path(home) / ".local/state/swarmlab/labs" / name).exists()


def test_a_user_who_is_not_root_runs_a_lesson_live_on_the_engine(docker_engine):
    """What `make lessons` does for a user in the `docker` group on Linux (or on Docker Desktop):
    `swarmlab lessons run` picks node containers on the engine by itself, says why, and the
    lesson runs live there; its lab is gone from the engine afterwards."""
    group = os.stat(docker_engine.url.removeprefix("unix://")).st_gid
    prefix = unique_lab_name("nrl")
    with tempfile.TemporaryDirectory(prefix="swarmlab-user-") as home:
        os.chown(home, NOBODY, NOBODY)
        env = {"PATH": os.environ["PATH"], "HOME": home, "DOCKER_HOST": docker_engine.url,
               "SWARMLAB_LESSON_PREFIX": prefix}
        res = cli("lessons", "run", "--only", "01", "--out", f"{home}/lessons", env=env, user=NOBODY,
                  groups=[group], timeout=600)
        assert res.returncode == 0, (res.stdout, res.stderr)
        # uid 65534 has no subordinate ids: its own user namespaces are passed over, saying why.
        said = next(line for line in res.stderr.splitlines() if line.startswith("lessons run live (docker driver): "))
        assert said.startswith("lessons run live (docker driver): not root on Linux, and no lab in your own user "
                               "namespaces (userns subuid: 65534 has no range in /etc/subuid") or \
            said.startswith("lessons run live (docker driver): not root on Linux, and no lab in your own user "
                            "namespaces (userns subuid: nobody has no range in /etc/subuid"), said
        assert said.endswith("and a Docker engine answers (" + docker_engine.url + "): the nodes are containers there"), said
        row = next(line.split() for line in res.stdout.splitlines() if "01-build-the-swarm" in line)
        assert (row[1], row[-1]) == ("live", "ok"), res.stdout
        assert (Path(home) / "lessons" / "01-build-the-swarm.ipynb").exists()
    assert docker_engine.objects(f"{LABEL_LAB}={prefix}01") == EMPTY


def test_an_engine_over_ssh(docker_engine):
    """The engine's node runs sshd too: docker-py reaches its dockerd over ssh://, host key checked."""
    engine_lab = docker_engine.lab
    files = LabSSH(engine_lab.dir)
    address = docker_engine.node.address
    name = unique_lab_name("ssh")
    with tempfile.TemporaryDirectory(prefix="swarmlab-ssh-") as home:
        ssh = Path(home) / ".ssh"
        ssh.mkdir(mode=0o700)
        (ssh / "config").write_text(f"Host {address}\n  User root\n  IdentityFile {files.client_key}\n")
        (ssh / "known_hosts").write_text(files.known_hosts.read_text())
        env = {"PATH": os.environ["PATH"], "HOME": home}
        engine = f"ssh://root@{address}"
        # The client runs where the engine's address is reachable: the engine lab's switch.
        inside = ("ip", "netns", "exec", switch_netns(engine_lab.name))
        try:
            up = cli("lab", "up", "--name", name, "--engine", engine, "--swarm", "--subnet", "172.16.161.0/24",
                     env=env, prefix=inside)
            assert up.returncode == 0, up.stderr
            assert f"containers on the Docker engine at {engine}" in up.stderr
            # status runs commands in the nodes through docker-py's exec, over the same ssh:// connection.
            status = cli("lab", "status", "--name", name, env=env, prefix=inside)
            assert status.returncode == 0 and status.stdout.count("active") == 2, (status.stdout, status.stderr)
        finally:
            down = cli("lab", "down", "--name", name, env=env, prefix=inside)
        assert down.returncode == 0, down.stderr
        assert docker_engine.objects(f"{LABEL_LAB}={name}") == EMPTY
        # A host key that does not match is refused, not trusted.
        (ssh / "known_hosts").write_text(f"{address} ssh-ed25519 "
                                         "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
        res = cli("lab", "up", "--name", name, "--engine", engine, env=env, prefix=inside)
        one_line_error(res, f"cannot reach the Docker engine at {engine}")
        assert docker_engine.objects(f"{LABEL_LAB}={name}") == EMPTY


def test_down_when_the_engine_is_gone_for_good(docker_engine):
    """The engine a lab ran on was switched off for good: `down` says it cannot reach it and
    names --forget, keeping the record; --forget removes only the record, and says so."""
    from swarmlab.lab.docker import nodeimage
    from swarmlab.lab.docker.engine import connect
    engine_lab = Lab(name=unique_lab_name("gone"), nodes=1, subnet="10.217.0.0/24").up()
    name = unique_lab_name("orphan")
    try:
        url = engine_lab.node("node1").docker_host
        engine = connect(url)
        nodeimage.ensure(engine, source=nodeimage.HOST, progress=None)
        engine.close()
        Lab(name=name, driver="docker", engine=url).up()
    finally:
        teardown(engine_lab.name)  # the engine, and the lab's containers with it, are gone
    record = Path(f"/run/swarmlab/{name}")
    assert (record / "state.json").exists()
    res = cli("lab", "down", "--name", name)
    one_line_error(res, f"cannot reach the Docker engine at {url}")
    assert f"swarmlab lab down --name {name} --forget" in res.stderr
    assert (record / "state.json").exists()  # kept: it is how `down` finds the lab once the engine is back
    res = cli("lab", "down", "--name", name, "--forget")
    assert res.returncode == 0 and f"lab {name} is forgotten" in res.stderr, res.stderr
    assert not record.exists()
    res = cli("lab", "down", "--name", name, "--forget")
    assert res.returncode == 0 and f"no lab named {name} was up" in res.stderr, res.stderr


def test_forget_on_an_engine_that_answers_keeps_the_record_and_names_the_way_down(make_docker_lab, docker_engine):
    """--forget is for an engine gone for good: where the engine answers, the lab's containers
    run on, so the record stays and the refusal names a `down` that removes them (as root too)."""
    lab = make_docker_lab()
    record = Path(f"/run/swarmlab/{lab.name}")
    res = cli("lab", "down", "--name", lab.name, "--forget")
    one_line_error(res, f"`swarmlab lab down --name {lab.name} --engine {docker_engine.url}`")
    assert (record / "state.json").exists()
    assert docker_engine.objects(f"{LABEL_LAB}={lab.name}") != EMPTY
    record.joinpath("state.json").unlink()  # even with no record, the named command finds the containers
    res = cli("lab", "down", "--name", lab.name, "--engine", docker_engine.url)
    assert res.returncode == 0, res.stderr
    assert docker_engine.objects(f"{LABEL_LAB}={lab.name}") == EMPTY


def test_down_disconnects_a_stranger_from_the_labs_network_and_finishes(make_docker_lab, docker_engine):
    """A container that is not the lab's, connected to the lab's network: `down` still removes
    everything of the lab (the engine refuses to remove a network with endpoints), and leaves
    the stranger running."""
    from swarmlab.lab.docker import nodeimage
    from swarmlab.lab.docker.engine import network_name
    lab = make_docker_lab()
    client = docker_engine.client()
    stranger = client.containers.run(nodeimage.image_ref(), ["sleep", "600"], entrypoint=[], detach=True,
                                     name=f"stranger-{lab.name}")
    try:
        client.networks.get(network_name(lab.name)).connect(stranger)
        res = cli("lab", "down", "--name", lab.name)
        assert res.returncode == 0, res.stderr
        assert docker_engine.objects(f"{LABEL_LAB}={lab.name}") == EMPTY
        assert not Path(f"/run/swarmlab/{lab.name}").exists()
        stranger.reload()
        assert stranger.status == "running"
    finally:
        stranger.remove(force=True)


# --- several users on one engine -----------------------------------------------------------
ADVU1, ADVU2 = 65533, 65532  # two users with no account (numeric uids, HOME a temporary folder)


def engine_user(docker_engine, uid, home):
    """cli() keywords that run as `uid`, in the group of the engine's socket (as a `docker` group member)."""
    os.chown(home, uid, uid)
    group = os.stat(docker_engine.url.removeprefix("unix://")).st_gid
    return {"env": {"PATH": os.environ["PATH"], "HOME": home, "DOCKER_HOST": docker_engine.url},
            "user": uid, "groups": [group]}


def test_on_a_shared_engine_down_removes_only_a_lab_its_caller_made(docker_engine):
    """Issue 21, item 1: advu1's lab of the default name; advu2 is refused `up` with the owner
    named and no hint that would remove it, advu2's `down` leaves it alone (today it removed it,
    saying "no lab named swarmlab was up"), and only `--force` removes it, with a warning naming
    its owner. Every object carries who made it and the lab's id."""
    import socket
    host = socket.gethostname()
    with tempfile.TemporaryDirectory(prefix="swarmlab-advu1-") as h1, \
            tempfile.TemporaryDirectory(prefix="swarmlab-advu2-") as h2:
        advu1, advu2 = engine_user(docker_engine, ADVU1, h1), engine_user(docker_engine, ADVU2, h2)
        owner = f"uid{ADVU1}@{host} (uid {ADVU1})"
        try:
            up = cli("lab", "up", "--nodes", "1", **advu1)  # the default name, swarmlab
            assert up.returncode == 0, up.stderr
            before = docker_engine.objects(f"{LABEL_LAB}=swarmlab")
            lab_id = json.loads((Path(h1) / ".local/state/swarmlab/labs/swarmlab/state.json").read_text())["id"]
            down = cli("lab", "down", **advu2)
            one_line_error(down, f"lab swarmlab on the Docker engine at {docker_engine.url} is the docker lab of "
                                 f"{owner}, not yours")
            assert "--force" not in down.stderr and "lab down" not in down.stderr
            assert docker_engine.objects(f"{LABEL_LAB}=swarmlab") == before
            refused = cli("lab", "up", "--nodes", "1", **advu2)
            one_line_error(refused, f"the docker lab of {owner}, not yours")
            assert f"--name swarmlab-uid{ADVU2}" in refused.stderr and "lab down" not in refused.stderr
            assert all(before.values()), before
            client, flt = docker_engine.client(), {"label": f"{LABEL_LAB}=swarmlab"}
            try:
                found = [*client.containers.list(all=True, filters=flt), *client.networks.list(filters=flt),
                         *client.volumes.list(filters=flt)]
                for obj in found:
                    labels = (obj.attrs.get("Config") or {}).get("Labels") or obj.attrs["Labels"]
                    assert (labels["io.swarmlab.owner"], labels["io.swarmlab.owner.uid"],
                            labels["io.swarmlab.lab.id"]) == (f"uid{ADVU1}@{host}", str(ADVU1), lab_id), labels
            finally:
                client.close()
            ls = cli("lab", "exec", "node1", "--", "docker", "info", "--format", "{{.ServerVersion}}", **advu1)
            assert ls.returncode == 0 and ls.stdout.strip(), ls.stderr
            forced = cli("lab", "down", "--force", **advu2)
            assert forced.returncode == 0, forced.stderr
            assert f"swarmlab: warning: lab swarmlab (containers on the Docker engine at {docker_engine.url}) was " \
                   f"not yours: {owner} made it; --force removed it" in forced.stderr, forced.stderr
            assert docker_engine.objects(f"{LABEL_LAB}=swarmlab") == EMPTY
        finally:
            cli("lab", "down", **advu1)
        assert docker_engine.objects(f"{LABEL_LAB}=swarmlab") == EMPTY


def test_the_same_name_on_both_drivers_each_down_names_and_takes_its_own(docker_engine):
    """Issue 21, item 2: root's namespaces lab X and advu1's docker lab X. advu1's `down` takes
    down advu1's docker lab and says so (driver, owner, engine); today it refused with `sudo
    swarmlab lab down --name X`, which removes root's. With no lab of its own left, advu1 is told
    whose X is and nothing that would remove it; root's `down` names root's lab."""
    import socket
    host = socket.gethostname()
    name = unique_lab_name("x")
    roots = Lab(name=name, nodes=1, subnet="10.215.0.0/24")
    with tempfile.TemporaryDirectory(prefix="swarmlab-advu1-") as h1:
        advu1 = engine_user(docker_engine, ADVU1, h1)
        try:
            roots.up()
            up = cli("lab", "up", "--name", name, "--nodes", "1", **advu1)
            assert up.returncode == 0, up.stderr
            down = cli("lab", "down", "--name", name, **advu1)
            assert down.returncode == 0, down.stderr
            assert (f"lab {name} is down (docker driver, made by uid{ADVU1}@{host} (uid {ADVU1}); containers on "
                    f"the Docker engine at {docker_engine.url})") in down.stderr, down.stderr
            assert docker_engine.objects(f"{LABEL_LAB}={name}") == EMPTY
            assert roots.node("node1").run("true").ok and roots.is_up()
            again = cli("lab", "down", "--name", name, **advu1)
            one_line_error(again, f"the lab {name} here is root's: the namespaces lab made by root@{host} (uid 0)")
            assert "sudo" not in again.stderr and "lab down" not in again.stderr
            assert roots.node("node1").run("true").ok and roots.is_up()
            mine = cli("lab", "down", "--name", name)
            assert mine.returncode == 0, mine.stderr
            assert f"lab {name} is down (namespaces driver, made by root@{host} (uid 0); namespaces on this machine)" \
                in mine.stderr, mine.stderr
        finally:
            teardown(name)
            cli("lab", "down", "--name", name, **advu1)
        assert docker_engine.objects(f"{LABEL_LAB}={name}") == EMPTY and leftovers(name) == []


def test_a_subnet_holding_the_engine_hosts_own_address_is_refused_naming_it():
    """An engine whose host has 172.16.155.131 (the article's node1) and a lab on the article's
    subnet: the host would answer the nodes for .131 and every join would time out, so `up`
    refuses, naming the address and a subnet to use, and leaves nothing."""
    from swarmlab.errors import LabError
    from swarmlab.lab.docker import nodeimage
    from swarmlab.lab.docker.engine import connect
    engine_lab = Lab(name=unique_lab_name("e131"), nodes=1).up()  # its node1 is 172.16.155.131
    name = unique_lab_name("arp")
    try:
        url = engine_lab.node("node1").docker_host
        engine = connect(url)
        nodeimage.ensure(engine, source=nodeimage.HOST, progress=None)
        with pytest.raises(LabError, match=r"engine's own host has 172\.16\.155\.131 \(on ens33\) inside the "
                                           r"lab's subnet 172\.16\.155\.0/24.*--subnet \d"):
            Lab(name=name, driver="docker", engine=url).up()
        assert [c.name for c in engine.containers.list(all=True)] == []
        assert leftovers(name, engine=url, driver="docker") == []
        engine.close()
    finally:
        teardown(engine_lab.name)
