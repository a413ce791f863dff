"""How a command reaches a node. Every transport returns the same Result.

A transport carries commands to ONE node. `LabTransport` enters a local lab node's
namespaces (needs root); SSH and replay transports live beside it.
"""
from __future__ import annotations

from typing import Protocol

from .result import Result


class Transport(Protocol):
    node_name: str

    def run(self, command: str | list[str], *, input: bytes | str | None = None,
            timeout: float | None = 120) -> Result: ...


class LabTransport:
    """Runs commands in a node of the local lab through its namespaces."""

    def __init__(self, lab_node):
        self.lab_node = lab_node
        self.node_name = lab_node.name

    def run(self, command, *, input=None, timeout=120) -> Result:
        return self.lab_node.run(command, input=input, timeout=timeout)

    @property
    def docker_base_url(self) -> str:
        return self.lab_node.docker_host
