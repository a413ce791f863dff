"""The namespaces driver: each node a set of namespaces on this machine running its own dockerd (root).

State and everything the nodes write live under /run/swarmlab/<lab>/; every process
lives in the lab's cgroup, so teardown kills them all at once, and what left the
cgroup is found by the nodes' namespaces and mounts (procscan.py).
"""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from ...check import can_run_lab
from ...errors import LabError, NodeAccessError
from .. import image
from ..driver import Driver, SSHConnector, Usability
from ..ownership import STATE_ROOT
from ..spec import NodeSpec
from . import network, procscan, sshd
from .cgroup import LabCgroup
from .host import host_run
from .netsock import connect_in_netns
from .node import NamespaceNode

REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "dockerd", "docker", "busybox")
NAMESPACE_STATE_ROOT = STATE_ROOT  # a namespaces lab is root's, whoever reaches it later
DAEMON_BATCH = 16  # dockerds started at once (see NamespaceDriver._start_daemons)


class NamespaceDriver(Driver):
    """Makes lab nodes out of namespaces on this machine (see node.py)."""

    name = "namespaces"
    node_class = NamespaceNode
    transport = "lab"  # swarmlab.transport registry: commands enter the node through nsenter
    local_needs_root = True  # entering the nodes' namespaces needs root on this machine
    sshd = True  # the nodes run sshd when openssh-server is installed: reachable over SSH
    runs_here = True  # every node's dockerd and containerd run on this machine
    switch_in_reach = True  # a bridge in the lab's switch namespace (network.py)
    no_sshd_hint = "sshd was not installed when it came up: install openssh-server"

    def __init__(self, lab_name: str):
        super().__init__(lab_name, NAMESPACE_STATE_ROOT / lab_name)
        self.cgroup = LabCgroup(lab_name)

    @classmethod
    def make(cls, lab_name: str, engine: str | None = None, **options) -> "NamespaceDriver":
        if options.get("docker"):
            raise LabError(f"--docker {options['docker']}: the namespaces driver runs this machine's own dockerd; "
                           "a chosen Docker runs in node containers: add --driver docker")
        if engine or any(options.values()):
            raise LabError("engine and default_route are for the docker driver; "
                           "the namespaces driver runs on this machine")
        return cls(lab_name)

    @classmethod
    def usable_here(cls) -> Usability:
        if can_run_lab():
            return Usability(True, "root on Linux: the namespace lab runs here")
        return Usability(False, "not root on Linux", forced_error="this machine cannot run the namespace lab "
                                                                  "(root on Linux; see `swarmlab check`)")

    def describe(self) -> str:
        return "namespaces on this machine"

    def reach(self) -> None:
        """The nodes are root's namespaces: another user cannot look inside them (`lab status`
        would read every daemon as stopped), which says nothing about their health."""
        if os.geteuid() != 0:
            raise NodeAccessError(self.lab_name, "it runs in root's namespaces on this machine")

    def make_node(self, spec: NodeSpec) -> NamespaceNode:
        return self.node_class(self.lab_name, spec, self.dir / spec.name, self.cgroup, self.owner)

    def preflight(self, lab) -> None:
        preflight(lab.name)

    def up(self, lab, report) -> None:
        """Build the nodes and start their daemons, reporting each phase (Lab.up rolls back).
        Every step that creates something holds the lab's name lock and checks that the
        lab is still this one (lab.owner)."""
        with lab.owner.owned():
            network.build(lab.spec)
            procs = [(node, node.boot()) for node in lab.nodes.values()]
        for node, proc in procs:
            node.wait_booted(proc)
        report("namespaces")
        self._start_daemons(lab)
        report("daemons")
        # sshd and the images need only the daemons: both at once.
        with ThreadPoolExecutor(max_workers=1) as pool:
            ssh = pool.submit(_start_sshd, lab)
            seed_images(lab)
            report("images")
            ssh.result()
        report("sshd")
        lab.owner.check()

    @staticmethod
    def _start_daemons(lab) -> None:
        """Start the daemons in batches: a hundred dockerds started at once on a small
        machine fight for it, and the last ones would not answer within their timeout."""
        nodes = list(lab.nodes.values())
        for i in range(0, len(nodes), DAEMON_BATCH):
            batch = nodes[i:i + DAEMON_BATCH]
            with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                for fut in [pool.submit(n.start_docker) for n in batch]:
                    fut.result()
                for fut in [pool.submit(n.wait_docker) for n in batch]:
                    fut.result()

    def teardown(self, name: str, lab_id: str | None = None, force: bool = False) -> bool:
        # Whatever its id: everything of this name lives in its cgroup and namespaces, and only
        # root makes them (root's alone: force changes nothing).
        return teardown(name)

    def leftovers(self, name: str) -> list[str]:
        return leftovers(name)

    def processes(self) -> set[int]:
        return self.cgroup.pids()

    def ssh_connector(self, lab) -> SSHConnector | None:
        """Over the lab's host link, a plain connect from here; without one, root connects from
        the lab's admin address inside its switch namespace, and any other user cannot."""
        if lab.ssh.read_info().get("host_link"):
            return None
        if os.geteuid() == 0:
            return partial(connect_in_netns, network.switch_netns(lab.name))
        raise LabError(f"lab {lab.name} cannot be reached from this user: it has no host link. "
                       f"Bring it up with `sudo swarmlab lab up --name {lab.name} --host-link`, "
                       f"or use it as root")

    def switch_netns(self) -> str:
        return network.switch_netns(self.lab_name)


def _start_sshd(lab) -> None:
    with lab.owner.owned():
        sshd.start(lab, host_link=lab.host_link)


def seed_images(lab) -> None:
    archives = {name: image.save_from_host(name, lab.image_source) for name in lab.images}

    def seed(node):
        image.seed_busybox(node)
        for name, archive in archives.items():
            image.load_into(node, name, archive)
    lab.each_node(seed)


def preflight(name: str) -> None:
    """Refuse to start when this machine cannot run a lab, or the name is taken."""
    if os.geteuid() != 0:
        raise LabError("the namespaces lab needs root (it creates namespaces and runs dockerd); "
                       "run as root (`sudo swarmlab lab up`), or use a Docker engine: "
                       "`swarmlab lab up --driver docker`")
    missing = [t for t in REQUIRED_TOOLS if not shutil.which(t)]
    if missing:
        raise LabError(f"missing {', '.join(missing)}; run `swarmlab check` to see what to install")
    if (NAMESPACE_STATE_ROOT / name).exists() or network.lab_netns(name):
        raise LabError(f"a lab named {name!r} already exists; take it down with "
                       f"`swarmlab lab down --name {name}` or choose another name")


def teardown(name: str) -> bool:
    """Take a namespaces lab down completely. Works twice, and after its creator was killed.
    Returns False when there was no trace of it. (Lab and lab.teardown hold the name's lock.)"""
    if os.geteuid() != 0:
        raise LabError("taking a namespaces lab down needs root (it kills the nodes' processes and "
                       "deletes their namespaces); run it as root, e.g. with sudo")
    existed = bool(network.lab_netns(name) or (NAMESPACE_STATE_ROOT / name).exists() or LabCgroup(name).leftovers())
    cgroup = LabCgroup(name)
    targets = procscan.Targets.of_lab(name, NAMESPACE_STATE_ROOT / name)
    cgroup.kill_all()  # daemons, containerd, shims, containers, node shells: all at once
    # What left the lab's cgroup (a container under another --cgroup-parent, a process
    # a student moved) still lives in a node's namespaces or mounts: find it there.
    procscan.kill(targets)
    network.remove(name)
    cgroup.remove()
    _remove_dir(NAMESPACE_STATE_ROOT / name)
    _rmdir_quiet(NAMESPACE_STATE_ROOT)
    # Not `targets` again: once a namespace is deleted, the kernel may give its inode
    # number to a new namespace of some other lab.
    left = leftovers(name)
    if left:
        raise LabError(f"lab {name} did not go away completely: {'; '.join(left)}")
    return existed


def leftovers(name: str) -> list[str]:
    """Everything of the lab that still exists on this machine (empty when clean)."""
    found = []
    cgroup = LabCgroup(name)
    pids = {pid: "in the lab's cgroup" for pid in cgroup.pids()}
    pids.update(procscan.find(procscan.Targets.of_lab(name, NAMESPACE_STATE_ROOT / name)))
    if pids:
        found.append("processes " + ", ".join(f"{pid} ({procscan.describe(pid)}: {why})"
                                              for pid, why in sorted(pids.items())))
    if ns := network.lab_netns(name):
        found.append(f"network namespaces {ns}")
    if cg := cgroup.leftovers():
        found.append(f"cgroups {[str(p) for p in cg]}")
    if mounts := _mounts_under(NAMESPACE_STATE_ROOT / name):
        found.append(f"mounts {mounts}")
    if (NAMESPACE_STATE_ROOT / name).exists():
        found.append(f"state folder {NAMESPACE_STATE_ROOT / name}")
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
