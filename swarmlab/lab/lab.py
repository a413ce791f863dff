"""The lab: N nodes, a LAN between them, and a swarm on demand, made by a driver.

The Lab keeps what every lab shares: the spec, the state file, the lab's identity (and
the lock that makes every step check it, see ownership.py), progress and rollback, the
swarm and the status table. A driver (driver.py: the bases and the registry) makes the
nodes, takes them away, and declares how they are reached; the Lab asks what it
declares, never its name.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import LabError, LabNotYoursError, LabReplacedError, NodeDeadError
from . import dockerapi, image
from .capacity import check_capacity
from .limits import check_lab as check_limits
from .driver import Driver, default_driver, driver_class, get_driver
from .ownership import STATE_ROOT, NameLock, Ownership, caller, owner_from, state_root
from .spec import ARTICLE_SUBNET, MAX_LAB_NAME, LabSpec, NodeSpec, check_name
from .sshd import LabSSH

Progress = Callable[[str, float], None]  # (phase finished, seconds since start)


class Lab:
    """A real multi-node Docker Swarm lab.

    >>> with Lab(nodes=2) as lab:                  # namespaces on this machine (root)
    ...     lab.form_swarm()
    ...     print(lab.node("node1").run("docker node ls"))
    >>> Lab(driver="docker").up()                  # containers on the Docker engine (no root)
    """

    def __init__(self, name: str = "swarmlab", nodes: int = 2, subnet: str = ARTICLE_SUBNET,
                 first_address: str | None = None, node_names=None, nic: str = "ens33",
                 images: tuple[str, ...] = (), host_link: bool = False,
                 image_source: str = image.HOST_DOCKER, driver: str = "namespaces",
                 engine: str | None = None, default_route: bool = False, docker: str | None = None):
        self.spec = LabSpec.build(name, nodes, subnet, first_address, node_names, nic)
        self.images = tuple(images)
        self.image_source = image_source  # the Docker daemon `images` are copied from
        # A veth from this machine's root namespace into the lab's switch: a change to
        # the host, so only when asked (see lab/namespaces/hostlink.py). Namespaces driver only.
        self.host_link = host_link
        self.id = uuid.uuid4().hex[:12]  # tells this lab from an earlier one of the same name
        # docker: the nodes' Docker ("28"), for drivers whose nodes run an image (docker).
        self.driver = get_driver(driver, self.spec.name, engine, default_route=default_route,
                                 **({"docker": str(docker)} if docker else {}))
        if self.driver.runs_here:  # the nodes run on this machine: its memory must hold them
            check_capacity(len(self.spec.nodes))
            check_limits(len(self.spec.nodes), self.driver.labs_up(), self.spec.name)
        self._init()

    def _init(self):
        self.name = self.spec.name
        self.dir = self.driver.dir
        self.owner = Ownership(self.name, self.dir, self.id)
        self.driver.owner = self.owner  # nodes check it before they create anything
        self.nodes = self.driver.make_nodes(self.spec)

    @classmethod
    def attach(cls, name: str = "swarmlab", engine: str | None = None) -> "Lab":
        """The lab of that name that is already up (e.g. started from the CLI)."""
        check_name("lab", name, MAX_LAB_NAME)
        data = read_state(name)
        if data is None and engine:
            data = driver_class(default_driver(engine)).state_elsewhere(name, engine)
        if data is None:
            raise LabError(f"no lab named {name!r} is up; start one with `swarmlab lab up --name {name}`")
        lab = cls.__new__(cls)
        lab.spec = LabSpec(name=data["name"], subnet=data["subnet"],
                           nodes=tuple(NodeSpec(**n) for n in data["nodes"]))
        lab.images = tuple(data.get("images", ()))
        lab.host_link = False
        lab.image_source = image.HOST_DOCKER
        lab.id = data.get("id", "")
        driver = data.get("driver", "namespaces")
        lab.driver = get_driver(driver, name, engine or data.get("engine"), **data.get("driver_options", {}))
        lab._init()
        return lab

    def __repr__(self):
        return f"<Lab {self.name} ({self.driver.name}): {', '.join(f'{n.name} {n.address}' for n in self.nodes.values())}>"

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    def node(self, name: str):
        try:
            return self.nodes[name]
        except KeyError:
            raise LabError(f"lab {self.name} has no node {name!r}; its nodes are {', '.join(self.nodes)}") from None

    @property
    def manager(self):
        return next(iter(self.nodes.values()))

    @property
    def ssh(self) -> LabSSH:
        """Where the lab's SSH files are: its inventory, client key, known_hosts (lab/sshd.py)."""
        return LabSSH(self.dir)

    def describe(self) -> str:
        """Where the nodes live, in a few words (for progress lines and lesson banners)."""
        return self.driver.describe()

    # --- up --------------------------------------------------------------
    def preflight(self) -> None:
        """Refuse to start when the driver cannot make this lab (say why, and what to do)."""
        self.driver.preflight(self)

    def up(self, progress: Progress | None = None) -> "Lab":
        """Build the nodes and start their daemons. On any failure, roll back.

        Every step first checks that the lab of this name is still the one this call
        created (see ownership.py): if it was taken down or replaced meanwhile, `up`
        stops with LabReplacedError and leaves the lab of that name alone.
        """
        started = time.monotonic()
        report = (lambda phase: progress(phase, time.monotonic() - started)) if progress else (lambda phase: None)
        umask = os.umask(0o022)  # sshd refuses group- or world-writable folders
        try:
            # The state file comes first: `down` finds the lab by it even if this
            # process is killed half-way.
            self.owner.claim(self._state(), refuse=self.preflight)
            try:
                self.driver.up(self, report)
                self.owner.write_state(self._state())  # with what the driver chose (e.g. privileges)
            except BaseException as exc:
                if self._roll_back():
                    raise
                # What this `up` ran into is most likely the other shell's doing; say it anyway.
                met = "" if isinstance(exc, LabReplacedError) else f"; it had met: {' '.join(str(exc).split())[:200]}"
                raise LabReplacedError(f"lab {self.name} was taken down or replaced by another `lab up` "
                                       f"while this one was building it; stopping (the lab of that name "
                                       f"now, if any, is left alone){met}") from exc
        finally:
            os.umask(umask)
        return self

    def _roll_back(self) -> bool:
        """Take down what this `up` built. False when the lab of this name is not this one
        any more (taken down, or replaced by another `up`): then nothing is touched."""
        with self.owner.lock:
            if self.owner.on_disk() != self.owner.lab_id:
                return False
            self.driver.teardown(self.name, lab_id=self.id)
        return True

    def each_node(self, fn) -> dict:
        """fn(node) on every node at once: {node name: what it returned}; the first failure is raised."""
        with ThreadPoolExecutor(max_workers=min(16, len(self.nodes))) as pool:
            futures = {name: pool.submit(fn, n) for name, n in self.nodes.items()}
            return {name: fut.result() for name, fut in futures.items()}

    def _state(self) -> dict:
        me = caller()
        return {"name": self.name, "id": self.id, "driver": self.driver.name, "owner": me.login,
                "owner_uid": me.uid, "subnet": self.spec.subnet,
                "images": list(self.images), "nodes": [vars(n) for n in self.spec.nodes],
                "created": time.time(), "created_by_pid": os.getpid(), **self.driver.state()}

    # --- swarm -----------------------------------------------------------
    def form_swarm(self, managers: int = 1) -> None:
        """`swarm init` on the first node, then every other node joins (the first
        `managers` nodes as managers, the rest as workers). Each node joins through
        its own Docker API (dockerapi.join_swarm), so the token is never on a command
        line that a local user could read, in either driver."""
        first = self.manager
        first.run(["docker", "swarm", "init", "--advertise-addr", first.address]).check()
        roles = ["worker"] + (["manager"] if managers > 1 else [])
        tokens = {role: first.run(["docker", "swarm", "join-token", "-q", role]).check().stdout.strip()
                  for role in roles}
        others = list(self.nodes.values())[1:]

        def join(i_node):
            i, node = i_node
            dockerapi.join_swarm(node, f"{first.address}:2377", tokens["manager" if i < managers - 1 else "worker"])
        # All at once: the manager takes a crowd of joins well, but each node that has joined
        # starts its own work (gossip, ingress), and in batches of 16 the later joins waited on
        # a busier machine: 50 nodes here took 95 s and one join failed, against 23-28 s.
        with ThreadPoolExecutor(max_workers=max(1, len(others))) as pool:
            for fut in [pool.submit(join, item) for item in enumerate(others)]:
                fut.result()

    # --- status ----------------------------------------------------------
    def is_up(self) -> bool:
        return (self.dir / "state.json").exists()

    def status(self):
        """One row per node: address, daemon pid, swarm state (all nodes asked at once).
        A node that cannot be entered (its holder died) is reported as such, not as an
        error of the whole lab."""
        self.driver.reach()  # an engine out of reach is the lab's error, not each node's
        def row(node):
            pid, state = None, "dockerd stopped"
            try:
                pid = node.dockerd_pid
                if pid:
                    res = node.run("docker info --format '{{.Swarm.LocalNodeState}}'", timeout=10)
                    state = res.stdout.strip() if res.ok else "daemon not answering"
            except NodeDeadError as exc:
                pid, state = None, f"dead: {exc.reason} (`swarmlab lab down --name {self.name}` first)"
            return {"node": node.name, "address": node.address, "daemon pid": pid or "-", "swarm": state}
        with ThreadPoolExecutor(max_workers=min(16, len(self.nodes))) as pool:
            return pd.DataFrame(list(pool.map(row, self.nodes.values())))

    # --- down ------------------------------------------------------------
    def down(self) -> None:
        """Take the lab down; a lab of this name that is not this one (it was replaced
        by another `up` meanwhile) is left alone."""
        with self.owner.lock:
            if self.owner.on_disk() not in (None, self.owner.lab_id):
                return
            self.driver.teardown(self.name, lab_id=self.id)


def lab_of_inventory(path: str | Path) -> Lab | None:
    """The lab that is up whose own inventory `path` is (`lab up` writes one beside its state
    file), else None: its node addresses are reached only the lab's way, never through this
    machine's default route to whatever machine has that address elsewhere."""
    folder = Path(path).expanduser().resolve().parent
    state = read_state(folder.name) if (folder / "state.json").is_file() else None
    if not state or state.get("name") != folder.name:
        return None
    lab = Lab.attach(folder.name)
    return lab if lab.ssh.inventory.resolve() == Path(path).expanduser().resolve() else None


def read_state(name: str) -> dict | None:
    """The state of this user's lab of that name; for a user who is not root, else root's
    namespaces lab of that name (readable by all: reached over SSH through its host link)."""
    for root in dict.fromkeys((state_root(), STATE_ROOT)):
        state = _state_in(root, name)
        if state is not None:
            return state
    return None


@dataclass(frozen=True)
class TakenDown:
    """What `teardown` did, in words that name the lab meant: its driver, who made it, where it is.
    False when there was no lab of that name of the caller's."""

    found: bool
    name: str
    driver: str
    where: str  # the driver's describe(): "containers on the Docker engine at URL", "namespaces on this machine"
    owner: str  # who made it ("user@host (uid N)")
    forced: tuple[str, ...] = ()  # other users whose lab of that name --force removed

    def __bool__(self) -> bool:
        return self.found

    def said(self) -> str:
        """The lab meant, for a message after its name: "docker driver, made by u@host (uid N); containers on ..."."""
        return f"{self.driver} driver, made by {self.owner}; {self.where}"


def teardown(name: str, engine: str | None = None, driver: str | None = None, forget: bool = False,
             force: bool = False) -> TakenDown:
    """Take a lab down completely: whatever its driver made, and its state file.
    Works twice, and after the process that built it was killed. False (a TakenDown that
    says so) when there was no lab of that name. Holds the name's lock (see ownership.py), so
    an `up` of that name never creates anything in the middle of it.

    Only a lab the caller made: the caller's own record names it, else where its nodes are
    says who made them (an engine's labels). A lab of that name another user made (on a
    shared engine; root's on this machine) is left alone with a LabNotYoursError, unless
    `force` (the TakenDown names whose it was).

    forget: a docker-driver lab whose engine is gone for good (a classroom server
    switched off, Docker Desktop reset): remove only this machine's record of it, without
    asking the engine."""
    check_name("lab", name, MAX_LAB_NAME)
    me = caller()
    if os.geteuid() != 0 and not driver and not engine and not _own_state(name):
        # Before the lock: that user may have no state folder of its own to lock in at all.
        roots = _state_in(STATE_ROOT, name) or ({} if (STATE_ROOT / name).exists() else None)
        if roots is not None:  # not this user's lab: say whose, and suggest nothing that would remove it
            owner = owner_from(roots.get("owner"), roots.get("owner_uid")) or "root"
            raise LabNotYoursError(
                f"you ({me}) have no lab named {name}; the lab {name} here is root's: the "
                f"{roots.get('driver', 'namespaces')} lab made by {owner}, recorded in {STATE_ROOT / name}, "
                f"not yours: left alone (taking it down needs root, and is its owner's to do). For a docker "
                f"lab of yours of that name, name its engine: --engine URL")
    with NameLock.of(state_root() / name):
        state = _own_state(name)
        if forget and not state:
            return TakenDown(False, name, driver or default_driver(engine), "no record of it here", str(me))
        found = _driver_of(name, state, engine, driver)
        owner = str(owner_from(state.get("owner"), state.get("owner_uid")) or me)
        if forget:
            found.forget(name)
            return TakenDown(True, name, found.name, found.describe(), owner)
        removed = found.teardown(name, lab_id=state.get("id"), force=force)
        forced = tuple(map(str, found.forced)) if force else ()
        return TakenDown(removed or bool(state), name, found.name, found.describe(),
                         " and ".join(forced) or owner, forced)


def _own_state(name: str) -> dict:
    """The record of this user's own lab of that name (never root's, for another user)."""
    return _state_in(state_root(), name) or {}


def _state_in(root: Path, name: str) -> dict | None:
    try:
        return json.loads((root / name / "state.json").read_text())
    except (OSError, ValueError):
        return None


def leftovers(name: str, engine: str | None = None, driver: str | None = None) -> list[str]:
    """Everything of the lab that still exists (empty when clean)."""
    state = read_state(name) or {}
    return _driver_of(name, state, engine, driver).leftovers(name)


def _driver_of(name: str, state: dict, engine: str | None, driver: str | None) -> Driver:
    """The driver of lab `name`, to take it down or list what is left: the one asked for, else
    the one its state file names, else the default; on the engine asked for, else the recorded one."""
    cls = driver_class(driver or state.get("driver") or default_driver(engine))
    return cls.make(name, (engine or state.get("engine")) if cls.on_engine else None)
