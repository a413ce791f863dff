"""sshd in every lab node, so a lab can be reached the way real hosts are: over SSH.

`start(lab)` runs during `Lab.up()`:

- one client key pair per lab, one ed25519 host key per node (made in-process with
  `cryptography`: microseconds, where `ssh-keygen` would cost a process per key);
- each node gets its own /etc/ssh: sshd_config, host key, authorized key. /etc is an
  overlay private to the node (see node.py), so the host's /etc/ssh is untouched, and
  the host's own host keys are hidden inside the node;
- /usr/sbin/sshd starts in each node (all at once), listening on the node's LAN
  address, port 22, inside the node's cgroup, so teardown kills it with the rest;
- the lab's "admin" address (the last host address of the subnet no node uses, e.g.
  .254) is where SSH clients sit on the lab LAN, like a control machine: on the
  switch bridge inside the lab's switch namespace, or, when asked (`host_link=True`),
  on this machine's end of a veth into the switch (hostlink.py);
- under the lab's state folder: the client's private key, a known_hosts with every
  node's real host key, an inventory (docs/inventory.md) and ssh.json, readable by the
  user who ran sudo (SUDO_UID/SUDO_GID own them), else by root.

`start_in_containers(lab)` does the same for a docker-driver lab: the files go into
each node container as a tar on the exec's stdin, sshd runs there as a daemon, and
clients reach it through the engine (containers.DockerDriver.ssh_connector).
"""
from __future__ import annotations

import io
import ipaddress
import json
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import LabError
from . import hostlink
from .host import host_run
from .network import SWITCH_BRIDGE, switch_netns
from .node import NODE_PATH

SSHD = "/usr/sbin/sshd"
SSH_USER = "root"
STAGE = "swarmlab-ssh"  # a folder in the node's /run where the host hands over its files

# In the node: move the staged files into the node's own /etc/ssh, then start sshd.
_INSTALL = r"""
set -eu
umask 022
stage=/run/swarmlab-ssh
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/ssh/authorized_keys /run/sshd
mv "$stage/sshd_config" /etc/ssh/sshd_config
mv "$stage/ssh_host_ed25519_key" "$stage/ssh_host_ed25519_key.pub" /etc/ssh/
mv "$stage/authorized_keys" /etc/ssh/authorized_keys/root
rmdir "$stage"
"""
# A namespace node's sshd stays in the foreground: the lab holds it as a child process.
_NODE_SCRIPT = _INSTALL + "exec /usr/sbin/sshd -D -e\n"
# A node container's is a daemon: the exec that starts it ends, tini adopts it. The files
# come as a tar on stdin, as the engine's exec API is the only way in.
_CONTAINER_SCRIPT = ("tar -xf - -C /run\n" + _INSTALL
                     + "/usr/sbin/sshd -E /var/log/sshd.log || { tail -n 5 /var/log/sshd.log >&2; exit 1; }\n")

_SSHD_CONFIG = """\
# sshd of lab node {node} (written by swarmlab; this /etc is private to the node)
ListenAddress {address}:22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
# In /etc/ssh, not ~/.ssh: the keys of every login are in the node's own /etc, which the lab writes.
AuthorizedKeysFile /etc/ssh/authorized_keys/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
X11Forwarding no
AcceptEnv LANG LC_*
# The node's docker CLI (/usr/bin) must win over a newer one in /usr/local/bin.
SetEnv PATH={path}
# Many commands and docker-py connections share one SSH connection per node.
MaxSessions 100
MaxStartups 100
Subsystem sftp internal-sftp
"""


@dataclass(frozen=True)
class LabSSH:
    """Where a lab's SSH files are, on the host."""

    dir: Path

    @property
    def client_key(self) -> Path:
        return self.dir / "ssh-client.key"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "ssh.known_hosts"

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.toml"

    @property
    def info(self) -> Path:
        """ssh.json: the admin address and the host link, if any."""
        return self.dir / "ssh.json"

    def read_info(self) -> dict:
        try:
            return json.loads(self.info.read_text())
        except (OSError, ValueError):
            return {}


def start(lab, host_link: bool = False) -> None:
    """Give every node of `lab` a running sshd; write the client's files (see module doc)."""
    files = LabSSH(lab.dir)
    admin = admin_address(lab.spec)
    link = hostlink.create(lab.name, lab.spec.subnet, admin) if host_link else None
    if not link:
        _address_switch(lab, admin)
    sshd = Path(SSHD).exists()
    if sshd:
        _start_all(lab, files)
    _write_info(files, admin, link, sshd)


def start_in_containers(lab, node_path: str) -> bool:
    """Give every node container of `lab` a running sshd, its files sent through the
    engine (a docker-driver lab); write the client's files. False when the node image
    has no sshd (built from a host without openssh-server)."""
    files = LabSSH(lab.dir)
    first = next(iter(lab.nodes.values()))
    sshd = first.run(f"test -x {SSHD}", timeout=30).ok
    if sshd:
        client_private, client_public = new_key_pair(f"swarmlab-{lab.name}")

        def start(node) -> str:
            host_private, host_public = new_key_pair(f"root@{node.name}")
            staged = {"ssh_host_ed25519_key": (host_private, 0o600), "ssh_host_ed25519_key.pub": (host_public + "\n", 0o644),
                      "authorized_keys": (client_public + "\n", 0o644),
                      "sshd_config": (_SSHD_CONFIG.format(node=node.name, address=node.address, path=node_path), 0o644)}
            node.run(_CONTAINER_SCRIPT, input=_tar(STAGE, staged), timeout=60).check(hint=f"starting sshd on {node.name}")
            return f"{node.address} {host_public}\n"
        known = lab.each_node(start)
        _write_client_files(lab, files, client_private, client_public, "".join(known.values()),
                            reach="From this machine they answer through the engine: Cluster.from_lab(lab, via=\"ssh\").")
    _write_info(files, None, None, sshd)
    return sshd


def _tar(folder: str, members: dict[str, tuple[str, int]]) -> bytes:
    """An in-memory tar of `folder`/name for each (text, mode)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(folder)
        info.type, info.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(info)
        for name, (text, mode) in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def admin_address(spec) -> str:
    """The last host address of the lab subnet that no node uses."""
    net = ipaddress.IPv4Network(spec.subnet)
    used = {n.address for n in spec.nodes}
    for address in reversed(list(net.hosts())):
        if str(address) not in used:
            return str(address)
    raise LabError(f"subnet {net} has no address left for the lab's SSH client; use a larger subnet")


def _address_switch(lab, admin: str) -> None:
    prefix = ipaddress.IPv4Network(lab.spec.subnet).prefixlen
    host_run(["ip", "-n", switch_netns(lab.name), "addr", "add", f"{admin}/{prefix}", "dev", SWITCH_BRIDGE])


# --- sshd in the nodes ---------------------------------------------------------------
def _start_all(lab, files: LabSSH) -> None:
    client_private, client_public = new_key_pair(f"swarmlab-{lab.name}")
    known = []
    procs = []
    for node in lab.nodes.values():
        host_public = _stage_node_files(node, client_public)
        known.append(f"{node.address} {host_public}\n")
        procs.append((node, _spawn_sshd(node)))
    for node, proc in procs:
        _wait_listening(node, proc)
    _write_client_files(lab, files, client_private, client_public, "".join(known),
                        reach="From this machine they answer only through a host link (`swarmlab lab up --host-link`).")


def _write_client_files(lab, files: LabSSH, client_private: str, client_public: str, known_hosts: str,
                        reach: str) -> None:
    _write_user_file(files.client_key, client_private, 0o600)
    _write_user_file(files.client_key.with_name(files.client_key.name + ".pub"), client_public + "\n", 0o644)
    _write_user_file(files.known_hosts, known_hosts, 0o644)
    _write_user_file(files.inventory, _inventory_text(lab, files, reach), 0o644)


def new_key_pair(comment: str) -> tuple[str, str]:
    """An ed25519 key pair: (private key in OpenSSH format, public key line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, ser.NoEncryption()).decode()
    public = key.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()
    return private, f"{public} {comment}"


def _stage_node_files(node, client_public: str) -> str:
    """Put the node's sshd files where the node sees them (/run/swarmlab-ssh); returns its host key."""
    host_private, host_public = new_key_pair(f"root@{node.name}")
    stage = node.base / "run" / STAGE
    stage.mkdir(mode=0o700, exist_ok=True)
    _write(stage / "ssh_host_ed25519_key", host_private, 0o600)
    _write(stage / "ssh_host_ed25519_key.pub", host_public + "\n", 0o644)
    _write(stage / "authorized_keys", client_public + "\n", 0o644)
    _write(stage / "sshd_config", _SSHD_CONFIG.format(node=node.name, address=node.address, path=NODE_PATH), 0o644)
    return host_public


def _spawn_sshd(node):
    log = open(node.base / "sshd.log", "ab")
    with log:
        return node._spawn(node._enter(["sh", "-c", _NODE_SCRIPT]), stdout=log, stderr=log)


def _wait_listening(node, proc, timeout: float = 10) -> None:
    # sshd writes its pid file right after it starts listening.
    pid_file = node.base / "run" / "sshd.pid"
    deadline = time.monotonic() + timeout
    while not pid_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"sshd did not start on {node.name}; last lines of {node.base / 'sshd.log'}:\n"
                           f"{_tail(node.base / 'sshd.log')}")
        time.sleep(0.005)


# --- files for the client --------------------------------------------------------------
def _inventory_text(lab, files: LabSSH, reach: str) -> str:
    lines = [f"# The nodes of lab {lab.name}, reached over SSH (written by swarmlab; format: docs/inventory.md).",
             f"# {reach}",
             f'known_hosts = "{files.known_hosts}"',
             "trust_on_first_use = false", ""]
    for i, node in enumerate(lab.nodes.values()):
        lines += [f"[hosts.{node.name}]",
                  f'address = "{node.address}"',
                  f'user = "{SSH_USER}"',
                  "port = 22",
                  f'key = "{files.client_key}"',
                  f'role = "{"manager" if i == 0 else "worker"}"',
                  "sudo = false", ""]
    return "\n".join(lines)


def _write_info(files: LabSSH, admin: str, link: str | None, sshd: bool) -> None:
    info = {"admin_address": admin, "host_link": link, "sshd": sshd,
            "inventory": str(files.inventory) if sshd else None}
    _write_user_file(files.info, json.dumps(info, indent=2) + "\n", 0o644)


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _write_user_file(path: Path, text: str, mode: int) -> None:
    """Write a file the invoking user can use: the sudo caller owns it, when there is one."""
    _write(path, text, mode)
    owner = _sudo_caller()
    if owner:
        os.chown(path, *owner)


def _sudo_caller() -> tuple[int, int] | None:
    uid, gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    return (int(uid), int(gid)) if uid.isdigit() and gid.isdigit() else None


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty)"
    except OSError:
        return "(no log)"
