"""A userns lab's node: its own network, mount and UTS namespaces inside the lab's holder (its
user and PID namespaces), cabled to the holder's bridge, running its own dockerd in rootless mode.

What differs from a namespaces node (whose commands, daemon calls and shells this reuses):
- it is entered through its user namespace too, and its PID namespace (where dockerd lives);
- root in it is the user, so it cannot write the host's own folders, even through an overlay:
  the node's writable places are tmpfs and binds of its own folder (/var/lib, /var/log, /etc/docker,
  /root, /run, /tmp);
- dockerd runs in rootless mode (ROOTLESSKIT_STATE_DIR set), which leaves cgroups alone: a user
  may not create them on cgroup v1 ("mkdir /sys/fs/cgroup/cpuset/docker: permission denied").
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ...errors import LabError, NodeDeadError
from ..driver import SHIMS
from ..namespaces.node import NODE_SHIMS, Holder as NodeHolder, NamespaceNode, _Entry, _write_json
from ..spec import NodeSpec
from . import holder as lab_holder

# Runs as root in the node's fresh network, mount and UTS namespaces. $1 the node's folder, $2 its name.
BOOT = r"""
set -eu
umask 022
base=$1
hostname "$2"
# A sysfs of this netns, so brctl and ifconfig see the node's own interfaces; the host's
# cgroup mounts set aside and put back, or runc finds no /sys/fs/cgroup.
mkdir -p "$base/cgroup-aside"
mount --rbind /sys/fs/cgroup "$base/cgroup-aside"
# Where /sys is read-only (a container's), the kernel lets a user namespace mount only a read-only
# sysfs, as `ip netns exec` does: enough for brctl and ifconfig, which only read it.
mount -t sysfs sysfs /sys 2>/dev/null || mount -t sysfs -o ro sysfs /sys
mount --rbind "$base/cgroup-aside" /sys/fs/cgroup
umount -l "$base/cgroup-aside"
mount -t tmpfs -o mode=755 tmpfs /var/lib
mkdir -p /var/lib/docker
mount --bind "$base/docker" /var/lib/docker
mount --bind "$base/log" /var/log
mount --bind "$base/etc-docker" /etc/docker
mount --bind "$base/root-home" /root
# sshd's files (lesson 7): the node's own /etc/ssh, where the lab writes its keys.
if [ -d /etc/ssh ]; then mount --bind "$base/etc-ssh" /etc/ssh; fi
# The host's /etc/shadow is not readable here (root in the node is not root on the host), and sshd
# takes an account it cannot look up for a locked one: the node's own, every account with no password.
awk -F: '{print $1 ":*:19000:0:99999:7:::"}' /etc/passwd > "$base/shadow"
mount --bind "$base/shadow" /etc/shadow
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount --bind "$base/run" /run
mkdir -p /run/docker /run/containerd /run/sshd /run/rootlesskit
echo ready
exec sleep infinity
"""
# dockerd in rootless mode: it leaves cgroups alone and publishes ports with rootlesskit's proxy.
ROOTLESS_ENV = ("ROOTLESSKIT_STATE_DIR=/run/rootlesskit", "XDG_RUNTIME_DIR=/run", "GOGC=50")
# Rootless mode would keep its data and settings under $HOME: the node keeps them where a host does.
DOCKERD_ARGS = ("--group", "root", "--userland-proxy=false", "--data-root", "/var/lib/docker",
                "--config-file", "/etc/docker/daemon.json")


class NoCgroup:
    """A userns lab has no cgroup of its own (the user may not make one on cgroup v1): its PID
    namespace is what teardown ends."""

    def frozen(self) -> bool:
        return False

    def create(self, node: str) -> None:
        pass


class UsernsNode(NamespaceNode):
    """One node of a userns lab (see the module's docstring)."""

    # / and /etc are the host's, owned by an id this namespace does not map: sshd's StrictModes
    # would refuse every key below them ("bad ownership or modes for directory /etc").
    sshd_extra_config = "# / and /etc belong to an id this node's user namespace does not map\nStrictModes no\n"

    def __init__(self, lab_name: str, spec: NodeSpec, base: Path, lab_dir: Path, owner=None):
        super().__init__(lab_name, spec, base, NoCgroup(), owner)
        self.lab_dir = lab_dir

    @property
    def dockerd_log(self) -> Path:
        return self.base / "log" / "dockerd.log"

    @property
    def dockerd_pid(self) -> int | None:
        """The node's dockerd as this machine numbers it (its pidfile holds the lab's own number)."""
        node = self.holder()
        inner = _read_int(self.base / "run" / "docker.pid")
        if not node or not inner:
            return None
        try:
            pidns = os.stat(f"/proc/{node.pid}/ns/pid").st_ino
        except OSError:
            return None
        return lab_holder.host_pid(inner, pidns)

    def boot(self) -> subprocess.Popen:
        for sub in ("docker", "run", "etc-docker", "etc-ssh", "root-home", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "root-home").chmod(0o700)
        if not self.daemon_json.exists():
            self.daemon_json.write_text("{}\n")
        shutil.copytree(SHIMS, self.base / "run" / NODE_SHIMS.removeprefix("/run/"), symlinks=True, dirs_exist_ok=True)
        args = [*self._lab().enter("user", "mount", "net", "pid"),
                "unshare", "--net", "--mount", "--uts", "--propagation", "private",
                "sh", "-c", BOOT, "boot", str(self.base), self.name]
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=open(self.base / "boot.log", "wb"), start_new_session=True, cwd="/")

    def wait_booted(self, proc: subprocess.Popen, timeout: float = 10) -> None:
        self._await_ready(proc, timeout)
        pid = lab_holder.first_child(proc.pid)  # nsenter forks to enter the PID namespace
        holder = NodeHolder.of(pid)
        with self._owned():
            _write_json(self.base / "holder.json", vars(holder))
            (self.base / "init.pid").write_text(f"{pid}\n")
        self._holder = holder
        self._cable(lab_holder.inner_pid(pid))

    def _cable(self, inner: int) -> None:
        """A veth from the holder's bridge into the node, named ens33 there, with the node's address."""
        port = f"p-{self.name}"[:15]
        made = self._lab().run(f"ip link add {port} type veth peer name {self.spec.nic} netns {inner} && "
                               f"ip link set {port} master {lab_holder.BRIDGE} up")
        if made.returncode != 0:
            raise LabError(f"could not cable node {self.name}: {made.stderr.strip()}")
        self.run(f"ip addr add {self.spec.cidr} dev {self.spec.nic} && ip link set {self.spec.nic} up && "
                 "ip link set lo up").check(hint=f"node {self.name}'s address")

    def start_docker(self) -> None:
        if self.dockerd_pid:
            return
        with self._owned():
            # nsenter forks to enter the PID namespace and waits for dockerd: without these it would
            # hold the caller's stdout open as long as the lab lives (a pipe reading it never ends).
            self._spawn(self._enter(["sh", "-c", 'exec dockerd "$@" >>/var/log/dockerd.log 2>&1', "dockerd",
                                     *DOCKERD_ARGS], extra_env=ROOTLESS_ENV),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_docker(self, timeout: float = 20) -> None:
        if self.dockerd_pid:
            self.run("kill $(cat /run/docker.pid)")
            deadline = time.monotonic() + timeout
            while self.dockerd_pid:
                if time.monotonic() > deadline:
                    raise LabError(f"dockerd on {self.name} did not stop within {timeout:.0f} s")
                time.sleep(0.05)

    def _enter(self, argv: list[str], extra_env: list[str] = ()) -> _Entry:
        """nsenter into the node: its user and PID namespaces (the lab's), then its own mount,
        network and UTS namespaces, through fds opened here and checked first."""
        entry = super()._enter(argv, extra_env)
        pid = self.init_pid
        try:
            user = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
            pidns = os.open(f"/proc/{pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            entry.close()
            raise NodeDeadError(self.name, self.lab_name, f"the process that held its namespaces (pid {pid}) is gone")
        entry.fds += [user, pidns]
        entry.args = [entry.args[0], f"--user=/proc/self/fd/{user}", f"--pid=/proc/self/fd/{pidns}", *entry.args[1:]]
        return entry

    def _in_cgroup(self, args: list[str]) -> list[str]:
        return args

    def _join_cgroup(self, pid: int) -> None:
        pass

    def _lab(self) -> lab_holder.Holder:
        found = lab_holder.recorded(self.lab_dir)
        if found is None or not found.alive():
            raise NodeDeadError(self.name, self.lab_name, "the lab's user namespace holder is gone")
        return found


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
