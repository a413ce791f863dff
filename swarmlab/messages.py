"""What Docker prints, by version: every Docker message swarmlab reads, in one place.

The words differ between Docker versions for the same cause. Each message below is
given with the Docker release that printed it, as captured from real runs of the
article's cause (node2's routes cover every default pool before it joins):

    python tests/fixtures/docker/capture.py                        # namespaces lab, Docker 20.10.24+dfsg1
    python tests/fixtures/docker/capture.py --engine URL --docker 28   # docker driver, Docker 28.5.2+dfsg4

tests/fixtures/docker/messages-20.json and messages-28.json keep each command and what it
printed; tests/unit/test_messages.py holds this table to them. Code that reads Docker's
output asks here (`no_pool`, `NO_POOL_PATTERN`, `NETWORK_GONE`, `task_error`), so it
knows every captured version's words, never only one.
"""
from __future__ import annotations

import re

# No default address pool is left: `docker network create` without --subnet, docker_gwbridge
# when a node joins, the ingress network's gateway.
NO_POOL = {
    "20.10": "could not find an available, non-overlapping IPv4 address pool among the defaults to assign "
             "to the network",
    "28": "all predefined address pools have been fully subnetted",
}
# What Docker 28 puts before any error in setting up a container's networks; 20.10 puts nothing.
NETWORKING = {"20.10": "", "28": "failed to set up container networking: "}
EXTERNAL_CONNECTIVITY = "error creating external connectivity network"  # the same in both
# The dockerd log line when a joining node cannot set up its ingress network (both versions).
INGRESS_FAILED = "Failed creating ingress network"
DAEMON = "Error response from daemon: "
# `docker network rm NAME` of a network that is not there.
NETWORK_MISSING = {"20.10": "Error: No such network: <id>", "28": f"{DAEMON}network <id> not found"}
# Words both versions use (in different sentences around them): `docker network rm` of a network
# a container is on, and `docker network create --subnet` of a subnet another network holds.
NETWORK_IN_USE = "has active endpoints"
POOL_OVERLAPS = "Pool overlaps with other one on this address space"


def task_error(release: str) -> str:
    """The task error (`docker service ps --no-trunc`) for the article's cause on `release`."""
    return f"starting container failed: {NETWORKING[release]}{EXTERNAL_CONNECTIVITY}: {NO_POOL[release]}"


def cut_short(release: str) -> str:
    """The task error as `docker service ps` shows it in its ERROR column: quoted, cut after 29
    characters (the Docker CLI's own limit, the same in both versions)."""
    return f'"{task_error(release)[:29]}…"'


def start_no_pool(release: str) -> str:
    """`docker container start` of a Created task container while the node holds its overlay."""
    return f"{DAEMON}{NETWORKING[release]}{EXTERNAL_CONNECTIVITY}: {NO_POOL[release]}"


def start_network_gone(release: str, network_id: str = "<id>") -> str:
    """`docker container start` of that container once the node has let the overlay go."""
    return f"{DAEMON}{NETWORKING[release]}network {network_id} not found"


def network_create_no_pool(release: str) -> str:
    """`docker network create NAME` (no --subnet) once every default pool is held."""
    return f"{DAEMON}{NO_POOL[release]}"


def ingress_log(release: str) -> str:
    """What dockerd logs (msg=) when a joining node cannot give its ingress network a gateway."""
    return f"{INGRESS_FAILED}: {EXTERNAL_CONNECTIVITY}: {NO_POOL[release]}"


RELEASES = tuple(NO_POOL)
NO_POOL_PATTERN = "|".join(re.escape(text) for text in NO_POOL.values())  # a regex: any version's words


def _pattern(say, release: str) -> str:
    """say(release) as a regex, any network id standing for '<id>'."""
    return re.escape(say(release)).replace(re.escape("<id>"), r"\S+")


NETWORK_GONE = re.compile("|".join(_pattern(start_network_gone, r) for r in RELEASES))


def network_missing(text: str) -> bool:
    """Does `text` say, in any captured version's words, that `docker network rm`'s network is not there?"""
    return any(re.search(_pattern(NETWORK_MISSING.get, r), text) for r in RELEASES)


def says(text: str, say, release: str) -> bool:
    """Is a line of `text` what say(release) gives (any network id for '<id>')? A real host puts
    its own lines first over SSH and sudo ("Could not chdir to home directory ...", "sudo: unable
    to resolve host node2"): they are not Docker's words, and are passed over."""
    return any(re.fullmatch(_pattern(say, release), line) for line in text.strip().splitlines())


def no_pool(text: str) -> bool:
    """Does `text` say, in any captured version's words, that no default address pool is left?"""
    return re.search(NO_POOL_PATTERN, text) is not None


def shell_case_no_pool() -> str:
    """The patterns of a shell `case` that match any version's no-pool words (for a script on a node)."""
    return "|".join(f"*'{text}'*" for text in NO_POOL.values())


def release(server_version: str) -> str:
    """The captured release whose words a Docker prints: '20.10.24+dfsg1' -> '20.10', '28.5.2' -> '28'.

    A version between or after the captured ones gets the newest captured release not
    newer than it (a lesson's claims then check that its words match)."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", server_version)[:2])
    if not numbers:
        raise ValueError(f"not a Docker version: {server_version!r}")
    older = [r for r in RELEASES if tuple(int(n) for n in r.split(".")) <= numbers[:len(r.split("."))]]
    return max(older, key=lambda r: tuple(int(n) for n in r.split(".")), default=RELEASES[0])


def elsewhere(say, version: str) -> str:
    """One sentence: what the other captured releases print where Docker `version` (a node's own
    '28.5.2+dfsg4') printed say(release(version))."""
    here = release(version)
    others = [f"Docker {r} prints '{say(r)}'" for r in RELEASES if r != here]
    return f"That is Docker {version}'s; " + "; ".join(others) + " instead."
