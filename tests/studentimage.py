"""The student image of docs/classroom.md's '## Past one server', built offline from this machine.

What a student's pod runs: JupyterLab's Python with swarmlab, and what the userns lab needs
(dockerd, containerd, runc, tini, iptables, iproute2, newuidmap/newgidmap from uidmap,
rootlesskit's docker proxy, unshare/nsenter), for a plain user `student` with a subordinate id
range. The doc's image is built from a Dockerfile where a registry is reachable; here none is,
so the same contents come, as the docker driver's node image does (swarmlab.lab.docker.nodeimage),
from this machine's installed Debian packages and their libraries, plus this interpreter's
site-packages and this swarmlab, `docker import`ed.
"""
from __future__ import annotations

import io
import os
import struct
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

from swarmlab.lab.docker import nodeimage

ROOT = Path(__file__).resolve().parents[1]
TAG = "swarmlab/student:test"
USER, UID = "student", 1000
SUBIDS = "100000:65536"
# Beyond the node image's packages: the userns lab's id mappers, rootlesskit's proxy, util-linux's
# unshare, Debian's Python 3.11 (the interpreter; the packages come from this interpreter's site-packages),
# and coreutils: a node's commands start through `env`, and busybox's env runs its own applets (its `ip`,
# which has no -j) ahead of the real tools on PATH.
PACKAGES = ("uidmap", "rootlesskit", "util-linux", "mount", "coreutils", "python3.11-minimal",
            "libpython3.11-minimal", "libpython3.11-stdlib", "python3.11", "libexpat1")
SITE = "opt/swarmlab/site-packages"
PATH = f"{nodeimage.NODE_PATH}:/opt/swarmlab/bin"
CAP_SETGID, CAP_SETUID = 6, 7
ID_MAPPERS = {"/usr/bin/newuidmap": CAP_SETUID, "/usr/bin/newgidmap": CAP_SETGID}


def missing_packages() -> list[str]:
    return [p for p in (*nodeimage.NODE_PACKAGES, *PACKAGES) if not nodeimage._installed(p)]


def files() -> set[str]:
    missing = missing_packages()
    if missing:  # the image would lack them, and fail later with a stranger error
        raise RuntimeError(f"the student image is built from this machine's packages; missing: {' '.join(missing)} "
                           f"(apt-get install them, or `make test-install`)")
    found = set(nodeimage.node_files())
    for package in PACKAGES:
        for path in nodeimage._package_files(package):
            if nodeimage._wanted(path):
                nodeimage._add_with_links(found, path)
    wheels = [str(p) for p in site_packages().rglob("*.so*") if not skip_site(str(p.relative_to(site_packages())))]
    for lib in nodeimage._libraries([p for p in [*found, *wheels] if nodeimage._is_elf(p)]):
        nodeimage._add_with_links(found, lib)
    found = {p for p in found if not p.startswith(str(Path(sys.prefix)))}  # the wheels' own libraries go with them
    return found | {str(parent) for p in found for parent in Path(p).parents if str(parent) != "/"}


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def skip_site(name: str) -> bool:
    """This checkout's swarmlab goes in instead of the installed one; the browser driver is not needed."""
    top = name.split("/", 1)[0]
    return top.startswith(("__editable__", "swarmlab", "playwright")) or "__pycache__" in name


def write(archive) -> None:
    wanted = files()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in nodeimage.MERGED_USR:
            if os.path.islink(f"/{name}"):
                nodeimage._add_link(tar, name, os.readlink(f"/{name}").lstrip("/"))
        for d, mode in (("tmp", 0o1777), ("run", 0o755), ("proc", 0o555), ("sys", 0o555), ("dev", 0o755),
                        ("root", 0o700), ("var/log", 0o755), ("var/lib", 0o755), ("etc/docker", 0o755), ("etc/ssh", 0o755),
                        ("usr/local/bin", 0o755), ("opt/swarmlab/bin", 0o755)):
            if f"/{d}" not in wanted:
                nodeimage._add_dir(tar, d, mode)
        for path in sorted(wanted):
            info = tar.gettarinfo(path, arcname=path.lstrip("/"))
            if path in ID_MAPPERS:
                _with_file_capability(info, ID_MAPPERS[path])
            tar.addfile(info, open(path, "rb") if info.isreg() else None)
        nodeimage._add_link(tar, "var/run", "/run")
        nodeimage._add_link(tar, "usr/bin/python3", "python3.11")
        nodeimage._add_link(tar, "opt/swarmlab/bin/python", "/usr/bin/python3.11")
        site = site_packages()
        for path in sorted(site.rglob("*")):
            name = str(path.relative_to(site))
            if not skip_site(name):
                tar.add(path, arcname=f"{SITE}/{name}", recursive=False)
        lessons_link = f"{SITE}/swarmlab/data/notebooks"  # a link to the checkout's notebooks/: the files go in
        tar.add(ROOT / "swarmlab", arcname=f"{SITE}/swarmlab",
                filter=lambda info: None if "__pycache__" in info.name or info.name == lessons_link else info)
        tar.add(ROOT / "notebooks", arcname=lessons_link)
        # nbconvert's templates and the kernel's spec, where Debian's Python looks for them
        tar.add(Path(sys.prefix) / "share" / "jupyter", arcname="usr/local/share/jupyter")
        tar.add(ROOT / "notebooks", arcname=f"home/{USER}/notebooks")
        _add_file(tar, "opt/swarmlab/bin/swarmlab", "#!/bin/sh\nexec python3.11 -m swarmlab.cli \"$@\"\n", 0o755)
        nodeimage._add_text(tar, "etc/passwd", f"root:x:0:0:root:/root:/bin/sh\n{USER}:x:{UID}:{UID}::/home/{USER}:"
                                               "/bin/bash\nnobody:x:65534:65534:nobody:/:/bin/false\nsshd:x:100:65534::/run/sshd:/bin/false\n")
        nodeimage._add_text(tar, "etc/group", f"root:x:0:\n{USER}:x:{UID}:\nnogroup:x:65534:\n")
        _add_file(tar, "etc/shadow", f"root:*:19000:0:99999:7:::\n{USER}:*:19000:0:99999:7:::\n", 0o640)
        nodeimage._add_text(tar, "etc/subuid", f"{USER}:{SUBIDS}\n")
        nodeimage._add_text(tar, "etc/subgid", f"{USER}:{SUBIDS}\n")
        busybox = nodeimage._canonical("/bin/busybox")
        have = {Path(p).name for p in wanted}
        for applet in nodeimage._busybox_applets(busybox):
            if applet not in have:
                nodeimage._add_link(tar, f"usr/local/bin/{applet}", busybox)
        home = tarfile.TarInfo(f"home/{USER}")
        home.type, home.mode, home.uid, home.gid = tarfile.DIRTYPE, 0o755, UID, UID
        tar.addfile(home)


def _with_file_capability(info: tarfile.TarInfo, capability: int) -> None:
    """newuidmap/newgidmap with a file capability, not setuid root: setuid, they open the child's
    uid_map as root, and root in a container lacks CAP_SYS_ADMIN, so the kernel refuses the write
    ("newuidmap: write to uid_map failed: Operation not permitted"); with only CAP_SETUID (SETGID)
    they stay the student, who owns the child namespace. (Podman's images do the same.)"""
    info.mode = 0o755
    # struct vfs_cap_data, revision 2, effective: magic, permitted, inheritable (low 32 bits, then high).
    raw = struct.pack("<5I", 0x02000001, 1 << capability, 0, 0, 0)
    info.pax_headers = {"SCHILY.xattr.security.capability": raw.decode("utf-8", "surrogateescape")}


def _add_file(tar: tarfile.TarFile, name: str, text: str, mode: int) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def build(client) -> str:
    """Import the image into the engine `client` talks to; its id."""
    with tempfile.TemporaryFile(prefix="swarmlab-student-image-") as archive:
        write(archive)
        archive.flush()
        changes = [f"ENV PATH={PATH}", f"ENV PYTHONPATH=/{SITE}", f"USER {USER}", f"WORKDIR /home/{USER}",
                   f"ENV HOME=/home/{USER}"]
        client.api.import_image_from_file(f"/proc/self/fd/{archive.fileno()}", repository=TAG.split(":")[0],
                                          tag=TAG.split(":")[1], changes=changes)
    return client.images.get(TAG).id
