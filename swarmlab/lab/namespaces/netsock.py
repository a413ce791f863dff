"""TCP sockets that live in a lab's network namespace, for a client running on the host.

A socket belongs to the network namespace it was created in, for its whole life,
whichever process uses it afterwards. So a tiny child process enters the namespace
(`nsenter --net`), creates an unconnected socket and hands it back over a unix
socket pair (SCM_RIGHTS). The caller then connects it as usual, with its own
timeout and its own error handling, and gives it to paramiko as `sock=`.

Why not `setns()` in a thread of this process: the namespace switch would have to
be undone on every path, and a mistake would leave a thread of the notebook kernel
in the lab's namespace. Why not a ProxyCommand through `nc`: timeouts and
"connection refused" would arrive as a closed pipe instead of a socket error.
"""
from __future__ import annotations

import socket
import subprocess
import sys

from ...errors import LabError
from .network import NETNS_DIR

# Runs in the child, inside the namespace. argv[1] is the fd of its end of the pair.
_CHILD = r"""
import socket, sys
back = socket.socket(fileno=int(sys.argv[1]))
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
socket.send_fds(back, [b"ok"], [sock.fileno()])
"""


def socket_in_netns(netns: str, timeout: float = 10) -> socket.socket:
    """A fresh, unconnected TCP socket in network namespace `netns` (needs root)."""
    if not (NETNS_DIR / netns).exists():
        raise LabError(f"network namespace {netns} does not exist; is its lab up? (`swarmlab lab status`)")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        try:
            proc = subprocess.Popen(
                ["nsenter", f"--net={NETNS_DIR / netns}", sys.executable, "-I", "-S", "-c", _CHILD,
                 str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        finally:
            theirs.close()
        ours.settimeout(timeout)
        try:
            _, fds, _, _ = socket.recv_fds(ours, 16, 1)
        except (OSError, TimeoutError):
            fds = []
        _, err = proc.communicate(timeout=timeout)
    if not fds:
        raise LabError(f"could not open a socket in network namespace {netns}: "
                       f"{err.decode(errors='replace').strip() or 'no socket came back'} (this needs root)")
    return socket.socket(fileno=fds[0])


def connect_in_netns(netns: str, address: str, port: int, timeout: float = 10) -> socket.socket:
    """A TCP connection to (address, port) from inside network namespace `netns` (needs root)."""
    sock = socket_in_netns(netns, timeout)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock
