"""The image a docker-driver node runs: dockerd, the article's tools, swarmlab's node scripts.

Three ways to make it, same layout inside:
- from this machine's installed Debian packages (docker.io, containerd, runc, ...),
  with the shared libraries they link, `docker import`ed: works with no registry;
- for a chosen Docker (20, 26, 28): from the Debian release that ships it, built from
  Debian's package registry by mmdebstrap (debian.py), `docker import`ed;
- from `swarmlab/data/node/Dockerfile`, where a registry is reachable (Docker Desktop, most
  engines): the same Debian release and packages on Docker Hub's debian image.
The image is tagged with swarmlab's version (and the chosen Docker) and labelled, so a new
swarmlab builds its own.
"""
from __future__ import annotations

import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable


from ...errors import LabError
from ..driver import SHIMS
from . import debian

REPOSITORY = "swarmlab/node"
NODE_FILES = Path(__file__).resolve().parents[2] / "data" / "node"
SCRIPTS = ("swarmlab-node-init", "swarmlab-dockerd", "swarmlab-kill-tree", "swarmlab-seed-busybox")
LABEL_IMAGE = "io.swarmlab.image"
LABEL_VERSION = "io.swarmlab.version"
LABEL_SOURCE = "io.swarmlab.image.source"
LABEL_SCRIPTS = "io.swarmlab.image.scripts"  # a digest of the node scripts and this module: changed, rebuilt
HOST, DOCKERFILE, DEBIAN = "host-packages", "dockerfile", "debian"
SOURCES = ("auto", HOST, DOCKERFILE, DEBIAN)
LABEL_DOCKER = "io.swarmlab.docker-version"  # the node's docker.io package version
# Real tools first; busybox fills in the rest (xargs, awk, mount, ...) from the end of PATH.
NODE_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin"
BUSYBOX_LINKS = "/usr/local/bin"

# Debian packages whose files make the node (what `make install` puts on the host).
# bash and iputils-ping: the doctor's probes are bash scripts, and its full-size pings need `ping -M do`.
NODE_PACKAGES = ("docker.io", "containerd", "runc", "tini", "iptables", "libxtables12", "iproute2",
                 "bridge-utils", "net-tools", "busybox-static", "procps", "dash", "bash", "iputils-ping")
# Single tools from packages too big to take whole: util-linux's nsenter (busybox's
# runs busybox's own `ip`, not iproute2's, so `nsenter --net=NS ip -j addr` fails).
# openssh-server's sshd alone: lesson 7 reaches the nodes over SSH, as real hosts (sshd.py).
SINGLE_FILES = ("/usr/bin/nsenter", "/usr/sbin/sshd")
# update-alternatives links, which no package lists as its own.
ALTERNATIVES = ("/usr/sbin/iptables", "/usr/sbin/iptables-save", "/usr/sbin/iptables-restore",
                "/usr/sbin/ip6tables", "/usr/sbin/ip6tables-save", "/usr/sbin/ip6tables-restore")
# Files of those packages a node never uses: docs, service files, and big tools
# (dnet, ovrouter, ctr, the v1 shims) that would add ~90 MB.
SKIP_PREFIXES = ("/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/locale",
                 "/usr/share/lintian", "/usr/share/bash-completion", "/usr/share/zsh", "/usr/share/fish",
                 "/lib/systemd", "/usr/lib/systemd", "/lib/udev", "/usr/lib/udev", "/etc/init.d",
                 "/etc/default", "/etc/logrotate.d", "/etc/cron.d", "/usr/share/debianutils")
SKIP_NAMES = {"dnet", "ovrouter", "ctr", "containerd-shim", "containerd-shim-runc-v1", "containerd-stress"}
MERGED_USR = ("bin", "sbin", "lib", "lib64")

Progress = Callable[[str], None]


def version() -> str:
    try:
        return metadata.version("swarmlab")
    except metadata.PackageNotFoundError:
        return "0"


def image_ref(docker: str | None = None) -> str:
    """The node image of this swarmlab version, e.g. swarmlab/node:0.1.0, or with a chosen
    Docker, swarmlab/node:0.1.0-docker28."""
    return f"{REPOSITORY}:{version()}" + (f"-docker{debian.release(docker).docker}" if docker else "")


# The namespace nodes' `systemctl` (and `service`, a link to it: the shim reads its own name),
# so a procedure that says `systemctl restart docker` works on a node container too.
SHIM = SHIMS / "systemctl"


def scripts_digest(docker: str | None = None) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())  # what goes in, and how
    if docker:
        digest.update(Path(debian.__file__).read_bytes())
    for name, path in [(name, NODE_FILES / name) for name in ("Dockerfile", *SCRIPTS)] + [("systemctl", SHIM)]:
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def find(client, docker: str | None = None):
    """The engine's node image of this version, these node scripts (and this Docker), or None."""
    image = _tagged(client, docker)
    fresh = image is not None and (image.labels or {}).get(LABEL_SCRIPTS) == scripts_digest(docker)
    return image if fresh else None


def ensure(client, *, rebuild: bool = False, source: str = "auto", progress: Progress | None = print,
           docker: str | None = None):
    """The node image on `client`'s engine, built first when missing (or when asked); with
    `docker` ("28"), the one that runs that Docker, from its Debian release."""
    if source not in SOURCES:
        raise LabError(f"unknown node image source {source!r}; use one of {', '.join(SOURCES)}")
    if docker and source == HOST:
        raise LabError(f"a chosen Docker ({docker}) comes from its Debian release, not this machine's packages: "
                       f"build with --from {DEBIAN} or --from {DOCKERFILE} (or leave --from out)")
    if source == DEBIAN and not docker:
        raise LabError(f"--from {DEBIAN} needs the Docker to build: --docker {' or '.join(debian.RELEASES)}")
    existing = find(client, docker)
    if existing is not None and not rebuild:
        return existing
    previous = _tagged(client, docker)  # this version's image with other node scripts, to replace
    chosen = source if source != "auto" else _auto_source(client, docker)
    ref, say = image_ref(docker), progress or (lambda line: None)
    what = f" ({debian.release(docker).describe()})" if docker else ""
    say(f"building the node image {ref}{what} from {_describe(chosen)} (once per swarmlab version)...")
    started = time.monotonic()
    image = (build_from_debian(client, docker, say) if chosen == DEBIAN else
             build_from_host(client) if chosen == HOST else build_from_dockerfile(client, docker))
    size = image.attrs.get("Size", 0) / 1e6
    say(f"built {ref} in {time.monotonic() - started:.1f} s ({size:.0f} MB)")
    if previous is not None and previous.id != image.id:
        _remove_quietly(client, previous.id)
    return image


def build_node_image(engine: str | None = None, *, rebuild: bool = False, source: str = "auto",
                     progress: Progress | None = print, docker: str | None = None) -> str:
    """`swarmlab lab image`: the node image on the engine (`engine`, else as `lab up` finds one),
    built first when missing (or when asked); one line saying which image, its Docker, and where."""
    from .engine import connect, engine_url  # docker-py, only when there is an engine to ask
    image = ensure(connect(engine), rebuild=rebuild, source=source, progress=progress, docker=docker)
    labels = image.labels or {}
    return (f"{image_ref(docker)}  {image.short_id}  {image.attrs.get('Size', 0) / 1e6:.0f} MB  "
            f"Docker {labels.get(LABEL_DOCKER, '?')}  from {labels.get(LABEL_SOURCE, '?')}  on {engine_url(engine)}")


def _tagged(client, docker: str | None = None):
    from docker.errors import ImageNotFound  # docker-py only when there is an engine to ask
    try:
        return client.images.get(image_ref(docker))
    except ImageNotFound:
        return None


def _remove_quietly(client, image_id: str) -> None:
    from docker.errors import APIError
    try:
        client.images.remove(image_id)
    except APIError:
        pass  # still used by a lab's nodes: it goes when they do and `docker image prune` runs


def _auto_source(client, docker: str | None) -> str:
    """A chosen Docker: mmdebstrap where it is installed, else the Dockerfile; else choose_source."""
    if docker:
        return DEBIAN if debian.mmdebstrap_missing() is None else DOCKERFILE
    return choose_source(client)


def choose_source(client) -> str:
    """This machine's packages when it has them (no registry needed), else the Dockerfile."""
    return HOST if host_packages_missing(client) == [] else DOCKERFILE


def host_packages_missing(client=None) -> list[str]:
    """What stops the node image being built from this machine's packages (empty: nothing)."""
    if platform.system() != "Linux" or not shutil.which("dpkg-query"):
        return ["a Debian-like Linux with dpkg"]
    missing = [p for p in NODE_PACKAGES if not _installed(p)]
    if client is not None:
        engine_arch = _engine_arch(client)
        if engine_arch and engine_arch != platform.machine():
            missing.append(f"an engine of this machine's architecture ({platform.machine()}, engine: {engine_arch})")
    return missing


def _describe(source: str) -> str:
    return {HOST: "this machine's packages (no registry needed)",
            DEBIAN: "Debian's package registry, by mmdebstrap (no container registry needed)",
            DOCKERFILE: "swarmlab/data/node/Dockerfile (pulls Docker Hub's debian image)"}[source]


def _labels(source: str, docker: str | None = None) -> dict[str, str]:
    return {LABEL_IMAGE: "node", LABEL_VERSION: version(), LABEL_SOURCE: source,
            LABEL_SCRIPTS: scripts_digest(docker)}


# What `docker import` sets on a node image built from a root file system tar.
def _import_changes(labels: dict[str, str]) -> list[str]:
    return [f"ENV PATH={NODE_PATH}", 'ENTRYPOINT ["/usr/bin/tini", "--", "swarmlab-node-init"]',
            *(f"LABEL {k}={v}" for k, v in labels.items())]


def _import(client, archive, changes: list[str], docker: str | None = None):
    """`docker import` the open root file system tar `archive` as the node image; returns it."""
    archive.flush()
    try:
        client.api.import_image_from_file(f"/proc/self/fd/{archive.fileno()}", repository=REPOSITORY,
                                          tag=image_ref(docker).split(":", 1)[1], changes=changes)
    except Exception as exc:  # docker.errors.APIError, or the engine went away
        raise LabError(f"the engine refused the node image: {_one_line(exc)}") from None
    image = find(client, docker)
    if image is None:
        raise LabError(f"the engine imported the node image but has no {image_ref(docker)}")
    return image


# --- from Debian's package registry ------------------------------------------------------
def build_from_debian(client, docker: str, say: Progress):
    """The node image with `docker`'s Debian release's packages (debian.py), imported."""
    base = debian.rootfs(debian.release(docker), say)  # from the cache after the first time
    labels = _labels(DEBIAN, docker) | {LABEL_DOCKER: debian.docker_version_in(base)}
    with tempfile.TemporaryFile(prefix="swarmlab-nodeimage-") as archive:  # as build_from_host's
        debian.node_tar(base, archive, [NODE_FILES / s for s in SCRIPTS] + [SHIM])
        return _import(client, archive, _import_changes(labels), docker)


# --- from this machine's packages ------------------------------------------------------
def build_from_host(client):
    missing = host_packages_missing(client)
    if missing:
        raise LabError(f"cannot build the node image from this machine's packages: missing "
                       f"{', '.join(missing)}; install them (apt-get install {' '.join(NODE_PACKAGES)}) "
                       f"or build from the Dockerfile where a registry is reachable (--from dockerfile)")
    labels = _labels(HOST) | {LABEL_DOCKER: _package_version("docker.io")}
    # The ~300 MB archive is a file with no name (gone with this process, even after kill -9),
    # handed to docker-py by its /proc path: its import from a path waits as long as the engine needs.
    with tempfile.TemporaryFile(prefix="swarmlab-nodeimage-") as archive:
        write_rootfs(archive)
        return _import(client, archive, _import_changes(labels))


def write_rootfs(target) -> None:
    """The node's root filesystem as a tar (into a path or an open binary file): the packages'
    files, their libraries, the scripts."""
    files = node_files()
    where = {"name": target} if isinstance(target, (str, Path)) else {"fileobj": target}
    with tarfile.open(mode="w", **where) as tar:
        if os.path.islink("/bin"):  # merged /usr: keep bin, sbin, lib, lib64 as links
            for name in MERGED_USR:
                if os.path.islink(f"/{name}"):
                    _add_link(tar, name, os.readlink(f"/{name}").lstrip("/"))
        for d, mode in (("tmp", 0o1777), ("run", 0o755), ("proc", 0o555), ("sys", 0o555), ("dev", 0o755),
                        ("root", 0o700), ("var/lib/docker", 0o711), ("var/log", 0o755),
                        ("usr/local/bin", 0o755), ("usr/local/sbin", 0o755), ("usr/share/swarmlab", 0o755)):
            _add_dir(tar, d, mode)
        for path in sorted(files):
            tar.add(path, arcname=path.lstrip("/"), recursive=False)
        _add_link(tar, "var/run", "/run")
        _add_text(tar, "etc/os-release", f'PRETTY_NAME="swarmlab node {version()}"\nID=swarmlab-node\n')
        _add_text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
                                     "sshd:x:100:65534::/run/sshd:/bin/false\n")  # sshd's privilege separation
        _add_text(tar, "etc/group", "root:x:0:\ndocker:x:999:\nnogroup:x:65534:\n")
        for script in SCRIPTS:
            tar.add(NODE_FILES / script, arcname=f"usr/local/sbin/{script}")
        tar.add(SHIM, arcname="usr/local/sbin/systemctl")
        _add_link(tar, "usr/local/sbin/service", "systemctl")
        busybox = _canonical(shutil.which("busybox") or "/bin/busybox")
        tar.add(busybox, arcname="usr/share/swarmlab/busybox")
        have = {Path(p).name for p in files}
        # dash as /bin/sh, not busybox's ash: that one runs its own applets ahead of
        # PATH, so `sh -c 'brctl show'` would not reach the real brctl.
        if "/usr/bin/sh" not in files:
            _add_link(tar, "usr/bin/sh", "dash")
        have.add("sh")
        for applet in _busybox_applets(busybox):
            if applet not in have:
                _add_link(tar, f"{BUSYBOX_LINKS.lstrip('/')}/{applet}", busybox)


def node_files() -> set[str]:
    """Every file (and symlink) the node needs, by its canonical path, with parent folders."""
    files: set[str] = set()
    for package in NODE_PACKAGES:
        for path in _package_files(package):
            if _wanted(path):
                _add_with_links(files, path)
    for path in (*SINGLE_FILES, *ALTERNATIVES):
        _add_with_links(files, path)
    for lib in _libraries([p for p in files if _is_elf(p)]):
        _add_with_links(files, lib)
    folders = {str(parent) for p in files for parent in Path(p).parents if str(parent) != "/"}
    return files | folders


def _package_files(package: str) -> list[str]:
    out = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line.startswith("/")]


def _wanted(path: str) -> bool:
    return not path.startswith(SKIP_PREFIXES) and Path(path).name not in SKIP_NAMES


def _canonical(path: str) -> str:
    """The path with its folders resolved (/sbin/ip -> /usr/sbin/ip), the file itself not."""
    p = Path(path)
    return str(Path(os.path.realpath(p.parent)) / p.name)


def _add_with_links(files: set[str], path: str) -> None:
    """Add a regular file, or a symlink and every hop it points through (alternatives)."""
    for _ in range(10):
        path = _canonical(path)
        if not os.path.lexists(path) or os.path.isdir(path):  # folders come from their files
            return
        files.add(path)
        if not os.path.islink(path):
            return
        path = os.path.join(os.path.dirname(path), os.readlink(path))


def _is_elf(path: str) -> bool:
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


_LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


def _libraries(elves: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(elves), 200):
        out = subprocess.run(["ldd", *elves[start:start + 200]], capture_output=True, text=True).stdout
        found.update(m.group(1) for m in map(_LDD_LINE.search, out.splitlines()) if m)
    return found


def _busybox_applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout
    return [a for a in out.split() if a != "busybox"]


def _installed(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return out.stdout.strip() == "install ok installed"


def _package_version(package: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def _engine_arch(client) -> str:
    arch = client.version().get("Arch", "")
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


def _add_dir(tar: tarfile.TarFile, name: str, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _add_text(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


# --- from the Dockerfile ---------------------------------------------------------------
def dockerfile_buildargs(docker: str | None) -> dict[str, str]:
    """The Dockerfile's build arguments: the Debian release of `docker` (bookworm's 20.10 when
    none is chosen, as the image from this machine's packages) and debian.py's packages."""
    rel = debian.release(docker or "20")
    return {"DEBIAN": rel.suite, "PACKAGES": " ".join(debian.packages(rel))}


def build_from_dockerfile(client, docker: str | None = None):
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name in ("Dockerfile", *SCRIPTS):
            tar.add(NODE_FILES / name, arcname=name)
        tar.add(SHIM, arcname="systemctl")
    context.seek(0)
    try:
        image, _ = client.images.build(fileobj=context, custom_context=True, tag=image_ref(docker),
                                       buildargs=dockerfile_buildargs(docker), labels=_labels(DOCKERFILE, docker),
                                       rm=True, forcerm=True)
    except Exception as exc:  # docker.errors.BuildError / APIError: no registry, no network
        raise LabError(f"cannot build the node image from the Dockerfile: {_one_line(exc)}; where no "
                       f"registry is reachable, build it from this machine's packages (--from {HOST})") from None
    return image


def _one_line(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", None) or exc)
    return " ".join(text.split())[:300]
