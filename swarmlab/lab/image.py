"""Images without a registry: a busybox image made on the spot, or copies from the host."""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from functools import lru_cache
from pathlib import Path

from ..errors import LabError

IMAGE = "busybox:latest"  # made from the host's busybox-static; runs `sleep infinity`
HOST_DOCKER = "unix:///var/run/docker.sock"


# What a student reaches for inside a task container. Fewer links keep
# `docker import` quick (every link is a file in the layer).
APPLETS = ("sh", "ash", "sleep", "ping", "ping6", "ip", "ifconfig", "route", "nc", "wget", "nslookup",
           "traceroute", "hostname", "cat", "ls", "echo", "ps", "top", "env", "grep", "sed", "awk",
           "head", "tail", "wc", "sort", "uname", "id", "date", "mkdir", "rm", "cp", "mv", "ln", "touch",
           "kill", "vi", "less", "netstat", "arp", "true", "false", "test", "[", "printf", "tee", "watch")


@lru_cache(maxsize=1)
def busybox_rootfs_tar() -> bytes:
    """A root filesystem with /bin/busybox and a link per applet, as a tar."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).exists():
        raise LabError("busybox is not installed; run: apt-get install busybox-static")
    available = set(subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split())
    applets = [a for a in APPLETS if a in available]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "etc", "tmp", "root", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        _add_file(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        _add_file(tar, "etc/group", "root:x:0:\n")
    return buf.getvalue()


def _add_file(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def seed_busybox(node) -> None:
    node.run(f"docker import --change 'CMD [\"sh\"]' - {IMAGE}", input=busybox_rootfs_tar()).check(
        hint="the node's dockerd could not import the busybox image; see its dockerd.log")


def save_from_host(image: str, source: str = HOST_DOCKER) -> bytes:
    """`docker save` of an image the host's own Docker (or the daemon at `source`) has,
    for copying into nodes. Only reads from that daemon."""
    proc = subprocess.run(["docker", "-H", source, "save", image], capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise LabError(
            f"cannot copy image {image!r} from the host's Docker ({source}): {err}; "
            f"start the host's Docker and `docker pull {image}` there, or leave the image out")
    return proc.stdout


def load_into(node, image: str, archive: bytes) -> None:
    node.run("docker load -q", input=archive).check(hint=f"loading {image} into {node.name}")
