"""sshd in every lab node, so a lab can be reached the way real hosts are: over SSH.

What every driver's nodes share (each driver's sshd.py starts it its own way):

- one client key pair per lab, one ed25519 host key per node (made in-process with
  `cryptography`: microseconds, where `ssh-keygen` would cost a process per key);
- each node gets its own /etc/ssh: sshd_config, host key, authorized key, staged in
  the node's /run and moved into place there (INSTALL); the host's own /etc/ssh and
  host keys stay out of the node;
- sshd listens on the node's LAN address, port 22;
- the lab's "admin" address (the last host address of the subnet no node uses, e.g.
  .254) is where SSH clients sit on the lab LAN, like a control machine;
- under the lab's state folder (LabSSH): the client's private key, a known_hosts with
  every node's real host key, an inventory (docs/inventory.md) and ssh.json, readable
  by the user who ran sudo (SUDO_UID/SUDO_GID own them), else by root.
"""
from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import LabError

SSHD = "/usr/sbin/sshd"
SSH_USER = "root"
STAGE = "swarmlab-ssh"  # a folder in the node's /run where the host hands over its files

# In the node: move the staged files into the node's own /etc/ssh (the driver starts sshd after).
INSTALL = r"""
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


def node_files(node, client_public: str, path: str) -> tuple[str, dict[str, tuple[str, int]]]:
    """A new host key for `node`, and the files to stage in its /run/STAGE for INSTALL,
    {file name: (text, mode)}; `path` is the node's PATH for every login.
    Returns (its public host key line, the files)."""
    host_private, host_public = new_key_pair(f"root@{node.name}")
    config = _SSHD_CONFIG.format(node=node.name, address=node.address, path=path) + node.sshd_extra_config
    return host_public, {"ssh_host_ed25519_key": (host_private, 0o600),
                         "ssh_host_ed25519_key.pub": (host_public + "\n", 0o644),
                         "authorized_keys": (client_public + "\n", 0o644),
                         "sshd_config": (config, 0o644)}


def ssh_hint(lab) -> str:
    """How to reach a lab with a host link over SSH, from this machine, as any user."""
    files = LabSSH(lab.dir)
    first = next(iter(lab.nodes.values()))
    return (f"ssh:  ssh -i {files.client_key} -o UserKnownHostsFile={files.known_hosts} "
            f"{SSH_USER}@{first.address}   |   python: swarmlab.connect({str(files.inventory)!r})")


def admin_address(spec) -> str:
    """The last host address of the lab subnet that no node uses."""
    net = ipaddress.IPv4Network(spec.subnet)
    used = {n.address for n in spec.nodes}
    for address in reversed(list(net.hosts())):
        if str(address) not in used:
            return str(address)
    raise LabError(f"subnet {net} has no address left for the lab's SSH client; use a larger subnet")


def write_client_files(lab, files: LabSSH, client_private: str, client_public: str, known_hosts: str,
                       reach: str) -> None:
    """The client's key pair, known_hosts and inventory; `reach` says how they answer from here."""
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


def write_info(files: LabSSH, admin: str, link: str | None, sshd: bool) -> None:
    info = {"admin_address": admin, "host_link": link, "sshd": sshd,
            "inventory": str(files.inventory) if sshd else None}
    _write_user_file(files.info, json.dumps(info, indent=2) + "\n", 0o644)


def write_file(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _write_user_file(path: Path, text: str, mode: int) -> None:
    """Write a file the invoking user can use: the sudo caller owns it, when there is one."""
    write_file(path, text, mode)
    owner = _sudo_caller()
    if owner:
        os.chown(path, *owner)


def _sudo_caller() -> tuple[int, int] | None:
    uid, gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    return (int(uid), int(gid)) if uid.isdigit() and gid.isdigit() else None


