"""A node root file system with a chosen Docker, from Debian's package registry.

Debian ships one Docker per release: bookworm 20.10, trixie 26.1, sid 28.5 (seen on 2026-12-07).
`mmdebstrap` builds a release's root file system from its packages alone, with no container
registry (here: sid in about 30 s, a 430 MB tar), kept in a cache folder (`rootfs_cache`) so
it is downloaded once; `swarmlab lab rootfs --docker 28` fills it ahead of a class.
`node_tar` adds swarmlab's node scripts to it, so the node looks the same whichever Docker it
runs; nodeimage.py imports that as the node image.

    >>> base = rootfs(release("28"))            # built once, then read from the cache
    >>> with open("/tmp/node28.tar", "wb") as out:
    ...     node_tar(base, out, [Path("swarmlab-node-init"), ...])
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from ...errors import LabError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Release:
    docker: str  # the Docker major version a student names: "28"
    suite: str  # the Debian release that ships it
    seen: str  # the docker.io version that release had when swarmlab was checked against it
    split_cli: bool  # the docker CLI is its own package (docker-cli) from 26 on

    def describe(self) -> str:
        return f"Docker {self.seen} (Debian {self.suite}'s docker.io)"


RELEASES = {r.docker: r for r in (Release("20", "bookworm", "20.10", False),
                                  Release("26", "trixie", "26.1", True),
                                  Release("28", "sid", "28.5", True))}

# What a node runs: dockerd and its parts, the article's tools (ifconfig, brctl, ip), the
# doctor's (bash, ping -M do, ps), nsenter, sshd (lesson 7), busybox (the task image).
PACKAGES = ("docker.io", "containerd", "runc", "tini", "iptables", "iproute2", "bridge-utils", "net-tools",
            "busybox-static", "procps", "bash", "iputils-ping", "util-linux", "openssh-server")
BUSYBOX = "/usr/share/swarmlab/busybox"  # swarmlab-seed-busybox makes the task image from it


def release(docker: str | int) -> Release:
    """The Debian release whose Docker is `docker` (20, 26 or 28)."""
    key = str(docker).split(".")[0]
    if key not in RELEASES:
        choices = ", ".join(f"{r.docker} ({r.describe()})" for r in RELEASES.values())
        raise LabError(f"no node image for Docker {docker}: choose {choices}")
    return RELEASES[key]


def mmdebstrap_missing() -> str | None:
    """Why the root file system cannot be built here, or None."""
    if shutil.which("mmdebstrap") is None:
        return "mmdebstrap is not installed (Debian/Ubuntu: apt-get install mmdebstrap)"
    return None


def node_rootfs(docker: str, *, rebuild: bool = False, progress: Progress | None = print) -> str:
    """`swarmlab lab rootfs`: Docker `docker`'s root file system in the cache, built first when
    missing; one line saying where, and which docker.io."""
    path = rootfs(release(docker), progress, rebuild=rebuild)
    return f"{path}  {path.stat().st_size / 1e6:.0f} MB  docker.io {docker_version_in(path)}"


def packages(rel: Release) -> list[str]:
    """What `rel`'s node installs (the mmdebstrap build and the Dockerfile alike)."""
    return [*PACKAGES, *(["docker-cli"] if rel.split_cli else [])]


def rootfs_cache() -> Path:
    """Where built root file systems are kept: SWARMLAB_ROOTFS, else the user's cache."""
    if os.environ.get("SWARMLAB_ROOTFS"):
        return Path(os.environ["SWARMLAB_ROOTFS"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "swarmlab" / "rootfs"


def rootfs_path(rel: Release) -> Path:
    return rootfs_cache() / f"debian-{rel.suite}-docker{rel.docker}.tar"


def mmdebstrap_command(rel: Release) -> list[str]:
    """The mmdebstrap command line that writes `rel`'s root file system, as a tar, to stdout."""
    return ["mmdebstrap", "--variant=minbase", "--mode=auto",
            # sid's Release file, as the registry serves it, is past its Valid-Until date.
            "--aptopt=Acquire::Check-Valid-Until \"false\"",
            f"--include={','.join(packages(rel))}",
            # No SSH host keys baked in: each lab makes its own (lab/sshd.py).
            '--customize-hook=rm -f "$1"/etc/ssh/ssh_host_*',
            rel.suite, "-"]


def rootfs(rel: Release, progress: Progress | None = print, *, rebuild: bool = False) -> Path:
    """`rel`'s root file system tar in the cache, built by mmdebstrap first when missing (or asked)."""
    path = rootfs_path(rel)
    if path.exists() and not rebuild:
        return path
    missing = mmdebstrap_missing()
    if missing:
        raise LabError(f"cannot build a node image with {rel.describe()}: {missing}")
    say = progress or (lambda line: None)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(path)
    # Written under a name of its own, renamed when whole: a build stopped halfway is never taken
    # for a root file system (and the next build removes what a kill -9 left).
    part = path.with_name(f"{path.name}.part-{os.getpid()}")
    try:
        with open(part, "wb") as out:
            _mmdebstrap(rel, out, say)
        found = docker_version_in(part)
        if not found.startswith(f"{rel.docker}."):
            raise LabError(f"Debian {rel.suite} now ships docker.io {found or 'none'}, not Docker {rel.docker}: "
                           f"this swarmlab knows {rel.describe()}; update swarmlab")
        part.rename(path)
    finally:
        part.unlink(missing_ok=True)
    say(f"  kept {path} ({path.stat().st_size / 1e6:.0f} MB, docker.io {found})")
    return path


def _remove_stale_parts(path: Path) -> None:
    """Remove the halves of builds whose process is gone (killed before its rename)."""
    for part in path.parent.glob(f"{path.name}.part-*"):
        pid = part.name.rsplit("-", 1)[1]
        if not (pid.isdigit() and Path(f"/proc/{pid}").exists()):
            part.unlink(missing_ok=True)


def _mmdebstrap(rel: Release, out, say: Progress) -> None:
    proc = subprocess.Popen(mmdebstrap_command(rel), stdout=out, stderr=subprocess.PIPE, text=True, errors="replace")
    last: list[str] = []
    for line in proc.stderr:
        last = (last + [line.rstrip()])[-5:]
        if line.startswith("I: ") and any(w in line for w in ("downloading", "installing", "success")):
            say(f"  mmdebstrap {rel.suite}: {line[3:].strip()}")
    if proc.wait() != 0:
        raise LabError(f"mmdebstrap could not build Debian {rel.suite}'s root file system (exit {proc.returncode}): "
                       f"{' | '.join(last)}; is Debian's package registry reachable (apt-get update)?")


def docker_version_in(rootfs_tar: str | Path) -> str:
    """The docker.io package version inside a root file system tar ('' if none)."""
    with tarfile.open(rootfs_tar) as tar:
        member = next((m for m in tar if m.name.lstrip("./") == "var/lib/dpkg/status"), None)
        status = tar.extractfile(member).read().decode() if member else ""
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[0].isspace())
        if fields.get("Package") == "docker.io":
            return fields.get("Version", "")
    return ""


def node_tar(base: Path, out, sbin: list[Path]) -> None:
    """The node's root file system into the open file `out`: `base` (a cached root file system)
    plus `sbin` (swarmlab's node scripts) in /usr/local/sbin, busybox where the task image is made
    from, and busybox's applets the packages lack as links (xargs, awk, ... stay the real ones)."""
    with tarfile.open(base) as src, tarfile.open(fileobj=out, mode="w") as tar:
        commands = set()
        for member in src:
            tar.addfile(member, src.extractfile(member) if member.isfile() else None)
            folder, _, name = member.name.lstrip("./").rpartition("/")
            if folder in ("bin", "sbin", "usr/bin", "usr/sbin"):
                commands.add(name)
        for path in sbin:
            info = tar.gettarinfo(str(path), f"usr/local/sbin/{path.name}")
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o755, 0, 0, "root", "root"
            with open(path, "rb") as f:
                tar.addfile(info, f)
        _link(tar, "usr/local/sbin/service", "systemctl")
        _link(tar, BUSYBOX.lstrip("/"), "/usr/bin/busybox")
        for applet in _applets(src):
            if applet not in commands:
                _link(tar, f"usr/local/bin/{applet}", BUSYBOX)


def _applets(src: tarfile.TarFile) -> list[str]:
    """The applets of the busybox in the root file system (it is static: it runs here)."""
    member = src.getmember(next(n for n in src.getnames() if n.lstrip("./") == "usr/bin/busybox"))
    with tempfile.TemporaryDirectory(prefix="swarmlab-busybox-") as folder:
        exe = Path(folder) / "busybox"
        with open(exe, "wb") as f:  # closed before it runs (a file open for writing cannot be run)
            shutil.copyfileobj(src.extractfile(member), f)
        exe.chmod(0o700)
        out = subprocess.run([str(exe), "--list"], capture_output=True, text=True).stdout
    return [a for a in out.split() if a != "busybox"]


def _link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)
