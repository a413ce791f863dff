"""DockerExecTransport: commands run in a node container through the engine's exec API (docker-py).

The same thing `docker exec -i NODE sh -c CMD` does, over whatever reaches the engine
(a unix socket, Docker Desktop, ssh://): stdin is sent and closed, stdout and stderr
come back apart, the exit code is the command's. A command that outlives its timeout
is killed inside the node with everything it started.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
import uuid

import docker

from ..errors import LabError
from ..result import Result
from .base import STDERR, STDOUT, Transport, collected, collector, command_text

EXEC_DIR = "/run/swarmlab-exec"  # pid files of running commands, so a timeout can kill them
# $0 is the command; its pid file lets another exec find it when it runs too long.
_WRAPPER = ('mkdir -p {dir} && echo $$ > {dir}/{token} || exit 125; '
            'sh -c "$0"; rc=$?; rm -f {dir}/{token}; exit $rc')


class DockerExecTransport(Transport):
    """Runs commands in one node container of a docker-driver lab."""

    kind = "docker-exec"

    def __init__(self, lab_node):
        self.lab_node = lab_node  # a ContainerNode (swarmlab/lab/docker/node.py)
        self.node_name = lab_node.name
        self.address = lab_node.address

    def run(self, command, *, input=None, timeout=120) -> Result:
        return self.lab_node.run(command, input=input, timeout=timeout)  # exec_run, below

    def stream(self, command, sink, *, timeout=120) -> Result:
        return self.lab_node.stream(command, sink, timeout=timeout)  # exec_stream, below


def exec_run(api, container: str, command, *, input=None, timeout=120, node_name="",
             environment=(), not_running=None) -> Result:
    """`command` (a shell line, or a list) in `container` through the engine's exec API."""
    sink, kept = collector()
    return collected(exec_stream(api, container, command, sink, input=input, timeout=timeout, node_name=node_name,
                                 environment=environment, not_running=not_running), kept)


def exec_stream(api, container: str, command, sink, *, input=None, timeout=120, node_name="",
                environment=(), not_running=None) -> Result:
    """As exec_run, handing the output to sink(1 or 2, bytes) as it arrives; the Result holds none."""
    text = command_text(command)
    data = input.encode() if isinstance(input, str) else input
    token = uuid.uuid4().hex
    wrapper = _WRAPPER.format(dir=EXEC_DIR, token=token)
    started = time.monotonic()
    try:
        exec_id = api.exec_create(container, ["sh", "-c", wrapper, text], stdin=data is not None,
                                  environment=list(environment), workdir="/")["Id"]
        raw, early = _start(api, exec_id)
    except docker.errors.NotFound:
        raise (not_running() if not_running else LabError(f"container {container} does not exist")) from None
    except docker.errors.APIError as exc:
        if exc.status_code == 409 and not_running:  # "container ... is not running"
            raise not_running() from None
        raise LabError(f"on {node_name}: the engine refused to run `{text}`: {exc.explanation}") from None
    writer = _send_stdin(raw, data) if data is not None else None
    try:
        finished = _pump_frames(raw, early, None if timeout is None else started + timeout, sink)
    finally:
        raw.close()
        if writer:
            writer.join(timeout=5)
    if not finished:
        _kill(api, container, token)
        sink(STDERR, f"swarmlab: timed out after {timeout} s\n".encode())
        return Result(node_name, text, "", "", 124, time.monotonic() - started)
    return Result(node_name, text, "", "", _exit_code(api, exec_id), time.monotonic() - started)


def _send_stdin(raw, data: bytes) -> threading.Thread:
    """Write stdin while the output is read (a big input would otherwise fill the pipe), then close it."""
    def send():
        try:
            raw.sendall(data)
        except OSError:
            pass  # the command exited without reading all of it, as a pipe would allow
        _shut_write(raw)
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _start(api, exec_id: str) -> tuple[object, bytes]:
    """Start an exec with its streams attached: the raw stream, and the bytes of it that
    already arrived with the engine's reply.

    docker-py reads the reply's headers through a buffered reader, then hands back the
    socket under it. Output that came in the same read as the headers stays in that
    reader, and reads from the socket never see it: a fast command's whole output went
    missing with exit code 0, about 1 run in 300 under load (docker-py issue #3332).
    """
    sock = api.exec_start(exec_id, socket=True)
    raw = getattr(sock, "_sock", sock)  # the socket under docker-py's SocketIO; a paramiko channel as is
    return raw, _already_read(sock, raw)


def _already_read(sock, raw) -> bytes:
    """What docker-py's reader holds past the reply's headers (empty when nothing)."""
    response = getattr(sock, "_response", None)
    reader = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
    if reader is None:
        return b""
    if hasattr(reader, "_rbuffer"):  # paramiko's ChannelFile (ssh:// engines)
        early, reader._rbuffer = bytes(reader._rbuffer), bytes()
        return early
    timeout = raw.gettimeout()
    raw.setblocking(False)  # so an empty reader returns at once instead of waiting on the socket
    try:
        return reader.read1(1 << 20) or b""
    except OSError:
        return b""
    finally:
        raw.settimeout(timeout)


def _pump_frames(raw, early: bytes, deadline: float | None, sink) -> bool:
    """Demultiplex the exec stream (8-byte headers: stream, size) into sink until EOF (True)
    or the deadline (False); `early` is the start of it, already read."""
    buf = bytearray(early)
    while True:
        while len(buf) >= 8:
            kind, size = struct.unpack(">BxxxL", buf[:8])
            if len(buf) < 8 + size:
                break
            sink(STDERR if kind == STDERR else STDOUT, bytes(buf[8:8 + size]))
            del buf[:8 + size]
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            raw.settimeout(left)
        try:
            chunk = raw.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            return True
        buf += chunk


def open_tunnel(api, container: str, address: str, port: int, timeout: float = 10) -> socket.socket:
    """A stream to (address, port) as seen from inside `container`: what an SSH client
    gives paramiko where the node's address cannot be reached from here (Docker Desktop,
    a remote engine). `nc` in the node connects; its stdin and stdout are the stream."""
    return open_stream(api, container, ["nc", address, str(port)], timeout)


def open_stream(api, container: str, argv: list[str], timeout: float = 10) -> socket.socket:
    """A stream whose far end is the stdin and stdout of `argv` run in `container`, carried
    by the engine's exec API (`nc ADDR PORT` for a tunnel, `docker system dial-stdio` for
    the node's own Docker API). Returns this side of a socket pair; two threads move the
    bytes (the exec's output comes in frames, the pair carries them bare)."""
    try:
        exec_id = api.exec_create(container, argv, stdin=True, stderr=False, workdir="/")["Id"]
        raw, early = _start(api, exec_id)
    except docker.errors.APIError as exc:
        raise LabError(f"cannot open a stream into {container} (`{' '.join(argv)}`): {exc.explanation}") from None
    ours, theirs = socket.socketpair()
    threading.Thread(target=_frames_to, args=(raw, early, theirs), daemon=True).start()
    threading.Thread(target=_bytes_to, args=(theirs, raw), daemon=True).start()
    ours.settimeout(timeout)
    return ours


def _frames_to(raw, early: bytes, sink: socket.socket) -> None:
    """The exec's framed output (`early` its start, already read), bare, into `sink`;
    the end of the stream closes it."""
    buf = bytearray(early)
    try:
        while True:
            while len(buf) >= 8:
                kind, size = struct.unpack(">BxxxL", buf[:8])
                if len(buf) < 8 + size:
                    break
                if kind == STDOUT:
                    sink.sendall(bytes(buf[8:8 + size]))
                del buf[:8 + size]
            chunk = raw.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass  # either side closed: the stream is over
    finally:
        _shut_write(sink)  # the client reads the end of the stream
        raw.close()


def _bytes_to(source: socket.socket, raw) -> None:
    """What the client writes, into the exec's stdin; the client's close ends it."""
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            raw.sendall(chunk)
    except OSError:
        pass
    finally:
        _shut_write(raw)  # nc's stdin ends; sshd then closes and the exec ends
        source.close()


def _shut_write(sock) -> None:
    """End the writing half: a socket's shutdown, or a paramiko channel's (ssh:// engines)."""
    try:
        sock.shutdown_write() if hasattr(sock, "shutdown_write") else sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _exit_code(api, exec_id: str) -> int:
    # The stream ends as the process exits; the engine may record the code a moment later.
    for _ in range(100):
        info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return info["ExitCode"]
        time.sleep(0.01)
    return info.get("ExitCode") if info.get("ExitCode") is not None else 255


def _kill(api, container: str, token: str) -> None:
    pid_file = f"{EXEC_DIR}/{token}"
    try:
        exec_id = api.exec_create(container, ["sh", "-c", f'swarmlab-kill-tree $(cat {pid_file}); rm -f {pid_file}'])["Id"]
        api.exec_start(exec_id)
    except docker.errors.APIError:
        pass  # the node is gone, and the command with it
