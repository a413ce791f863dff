"""What a lab should look like, checked before anything is built."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ..errors import LabError

# Names become parts of namespace names, cgroup paths and (for nodes) interface
# names, which the kernel limits to 15 characters. '.' separates those parts.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # whole names only: fullmatch
MAX_LAB_NAME = 32
MAX_NODE_NAME = 15
ARTICLE_SUBNET = "172.16.155.0/24"
ARTICLE_FIRST_HOST = 131  # node1 is 172.16.155.131 in the article


def check_name(kind: str, name: str, max_len: int) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > max_len:
        raise LabError(
            f"bad {kind} name {name!r}: use 1-{max_len} letters, digits, '-' or '_' "
            f"(no '/', '.', or spaces), starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class NodeSpec:
    name: str
    address: str  # the node's address on the LAN, without prefix
    prefixlen: int
    nic: str

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True)
class LabSpec:
    name: str
    nodes: tuple[NodeSpec, ...]
    subnet: str

    @classmethod
    def build(cls, name="swarmlab", nodes=2, subnet=ARTICLE_SUBNET,
              first_address=None, node_names=None, nic="ens33") -> "LabSpec":
        check_name("lab", name, MAX_LAB_NAME)
        check_name("interface", nic, MAX_NODE_NAME)
        count = _check_count(nodes, node_names)
        names = list(node_names) if node_names else [f"node{i}" for i in range(1, count + 1)]
        for n in names:
            check_name("node", n, MAX_NODE_NAME)
        if len(set(names)) != len(names):
            raise LabError(f"node names must be unique, got {names}")
        net = _parse_subnet(subnet)
        addresses = _addresses(net, count, first_address)
        specs = tuple(NodeSpec(n, str(a), net.prefixlen, nic) for n, a in zip(names, addresses))
        return cls(name=name, nodes=specs, subnet=str(net))


def _check_count(nodes, node_names) -> int:
    if node_names:
        nodes = len(node_names)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise LabError(f"nodes must be a whole number of at least 1, got {nodes!r}")
    return nodes


def _parse_subnet(subnet) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(str(subnet), strict=True)
    except ValueError as exc:
        raise LabError(
            f"bad subnet {subnet!r}: {exc}; give an IPv4 network such as 172.16.155.0/24"
        ) from None
    if net.prefixlen > 30:
        raise LabError(f"subnet {subnet} is too small for a lab; use a /30 or larger (e.g. /24)")
    return net


def _addresses(net, count, first_address):
    hosts = list(net.hosts())
    if first_address is None:
        # The article's addresses when they fit, else the start of the subnet.
        start = ARTICLE_FIRST_HOST - 1 if len(hosts) >= ARTICLE_FIRST_HOST - 1 + count else 0
    else:
        try:
            first = ipaddress.IPv4Address(str(first_address))
        except ValueError:
            raise LabError(f"bad first_address {first_address!r}: give an IPv4 address") from None
        if first not in hosts:
            raise LabError(f"first_address {first} is not a host address of {net}")
        start = hosts.index(first)
    room = len(hosts) - start
    if count > room:
        raise LabError(
            f"{count} nodes do not fit in {net} starting at {hosts[start]} "
            f"(room for {room}); use a larger subnet or an earlier first address"
        )
    if count >= len(hosts):
        raise LabError(
            f"{count} nodes leave no address left for the lab's SSH client in {net} "
            f"({len(hosts)} host addresses; the lab needs one besides its nodes); use a larger subnet")
    return hosts[start:start + count]
