"""The lab driver interface: the Driver and LabNode bases, what a driver declares, the registry, the default rule.

A driver makes a lab's nodes and takes them away again; a node runs commands and its
own dockerd. The Lab, Cluster, the CLI, the faults and the widgets call only what the
bases declare here, and ask a driver's declared capabilities instead of its name.
Mininet is the model (`Node` -> `Host`, `Mininet(host=...)`): one base for every kind
of node, and a driver names the class of the nodes it makes (`node_class`).

    namespaces  root on Linux: each node a set of namespaces on this machine (lab/namespaces/)
    userns      a plain user on Linux: the same, inside the user's own user namespaces (lab/userns/)
    docker      each node a container running dockerd on a Docker engine (lab/docker/)

A new driver is one folder with a Driver and a LabNode subclass that implement every
abstract method of the bases (Python refuses to make one that does not), and one line
in DRIVERS; `tests/unit/test_drivers.py` checks each registered driver.
"""
from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, NamedTuple

from ..errors import LabError
from ..registry import load
from ..transport.base import hand_on

if TYPE_CHECKING:
    from ..result import Result
    from .spec import LabSpec, NodeSpec

# name -> "module:Class", imported when first asked for: the docker driver pulls in
# docker-py, which a namespaces lab and `import swarmlab` do without. The order is the
# order lessons try them in (swarmlab.lessons.choose).
DRIVERS = {
    "namespaces": "swarmlab.lab.namespaces.driver:NamespaceDriver",
    "userns": "swarmlab.lab.userns.driver:UsernsDriver",
    "docker": "swarmlab.lab.docker.driver:DockerDriver",
}

# A node's own `systemctl` and `service` (the docker unit, started the lab's way): every
# driver puts them in its nodes, ahead of the system's on the node's PATH.
SHIMS = Path(__file__).resolve().parent / "shims"

Report = Callable[[str], None]  # a phase of `up` finished (Lab.up adds the time)
SSHConnector = Callable[[str, int, float], socket.socket]  # (address, port, timeout) -> a connected stream


def driver_class(name: str) -> type[Driver]:
    """The driver registered as `name`, imported now."""
    if name not in DRIVERS:
        raise LabError(f"unknown lab driver {name!r}; use one of {', '.join(DRIVERS)}")
    return load(DRIVERS[name])


def get_driver(name: str, lab_name: str, engine: str | None = None, **options) -> Driver:
    """The driver `name` for lab `lab_name`; `engine` and `options` are what that driver alone takes."""
    return driver_class(name).make(lab_name, engine, **options)


def default_driver(engine: str | None = None) -> str:
    """The one rule for a lab whose driver nobody named: docker when an engine is named;
    namespaces as root; a plain user's own user namespaces where this machine allows them (no
    root, no engine access, which is root on the engine's host); else docker."""
    if engine:
        return "docker"
    if os.geteuid() == 0:
        return "namespaces"
    return "userns" if driver_class("userns").usable_here().usable else "docker"


class Usability(NamedTuple):
    """Whether a driver can make a lab on this machine now, and why, in words a lesson prints."""

    usable: bool
    reason: str  # usable: where the nodes run ("a Docker engine answers (...)"); else why not
    forced_error: str = ""  # unusable and forced by SWARMLAB_DRIVER: stop with this rather than fall back


def _missing(owner, what: str) -> NotImplementedError:
    return NotImplementedError(f"{type(owner).__name__} does not implement {what}")


class LabNode(ABC):
    """One node of a lab: a machine with a name, an address on the lab's LAN and its own dockerd.

    The base of every driver's node (NamespaceNode, ContainerNode). Commands reach it
    through `run`; the Lab starts its daemon, the swarm join speaks its Docker API, and
    `swarmlab lab exec/shell` hand this terminal to it."""

    # Where docker-py on this machine reaches the node's dockerd (LabTransport's
    # docker_base_url); None: the daemon cannot be reached from here directly.
    docker_host: str | None = None
    # Lines a node's sshd_config adds to lab/sshd.py's (a node whose / is not its root's: StrictModes).
    sshd_extra_config: str = ""

    def __init__(self, lab_name: str, spec: NodeSpec):
        self.lab_name = lab_name
        self.spec = spec
        self.name = spec.name
        self.address = spec.address

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} {self.address} lab={self.lab_name}>"

    @abstractmethod
    def run(self, command: str | list[str], *, input: bytes | str | None = None,
            timeout: float | None = 120) -> Result:
        """Run a shell command in the node, as root, and return what it printed."""
        raise _missing(self, "run")

    def stream(self, command: str | list[str], sink, *, timeout: float | None = 120) -> Result:
        """Run a shell command in the node, handing its output to sink(1 or 2, bytes) as it
        arrives; the Result holds no output. This default runs it whole first."""
        return hand_on(self.run(command, timeout=timeout), sink)

    @property
    @abstractmethod
    def dockerd_pid(self) -> int | None:
        """The node's dockerd, or None when it is not running."""
        raise _missing(self, "dockerd_pid")

    @abstractmethod
    def start_docker(self) -> None:
        """Start the node's dockerd (wait_docker waits until it answers)."""
        raise _missing(self, "start_docker")

    @abstractmethod
    def wait_docker(self, timeout: float = 60) -> None:
        """Return once the node's dockerd answers; a LabError with its log's last lines after `timeout`."""
        raise _missing(self, "wait_docker")

    @abstractmethod
    def stop_docker(self) -> None:
        """Stop the node's dockerd gracefully, as `systemctl stop docker` would."""
        raise _missing(self, "stop_docker")

    def restart_docker(self) -> None:
        """Restart the node's dockerd, as `systemctl restart docker` does on a host."""
        self.stop_docker()
        self.start_docker()
        self.wait_docker()

    @abstractmethod
    def docker_api(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        """Call the node's own Docker Engine API; the decoded JSON answer (see dockerapi.py).
        A body (a join token) is in no process's arguments, here or in the node."""
        raise _missing(self, "docker_api")

    @abstractmethod
    def exec_args(self, argv: list[str], terminal: bool = False) -> list[str]:
        """The command line that runs `argv` in the node with the caller's stdin, stdout and
        stderr (`swarmlab lab exec`: for os.execvp or a pty)."""
        raise _missing(self, "exec_args")

    @abstractmethod
    def shell_args(self) -> list[str]:
        """The command line of an interactive shell in the node (`swarmlab lab shell`)."""
        raise _missing(self, "shell_args")


class Driver(ABC):
    """What makes a lab's nodes, and how they are reached: the base of every lab driver.

    The Lab keeps what every lab shares (spec, state file, ownership, swarm); a driver
    builds the nodes (`up`), takes them away (`teardown`) and says what is left
    (`leftovers`). What differs between drivers is a method here or a declared
    capability below, never a comparison of names."""

    name: ClassVar[str] = ""  # its key in DRIVERS: in state files, messages and `--driver`
    node_class: ClassVar[type[LabNode]] = LabNode  # the class of the nodes it makes (make_node)
    transport: ClassVar[str] = ""  # its kind in swarmlab.transport's registry: Cluster.from_lab's way in
    local_needs_root: ClassVar[bool] = False  # that way in needs root on this machine (else: over SSH)
    sshd: ClassVar[bool] = False  # the nodes can run sshd, reached as real hosts are
    runs_here: ClassVar[bool] = False  # the nodes use this machine's memory: Lab checks it can hold them
    on_engine: ClassVar[bool] = False  # the nodes live on a Docker engine the caller may name (--engine)
    # The lab's switch can be changed from here: switch_netns() names where it is, and
    # mtu-blackhole narrows a node's port there (else a rule in the node stands in).
    switch_in_reach: ClassVar[bool] = False
    # Why a lab of this driver came up without sshd, and what to do (Cluster over SSH says it).
    no_sshd_hint: ClassVar[str] = "its nodes have no sshd"

    owner = None  # the lab's Ownership (set by the Lab): nodes check it before they create anything
    forced: list = []  # the other users (ownership.Owner) whose lab the last teardown(force=True) removed

    def __init__(self, lab_name: str, state_dir: Path):
        self.lab_name = lab_name
        self.dir = state_dir  # the lab's state file and whatever else the driver keeps here

    # --- making one --------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def make(cls, lab_name: str, engine: str | None = None, **options) -> Driver:
        """The driver of lab `lab_name`, from what Lab() and the state file give: `engine`
        (drivers `on_engine` only) and options this driver alone takes; a LabError otherwise."""
        raise NotImplementedError(f"the {cls.name or cls.__name__} driver does not implement make")

    @classmethod
    @abstractmethod
    def usable_here(cls) -> Usability:
        """Can this driver make a lab on this machine now (lessons.choose asks, in DRIVERS' order)?"""
        raise NotImplementedError(f"the {cls.name or cls.__name__} driver does not implement usable_here")

    # --- the lab -----------------------------------------------------------------------
    @abstractmethod
    def describe(self) -> str:
        """Where the nodes live, in a few words (progress lines, lesson banners)."""
        raise self._missing("describe")

    def reach(self) -> None:
        """Raise a one-line LabError when what holds the nodes does not answer (nothing to reach by default)."""

    def state(self) -> dict:
        """What the state file keeps for this driver (Lab.attach gives it back to make())."""
        return {}

    def make_nodes(self, spec: LabSpec) -> dict[str, LabNode]:
        return {n.name: self.make_node(n) for n in spec.nodes}

    @abstractmethod
    def make_node(self, spec: NodeSpec) -> LabNode:
        """One node of the lab (a `node_class`), not built yet."""
        raise self._missing("make_node")

    @abstractmethod
    def preflight(self, lab) -> None:
        """Refuse to start when this driver cannot make `lab` (say why, and what to do)."""
        raise self._missing("preflight")

    @abstractmethod
    def up(self, lab, report: Report) -> None:
        """Build the nodes and start their daemons, reporting each phase (Lab.up rolls back on failure)."""
        raise self._missing("up")

    @abstractmethod
    def teardown(self, name: str, lab_id: str | None = None, force: bool = False) -> bool:
        """Take lab `name` down completely (only the lab `lab_id`, when given). Works twice, and
        after the process that built it was killed. False when there was no trace of it.
        Where several users' labs can meet (an engine), a lab of that name another user made is
        left alone with a LabNotYoursError, unless `force`; `forced` then names whose it was."""
        raise self._missing("teardown")

    @abstractmethod
    def leftovers(self, name: str) -> list[str]:
        """Everything of lab `name` that still exists, one phrase each (empty when clean)."""
        raise self._missing("leftovers")

    def labs_up(self) -> dict[str, int]:
        """This user's labs of this driver that are up on this machine: name -> nodes (for the
        classroom's limits, lab/limits.py; a driver whose nodes run elsewhere has none here)."""
        return {}

    def forget(self, name: str) -> None:
        """Remove only this machine's record of lab `name`, without asking where its nodes are
        (`lab down --forget`): for nodes on an engine that is gone for good."""
        raise LabError(f"--forget is for a lab on a Docker engine that is gone; lab {name} is a "
                       f"{self.name} lab on this machine: `swarmlab lab down --name {name}`")

    @classmethod
    def state_elsewhere(cls, name: str, engine: str | None) -> dict | None:
        """The state of a lab that has no state file here, as where its nodes are holds it
        (an engine's labels); None: no such lab, or no such place."""
        return None

    def processes(self) -> set[int]:
        """The lab's processes as this machine numbers them (its memory is theirs); empty where
        they run elsewhere (on an engine's host)."""
        return set()

    # --- reaching the nodes --------------------------------------------------------------
    def ssh_connector(self, lab) -> SSHConnector | None:
        """How an SSH client here opens a stream to a node's sshd: None for a plain TCP connect.
        A LabError when this user cannot reach the nodes over SSH."""
        return None

    def switch_netns(self) -> str:
        """The network namespace of the lab's switch (when `switch_in_reach`), where each node's
        cable ends in a port named after the node."""
        raise LabError(f"the switch of a {self.name} lab is out of reach from this machine")

    def _missing(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"the {self.name or type(self).__name__} driver does not implement {what}")
