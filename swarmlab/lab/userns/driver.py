"""The userns driver: a lab inside user namespaces of the user's own, for a user with no root
and no Docker group (see holder.py and node.py). Its state and every file of it are in the
user's own folders; `lab down` kills its PID namespace, which takes every process with it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...errors import LabError
from ...i18n import joint, translate
from ..driver import Driver, Usability
from ..ownership import state_root
from ..spec import NodeSpec
from ..namespaces.driver import seed_images
from . import holder as lab_holder, sshd
from .node import UsernsNode

REQUIRED_TOOLS = ("unshare", "nsenter", "newuidmap", "newgidmap", "ip", "tini", "dockerd", "docker",
                  "rootlesskit-docker-proxy", "busybox")


def _say(text: str) -> str:
    """A check's detail or an administrator's step in the language swarmlab speaks (the cli catalog)."""
    return translate(text, "cli")


class UsernsDriver(Driver):
    """Makes lab nodes inside the user's own user namespaces (no root needed)."""

    name = "userns"
    node_class = UsernsNode
    transport = "lab"  # swarmlab.transport registry: commands enter the node through nsenter
    local_needs_root = False  # the user enters their own namespaces
    runs_here = True  # every node's dockerd and containerd run on this machine
    sshd = True  # each node runs sshd (when this machine has one), reached through the lab's switch
    no_sshd_hint = "sshd was not installed when it came up: install openssh-server"

    def __init__(self, lab_name: str, state_dir: Path):
        super().__init__(lab_name, state_dir)

    @classmethod
    def make(cls, lab_name: str, engine: str | None = None, **options) -> "UsernsDriver":
        if engine or any(options.values()):
            raise LabError("engine, default_route and docker are for the docker driver; the userns driver "
                           "runs this machine's own dockerd in your user namespaces")
        return cls(lab_name, state_root() / lab_name)

    @classmethod
    def usable_here(cls) -> Usability:
        from ...userns_check import userns_checks
        if os.geteuid() == 0:
            return Usability(False, "root runs the namespaces lab instead",
                             forced_error="root runs the namespaces lab; the userns lab is for a plain user")
        missing = [c for c in userns_checks() if not c.ok]
        known = {c.name.split()[-1] for c in missing}
        tools = [t for t in REQUIRED_TOOLS if not shutil.which(t) and t not in known]
        if missing or tools:
            # Each detail and step in the student's language now (the sentence around them is the cli
            # catalog's too): the check's name, commands, paths and sysctl names stay as they are.
            said = joint("; ").join([*(c.name + joint(": ") + _say(c.detail) for c in missing),
                                     *(_say(f"{t}: missing") for t in tools)])
            # Each step an administrator takes, once (the probe's advice only repeats the others').
            steps = joint("; ").join(dict.fromkeys(_say(c.fix) for c in missing if c.fix and c.name != "userns probe"))
            forced = (f"this machine cannot run a lab in your user namespaces: {said} (the administrator's step: "
                      f"{steps}); `swarmlab check` says what to do" if steps else
                      f"this machine cannot run a lab in your user namespaces: {said}; `swarmlab check` says what to do")
            return Usability(False, f"no lab in your own user namespaces ({said})", forced_error=forced)
        return Usability(True, "your own user namespaces: a live lab with no root and no Docker group")

    def describe(self) -> str:
        return "your own user namespaces on this machine (no root)"

    def make_node(self, spec: NodeSpec) -> UsernsNode:
        return self.node_class(self.lab_name, spec, self.dir / spec.name, self.dir, self.owner)

    def preflight(self, lab) -> None:
        usable = self.usable_here()
        if not usable.usable:
            raise LabError(usable.forced_error or usable.reason)
        if holders(self.dir):
            raise LabError(f"a lab named {lab.name!r} of yours is up; take it down with "
                           f"`swarmlab lab down --name {lab.name}` or choose another name")

    def up(self, lab, report) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with lab.owner.owned():
            lab_holder.start(self.dir)
            procs = [(node, node.boot()) for node in lab.nodes.values()]
        for node, proc in procs:
            node.wait_booted(proc)
        report("namespaces")
        with ThreadPoolExecutor(max_workers=len(lab.nodes)) as pool:
            list(pool.map(lambda n: n.start_docker(), lab.nodes.values()))
            list(pool.map(lambda n: n.wait_docker(60), lab.nodes.values()))
        report("daemons")
        seed_images(lab)
        report("images")
        if sshd.start(lab):
            report("sshd")
        lab.owner.check()

    def processes(self) -> set[int]:
        found = holders(self.dir)
        return lab_holder.in_pid_namespace(found[0].pid) if found else set()

    def ssh_connector(self, lab):
        """SSH reaches a node from inside the lab's switch, which only this user may enter."""
        return sshd.connector(self.dir)

    def teardown(self, name: str, lab_id: str | None = None, force: bool = False) -> bool:
        folder = state_root() / name
        if not folder.exists():
            return False
        for holder in holders(folder):
            holder.kill()
        remove_folder(folder)
        return True

    def labs_up(self) -> dict[str, int]:
        """Every lab of this user whose holder still runs, with its node count from state.json; a
        holder an `up` killed with -9 left unrecorded counts too (it holds its namespaces and memory)."""
        up = {}
        root = state_root()
        for folder in (root.iterdir() if root.is_dir() else ()):
            if holders(folder):
                try:
                    up[folder.name] = len(json.loads((folder / "state.json").read_text())["nodes"])
                except (OSError, ValueError, KeyError):
                    up[folder.name] = 0  # half built: it counts as a lab, its nodes are not known yet
        return up

    def leftovers(self, name: str) -> list[str]:
        folder = state_root() / name
        found = []
        found += [f"its user namespace holder (pid {holder.pid})" for holder in holders(folder)]
        if folder.exists() and any(p.name != "state.json" for p in folder.iterdir()):
            found.append(f"its folder {folder}")
        return found


def holders(folder: Path) -> list[lab_holder.Holder]:
    """The lab's live holders: the recorded one, and any that an `up` killed before recording it left."""
    recorded = lab_holder.recorded(folder)
    found = [recorded] if recorded is not None and recorded.alive() else []
    return found + [h for h in lab_holder.unrecorded(folder) if h not in found]


def remove_folder(folder: Path) -> None:
    """Remove the lab's folder: its nodes wrote files as the user's subordinate ids (image layers,
    containers' files), which only root in a user namespace with the same ids may remove."""
    subprocess.run(["unshare", "--user", "--map-root-user", "--map-auto", "rm", "-rf", "--one-file-system",
                    str(folder)], capture_output=True)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        raise LabError(f"could not remove {folder}: remove it by hand "
                       f"(`unshare --user --map-root-user --map-auto rm -rf {folder}`)")
