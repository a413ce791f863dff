"""A cable from this machine's root namespace into a lab's switch (only when asked).

Without it, the lab's LAN is reachable only from inside the lab's namespaces, which
needs root. With it, any local user (a notebook kernel, `ssh`) can reach the nodes:
a veth pair whose host end sits in the root namespace with an address in the lab
subnet, and whose other end is a port of the lab's switch bridge.

This changes the host (a new interface and a connected route), so it is created only
for `Lab(host_link=True)` / `swarmlab lab up --host-link`. Teardown needs nothing
special: the switch end lives in the lab's switch namespace, and deleting that
namespace deletes the pair, so the host end goes too, even after a `kill -9`.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import time

from ...errors import LabError
from .host import host_run
from .network import SWITCH_BRIDGE, switch_netns

SWITCH_PORT = "to.host"  # node names cannot contain '.', so this never clashes with a node's port


def interface_name(lab: str) -> str:
    """The host end's name: short (the kernel allows 15 characters) and fixed per lab name."""
    return "swl" + hashlib.sha1(lab.encode()).hexdigest()[:8]


def exists(lab: str) -> bool:
    return host_run(["ip", "link", "show", interface_name(lab)], check=False).returncode == 0


def create(lab: str, subnet: str, address: str) -> str:
    """Cable the host to the lab's switch with `address`; returns the host interface's name."""
    net = ipaddress.IPv4Network(subnet)
    name = interface_name(lab)
    _wait_gone(name)
    _check_subnet_free(lab, net)
    host_run(["ip", "link", "add", name, "type", "veth", "peer", "name", SWITCH_PORT,
              "netns", switch_netns(lab)])
    host_run(["ip", "-n", switch_netns(lab), "link", "set", SWITCH_PORT, "master", SWITCH_BRIDGE, "up"])
    host_run(["ip", "addr", "add", f"{address}/{net.prefixlen}", "dev", name])
    host_run(["ip", "link", "set", name, "up"])
    return name


def _check_subnet_free(lab: str, net: ipaddress.IPv4Network) -> None:
    """Refuse when the host already routes any part of the lab's subnet somewhere else."""
    routes = json.loads(host_run(["ip", "-j", "-4", "route", "show"]).stdout or b"[]")
    for route in routes:
        dst = route.get("dst", "default")
        if dst == "default":
            continue
        if ipaddress.IPv4Network(dst, strict=False).overlaps(net):
            raise LabError(
                f"cannot link lab {lab} to this host: the host already routes {dst} "
                f"(dev {route.get('dev', '?')}), which overlaps the lab subnet {net}; "
                f"choose another subnet (`--subnet`) or leave out --host-link")


def _wait_gone(name: str, timeout: float = 3) -> None:
    # The kernel deletes a dead namespace's interfaces a moment after `ip netns del`:
    # a lab of the same name taken down just before may still be going away.
    deadline = time.monotonic() + timeout
    while host_run(["ip", "link", "show", name], check=False).returncode == 0:
        if time.monotonic() > deadline:
            raise LabError(f"interface {name} already exists on this host; if no lab uses it, "
                           f"remove it with `ip link del {name}`")
        time.sleep(0.05)
