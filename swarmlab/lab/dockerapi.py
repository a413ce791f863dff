"""A node's own Docker Engine API, spoken from here, and the swarm join that uses it.

Both drivers reach a node's dockerd this way: a namespace node through its socket on
this machine, a node container through `docker system dial-stdio` run in it by the
engine's exec API. A join token then travels in a request body, never on a command
line (every local user can read /proc/*/cmdline).
"""
from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path
from typing import Callable

from ..errors import LabError

Connector = Callable[[float], socket.socket]  # timeout -> a connected stream to the daemon
# dockerd ends POST /swarm/join after 20 s (moby's swarmConnectTimeout) with this, and
# goes on joining in the background.
IN_THE_BACKGROUND = "continue in the background"


class _StreamHTTPConnection(http.client.HTTPConnection):
    """HTTP over a stream that `connector` opens (a unix socket, an exec's stdio)."""

    def __init__(self, connector: Connector, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._connector = connector

    def connect(self):
        self.sock = self._connector(self.timeout)


def unix_connector(path: Path) -> Connector:
    def connect(timeout: float) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(path))
        return sock
    return connect


def call(connector: Connector, node_name: str, method: str, path: str, body: dict | None = None,
         timeout: float = 60):
    """One call of the node's Docker API; the decoded JSON answer, or a LabError that
    names the node, the call and dockerd's message."""
    conn = _StreamHTTPConnection(connector, timeout)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json", "Connection": "close"})
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException, LabError) as exc:
        raise LabError(f"dockerd on {node_name} did not answer {method} {path}: {exc}") from None
    finally:
        conn.close()
    answer = json.loads(data) if data.strip() else None
    if resp.status >= 400:
        message = answer.get("message") if isinstance(answer, dict) else data.decode(errors="replace")
        raise LabError(f"on {node_name}: {method} {path} failed ({resp.status}): {message}")
    return answer


def ping(connector: Connector) -> bool:
    """True when the daemon answers its API (cheaper than the CLI)."""
    conn = _StreamHTTPConnection(connector, 1)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def join_swarm(node, manager: str, token: str, timeout: float = 90, attempts: int = 3,
               advertise_addr: str | None = None) -> None:
    """Join `node` (anything with docker_api, name and address) to the swarm of `manager`
    (address:port), advertising `advertise_addr` (default: the node's address; "" lets
    dockerd choose, as `docker swarm join` without --advertise-addr does).

    A join dockerd could not finish within its 20 s ("continue in the background") is
    waited for until the node is active; a join that ended in error (e.g. the manager
    was too busy to answer in time) is left and tried again.
    """
    swarm = {}
    for _ in range(attempts):
        try:
            node.docker_api("POST", "/swarm/join", {"ListenAddr": "0.0.0.0:2377",
                                                    "AdvertiseAddr": node.address if advertise_addr is None else advertise_addr,
                                                    "RemoteAddrs": [manager], "JoinToken": token})
            return
        except LabError as exc:
            if IN_THE_BACKGROUND not in str(exc):
                raise
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            swarm = node.docker_api("GET", "/info", timeout=10).get("Swarm") or {}
            if swarm.get("LocalNodeState") in ("active", "inactive", "error"):
                break
            time.sleep(0.2)
        if swarm.get("LocalNodeState") == "active":
            return
        node.docker_api("POST", "/swarm/leave?force=1", timeout=30)
    raise LabError(f"{node.name} did not join the swarm of {manager} after {attempts} attempts "
                   f"(state {swarm.get('LocalNodeState', '?')}: {swarm.get('Error') or 'no error given'}); "
                   f"see its /var/log/dockerd.log")
