"""LabTransport: commands enter a node of a swarmlab lab through the lab node itself (needs root)."""
from __future__ import annotations

from ..result import Result
from .base import Transport


class LabTransport(Transport):
    """Runs commands in a node of the local lab through its namespaces."""

    kind = "lab"

    def __init__(self, lab_node):
        self.lab_node = lab_node
        self.node_name = lab_node.name
        self.address = lab_node.address

    def run(self, command, *, input=None, timeout=120) -> Result:
        return self.lab_node.run(command, input=input, timeout=timeout)

    def stream(self, command, sink, *, timeout=120) -> Result:
        return self.lab_node.stream(command, sink, timeout=timeout)

    @property
    def docker_base_url(self) -> str:
        return self.lab_node.docker_host
