"""Cluster and Node: the same calls whatever carries the commands (lab, SSH, replay)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .errors import SwarmlabError
from .result import Result
from .transport import LabTransport, Transport


@dataclass
class Node:
    """One machine of a swarm, reached through its transport."""

    name: str
    address: str
    transport: Transport
    role: str = ""  # "manager" / "worker" as the user declared it; "" when unknown

    def run(self, command: str | list[str], *, input=None, timeout: float | None = 120) -> Result:
        return self.transport.run(command, input=input, timeout=timeout)

    def __repr__(self):
        return f"<Node {self.name} {self.address}>"

    @property
    def client(self):
        """A docker-py DockerClient bound to this node's daemon."""
        import docker
        base_url = getattr(self.transport, "docker_base_url", None)
        if not base_url:
            raise SwarmlabError(f"node {self.name}: its transport offers no Docker API (a recording has none)")
        return docker.DockerClient(base_url=base_url)


class Cluster:
    """The nodes of one swarm, in order; the first manager is `cluster.manager`."""

    def __init__(self, nodes: list[Node], source: str = ""):
        self.nodes = {n.name: n for n in nodes}
        self.source = source  # e.g. "lab swarmlab", "inventory hosts.toml", "recording x.json"

    def __repr__(self):
        return f"<Cluster {self.source}: {', '.join(self.nodes)}>"

    def __iter__(self):
        return iter(self.nodes.values())

    def __len__(self):
        return len(self.nodes)

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

    def run_all(self, command: str | list[str], timeout: float | None = 120) -> dict[str, Result]:
        """Run the same command on every node at once; results by node name, in order."""
        with ThreadPoolExecutor(max_workers=min(16, len(self.nodes))) as pool:
            futures = {n.name: pool.submit(n.run, command, timeout=timeout) for n in self}
        return {name: fut.result() for name, fut in futures.items()}

    @classmethod
    def from_lab(cls, lab) -> "Cluster":
        """A cluster over a local lab (a Lab object, or the name of a lab that is up)."""
        from .lab import Lab
        if isinstance(lab, str):
            lab = Lab.attach(lab)
        nodes = [Node(n.name, n.address, LabTransport(n), "manager" if i == 0 else "worker")
                 for i, n in enumerate(lab.nodes.values())]
        cluster = cls(nodes, source=f"lab {lab.name}")
        cluster.lab = lab
        return cluster
