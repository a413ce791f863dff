"""sshd in every node of a namespaces lab (the shared part, keys and client files: lab/sshd.py).

`start(lab)` runs during `Lab.up()`:

- each node's files are staged in its /run, seen from the host under the node's folder;
  /etc is an overlay private to the node (see node.py), so the host's /etc/ssh is
  untouched, and the host's own host keys are hidden inside the node;
- /usr/sbin/sshd starts in each node (all at once), in the foreground, inside the node's
  cgroup, so teardown kills it with the rest;
- the lab's admin address sits on the switch bridge inside the lab's switch namespace,
  or, when asked (`host_link=True`), on this machine's end of a veth into the switch
  (hostlink.py), where any local user can reach the nodes.
"""
from __future__ import annotations

import ipaddress
import time
from pathlib import Path

from ...errors import LabError
from ..sshd import INSTALL, SSHD, STAGE, LabSSH, admin_address, new_key_pair, node_files, write_client_files, \
    write_file, write_info
from . import hostlink
from .host import host_run
from .network import SWITCH_BRIDGE, switch_netns
from .node import NODE_PATH

# A namespace node's sshd stays in the foreground: the lab holds it as a child process.
_NODE_SCRIPT = INSTALL + "exec /usr/sbin/sshd -D -e\n"


def start(lab, host_link: bool = False) -> None:
    """Give every node of `lab` a running sshd; write the client's files (see module doc)."""
    files = LabSSH(lab.dir)
    admin = admin_address(lab.spec)
    link = hostlink.create(lab.name, lab.spec.subnet, admin) if host_link else None
    if not link:
        _address_switch(lab, admin)
    sshd = Path(SSHD).exists()
    if sshd:
        start_all(lab, files)
    write_info(files, admin, link, sshd)


def _address_switch(lab, admin: str) -> None:
    prefix = ipaddress.IPv4Network(lab.spec.subnet).prefixlen
    host_run(["ip", "-n", switch_netns(lab.name), "addr", "add", f"{admin}/{prefix}", "dev", SWITCH_BRIDGE])


def start_all(lab, files: LabSSH) -> None:
    """Start sshd in every node (each entered the way its driver enters it) and write the client files."""
    client_private, client_public = new_key_pair(f"swarmlab-{lab.name}")
    known = []
    procs = []
    for node in lab.nodes.values():
        host_public = _stage_node_files(node, client_public)
        known.append(f"{node.address} {host_public}\n")
        procs.append((node, _spawn_sshd(node)))
    for node, proc in procs:
        _wait_listening(node, proc)
    write_client_files(lab, files, client_private, client_public, "".join(known),
                       reach="From this machine they answer only through a host link (`swarmlab lab up --host-link`).")


def _stage_node_files(node, client_public: str) -> str:
    """Put the node's sshd files where the node sees them (/run/swarmlab-ssh); returns its host key."""
    host_public, staged = node_files(node, client_public, NODE_PATH)
    stage = node.base / "run" / STAGE
    stage.mkdir(mode=0o700, exist_ok=True)
    for name, (text, mode) in staged.items():
        write_file(stage / name, text, mode)
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


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty)"
    except OSError:
        return "(no log)"
