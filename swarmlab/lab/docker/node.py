"""A node of a docker-driver lab: a container on the engine running its own dockerd.

Inside, a node looks like the article's host: hostname node1, the lab's address on a NIC
named ens33, ifconfig, brctl and ip, no default route unless asked, busybox:latest
loaded. Commands, tunnels and the node's own Docker API all go through the engine's
exec API (swarmlab/transport/docker_exec.py).
"""
from __future__ import annotations

import shutil

from ...errors import LabError
from ...transport.docker_exec import exec_run, exec_stream, open_stream, open_tunnel
from .. import dockerapi
from ..driver import LabNode
from ..spec import NodeSpec
from .engine import container_name

DAEMON_TIMEOUT = 60


class ContainerNode(LabNode):
    """One node of a docker-driver lab: a container running its own dockerd."""

    def __init__(self, driver: "DockerDriver", spec: NodeSpec):
        super().__init__(driver.lab_name, spec)
        self.driver = driver
        self.container = container_name(driver.lab_name, spec.name)

    def __repr__(self):
        return f"<ContainerNode {self.name} {self.address} lab={self.lab_name} engine={self.driver.url}>"

    def api(self):
        return self.driver.client().api

    def exec_environment(self) -> list[str]:
        return ["HOME=/root", "LANG=C.UTF-8", f"HOSTNAME={self.name}"]

    def not_running_error(self) -> LabError:
        return LabError(f"node {self.name} of lab {self.lab_name} is not running on {self.driver.url}; "
                        f"bring the lab up with `swarmlab lab up --driver docker --name {self.lab_name}`")

    def run(self, command, *, input=None, timeout: float | None = 120):
        """Run a shell command in the node, as root, and return what it printed."""
        return exec_run(self.api(), self.container, command, input=input, timeout=timeout, node_name=self.name,
                        environment=self.exec_environment(), not_running=self.not_running_error)

    def stream(self, command, sink, *, timeout: float | None = 120):
        """Run a shell command in the node, handing its output to sink(1 or 2, bytes) as it arrives."""
        return exec_stream(self.api(), self.container, command, sink, timeout=timeout, node_name=self.name,
                           environment=self.exec_environment(), not_running=self.not_running_error)

    def tunnel(self, address: str, port: int, timeout: float = 10):
        """A stream to (address, port) from inside this node, through the engine (see open_tunnel)."""
        return open_tunnel(self.api(), self.container, address, port, timeout)

    # docker_host stays None: the node's daemon listens inside the container only.

    @property
    def dockerd_pid(self) -> int | None:
        """The node's dockerd pid as the node sees it, or None when it is not running."""
        self.driver.reach()  # an engine out of reach is an error, not a stopped daemon
        try:
            res = self.run("p=$(cat /run/docker.pid) && kill -0 $p && echo $p", timeout=10)
        except LabError:
            return None
        return int(res.stdout) if res.ok and res.stdout.strip().isdigit() else None

    def wait_docker(self, timeout: float = DAEMON_TIMEOUT) -> None:
        # One exec that waits inside the node is cheaper than polling from here.
        res = self.run(f"i=0; until docker version >/dev/null 2>&1; do i=$((i+1)); "
                       f"[ $i -gt {int(timeout * 20)} ] && exit 1; sleep 0.05; done", timeout=timeout + 10)
        if not res.ok:
            log = self.run("tail -n 15 /var/log/dockerd.log", timeout=10).stdout
            raise LabError(f"dockerd on {self.name} did not answer within {timeout:.0f} s; last lines of "
                           f"its /var/log/dockerd.log:\n{log}")

    def docker_api(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        """Call the node's own Docker Engine API: `docker system dial-stdio` in the node
        carries the request over the engine's exec API (as the CLI's ssh:// does), so a
        body (a join token) is in no process's arguments, here or in the node."""
        def connect(timeout: float):
            return open_stream(self.api(), self.container, ["docker", "system", "dial-stdio"], timeout)
        return dockerapi.call(connect, self.name, method, path, body, timeout)

    def start_docker(self) -> None:
        self.run("swarmlab-dockerd start").check(hint=f"starting dockerd on {self.name}")

    def stop_docker(self) -> None:
        self.run("swarmlab-dockerd stop", timeout=30).check(hint=f"stopping dockerd on {self.name}")

    def exec_args(self, argv: list[str], terminal: bool = False) -> list[str]:
        """The command line that runs `argv` in the node with the caller's stdin, stdout and
        stderr (`docker exec -i`, `-t` too for a terminal), on the same engine."""
        if not shutil.which("docker"):
            raise LabError("`lab exec` on a docker-driver lab needs the docker CLI on this machine")
        return ["docker", "-H", self.driver.url, "exec", "-i", *(["-t"] if terminal else []),
                *(f"--env={e}" for e in self.exec_environment()), self.container, *argv]

    def shell_args(self) -> list[str]:
        """The command line of an interactive shell in the node (the docker CLI, on the same engine)."""
        if not shutil.which("docker"):
            raise LabError("an interactive shell needs the docker CLI on this machine; "
                           "or use `swarmlab lab exec NODE -- CMD`")
        return ["docker", "-H", self.driver.url, "exec", "-it", "-e", r"PS1=[\u@\h \W]\$ ",
                self.container, "sh", "-i"]
