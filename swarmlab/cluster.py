"""Cluster and Node: the same calls whatever carries the commands (lab, SSH, replay).

`connect(target)` is the one way in: a lab name or Lab, an inventory file of real
hosts (.toml/.yaml/.yml), or a recording (.json).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import SwarmlabError
from .inventory import Inventory, is_inventory_path, load_inventory
from .lab import Lab, lab_of_inventory
from .result import Result
from .transport import Transport, get_transport
from .transport.recording import load_recording
from .transport.replay import ReplayClock, replay_transports


@dataclass
class Node:
    """One machine of a swarm, reached through its transport."""

    name: str
    address: str
    transport: Transport
    role: str = ""  # "manager" / "worker" as the user declared it; "" when unknown

    def run(self, command: str | list[str], *, input=None, timeout: float | None = 120) -> Result:
        return self.transport.run(command, input=input, timeout=timeout)

    def stream(self, command: str | list[str], sink, *, timeout: float | None = 120) -> Result:
        """Run `command`, handing its output to sink(1 or 2, bytes) as it arrives (Transport.stream)."""
        return self.transport.stream(command, sink, timeout=timeout)

    def __repr__(self):
        return f"<Node {self.name} {self.address}>"

    @property
    def client(self):
        """A docker-py DockerClient bound to this node's daemon (lab: its unix socket;
        SSH: over the node's verified SSH connection)."""
        return self.transport.docker_client()


class WallClock:
    """Real time, for live clusters (a replayed cluster has a ReplayClock instead)."""

    now = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)


class Cluster:
    """The nodes of one swarm, in order; the first manager is `cluster.manager`.

    `cluster.clock` is what polling loops wait with: real time, or, in a replay,
    the recorded session's time (so waiting costs nothing).
    """

    lab = None  # the local Lab behind the nodes, when from_lab() built the cluster

    def __init__(self, nodes: list[Node], source: str = "", clock=None):
        self.nodes = {n.name: n for n in nodes}
        self.source = source  # e.g. "lab swarmlab", "inventory hosts.toml", "recording x.json"
        self.clock = clock or WallClock()
        # {Docker's hostname: node name}, asked of the nodes once (swarmlab.swarm.node_names)
        self.names_by_hostname: dict[str, str] | None = None

    def with_transports(self, wrap: Callable[[Node], Transport]) -> "Cluster":
        """The same nodes (names, addresses, roles), source, clock and lab, each node reached
        through `wrap(node)` instead, e.g. a RecordingTransport around its transport."""
        cluster = Cluster([Node(n.name, n.address, wrap(n), n.role) for n in self],
                          source=self.source, clock=self.clock)
        cluster.lab = self.lab
        return cluster

    def __repr__(self):
        return f"<Cluster {self.source}: {', '.join(self.nodes)}>"

    def __iter__(self):
        return iter(self.nodes.values())

    def __len__(self):
        return len(self.nodes)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the nodes' connections (SSH); harmless for the others."""
        for node in self:
            node.transport.close()

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise SwarmlabError(f"no node {name!r} in {self.source or 'this cluster'}; "
                                f"its nodes are {', '.join(self.nodes)}") from None

    @property
    def manager(self) -> Node:
        managers = [n for n in self if n.role == "manager"]
        return managers[0] if managers else next(iter(self))

    def run_all(self, command: str | list[str], timeout: float | None = 120,
                return_exceptions: bool = False) -> dict[str, Result]:
        """Run the same command on every node at once; results by node name, in order.

        With return_exceptions, a node that cannot be reached gets its exception in
        its slot instead of hiding the other nodes' results.
        """
        def run(node):
            try:
                return node.run(command, timeout=timeout)
            except Exception as exc:
                if not return_exceptions:
                    raise
                return exc
        with ThreadPoolExecutor(max_workers=min(16, len(self.nodes))) as pool:
            futures = {n.name: pool.submit(run, n) for n in self}
        return {name: fut.result() for name, fut in futures.items()}

    @classmethod
    def from_lab(cls, lab, via: str = "local") -> "Cluster":
        """A cluster over a local lab (a Lab object, or the name of a lab that is up).

        via="local" is the driver's own way in: the nodes' namespaces (root), or
        `docker exec` into the node containers (docker driver); via="ssh" goes through
        each node's sshd, as to real hosts: over the lab's host link when it has one,
        else (root) from the lab's admin address inside its switch namespace.
        """
        if isinstance(lab, str):
            lab = Lab.attach(lab)
        if via == "ssh":
            cluster = _lab_over_ssh(lab)
        elif via == "local":
            nodes = [Node(n.name, n.address, get_transport(lab.driver.transport, n), "manager" if i == 0 else "worker")
                     for i, n in enumerate(lab.nodes.values())]
            cluster = cls(nodes, source=f"lab {lab.name}")
        else:
            raise SwarmlabError(f"via={via!r}: use \"local\" (namespaces, root) or \"ssh\"")
        cluster.lab = lab
        return cluster

    @classmethod
    def from_inventory(cls, inventory, *, connector=None, connect_timeout: float = 10.0) -> "Cluster":
        """A cluster of real hosts over SSH, from an inventory file (or a loaded Inventory).
        `connector(address, port, timeout)` opens the stream to a host, when a plain TCP
        connect from here cannot (see SSHTransport)."""
        if not isinstance(inventory, Inventory):
            inventory = load_inventory(inventory)
        if connector is None and (lab := lab_of_inventory(inventory.path)):
            connector = lab.driver.ssh_connector(lab)  # through the lab's switch, or a one-line refusal
        nodes = [Node(h.name, h.address, role=h.role, transport=get_transport(
                     "ssh", h.address, user=h.user, port=h.port, key=h.key, node_name=h.name,
                     known_hosts=inventory.known_hosts, trust_on_first_use=inventory.trust_on_first_use,
                     sudo=h.sudo, connect_timeout=connect_timeout, connector=connector))
                 for h in inventory.hosts]
        return cls(nodes, source=f"inventory {inventory.path}")

    @classmethod
    def from_recording(cls, path, *, secrets=()) -> "Cluster":
        """A cluster that replays a recorded session (see swarmlab.transport.replay).

        `secrets`: the values registered (in the same order) when it was recorded, so
        commands that contain them find their recorded runs.
        """
        data = load_recording(path)
        source = f"recording {path}"
        clock = ReplayClock()
        transports = replay_transports(data, source, secrets, clock)
        declared = {n["name"]: n for n in data["nodes"]}
        nodes = [Node(name, declared.get(name, {}).get("address", ""), t, declared.get(name, {}).get("role", ""))
                 for name, t in transports.items()]
        return cls(nodes, source=source, clock=clock)


def connect(target, *, via: str | None = None) -> Cluster:
    """The cluster behind `target`, whatever carries the commands.

    - a Lab, or the name of a lab that is up: its nodes through their namespaces when
      this process is root; otherwise over SSH, which needs the lab's host link
      (`swarmlab lab up --host-link`). via="ssh" asks for SSH even as root.
    - an inventory file (.toml, .yaml, .yml): real hosts over SSH.
    - a recording (.json): a replay of the recorded session.
    """
    if isinstance(target, Lab):
        return Cluster.from_lab(target, via=via or _default_lab_via(target))
    if not isinstance(target, (str, Path)):
        raise SwarmlabError(f"connect() takes a lab name, a Lab, an inventory (.toml/.yaml) or a "
                            f"recording (.json), not {type(target).__name__}")
    text = str(target)
    if text.lower().endswith(".json"):
        return Cluster.from_recording(target)
    if is_inventory_path(text):
        return Cluster.from_inventory(target)
    if "/" in text or "." in text:
        raise SwarmlabError(f"{text!r}: not a lab name, and not a file swarmlab reads; give an inventory "
                            f"(.toml, .yaml, .yml) or a recording (.json)")
    lab = Lab.attach(text)
    return Cluster.from_lab(lab, via=via or _default_lab_via(lab))


def as_cluster(target) -> Cluster:
    """A Cluster from a Cluster, or anything swarmlab.connect takes (a Lab, a lab name, an inventory)."""
    if isinstance(target, Cluster):
        return target
    return connect(target)


def _default_lab_via(lab) -> str:
    # The driver's own way in may need root (entering namespaces); without it, go the way
    # one goes to real hosts. A docker-driver node is reached by whoever may use the engine.
    return "local" if os.geteuid() == 0 or not lab.driver.local_needs_root else "ssh"


def _lab_over_ssh(lab) -> Cluster:
    """The lab's own inventory, each node's sshd reached the way its driver says (lab.driver.ssh_connector)."""
    files = lab.ssh
    if not files.read_info().get("sshd") or not files.inventory.is_file():
        raise SwarmlabError(f"lab {lab.name} has no SSH ({lab.driver.no_sshd_hint}), then bring the lab up again")
    cluster = Cluster.from_inventory(files.inventory, connector=lab.driver.ssh_connector(lab))
    cluster.source = f"lab {lab.name} over SSH"
    return cluster
