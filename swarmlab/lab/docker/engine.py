"""The Docker engine a docker-driver lab runs on: where it is, a client, and what it grants a node.

The engine is whatever docker-py reaches: the local socket, Docker Desktop, DOCKER_HOST
or the current docker context, or a remote engine over ssh://. Everything a lab
creates there carries swarmlab's labels and names (below), so `down` finds exactly it.
A node container runs dockerd, which needs (nearly) every capability: --privileged,
or, where the engine refuses that, an explicit set; what each engine granted is
remembered (this process, the user's cache, a node still running on it).
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import docker
from docker.context import ContextAPI

from ...errors import LabError
from ..ownership import Owner, owner_from

LABEL_LAB = "io.swarmlab.lab"
LABEL_ID = "io.swarmlab.lab.id"
LABEL_NODE = "io.swarmlab.node"
LABEL_OWNER = "io.swarmlab.owner"  # who made the lab: user@host (engines are shared: `down` removes only one's own)
LABEL_OWNER_UID = "io.swarmlab.owner.uid"
LABEL_PRIVILEGES = "io.swarmlab.privileges"  # what the engine granted: a later lab need not ask again
LABEL_SPEC = "io.swarmlab.spec"  # on the network: the lab's spec, so the engine alone can describe it
PRIVILEGED = "privileged"
EXPLICIT = "explicit"
# What dockerd in a container needs when --privileged is refused (DESIGN.md: this machine's
# capability bounding set lacks CAP_SYS_RESOURCE, so "all capabilities" cannot be granted).
EXPLICIT_OPTIONS = dict(cap_add=["ALL"], cap_drop=["SYS_RESOURCE"],
                        security_opt=["seccomp=unconfined", "apparmor=unconfined"],
                        device_cgroup_rules=["a *:* rwm"])
# `--security-opt systempaths=unconfined` is the CLI's: the API takes no masked or
# read-only /proc paths (dockerd writes /proc/sys).
EXPLICIT_PATHS = {"MaskedPaths": [], "ReadonlyPaths": []}


def engine_url(engine: str | None = None) -> str:
    """Where the engine is: the given URL, else DOCKER_HOST, else the current docker
    context's endpoint, else the default local socket."""
    if engine:
        return engine
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    try:
        host = ContextAPI.get_current_context().Host
        if host:
            return host
    except Exception:  # no docker config, or an unreadable one: the default socket
        pass
    return "unix:///var/run/docker.sock"


def connect(engine: str | None = None, timeout: int = 60) -> docker.DockerClient:
    """A client of the engine, or a one-line LabError saying why there is none and what to do."""
    url = engine_url(engine)
    try:
        client = docker.DockerClient(base_url=url, timeout=timeout, use_ssh_client=False)
        client.ping()
        return client
    except Exception as exc:  # DockerException, requests and paramiko errors, OSError
        reason = " ".join(str(exc).split())[:200]
        raise LabError(f"cannot reach the Docker engine at {url}: {reason}; start Docker (Docker Desktop, "
                       f"or `systemctl start docker`), check DOCKER_HOST, or pass --engine URL") from None


def owner_labels(owner: Owner) -> dict[str, str]:
    return {LABEL_OWNER: owner.login, LABEL_OWNER_UID: str(owner.uid)}


def owner_of(labels: dict | None) -> Owner | None:
    """Who made an object of a lab, by its labels; None for one made before swarmlab recorded it."""
    labels = labels or {}
    return owner_from(labels.get(LABEL_OWNER), labels.get(LABEL_OWNER_UID))


# --- names on the engine -----------------------------------------------------------
def container_name(lab: str, node: str) -> str:
    return f"swarmlab-{lab}-{node}"


def network_name(lab: str) -> str:
    return f"swarmlab-{lab}"


def volume_name(lab: str, node: str) -> str:
    return f"swarmlab-{lab}-{node}-docker"


# --- what the engine grants a node container ---------------------------------------
_KNOWN_PRIVILEGES: dict[str, str] = {}  # engine ID -> what its nodes were given, in this process
REMEMBERED_ENGINES = 32  # kept in the file: the newest answers


def _engine_id(client) -> str:
    return client.info().get("ID", "")


def privileges_file() -> Path:
    """In this user's cache (not a lab's state, which `down` removes): what each engine
    granted, kept between processes (a refused --privileged costs a failed container
    start, 0.5 s, at every `lab up` otherwise)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "swarmlab" / "engine-privileges.json"


def known_privileges(client, remembered: Path | None = None) -> str | None:
    """What this engine granted a node before (this process, an earlier one, or a lab still
    on it), else None."""
    engine = _engine_id(client)
    known = _KNOWN_PRIVILEGES.get(engine) or _read_privileges(remembered).get(engine)
    if known in (PRIVILEGED, EXPLICIT):
        return known
    for container in client.containers.list(all=True, filters={"label": LABEL_PRIVILEGES}):
        if container.labels.get(LABEL_PRIVILEGES) in (PRIVILEGED, EXPLICIT) and container.status == "running":
            return container.labels[LABEL_PRIVILEGES]
    return None


def remember_privileges(client, choice: str, remembered: Path) -> None:
    engine = _engine_id(client)
    _KNOWN_PRIVILEGES[engine] = choice
    known = _read_privileges(remembered)
    if known.get(engine) == choice:
        return
    tmp = remembered.with_name(f".{remembered.name}.{os.getpid()}")
    try:  # a cache: a file that cannot be written costs a trial container next time, nothing else
        remembered.parent.mkdir(parents=True, exist_ok=True)
        known.pop(engine, None)
        newest = dict(list(known.items())[-(REMEMBERED_ENGINES - 1):]) | {engine: choice}  # engines come and go
        tmp.write_text(json.dumps(newest, indent=1) + "\n")
        tmp.replace(remembered)
    except OSError:
        with contextlib.suppress(OSError):  # e.g. the cache's name taken by a folder: leave no temp file
            tmp.unlink(missing_ok=True)


def _read_privileges(remembered: Path | None) -> dict:
    try:
        data = json.loads(remembered.read_text()) if remembered else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def privileges_note(choice: str) -> str:
    return "--privileged" if choice == PRIVILEGED else \
        "explicit capabilities: all but SYS_RESOURCE, as this engine refuses --privileged"


def cgroup_version(client) -> str:
    return str(client.info().get("CgroupVersion") or "1")
