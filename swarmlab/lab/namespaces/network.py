"""The lab's wiring: one network namespace per node, and a LAN switch between them.

The switch is a bridge in a namespace of its own. In the host's root namespace it
would meet Docker's `FORWARD DROP` and br_netfilter and stop forwarding; and the
lab must not change the host's interfaces anyway.
"""
from __future__ import annotations

from pathlib import Path

from ..spec import LabSpec, NodeSpec
from .host import host_run

NETNS_DIR = Path("/run/netns")
SWITCH_BRIDGE = "switch"


def switch_netns(lab: str) -> str:
    return f"swarmlab.{lab}"


def node_netns(lab: str, node: str) -> str:
    return f"swarmlab.{lab}.{node}"


def lab_netns(lab: str) -> list[str]:
    """Every namespace that belongs to the lab, whether or not its state file survived."""
    if not NETNS_DIR.is_dir():
        return []
    prefix = switch_netns(lab)
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name == prefix or p.name.startswith(prefix + "."))


def build_switch(lab: str) -> None:
    ns = switch_netns(lab)
    host_run(["ip", "netns", "add", ns])
    _batch(ns, [
        "link set lo up",
        f"link add {SWITCH_BRIDGE} type bridge",
        f"link set {SWITCH_BRIDGE} up",
    ])


def plug_node(lab: str, node: NodeSpec) -> None:
    """Create the node's namespace and cable it to the switch with a veth pair."""
    ns, sw = node_netns(lab, node.name), switch_netns(lab)
    host_run(["ip", "netns", "add", ns])
    _batch(sw, [
        f"link add {node.name} type veth peer name {node.nic} netns {ns}",
        f"link set {node.name} master {SWITCH_BRIDGE} up",
    ])
    _batch(ns, [
        "link set lo up",
        f"addr add {node.cidr} dev {node.nic}",
        f"link set {node.nic} up",
    ])


def build(spec: LabSpec) -> None:
    build_switch(spec.name)
    for node in spec.nodes:
        plug_node(spec.name, node)


def remove(lab: str) -> None:
    """Delete the lab's namespaces; interfaces inside them go with them."""
    for ns in lab_netns(lab):
        host_run(["ip", "netns", "del", ns], check=False)


def _batch(ns: str, commands: list[str]) -> None:
    host_run(["ip", "-n", ns, "-batch", "-"], input="\n".join(commands).encode() + b"\n")
