"""The local lab: N nodes on one Linux machine, a switch between them, and a swarm on demand."""
from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import LabError
from . import image, network, sshd
from .cgroup import LabCgroup
from .host import host_run
from .node import LabNode
from .spec import ARTICLE_SUBNET, LabSpec, NodeSpec, check_name, MAX_LAB_NAME

STATE_ROOT = Path("/run/swarmlab")
REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "dockerd", "docker", "busybox")

Progress = Callable[[str, float], None]  # (phase finished, seconds since start)


class Lab:
    """A real multi-node Docker Swarm lab on this machine (needs root).

    >>> with Lab(nodes=2) as lab:          # node1 172.16.155.131, node2 .132
    ...     lab.form_swarm()
    ...     print(lab.node("node1").run("docker node ls"))
    """

    def __init__(self, name: str = "swarmlab", nodes: int = 2, subnet: str = ARTICLE_SUBNET,
                 first_address: str | None = None, node_names=None, nic: str = "ens33",
                 images: tuple[str, ...] = (), host_link: bool = False,
                 image_source: str = image.HOST_DOCKER):
        self.spec = LabSpec.build(name, nodes, subnet, first_address, node_names, nic)
        self.images = tuple(images)
        self.image_source = image_source  # the Docker daemon `images` are copied from
        # A veth from this machine's root namespace into the lab's switch: a change to
        # the host, so only when asked (see lab/hostlink.py).
        self.host_link = host_link
        self._init()

    def _init(self):
        self.name = self.spec.name
        self.dir = STATE_ROOT / self.name
        self.cgroup = LabCgroup(self.name)
        self.nodes = {n.name: LabNode(self.name, n, self.dir / n.name, self.cgroup) for n in self.spec.nodes}

    @classmethod
    def attach(cls, name: str = "swarmlab") -> "Lab":
        """The lab of that name that is already up (e.g. started from the CLI)."""
        check_name("lab", name, MAX_LAB_NAME)
        state = STATE_ROOT / name / "state.json"
        if not state.exists():
            raise LabError(f"no lab named {name!r} is up; start one with `swarmlab lab up --name {name}`")
        data = json.loads(state.read_text())
        lab = cls.__new__(cls)
        lab.spec = LabSpec(name=data["name"], subnet=data["subnet"],
                           nodes=tuple(NodeSpec(**n) for n in data["nodes"]))
        lab.images = tuple(data.get("images", ()))
        lab._init()
        return lab

    def __repr__(self):
        return f"<Lab {self.name}: {', '.join(f'{n.name} {n.address}' for n in self.nodes.values())}>"

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    def node(self, name: str) -> LabNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise LabError(f"lab {self.name} has no node {name!r}; its nodes are {', '.join(self.nodes)}") from None

    @property
    def manager(self) -> LabNode:
        return next(iter(self.nodes.values()))

    # --- up --------------------------------------------------------------
    def up(self, progress: Progress | None = None) -> "Lab":
        """Build the nodes and start their daemons. On any failure, roll back."""
        preflight(self.name)
        started = time.monotonic()
        report = (lambda phase: progress(phase, time.monotonic() - started)) if progress else (lambda phase: None)
        self.dir.mkdir(parents=True)
        try:
            self._write_state()
            network.build(self.spec)
            self._boot_nodes()
            report("namespaces")
            self._parallel(lambda n: n.start_docker())
            self._parallel(lambda n: n.wait_docker())
            report("daemons")
            # sshd and the images need only the daemons: both at once.
            with ThreadPoolExecutor(max_workers=1) as pool:
                ssh = pool.submit(sshd.start, self, host_link=self.host_link)
                self._seed_images()
                report("images")
                ssh.result()
            report("sshd")
        except BaseException:
            self.down()
            raise
        return self

    def _boot_nodes(self):
        procs = [(node, node.boot()) for node in self.nodes.values()]
        for node, proc in procs:
            node.wait_booted(proc)

    def _seed_images(self):
        archives = {name: image.save_from_host(name, self.image_source) for name in self.images}

        def seed(node):
            image.seed_busybox(node)
            for name, archive in archives.items():
                image.load_into(node, name, archive)
        self._parallel(seed)

    def _parallel(self, fn):
        with ThreadPoolExecutor(max_workers=min(16, len(self.nodes))) as pool:
            for fut in [pool.submit(fn, n) for n in self.nodes.values()]:
                fut.result()

    def _write_state(self):
        data = {"name": self.name, "subnet": self.spec.subnet, "images": list(self.images),
                "nodes": [vars(n) for n in self.spec.nodes], "created": time.time(),
                "created_by_pid": os.getpid()}
        (self.dir / "state.json").write_text(json.dumps(data, indent=2) + "\n")

    # --- swarm -----------------------------------------------------------
    def form_swarm(self, managers: int = 1) -> None:
        """`swarm init` on the first node, then every other node joins (the first
        `managers` nodes as managers, the rest as workers)."""
        first = self.manager
        first.run(["docker", "swarm", "init", "--advertise-addr", first.address]).check()
        roles = ["worker"] + (["manager"] if managers > 1 else [])
        tokens = {role: first.run(["docker", "swarm", "join-token", "-q", role]).check().stdout.strip()
                  for role in roles}
        others = list(self.nodes.values())[1:]

        def join(i_node):
            i, node = i_node
            role = "manager" if i < managers - 1 else "worker"
            node.run(["docker", "swarm", "join", "--advertise-addr", node.address,
                      "--token", tokens[role], f"{first.address}:2377"]).check()
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(others)))) as pool:
            for fut in [pool.submit(join, item) for item in enumerate(others)]:
                fut.result()

    # --- status ----------------------------------------------------------
    def status(self):
        """One row per node: address, daemon pid, swarm state."""
        rows = []
        for node in self.nodes.values():
            pid = node.dockerd_pid
            state = "-"
            if pid:
                res = node.run("docker info --format '{{.Swarm.LocalNodeState}}'", timeout=10)
                state = res.stdout.strip() if res.ok else "daemon not answering"
            rows.append({"node": node.name, "address": node.address,
                         "daemon pid": pid or "-", "swarm": state if pid else "dockerd stopped"})
        return pd.DataFrame(rows)

    # --- down ------------------------------------------------------------
    def down(self) -> None:
        teardown(self.name)


def preflight(name: str) -> None:
    """Refuse to start when this machine cannot run a lab, or the name is taken."""
    if os.geteuid() != 0:
        raise LabError("the local lab needs root (it creates namespaces and runs dockerd); "
                       "run as root, e.g. `sudo swarmlab lab up`")
    missing = [t for t in REQUIRED_TOOLS if not shutil.which(t)]
    if missing:
        raise LabError(f"missing {', '.join(missing)}; run `swarmlab check` to see what to install")
    if (STATE_ROOT / name).exists() or network.lab_netns(name):
        raise LabError(f"a lab named {name!r} already exists; take it down with "
                       f"`swarmlab lab down --name {name}` or choose another name")


def teardown(name: str) -> None:
    """Take a lab down completely. Works twice, and after its creator was killed."""
    check_name("lab", name, MAX_LAB_NAME)
    cgroup = LabCgroup(name)
    cgroup.kill_all()  # daemons, containerd, shims, containers, node shells: all at once
    network.remove(name)
    cgroup.remove()
    _remove_dir(STATE_ROOT / name)
    _rmdir_quiet(STATE_ROOT)
    left = leftovers(name)
    if left:
        raise LabError(f"lab {name} did not go away completely: {'; '.join(left)}")


def leftovers(name: str) -> list[str]:
    """Everything of the lab that still exists on this machine (empty when clean)."""
    found = []
    cgroup = LabCgroup(name)
    if pids := cgroup.pids():
        found.append(f"processes {sorted(pids)}")
    if ns := network.lab_netns(name):
        found.append(f"network namespaces {ns}")
    if cg := cgroup.leftovers():
        found.append(f"cgroups {[str(p) for p in cg]}")
    if mounts := _mounts_under(STATE_ROOT / name):
        found.append(f"mounts {mounts}")
    if (STATE_ROOT / name).exists():
        found.append(f"state folder {STATE_ROOT / name}")
    return found


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def _remove_dir(path: Path) -> None:
    # A mount left under the folder would make rmtree delete through it: unmount first.
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        host_run(["umount", "-l", point], check=False)
    shutil.rmtree(path, ignore_errors=True)


def _rmdir_quiet(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
