"""A lab node: a shell's worth of namespaces that behaves like a small VM.

Each node has its own network namespace (cabled to the lab's switch), its own
mount and UTS namespaces (hostname, /sys, /run, /etc, /var/lib) and runs its own
dockerd, which starts its own containerd. A `sleep` process holds the namespaces
open, so dockerd can be stopped and started again like a service on a real host.
"""
from __future__ import annotations

import http.client
import os
import selectors
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..errors import LabError
from ..result import Result
from .network import node_netns
from .spec import NodeSpec

# The node's docker CLI is the one that matches its dockerd (/usr/bin), ahead of
# any newer client a host may keep in /usr/local/bin.
NODE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin"
# A lab runs many daemons side by side: Go's collector runs a little more often in
# dockerd and the containerd it starts (measured: about 3 MB less per node).
DAEMON_ENV = ("GOGC=50",)

# Runs inside the node's fresh mount + UTS namespaces, already in its netns.
# $1 is the node's folder on the host, $2 its hostname.
_BOOT_SCRIPT = r"""
set -eu
base=$1
hostname "$2"
# A sysfs of this netns, so brctl and ifconfig see the node's own interfaces;
# the host's cgroup mounts are set aside and put back, or dockerd cannot run.
mkdir -p "$base/cgroup-aside"
mount --rbind /sys/fs/cgroup "$base/cgroup-aside"
mount -t sysfs sysfs /sys
mount --rbind "$base/cgroup-aside" /sys/fs/cgroup
umount -l "$base/cgroup-aside"
# /etc, /var/lib and /var/log show the host's files; what the node writes stays
# in its folder (its dockerd logs to /var/log/dockerd.log, as on a plain host).
for d in etc var/lib var/log; do
  mkdir -p "$base/overlay/$d/upper" "$base/overlay/$d/work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$base/overlay/$d/upper,workdir=$base/overlay/$d/work" "/$d"
done
# Docker's own folders are the node's alone (not even the host's key.json shows
# through), and its storage driver cannot sit on an overlay: plain folders.
mkdir -p /var/lib/docker /etc/docker
mount --bind "$base/docker" /var/lib/docker
mount --bind "$base/etc-docker" /etc/docker
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount --bind "$base/run" /run
mkdir -p /run/docker /run/containerd /run/sshd
echo ready
exec sleep infinity
"""


class LabNode:
    """One node of a local lab. Commands reach it through nsenter."""

    def __init__(self, lab_name: str, spec: NodeSpec, base: Path, cgroup):
        self.lab_name = lab_name
        self.spec = spec
        self.name = spec.name
        self.address = spec.address
        self.base = base  # the node's folder on the host
        self._cgroup = cgroup

    def __repr__(self):
        return f"<LabNode {self.name} {self.address} lab={self.lab_name}>"

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
        return self.base / "overlay" / "var" / "log" / "upper" / "dockerd.log"

    @property
    def init_pid(self) -> int | None:
        return _read_pid(self.base / "init.pid")

    @property
    def dockerd_pid(self) -> int | None:
        pid = _read_pid(self.base / "run" / "docker.pid")
        return pid if pid and _alive(pid) else None

    # --- life cycle ------------------------------------------------------
    def boot(self) -> subprocess.Popen:
        """Start the process that holds the node's namespaces (returns at once)."""
        for sub in ("docker", "run", "etc-docker"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        if not self.daemon_json.exists():
            self.daemon_json.write_text("{}\n")
        self._cgroup.create(self.name)
        netns = f"/run/netns/{node_netns(self.lab_name, self.name)}"
        args = ["nsenter", f"--net={netns}", "unshare", "--mount", "--uts", "--propagation", "private",
                "sh", "-c", _BOOT_SCRIPT, "boot", str(self.base), self.name]
        return self._spawn(args, stdout=subprocess.PIPE, stderr=open(self.base / "boot.log", "wb"))

    def wait_booted(self, proc: subprocess.Popen, timeout: float = 10) -> None:
        line = _readline(proc, timeout)
        if line.strip() != b"ready":
            proc.kill()
            log = (self.base / "boot.log").read_text(errors="replace").strip()
            raise LabError(f"node {self.name} did not boot: {log or 'no output'}")
        proc.stdout.close()
        (self.base / "init.pid").write_text(f"{proc.pid}\n")

    def start_docker(self) -> None:
        """Start the node's dockerd (returns at once; see wait_docker)."""
        if self.dockerd_pid:
            return
        parent = self._cgroup.node_parent(self.name)
        # The log is written from inside the node, so `cat /var/log/dockerd.log` works there too.
        self._spawn(self._enter(["sh", "-c", 'exec dockerd "$@" >>/var/log/dockerd.log 2>&1',
                                 "dockerd", f"--cgroup-parent={parent}"], extra_env=DAEMON_ENV))

    def wait_docker(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not _docker_ping(self.docker_socket):
            if time.monotonic() > deadline:
                raise LabError(
                    f"dockerd on {self.name} did not answer within {timeout:.0f} s; "
                    f"last lines of {self.dockerd_log}:\n{_tail(self.dockerd_log)}")
            time.sleep(0.02)

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

    def restart_docker(self) -> None:
        self.stop_docker()
        self.start_docker()
        self.wait_docker()

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
                      proc.returncode, time.monotonic() - started)

    def shell_args(self) -> list[str]:
        """The command line of an interactive shell in the node."""
        return self._in_cgroup(self._enter(
            ["bash", "--norc", "-i"], extra_env=[r"PS1=[\u@\h \W]\$ ", f"TERM={os.environ.get('TERM', 'xterm')}"]))

    # --- internals -------------------------------------------------------
    def _enter(self, argv: list[str], extra_env: list[str] = ()) -> list[str]:
        pid = self.init_pid
        if not pid or not _alive(pid):
            raise LabError(f"node {self.name} of lab {self.lab_name} is not running; "
                           f"bring the lab up with `swarmlab lab up --name {self.lab_name}`")
        env = ["env", "-i", f"PATH={NODE_PATH}", "HOME=/root", "LANG=C.UTF-8", f"HOSTNAME={self.name}", *extra_env]
        return ["nsenter", "-t", str(pid), "-m", "-n", "-u", "-r", "-w", "--", *env, *argv]

    def _in_cgroup(self, args: list[str]) -> list[str]:
        # Every process of the node starts inside the node's cgroup, so teardown finds it.
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self._cgroup.procs_file(self.name)), *args]

    def _spawn(self, args: list[str], **kw) -> subprocess.Popen:
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(self._in_cgroup(args), cwd="/", start_new_session=True, **kw)


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


def _readline(proc: subprocess.Popen, timeout: float) -> bytes:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        return b""
    return proc.stdout.readline()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path):
        super().__init__("localhost", timeout=1)
        self._path = str(path)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(1)
        self.sock.connect(self._path)


def _docker_ping(sock: Path) -> bool:
    """True when the daemon behind `sock` answers its API (cheaper than the CLI)."""
    if not sock.exists():
        return False
    conn = _UnixHTTPConnection(sock)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
