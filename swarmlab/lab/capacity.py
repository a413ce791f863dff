"""How many nodes this machine can hold now, from free memory and what a node takes."""
from __future__ import annotations

from pathlib import Path

from ..errors import LabError

# A node's dockerd + containerd (+ sshd) with the swarm formed and a task running:
# 37-39 MB added per node at 20 and 30 nodes (benchmarks/lab.py, "PSS MB/node"); 64 MB
# leaves room for the few containers a lesson starts on each node.
NODE_MEMORY_MB = 64
# Kept for the rest of the machine (the notebook, the browser, other users).
RESERVE_FRACTION = 0.10
MEMINFO = Path("/proc/meminfo")


def meminfo_mb(text: str) -> dict[str, int]:
    """The fields of /proc/meminfo, in MB."""
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key.strip()] = int(parts[0]) // 1024
    return values


def max_nodes(meminfo_text: str | None = None) -> tuple[int, int, int]:
    """(nodes that fit now, MemAvailable MB, MB kept for the rest of the machine)."""
    info = meminfo_mb(meminfo_text if meminfo_text is not None else MEMINFO.read_text())
    available = info.get("MemAvailable", info.get("MemFree", 0))
    reserve = int(info.get("MemTotal", 0) * RESERVE_FRACTION)
    return max(0, (available - reserve) // NODE_MEMORY_MB), available, reserve


def check_capacity(nodes: int, meminfo_text: str | None = None) -> None:
    """Refuse a lab this machine cannot hold, saying the limit and why."""
    try:
        limit, available, reserve = max_nodes(meminfo_text)
    except OSError:
        return  # no /proc/meminfo (not Linux): the lab cannot run here anyway, preflight says so
    if nodes > limit:
        raise LabError(
            f"{nodes} nodes do not fit in this machine's memory: at most {limit} nodes now, because "
            f"MemAvailable in /proc/meminfo is {available} MB, {reserve} MB of it is kept for the rest "
            f"of the machine, and a node takes about {NODE_MEMORY_MB} MB (its dockerd and containerd); "
            f"ask for fewer nodes or free some memory")
