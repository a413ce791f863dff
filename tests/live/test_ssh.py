"""SSH against the real sshd of lab nodes: host keys, errors, exit codes, timeouts, big outputs.

Most tests reach the nodes from the lab's admin address inside its switch namespace
(sockets made there, see swarmlab/lab/namespaces/netsock.py); the host-link tests go through
this machine's root namespace, as a non-root user would.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import random
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import paramiko
import pytest

import swarmlab
from swarmlab.errors import (HostKeyMismatchError, SSHAuthenticationError, SSHConnectionRefusedError,
                             SSHUnreachableError, UnknownHostKeyError)
from swarmlab.lab import leftovers, teardown
from swarmlab.lab.namespaces import hostlink
from swarmlab.lab.namespaces.netsock import connect_in_netns
from swarmlab.lab.namespaces.network import switch_netns
from swarmlab.lab.sshd import LabSSH, new_key_pair
from swarmlab.transport.ssh import SSHTransport

from conftest import ROOT, unique_lab_name


@pytest.fixture(scope="module")
def lab(swarm_lab):
    return swarm_lab


@pytest.fixture
def ssh_to(lab):
    """SSHTransports to the lab's nodes, from the switch namespace; closed after the test."""
    files = LabSSH(lab.dir)
    made = []

    def make(node: str = "node1", **kw) -> SSHTransport:
        kw.setdefault("address", lab.node(node).address)
        kw.setdefault("user", "root")
        kw.setdefault("key", files.client_key)
        kw.setdefault("known_hosts", files.known_hosts)
        kw.setdefault("connect_timeout", 5)
        t = SSHTransport(node_name=node, connector=partial(connect_in_netns, switch_netns(lab.name)), **kw)
        made.append(t)
        return t
    yield make
    for t in made:
        t.close()


def host_key(lab, node: str) -> paramiko.PKey:
    keys = paramiko.HostKeys(str(LabSSH(lab.dir).known_hosts))
    return keys.lookup(lab.node(node).address)["ssh-ed25519"]


def one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    return message


# --- host keys and authentication ------------------------------------------------------
def test_known_host_key_is_accepted(ssh_to):
    result = ssh_to("node2").run("hostname; id -un")
    assert (result.node, result.stdout, result.exit_code) == ("node2", "node2\nroot\n", 0)


def test_each_node_has_its_own_host_key_in_its_own_etc(lab):
    fingerprints = {host_key(lab, n).fingerprint for n in lab.nodes}
    assert len(fingerprints) == len(lab.nodes)
    node_pub = lab.node("node1").run("cat /etc/ssh/ssh_host_ed25519_key.pub; ls /etc/ssh").check().stdout
    assert host_key(lab, "node1").get_base64() in node_pub
    assert "ssh_host_rsa_key" not in node_pub  # the host's own keys are hidden in the node
    assert host_key(lab, "node1").get_base64() not in Path("/etc/ssh/ssh_host_ed25519_key.pub").read_text()


def test_unknown_host_key_is_refused_with_fingerprint_and_how_to_trust(ssh_to, lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(UnknownHostKeyError) as err:
        ssh_to("node1", known_hosts=empty).run("true")
    message = one_line(err)
    address = lab.node("node1").address
    assert f"root@{address}:22" in message and str(empty) in message
    assert host_key(lab, "node1").fingerprint in message
    assert f"ssh-keyscan -t ed25519 {address} >> {empty}" in message and "trust_on_first_use=True" in message


def test_trust_on_first_use_when_asked_records_the_key(ssh_to, lab, tmp_path):
    known = tmp_path / "new" / "known_hosts"
    assert ssh_to("node1", known_hosts=known, trust_on_first_use=True).run("hostname").stdout == "node1\n"
    saved = paramiko.HostKeys(str(known)).lookup(lab.node("node1").address)
    assert saved["ssh-ed25519"] == host_key(lab, "node1")
    # From now on the key is known: a strict connection with that file works.
    assert ssh_to("node1", known_hosts=known).run("hostname").stdout == "node1\n"


def test_a_changed_host_key_is_refused(ssh_to, lab, tmp_path):
    wrong = tmp_path / "known_hosts"
    node2_key = host_key(lab, "node2")
    wrong.write_text(f"{lab.node('node1').address} ssh-ed25519 {node2_key.get_base64()}\n")
    with pytest.raises(HostKeyMismatchError) as err:
        ssh_to("node1", known_hosts=wrong).run("true")
    message = one_line(err)
    assert "MISMATCH" in message and host_key(lab, "node1").fingerprint in message
    assert node2_key.fingerprint in message and f"ssh-keygen -R {lab.node('node1').address}" in message


def test_a_wrong_client_key_is_refused(ssh_to, tmp_path):
    private, _ = new_key_pair("stranger")
    key = tmp_path / "stranger.key"
    key.write_text(private)
    key.chmod(0o600)
    with pytest.raises(SSHAuthenticationError) as err:
        ssh_to("node1", key=key).run("true")
    message = one_line(err)
    assert "authentication failed for user root" in message and str(key) in message


def test_connection_refused_on_a_port_without_sshd(ssh_to, lab):
    with pytest.raises(SSHConnectionRefusedError) as err:
        ssh_to("node1", port=2222).run("true")
    assert f"root@{lab.node('node1').address}:2222" in one_line(err)
    assert "nothing listens on port 2222" in str(err.value)


def test_an_unused_address_is_unreachable_within_the_timeout(ssh_to, lab):
    used = {n.address for n in lab.nodes.values()} | {LabSSH(lab.dir).read_info()["admin_address"]}
    free = next(str(a) for a in ipaddress.IPv4Network(lab.spec.subnet).hosts() if str(a) not in used)
    started = time.monotonic()
    with pytest.raises(SSHUnreachableError) as err:
        ssh_to("node1", address=free, connect_timeout=1).run("true")
    assert time.monotonic() - started < 3
    assert f"root@{free}:22" in one_line(err) and "no answer within 1 s" in str(err.value)


# --- commands -------------------------------------------------------------------------
def test_exit_codes_quoting_and_input(ssh_to):
    t = ssh_to("node1")
    r = t.run("echo out; echo err >&2; exit 3")
    assert (r.node, r.command, r.stdout, r.stderr, r.exit_code) == ("node1", "echo out; echo err >&2; exit 3",
                                                                   "out\n", "err\n", 3)
    assert t.run(["printf", "%s|", "a b", "$HOME", "it's"]).stdout == "a b|$HOME|it's|"
    assert t.run("cat", input="line 1\nline 2\n").stdout == "line 1\nline 2\n"
    assert t.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout == "active\n"


def test_a_command_that_runs_too_long_is_stopped_on_the_node(ssh_to, lab):
    t = ssh_to("node1")
    result = t.run("echo started; sleep 37.25", timeout=1)
    assert (result.exit_code, result.stdout) == (124, "started\n")
    assert "timed out after 1 s" in result.stderr and 0.9 < result.duration < 3
    time.sleep(0.2)
    assert lab.node("node1").run("ps -eo args | grep -c '^sleep 37.25'").stdout.strip() == "0"
    assert t.run("echo still usable").stdout == "still usable\n"


def test_five_megabytes_on_both_streams_arrive_intact_and_fast(ssh_to):
    size = 5 * 1024 * 1024
    command = (f"head -c {size} /dev/urandom | base64 -w 76 | head -c {size} > /tmp/big; "
               f"sha256sum < /tmp/big > /tmp/big.sum; cat /tmp/big >&2; cat /tmp/big")
    t = ssh_to("node2")
    t.run("true")  # connect first: time the transfer only
    started = time.monotonic()
    result = t.run(command)
    elapsed = time.monotonic() - started
    expected = t.run("cut -d' ' -f1 /tmp/big.sum; rm /tmp/big /tmp/big.sum").stdout.strip()
    assert len(result.stdout) == len(result.stderr) == size
    assert hashlib.sha256(result.stdout.encode()).hexdigest() == expected
    assert hashlib.sha256(result.stderr.encode()).hexdigest() == expected
    print(f"10 MB over SSH, stdout and stderr at once: {elapsed:.1f} s")


# --- clusters and docker-py --------------------------------------------------------------
def test_docker_client_over_the_lab_socket_and_over_ssh(lab):
    local = swarmlab.connect(lab)
    assert local.source == f"lab {lab.name}"
    assert local.node("node1").client.version()["Version"]
    with swarmlab.connect(lab, via="ssh") as over_ssh:
        info = over_ssh.node("node1").client.info()
        assert (info["Name"], info["Swarm"]["LocalNodeState"]) == ("node1", "active")


def test_connect_over_ssh_reaches_every_node(lab):
    with swarmlab.connect(lab.name, via="ssh") as cluster:
        assert cluster.source == f"lab {lab.name} over SSH"
        assert {n: r.stdout for n, r in cluster.run_all("hostname").items()} == {"node1": "node1\n", "node2": "node2\n"}
        assert cluster.manager.name == "node1"


def test_a_labs_own_inventory_never_leaves_by_the_default_route(lab):
    """The lab's inventory names addresses this machine does not route to the lab (no host
    link): they are reached through the lab's switch, and not one packet to them leaves this
    machine's root namespace, where the default route would take it to another machine."""
    counter = ["OUTPUT", "-d", lab.spec.subnet, "-m", "comment", "--comment", f"swarmlab-test-{lab.name}"]
    subprocess.run(["iptables", "-I", *counter], check=True)  # no target: it only counts
    try:
        with swarmlab.connect(LabSSH(lab.dir).inventory) as cluster:
            assert cluster.node("node2").run("hostname").stdout == "node2\n"
    finally:
        listed = subprocess.run(["iptables", "-L", "OUTPUT", "-v", "-x", "-n"], capture_output=True, text=True).stdout
        subprocess.run(["iptables", "-D", *counter], check=True)
    [packets] = [int(line.split()[0]) for line in listed.splitlines() if f"swarmlab-test-{lab.name}" in line]
    assert packets == 0


# --- the host link (only when asked) ---------------------------------------------------------
def _free_subnet() -> str:
    # A subnet of its own, so a lab linked by another test at the same time cannot clash.
    return f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24"


def _wait_interface_gone(name: str, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_host_link_lets_this_machine_and_other_users_ssh_in(make_lab, monkeypatch, tmp_path):
    monkeypatch.setenv("SUDO_UID", "65534")  # as if `sudo swarmlab lab up` by user nobody
    monkeypatch.setenv("SUDO_GID", "65534")
    linked = make_lab(host_link=True, subnet=_free_subnet())
    files = LabSSH(linked.dir)
    iface = hostlink.interface_name(linked.name)
    admin = files.read_info()["admin_address"]
    assert files.read_info()["host_link"] == iface
    addr = subprocess.run(["ip", "-br", "addr", "show", iface], capture_output=True, text=True).stdout
    assert f"{admin}/24" in addr
    for path in (files.client_key, files.known_hosts, files.inventory):
        assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)

    # From the root namespace, with plain sockets: the inventory works as for real hosts.
    with swarmlab.connect(files.inventory) as cluster:
        assert cluster.node("node2").run("hostname").stdout == "node2\n"
    # A user who is not root: connect(name) goes over SSH through the link.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with swarmlab.connect(linked.name) as cluster:
        assert cluster.source == f"lab {linked.name} over SSH"
        assert cluster.node("node1").run("hostname").stdout == "node1\n"
    monkeypatch.undo()
    # The same with OpenSSH's client, run as that user.
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    ssh = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", f"HOME={home}",
         "ssh", "-i", str(files.client_key), "-o", f"UserKnownHostsFile={files.known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
         f"root@{linked.node('node1').address}", "hostname"],
        capture_output=True, text=True, timeout=20)
    assert (ssh.returncode, ssh.stdout) == (0, "node1\n"), ssh.stderr

    teardown(linked.name)
    assert _wait_interface_gone(iface), f"{iface} still exists after teardown"


def test_host_link_goes_away_when_the_lab_is_torn_down_after_kill_9(make_lab):
    name = unique_lab_name()
    make_lab(up=False, name=name)  # only so the fixture takes it down if this test fails
    script = (f"import os, signal, sys; sys.path.insert(0, {str(ROOT)!r}); from swarmlab.lab import Lab; "
              f"Lab(name={name!r}, host_link=True, subnet={_free_subnet()!r}).up(); "
              f"print('up', flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and proc.stdout == "up\n", proc.stderr
    iface = hostlink.interface_name(name)
    assert hostlink.exists(name)
    teardown(name)
    assert _wait_interface_gone(iface), f"{iface} still exists after teardown"
    assert leftovers(name) == []


def test_host_link_refuses_a_subnet_the_host_already_routes(make_lab):
    route = subprocess.run(["ip", "-j", "-4", "route"], capture_output=True, text=True).stdout
    taken = next((r["dst"] for r in json.loads(route) if r.get("dst", "default") != "default"), None)
    assert taken, "this machine has no route but the default one"
    net = ipaddress.IPv4Network(taken, strict=False)
    subnet = str(net if net.prefixlen <= 29 else net.supernet(new_prefix=24))
    with pytest.raises(swarmlab.LabError, match=r"already routes .* overlaps the lab subnet"):
        make_lab(host_link=True, subnet=subnet)
