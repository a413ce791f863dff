"""The namespaces driver: each node a set of namespaces on this machine running its own dockerd (root).

State and everything the nodes write live under /run/swarmlab/<lab>/; every process
lives in the lab's cgroup, so teardown kills them all at once.
"""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import LabError
from . import image, network, sshd
from .cgroup import LabCgroup
from .host import host_run
from .node import LabNode
from .spec import LabSpec

REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "dockerd", "docker", "busybox")
NAMESPACE_STATE_ROOT = Path("/run/swarmlab")


class NamespaceDriver:
    """Makes lab nodes out of namespaces on this machine (see swarmlab/lab/node.py)."""

    name = "namespaces"
    transport = "lab"  # swarmlab.transport registry: commands enter the node through nsenter

    def __init__(self, lab_name: str):
        self.lab_name = lab_name
        self.dir = NAMESPACE_STATE_ROOT / lab_name
        self.cgroup = LabCgroup(lab_name)

    def describe(self) -> str:
        return "namespaces on this machine"

    def state(self) -> dict:
        return {}

    def make_nodes(self, spec: LabSpec) -> dict[str, LabNode]:
        return {n.name: LabNode(spec.name, n, self.dir / n.name, self.cgroup) for n in spec.nodes}

    def preflight(self, lab) -> None:
        preflight(lab.name)

    def up(self, lab, report) -> None:
        """Build the nodes and start their daemons, reporting each phase (Lab.up rolls back)."""
        network.build(lab.spec)
        procs = [(node, node.boot()) for node in lab.nodes.values()]
        for node, proc in procs:
            node.wait_booted(proc)
        report("namespaces")
        lab.each_node(lambda n: n.start_docker())
        lab.each_node(lambda n: n.wait_docker())
        report("daemons")
        # sshd and the images need only the daemons: both at once.
        with ThreadPoolExecutor(max_workers=1) as pool:
            ssh = pool.submit(sshd.start, lab, host_link=lab.host_link)
            seed_images(lab)
            report("images")
            ssh.result()
        report("sshd")

    @staticmethod
    def teardown(name: str, **_) -> None:
        teardown(name)

    @staticmethod
    def leftovers(name: str, **_) -> list[str]:
        return leftovers(name)


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


def teardown(name: str) -> None:
    """Take a namespaces lab down completely. Works twice, and after its creator was killed."""
    cgroup = LabCgroup(name)
    cgroup.kill_all()  # daemons, containerd, shims, containers, node shells: all at once
    network.remove(name)
    cgroup.remove()
    _remove_dir(NAMESPACE_STATE_ROOT / name)
    _rmdir_quiet(NAMESPACE_STATE_ROOT)
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
