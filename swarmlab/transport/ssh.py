"""SSHTransport: commands reach a real host (or a lab node's sshd) over SSH, with paramiko.

Host keys are checked against a known_hosts file (the one named, else
~/.ssh/known_hosts). An unknown key is refused unless trust-on-first-use was asked
for, and then it is written to that file. One SSH connection per transport, opened on
the first command and shared by every later command (each gets its own channel).
"""
from __future__ import annotations

import getpass
import os
import selectors
import shlex
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import docker
import paramiko
from docker.transport import SSHHTTPAdapter

from ..errors import (HostKeyMismatchError, SSHAuthenticationError, SSHConnectionRefusedError, SSHError,
                      SSHUnreachableError, UnknownHostKeyError)
from ..result import Result
from .base import STDERR, STDOUT, Transport, collected, collector, command_text

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
_CHUNK = 1 << 16
# A bigger window than paramiko's 2 MB lets large outputs stream without stalls.
_WINDOW = 16 << 20


class SSHTransport(Transport):
    """Runs commands on one host over SSH; returns the same Result as every transport.

    `connector`, when given, opens the stream SSH runs over instead of a TCP connect
    from here: called as connector(address, port, timeout), it returns a connected
    socket, e.g. one made inside a lab's network namespace (swarmlab.lab.namespaces.netsock) or
    the end of a tunnel into a node container (swarmlab.transport.docker_exec).
    """

    kind = "ssh"

    def __init__(self, address: str, *, user: str | None = None, port: int = 22,
                 key: str | Path | None = None, node_name: str | None = None,
                 known_hosts: str | Path | None = None, trust_on_first_use: bool = False,
                 sudo: bool = False, connect_timeout: float = 10.0,
                 connector: Callable[[str, int, float], socket.socket] | None = None):
        self.address = address
        self.user = user or getpass.getuser()
        self.port = int(port)
        self.key = Path(key).expanduser() if key else None
        self.node_name = node_name or address
        self.known_hosts = Path(known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()
        self.trust_on_first_use = trust_on_first_use
        self.sudo = sudo
        self.connect_timeout = connect_timeout
        self.connector = connector
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    def __repr__(self):
        return f"<SSHTransport {self.node_name} {self.where}>"

    @property
    def where(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"

    @property
    def docker_base_url(self) -> str:
        return f"ssh://{self.where}"

    # --- commands --------------------------------------------------------------------
    def run(self, command: str | list[str], *, input: bytes | str | None = None,
            timeout: float | None = 120) -> Result:
        """Run a shell command on the host; its exit code is passed through."""
        sink, kept = collector()
        return collected(self._execute(command_text(command), input, timeout, sink), kept)

    def stream(self, command, sink, *, timeout=120) -> Result:
        """As run, handing the output to sink(1 or 2, bytes) as it arrives; the Result holds none."""
        return self._execute(command_text(command), None, timeout, sink)

    def _execute(self, text: str, input, timeout: float | None, sink) -> Result:
        data = input.encode() if isinstance(input, str) else input
        started = time.monotonic()
        marked = _PidMarkFilter(sink)
        channel = self._open_channel()
        try:
            channel.exec_command(self.remote_command(text))
            _feed_stdin(channel, data)
            finished = _pump(channel, None if timeout is None else started + timeout, marked)
            marked.flush()
            if finished:
                code = channel.recv_exit_status()
                code = 255 if code < 0 else code  # killed by a signal: no status, like ssh(1)
            else:
                self._kill_remote(marked.pid)
                sink(STDERR, f"swarmlab: timed out after {timeout} s\n".encode())
                code = 124
        finally:
            channel.close()
        return Result(self.node_name, text, "", "", code, time.monotonic() - started)

    def remote_command(self, text: str) -> str:
        """The command line sent to the host.

        The login shell first tells us its pid (one marker line on stderr, taken out
        again by run()), so a command that times out can be killed: sshd puts each
        command in a session of its own, whose process group is that pid. (OpenSSH
        refuses the protocol's "signal" request for root logins.) With sudo, the whole
        shell line runs as root.
        """
        command = f"sudo -n sh -c {shlex.quote(text)}" if self.sudo else text
        return f"printf '{_PID_MARK}%s\\n' \"$$\" >&2\n{command}"

    def _kill_remote(self, pid: int | None) -> None:
        """SIGKILL the process group of a command that ran out of time."""
        if not pid:
            return
        kill = f"kill -KILL -- -{pid}"
        try:
            channel = self._open_channel()
            channel.exec_command(f"sudo -n {kill}" if self.sudo else kill)
            channel.shutdown_write()
            _pump(channel, time.monotonic() + self.connect_timeout, lambda kind, data: None)
            channel.close()
        except (SSHError, OSError, EOFError, paramiko.SSHException):
            pass  # the connection died: the command's session ends with it

    def close(self) -> None:
        with self._lock:
            if self._client:
                self._client.close()
                self._client = None

    # --- docker-py -------------------------------------------------------------------
    def docker_client(self):
        """A docker-py DockerClient talking to the host's daemon over this verified connection.

        docker-py's own `ssh://` support would open a second connection with its own
        rules (~/.ssh/config, system known_hosts only); this one reuses ours, so the
        inventory's key and known_hosts apply.
        """
        connection = self.connect()

        class VerifiedSSHAdapter(SSHHTTPAdapter):
            def _create_paramiko_client(self, base_url):
                self.ssh_client, self.ssh_params = connection, {}

            def _connect(self):
                pass  # already connected and verified

            def close(self):  # the connection belongs to the transport
                self.pools.clear()

        # use_ssh_client=True keeps docker-py from connecting on its own; the adapter is
        # then replaced by ours, and the API version asked through it.
        client = docker.DockerClient(base_url=self.docker_base_url, use_ssh_client=True, version="1.24")
        client.api.mount("http+docker://ssh", VerifiedSSHAdapter(self.docker_base_url))
        client.api._version = client.api.version(api_version=False)["ApiVersion"]
        return client

    def docker_connector(self):
        """timeout -> a stream to the host's Docker API: `docker system dial-stdio` on a channel
        of this verified connection (as root with the inventory's sudo), as the docker CLI's
        ssh:// does; a request body (a join token) is on no command line on either side."""
        command = "sudo -n docker system dial-stdio" if self.sudo else "docker system dial-stdio"

        def connect(timeout: float) -> paramiko.Channel:
            channel = self._open_channel()
            channel.settimeout(timeout)
            channel.exec_command(command)
            return channel
        return connect

    # --- connection ------------------------------------------------------------------
    def connect(self) -> paramiko.SSHClient:
        """The open SSH connection (opened now when there is none, or it died)."""
        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if not (transport and transport.is_active()):
                self._client = self._new_connection()
            return self._client

    def _open_channel(self) -> paramiko.Channel:
        try:
            return self.connect().get_transport().open_session(window_size=_WINDOW,
                                                               timeout=self.connect_timeout)
        except paramiko.SSHException as exc:
            raise SSHError(f"{self.node_name} ({self.where}): could not open a session: {exc}; "
                           f"the host may limit sessions (sshd MaxSessions) or be restarting sshd") from None

    def _new_connection(self) -> paramiko.SSHClient:
        if self.key and not self.key.is_file():
            raise SSHError(f"{self.node_name} ({self.where}): key file {self.key} not found; "
                           f"check the key path (in the inventory, relative paths start at its folder)")
        if self.key and not os.access(self.key, os.R_OK):
            raise SSHError(f"{self.node_name} ({self.where}): key file {self.key} is not readable by "
                           f"{getpass.getuser()}; check its owner and mode (a lab's key belongs to the user "
                           f"who ran `sudo swarmlab lab up`, or to root without sudo)")
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            try:
                client.load_host_keys(str(self.known_hosts))
            except (OSError, paramiko.SSHException) as exc:
                raise SSHError(f"cannot read known_hosts file {self.known_hosts}: {exc}") from None
        client.set_missing_host_key_policy(
            _TrustOnFirstUse(self.known_hosts) if self.trust_on_first_use else _RejectUnknown(self))
        sock = self._tcp_connect()
        try:
            client.connect(self.address, self.port, username=self.user,
                           key_filename=str(self.key) if self.key else None,
                           allow_agent=self.key is None, look_for_keys=self.key is None,
                           timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                           auth_timeout=self.connect_timeout, channel_timeout=self.connect_timeout,
                           sock=sock)
        except BaseException as exc:
            client.close()
            sock.close()
            raise self._explain(exc) from None
        return client

    def _tcp_connect(self) -> socket.socket:
        try:
            if self.connector:
                return self.connector(self.address, self.port, self.connect_timeout)
            return socket.create_connection((self.address, self.port), timeout=self.connect_timeout)
        except Exception as exc:
            raise self._explain(exc) from None

    def _explain(self, exc: BaseException) -> BaseException:
        """The error a person can act on, for whatever went wrong while connecting."""
        at = f"{self.node_name} ({self.where})"
        if isinstance(exc, SSHError) or not isinstance(exc, Exception):
            return exc
        if isinstance(exc, paramiko.BadHostKeyException):
            return HostKeyMismatchError(
                f"{at}: HOST KEY MISMATCH: the host offered {_describe(exc.key)} but {self.known_hosts} "
                f"expects {_describe(exc.expected_key)}; the host was reinstalled, or someone is in between. "
                f"Only if you know the new key is right: `ssh-keygen -R {_known_hosts_name(self.address, self.port)} "
                f"-f {self.known_hosts}`, then connect again")
        if isinstance(exc, paramiko.AuthenticationException):
            key = f"key {self.key}" if self.key else "your SSH agent and ~/.ssh keys"
            return SSHAuthenticationError(
                f"{at}: authentication failed for user {self.user} with {key}; check the user and key "
                f"(its public half must be in ~{self.user}/.ssh/authorized_keys on the host)")
        if isinstance(exc, ConnectionRefusedError):
            return SSHConnectionRefusedError(
                f"{at}: connection refused: nothing listens on port {self.port}; check that sshd runs "
                f"on the host (`systemctl status ssh`) and that the port is right")
        if isinstance(exc, (TimeoutError, socket.timeout)) or getattr(exc, "errno", None) in _UNREACHABLE:
            return SSHUnreachableError(
                f"{at}: no answer within {self.connect_timeout:g} s ({exc or 'timed out'}); check the address, "
                f"that the host is up, and that this machine has a route to it (a firewall?)")
        if isinstance(exc, socket.gaierror):
            return SSHError(f"{at}: cannot resolve {self.address!r}: {exc}; check the address")
        if isinstance(exc, (paramiko.SSHException, OSError, EOFError)):
            return SSHError(f"{at}: SSH failed: {exc or type(exc).__name__}; is it an SSH server on port "
                            f"{self.port}? (`ssh -v -p {self.port} {self.user}@{self.address}` shows more)")
        return exc


_UNREACHABLE = {101, 113}  # ENETUNREACH, EHOSTUNREACH
_PID_MARK = "swarmlab-pid:"


# --- host keys ------------------------------------------------------------------------
class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, transport: SSHTransport):
        self.transport = transport

    def missing_host_key(self, client, hostname, key):
        t = self.transport
        where = "" if t.known_hosts.is_file() else " (the file does not exist)"
        type_opt = _short_type(key.get_name())
        port_opt = f"-p {t.port} " if t.port != 22 else ""
        raise UnknownHostKeyError(
            f"{t.node_name} ({t.where}): unknown host key {_describe(key)}, not in {t.known_hosts}{where}. "
            f"If that fingerprint is the host's (check on the host: `ssh-keygen -lf "
            f"/etc/ssh/ssh_host_{type_opt}_key.pub`), trust it: `ssh-keyscan {port_opt}-t {type_opt} "
            f"{t.address} >> {t.known_hosts}`, or connect once with trust_on_first_use=True "
            f"(inventory: trust_on_first_use = true)")


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Accept a host's first key and append it to the known_hosts file (asked for by the user)."""

    def __init__(self, known_hosts: Path):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.known_hosts, "a") as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)


def _short_type(name: str) -> str:
    """ssh-ed25519 -> ed25519, ecdsa-sha2-nistp256 -> ecdsa, rsa-sha2-512 -> rsa: as ssh-keyscan -t and file names say."""
    for short in ("ed25519", "ecdsa", "rsa", "dss"):
        if short in name:
            return "dsa" if short == "dss" else short
    return name


def _describe(key) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"'[{address}]:{port}'"


# --- channel I/O ----------------------------------------------------------------------
def _feed_stdin(channel: paramiko.Channel, data: bytes | None) -> None:
    """Send stdin in a thread (a big input must not block reading the outputs), then EOF."""
    if not data:
        channel.shutdown_write()
        return

    def feed():
        try:
            channel.sendall(data)
            channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the command exited without reading all its input, like a closed pipe
    threading.Thread(target=feed, daemon=True).start()


def _pump(channel: paramiko.Channel, deadline: float | None, sink) -> bool:
    """Hand stdout (1) and stderr (2) to sink as they arrive, until the command ends (True)
    or the deadline (False).

    Both streams are drained as data arrives, so a command that fills one of them
    while we wait on the other cannot stall. The end is EOF plus the exit status:
    sshd sends the status as soon as the command exits, which can be before the last
    of its output.
    """
    with selectors.DefaultSelector() as sel:
        sel.register(channel, selectors.EVENT_READ)  # wakes on data for either stream and on EOF
        while True:
            while channel.recv_ready():
                sink(STDOUT, channel.recv(_CHUNK))
            while channel.recv_stderr_ready():
                sink(STDERR, channel.recv_stderr(_CHUNK))
            all_output_in = channel.eof_received or channel.closed
            if all_output_in and channel.exit_status_ready() and not (
                    channel.recv_ready() or channel.recv_stderr_ready()):
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            wait = 1.0 if left is None else min(left, 1.0)
            if all_output_in:
                channel.status_event.wait(min(wait, 0.05))  # only the exit status is still on its way
            else:
                sel.select(wait)


class _PidMarkFilter:
    """Hands output on to `sink` less the remote shell's pid marker line on stderr
    (remote_command); `pid` is the pid it named. stderr is held only until that line is whole."""

    def __init__(self, sink):
        self.sink, self.pid = sink, None
        self.head: bytearray | None = bytearray()  # stderr before the marker; None once it is found

    def __call__(self, kind: int, data: bytes) -> None:
        if kind == STDOUT or self.head is None:
            self.sink(kind, data)
            return
        self.head += data
        mark = self.head.find(_PID_MARK.encode())
        if mark >= 0 and self.head.find(b"\n", mark) >= 0:
            self.pid, rest = _take_pid_mark(bytes(self.head))
            self.head = None
            if rest:
                self.sink(STDERR, rest)

    def flush(self) -> None:
        """The stderr still held (no marker came: the shell died first)."""
        if self.head:
            self.sink(STDERR, bytes(self.head))
        self.head = None


def _take_pid_mark(err: bytes) -> tuple[int | None, bytes]:
    """The remote shell's pid from its marker line, and stderr without that line.

    The marker is normally the first line; a login shell's start-up files may print
    something before it.
    """
    mark = _PID_MARK.encode()
    start = 0 if err.startswith(mark) else err.find(b"\n" + mark) + 1
    if start == 0 and not err.startswith(mark):
        return None, err
    end = err.find(b"\n", start)
    end = len(err) if end < 0 else end + 1
    number = err[start + len(mark):end].strip()
    return (int(number) if number.isdigit() else None), err[:start] + err[end:]
