"""How a command reaches a node: one package, one base, a registry of the ways in.

    lab        a node of a local swarmlab lab, through its namespaces (root)
    ssh        a real host, or a lab node's sshd, over SSH (paramiko)
    replay     a node of a recorded session: answers with what it printed
    docker-exec  a node container of a docker-driver lab, through the engine's exec API

Wrappers around one of those: RecordingTransport (the Recorder in .recording hears
every command) and AsOfNowTransport (a replay seen as of now, for widgets).
`get_transport(kind, ...)` builds one by name, as pytest-testinfra picks a backend.
"""
from __future__ import annotations

from ..errors import SwarmlabError
from ..registry import load
from .base import Transport, TransportWrapper, command_text

__all__ = ["TRANSPORTS", "Transport", "TransportWrapper", "command_text", "get_transport", "transport_class"]

# kind -> "module:Class", imported when first asked for.
TRANSPORTS = {
    "lab": "swarmlab.transport.lab:LabTransport",
    "ssh": "swarmlab.transport.ssh:SSHTransport",
    "replay": "swarmlab.transport.replay:ReplayTransport",
    "docker-exec": "swarmlab.transport.docker_exec:DockerExecTransport",
}


def transport_class(kind: str) -> type[Transport]:
    if kind not in TRANSPORTS:
        raise SwarmlabError(f"no transport {kind!r}; swarmlab has {', '.join(TRANSPORTS)}")
    return load(TRANSPORTS[kind])


def get_transport(kind: str, *args, **kwargs) -> Transport:
    """A transport of that kind, e.g. get_transport("ssh", "10.0.0.5", user="admin")."""
    return transport_class(kind)(*args, **kwargs)
