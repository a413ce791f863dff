"""A lab node: a shell's worth of namespaces that behaves like a small VM.

Each node has its own network namespace (cabled to the lab's switch), its own
mount and UTS namespaces (hostname, /sys, /run, /etc, /var/lib) and runs its own
dockerd, which starts its own containerd. A `sleep` process holds the namespaces
open, so dockerd can be stopped and started again like a service on a real host.
"""
from __future__ import annotations

import json
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from ...errors import LabError, NodeAccessError, NodeDeadError
from ...result import Result
from .. import dockerapi
from ..driver import SHIMS, LabNode
from ..spec import NodeSpec
from .network import NETNS_DIR, node_netns

# The node's docker CLI is the one that matches its dockerd (/usr/bin), ahead of
# any newer client a host may keep in /usr/local/bin. First come the node's own
# `systemctl` and `service` (SHIMS). They are copied into the node's own /run at boot:
# the package's folder may not be visible in a node (a checkout under /tmp is hidden
# by the node's private /tmp).
NODE_SHIMS = "/run/swarmlab-bin"
NODE_PATH = f"{NODE_SHIMS}:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin"
# A lab runs many daemons side by side: Go's collector runs a little more often in
# dockerd and the containerd it starts (measured: about 3 MB less per node).
DAEMON_ENV = ("GOGC=50",)

# Runs inside the node's fresh mount + UTS namespaces, already in its netns.
# $1 is the node's folder on the host, $2 its hostname.
_BOOT_SCRIPT = r"""
set -eu
umask 022
base=$1
hostname "$2"
# This copy of the host's mounts would keep other labs' network namespaces alive.
umount -l /run/netns 2>/dev/null || true
# A sysfs of this netns, so brctl and ifconfig see the node's own interfaces;
# the host's cgroup mounts are set aside and put back, or dockerd cannot run.
mkdir -p "$base/cgroup-aside"
mount --rbind /sys/fs/cgroup "$base/cgroup-aside"
mount -t sysfs sysfs /sys
mount --rbind "$base/cgroup-aside" /sys/fs/cgroup
umount -l "$base/cgroup-aside"
# Every folder at the top of the host's tree (/etc, /usr, /root, /home, /var, /opt...)
# is copy-on-write for the node: it shows the host's files, and what the node writes
# or deletes stays in the node's folder. A folder that cannot be an overlay is shown
# read-only instead.
for d in /*; do
  name=${d#/}
  case $name in proc|sys|dev|run|tmp) continue ;; esac
  if [ -L "$d" ] || [ ! -d "$d" ]; then continue; fi
  mkdir -p "$base/overlay/$name/upper" "$base/overlay/$name/work"
  mount -t overlay overlay -o "lowerdir=$d,upperdir=$base/overlay/$name/upper,workdir=$base/overlay/$name/work" "$d" 2>/dev/null \
    || { mount --rbind "$d" "$d" && mount -o remount,bind,ro "$d"; }
done
# Docker's own folders are the node's alone (not even the host's key.json shows
# through), and its storage driver cannot sit on an overlay: plain folders.
mkdir -p /var/lib/docker /etc/docker
mount --bind "$base/docker" /var/lib/docker
mount --bind "$base/etc-docker" /etc/docker
# root's home is the node's own and starts empty, as on a fresh machine: the host's
# dotfiles would run in every SSH login (a .bashrc that runs `pyenv init` costs each
# command 0.1 s) and its keys would show through.
mount --bind "$base/root-home" /root
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount --bind "$base/run" /run
mkdir -p /run/docker /run/containerd /run/sshd
# The host's device nodes, but none created or removed; shared memory of its own.
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -o remount,bind,ro /dev
# What is left of the host's tree (the top folder itself) is read-only for the node.
mount -o remount,bind,ro /
echo ready
exec sleep infinity
"""


@dataclass(frozen=True)
class Holder:
    """The process that holds a node's namespaces, as recorded when the node booted.

    A PID alone is not an identity: once the holder dies, the kernel may give its PID
    to any process of the host. The start time and namespace inodes are checked
    before every entry, so a command can never run in a process that is not the node.
    """

    pid: int
    start_time: int  # clock ticks after boot (/proc/PID/stat field 22)
    mnt_ns: int
    net_ns: int

    @classmethod
    def of(cls, pid: int) -> "Holder":
        return cls(pid, _start_time(pid), _ns_inode(pid, "mnt"), _ns_inode(pid, "net"))


@dataclass
class _Entry:
    """A command line that enters a node, and the namespace fds it needs (see NamespaceNode._enter)."""

    args: list[str]
    fds: list[int]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


class NamespaceNode(LabNode):
    """One node of a namespaces lab, on this machine. Commands reach it through nsenter."""

    def __init__(self, lab_name: str, spec: NodeSpec, base: Path, cgroup, owner=None):
        super().__init__(lab_name, spec)
        self.base = base  # the node's folder on the host
        self._cgroup = cgroup
        self._owner = owner  # the lab's Ownership: nothing is created for a lab that is not ours
        self._holder: Holder | None = None

    # --- paths the host sees ----------------------------------------------
    @property
    def docker_socket(self) -> Path:
        return self.base / "run" / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.docker_socket}"

    @property
    def daemon_json(self) -> Path:
        return self.base / "etc-docker" / "daemon.json"

    @property
    def dockerd_log(self) -> Path:
        """The node's /var/log/dockerd.log, seen from the host."""
        return self.base / "overlay" / "var" / "upper" / "log" / "dockerd.log"

    @property
    def init_pid(self) -> int | None:
        return _read_pid(self.base / "init.pid")

    @property
    def dockerd_pid(self) -> int | None:
        """The node's dockerd, if it runs (a process of the node's network, not a reused PID)."""
        pid = _read_pid(self.base / "run" / "docker.pid")
        if not pid or not _alive(pid):
            return None
        holder = self.holder()
        return pid if holder and _ns_inode(pid, "net") == holder.net_ns else None

    def holder(self) -> Holder | None:
        """The namespace holder recorded at boot (None when the node never booted)."""
        if self._holder is None:
            try:
                self._holder = Holder(**json.loads((self.base / "holder.json").read_text()))
            except (OSError, ValueError, TypeError):
                return None
        return self._holder

    def is_running(self) -> bool:
        """True when the node's namespace holder is alive and is the process recorded at boot."""
        try:
            self._enter([]).close()
            return True
        except LabError:
            return False

    # --- life cycle ------------------------------------------------------
    def boot(self) -> subprocess.Popen:
        """Start the process that holds the node's namespaces (returns at once)."""
        for sub in ("docker", "run", "etc-docker", "root-home"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "root-home").chmod(0o700)
        if not self.daemon_json.exists():
            self.daemon_json.write_text("{}\n")
        # symlinks=True keeps `service` a link to `systemctl`, which reads its own name.
        shutil.copytree(SHIMS, self.base / "run" / NODE_SHIMS.removeprefix("/run/"), symlinks=True, dirs_exist_ok=True)
        self._cgroup.create(self.name)
        args = ["nsenter", f"--net={self._netns_path}", "unshare", "--mount", "--uts", "--propagation", "private",
                "sh", "-c", _BOOT_SCRIPT, "boot", str(self.base), self.name]
        return self._spawn(args, stdout=subprocess.PIPE, stderr=open(self.base / "boot.log", "wb"))

    def wait_booted(self, proc: subprocess.Popen, timeout: float = 10) -> None:
        self._await_ready(proc, timeout)
        holder = Holder.of(proc.pid)
        if holder.net_ns != os.stat(self._netns_path).st_ino:
            proc.kill()
            raise LabError(f"node {self.name} booted outside its network namespace {self._netns_path}")
        with self._owned():
            _write_json(self.base / "holder.json", vars(holder))
            (self.base / "init.pid").write_text(f"{proc.pid}\n")
        self._holder = holder

    def _await_ready(self, proc: subprocess.Popen, timeout: float) -> None:
        """Wait for the boot script's "ready" line; a LabError with its log when it does not come."""
        line = _readline(proc, timeout)
        if line.strip() != b"ready":
            proc.kill()
            log = (self.base / "boot.log").read_text(errors="replace").strip()
            raise LabError(f"node {self.name} did not boot: {log or 'no output'}")
        proc.stdout.close()

    def start_docker(self) -> None:
        """Start the node's dockerd (returns at once; see wait_docker)."""
        if self.dockerd_pid:
            return
        parent = self._cgroup.node_parent(self.name)
        # The log is written from inside the node, so `cat /var/log/dockerd.log` works there too.
        with self._owned():
            self._spawn(self._enter(["sh", "-c", 'exec dockerd "$@" >>/var/log/dockerd.log 2>&1',
                                     "dockerd", f"--cgroup-parent={parent}"], extra_env=DAEMON_ENV))

    def wait_docker(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not dockerapi.ping(dockerapi.unix_connector(self.docker_socket)):
            self._check_owned()  # the socket's path may belong to a newer lab of this name
            if time.monotonic() > deadline:
                raise LabError(
                    f"dockerd on {self.name} did not answer within {timeout:.0f} s; "
                    f"last lines of {self.dockerd_log}:\n{_tail(self.dockerd_log)}")
            time.sleep(0.02)
        self._check_owned()

    def docker_api(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        """Call the node's Docker Engine API over its socket; the decoded JSON answer."""
        return dockerapi.call(dockerapi.unix_connector(self.docker_socket), self.name, method, path, body, timeout)

    def stop_docker(self, timeout: float = 20) -> None:
        """Stop dockerd gracefully, as `systemctl stop docker` would."""
        pid = self.dockerd_pid
        if not pid:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                raise LabError(f"dockerd on {self.name} (pid {pid}) did not stop within {timeout:.0f} s")
            time.sleep(0.05)

    # --- commands --------------------------------------------------------
    def run(self, command: str | list[str], *, input: bytes | str | None = None,
            timeout: float | None = 120) -> Result:
        """Run a shell command in the node, as root, and return what it printed."""
        text = command if isinstance(command, str) else shlex.join(command)
        data = input.encode() if isinstance(input, str) else input
        started = time.monotonic()
        proc = self._spawn(self._enter(["sh", "-c", text]), stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return Result(self.name, text, out.decode(errors="replace"),
                          err.decode(errors="replace") + f"swarmlab: timed out after {timeout} s\n",
                          124, time.monotonic() - started)
        return Result(self.name, text, out.decode(errors="replace"), err.decode(errors="replace"),
                      shell_exit_code(proc.returncode), time.monotonic() - started)

    def stream(self, command: str | list[str], sink, *, timeout: float | None = 120) -> Result:
        """Run a shell command in the node, handing its output to sink(1 or 2, bytes) as it
        arrives (so none of it is held here); the Result has the exit code, no output."""
        text = command if isinstance(command, str) else shlex.join(command)
        started = time.monotonic()
        proc = self._spawn(self._enter(["sh", "-c", text]), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with proc:
            if _pump(proc, sink, None if timeout is None else started + timeout):
                return Result(self.name, text, "", "", shell_exit_code(proc.wait()), time.monotonic() - started)
            os.killpg(proc.pid, signal.SIGKILL)
            _pump(proc, sink, None)  # what it printed before it died
            proc.wait()
        sink(2, f"swarmlab: timed out after {timeout} s\n".encode())
        return Result(self.name, text, "", "", 124, time.monotonic() - started)

    def shell_args(self) -> list[str]:
        """The command line of an interactive shell in the node (for os.execvp: the
        namespace fds it names stay open and are inherited)."""
        return self.exec_args(["bash", "--norc", "-i"], terminal=True, extra_env=[r"PS1=[\u@\h \W]\$ "])

    def exec_args(self, argv: list[str], terminal: bool = False, extra_env: list[str] = ()) -> list[str]:
        """The command line that runs `argv` in the node with the caller's stdin, stdout and
        stderr (for os.execvp or a pty; the namespace fds it names are left open)."""
        if terminal:
            extra_env = [*extra_env, f"TERM={os.environ.get('TERM', 'xterm')}"]
        entry = self._enter(argv, extra_env)
        for fd in entry.fds:
            os.set_inheritable(fd, True)
        return self._in_cgroup(entry.args)

    # --- internals -------------------------------------------------------
    @property
    def _netns_path(self) -> Path:
        return NETNS_DIR / node_netns(self.lab_name, self.name)

    def _enter(self, argv: list[str], extra_env: list[str] = ()) -> _Entry:
        """nsenter into the node's namespaces, through fds opened here and checked first.

        The fds are opened, then the process is checked to be the holder recorded at
        boot (same start time, same namespaces): once they match, the fds are the
        node's, whatever happens to that PID afterwards.
        """
        holder, pid = self.holder(), self.init_pid
        if not holder or not pid:
            raise NodeDeadError(self.name, self.lab_name, "it never finished booting")
        fds = []
        try:
            for ns in ("mnt", "net", "uts"):
                fds.append(os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC))
            same = (_start_time(pid) == holder.start_time and pid == holder.pid
                    and os.fstat(fds[0]).st_ino == holder.mnt_ns and os.fstat(fds[1]).st_ino == holder.net_ns)
        except PermissionError:
            if _alive(pid):  # the holder lives, and is not this user's: not a dead node
                for fd in fds:
                    os.close(fd)
                raise NodeAccessError(self.lab_name, f"node {self.name}'s namespaces (pid {pid}) are not this "
                                                     f"user's to enter") from None
            same = None
        except OSError:
            same = None
        if not same:
            for fd in fds:
                os.close(fd)
            if same is None or not _alive(pid):
                raise NodeDeadError(self.name, self.lab_name,
                                    f"the process that held its namespaces (pid {pid}) is gone")
            raise NodeDeadError(self.name, self.lab_name,
                                f"process {pid} (from {self.base / 'init.pid'}) is not the node's namespace "
                                f"holder recorded at boot (pid {holder.pid}); nothing is run in it")
        env = ["env", "-i", f"PATH={NODE_PATH}", "HOME=/root", "LANG=C.UTF-8", f"HOSTNAME={self.name}", *extra_env]
        mnt, net, uts = (f"/proc/self/fd/{fd}" for fd in fds)
        return _Entry(["nsenter", f"--mount={mnt}", f"--net={net}", f"--uts={uts}", "--", *env, *argv], fds)

    def _in_cgroup(self, args: list[str]) -> list[str]:
        # Every process of the node starts inside the node's cgroup, so teardown finds it; in a
        # frozen one it would stop at once, and wait for ever, deaf to Ctrl-C.
        if self._cgroup.frozen():
            raise LabError(f"lab {self.lab_name} is frozen: a `lab down` was stopped half-way; "
                           f"finish it with `swarmlab lab down --name {self.lab_name}`")
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self._cgroup.procs_file(self.name)), *args]

    def _spawn(self, command: list[str] | _Entry, **kw) -> subprocess.Popen:
        kw.setdefault("stdin", subprocess.DEVNULL)
        entry = command if isinstance(command, _Entry) else _Entry(command, [])
        try:
            proc = subprocess.Popen(self._in_cgroup(entry.args), cwd="/", start_new_session=True,
                                    pass_fds=entry.fds, **kw)
        finally:
            entry.close()
        self._join_cgroup(proc.pid)
        return proc

    def _join_cgroup(self, pid: int) -> None:
        """Move a process just started into the node's cgroup before returning.

        The child moves itself too (_in_cgroup), but only once its shell runs: a teardown
        in between (another shell's `lab down`) would miss it, and it would then enter
        namespaces that its inherited descriptors keep alive. Done here, under the
        lab's lock the caller holds, no teardown can come first."""
        try:
            self._cgroup.procs_file(self.name).write_text(f"{pid}\n")
        except ProcessLookupError:
            pass  # it has already ended: nothing to move

    def _owned(self):
        return self._owner.owned() if self._owner else nullcontext()

    def _check_owned(self) -> None:
        if self._owner:
            self._owner.check()


def shell_exit_code(returncode: int) -> int:
    """A process killed by signal N exits 128+N for a shell; Popen says -N."""
    return 128 - returncode if returncode < 0 else returncode


def _start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def _ns_inode(pid: int, ns: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino
    except OSError:
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, path)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pump(proc: subprocess.Popen, sink, deadline: float | None) -> bool:
    """Hand `proc`'s stdout (1) and stderr (2) to sink as they come, until both end (True)
    or the deadline passes (False). Both are read at once, so neither pipe fills and stalls it."""
    with selectors.DefaultSelector() as sel:
        for kind, pipe in ((1, proc.stdout), (2, proc.stderr)):
            sel.register(pipe, selectors.EVENT_READ, kind)
        while sel.get_map():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            for key, _ in sel.select(left):
                data = os.read(key.fd, 1 << 16)
                if data:
                    sink(key.data, data)
                else:
                    sel.unregister(key.fileobj)
    return True


def _readline(proc: subprocess.Popen, timeout: float) -> bytes:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        return b""
    return proc.stdout.readline()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
