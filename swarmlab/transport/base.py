"""The Transport base: how commands reach ONE node, and what else the way in offers.

A transport implements `run()`; everything else is a declared capability with a
default, so callers ask instead of probing:

    stream()         run, handing the output on as it arrives (default: run, then hand it on)
    replays          answers from a recording (nothing runs; `recorded()`, `commands()`)
    address          the node's address as this transport reaches it ("" when unknown)
    lab_node         the node of a swarmlab lab behind it (None for real hosts, recordings)
    docker_base_url  where docker-py reaches the node's daemon (None: no Docker API)
    docker_client()  a docker-py DockerClient for that daemon
    docker_connector()  a stream to that daemon's API for swarmlab's own calls (a join: its
                     token goes in a request body, never on a command line)
    answered()       a Result for a command done another way (a join through the API): a
                     recording keeps it as that command's run, a replay answers with it
    close()          let go of connections (SSH); nothing to do for the others

A new way in (e.g. `docker exec` into a container node) is one subclass in its own
module, named in the registry (swarmlab.transport.TRANSPORTS).
"""
from __future__ import annotations

import dataclasses
import shlex
from typing import Callable, ClassVar


from ..errors import SwarmlabError
from ..result import Result

STDOUT, STDERR = 1, 2
Sink = Callable[[int, bytes], None]  # sink(STDOUT or STDERR, bytes): output as it arrives


class Transport:
    """Carries commands to one node; every transport returns the same Result."""

    kind: ClassVar[str] = ""       # its name in the registry
    replays: ClassVar[bool] = False
    node_name: str = ""
    address: str = ""
    lab_node = None
    docker_base_url: str | None = None

    def run(self, command: str | list[str], *, input: bytes | str | None = None,
            timeout: float | None = 120) -> Result:
        raise NotImplementedError

    def stream(self, command: str | list[str], sink: Sink, *, timeout: float | None = 120) -> Result:
        """Run `command`, handing its output to `sink` as it arrives; the Result has the exit
        code and duration, its stdout and stderr are empty. This default runs it whole first
        (a replay, a recording); the transports that carry a live command override it."""
        return hand_on(self.run(command, timeout=timeout), sink)

    def docker_client(self) -> docker.DockerClient:
        if not self.docker_base_url:
            raise SwarmlabError(f"node {self.node_name}: its transport offers no Docker API (a recording has none)")
        import docker  # docker-py (and paramiko, which it pulls in) only for a caller who wants the API
        return docker.DockerClient(base_url=self.docker_base_url)

    def docker_connector(self):
        """timeout -> a connected stream to the node's Docker API (raises when there is none)."""
        raise SwarmlabError(f"node {self.node_name}: its transport offers no Docker API")

    def answered(self, command: str, answer: Callable[[], Result]) -> Result:
        """The Result of `command`, got by calling `answer()` instead of running it: what the
        command would do, done another way. A replay answers with the recorded run of `command`."""
        return answer()

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def command_text(command: str | list[str]) -> str:
    """A command as the shell line it is (a list is quoted with shlex.join)."""
    return command if isinstance(command, str) else shlex.join(command)


def hand_on(result: Result, sink: Sink) -> Result:
    """Give `result`'s output to `sink`; the result without it."""
    sink(STDOUT, result.stdout.encode())
    sink(STDERR, result.stderr.encode())
    return dataclasses.replace(result, stdout="", stderr="")


def collector() -> tuple[Sink, dict[int, bytearray]]:
    """A sink that keeps everything, and what it kept by stream (what `run` returns)."""
    kept = {STDOUT: bytearray(), STDERR: bytearray()}
    return lambda kind, data: kept[kind].extend(data), kept


def collected(result: Result, kept: dict[int, bytearray]) -> Result:
    """`result` with the output a collector kept."""
    return dataclasses.replace(result, stdout=kept[STDOUT].decode(errors="replace"),
                               stderr=kept[STDERR].decode(errors="replace"))


class TransportWrapper(Transport):
    """A transport around another one (recording it, viewing a replay): it offers what the inner one offers."""

    def __init__(self, inner: Transport):
        self.inner = inner
        self.node_name = inner.node_name

    def run(self, command, *, input=None, timeout=120) -> Result:
        return self.inner.run(command, input=input, timeout=timeout)

    @property
    def replays(self) -> bool:
        return self.inner.replays

    @property
    def address(self) -> str:
        return self.inner.address

    @property
    def lab_node(self):
        return self.inner.lab_node

    @property
    def docker_base_url(self) -> str | None:
        return self.inner.docker_base_url

    def docker_client(self):
        return self.inner.docker_client()

    def docker_connector(self):
        return self.inner.docker_connector()

    def answered(self, command, answer) -> Result:
        return self.inner.answered(command, answer)

    def close(self) -> None:
        self.inner.close()
