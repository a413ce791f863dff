"""Time the local lab's phases beside the floor script (a bare shell script doing the same).

    python benchmarks/lab.py [--nodes 2,5,10]

Prints one table: seconds since start for each phase, for swarmlab and the floor,
with the ratio; teardown of a lab with a running service; memory per node.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from swarmlab.lab import IMAGE, Lab, teardown  # noqa: E402

FLOOR = ROOT.parent / "shared" / "floor" / "lab-floor.sh"
FLOOR_PHASES = {"namespaces+spawn": "namespaces", "daemons-ready": "daemons", "images": "images",
                "swarm-formed": "swarm formed", "service-running": "service running", "down": "teardown"}


def time_floor(n: int) -> dict[str, float]:
    times = {}
    host_docker_dir = Path("/var/lib/docker")
    existed = host_docker_dir.exists()
    try:
        for action in ("up", "down"):
            out = subprocess.run(["bash", str(FLOOR), action, str(n)], capture_output=True, text=True,
                                 timeout=300).stdout
            for line in out.splitlines():
                seconds, phase = line.split(maxsplit=1)
                if phase in FLOOR_PHASES:
                    times[FLOOR_PHASES[phase]] = float(seconds)
    finally:
        clean_after_floor(remove_host_docker_dir=not existed)
    return times


def clean_after_floor(remove_host_docker_dir: bool) -> None:
    """The floor script cleans up carelessly (by design): nsfs mounts under its folder,
    and a /var/lib/docker/network its root-mount-namespace dockerd leaves on the host."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if "/tmp/swarmlab-floor" in line]
    for point in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    subprocess.run(["rm", "-rf", "/tmp/swarmlab-floor"])
    for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
        if ns.startswith("floor-"):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    if remove_host_docker_dir:
        subprocess.run(["rm", "-rf", "/var/lib/docker"])


def time_swarmlab(n: int) -> tuple[dict[str, float], dict[str, float]]:
    times = {}
    lab = Lab(name=f"bench{n}", nodes=n)
    t0 = time.monotonic()
    lab.up(progress=lambda phase, s: times.__setitem__(phase, s))
    lab.form_swarm()
    times["swarm formed"] = time.monotonic() - t0
    manager = lab.manager
    manager.run("docker network create -d overlay uber-net").check()
    manager.run(f"docker service create --detach --name test --network uber-net --replicas {n} "
                f"{IMAGE} sleep infinity").check()
    while manager.run("docker service ls --format '{{.Replicas}}'").stdout.strip() != f"{n}/{n}":
        time.sleep(0.05)
    times["service running"] = time.monotonic() - t0
    memory = memory_per_node(lab)
    t1 = time.monotonic()
    teardown(lab.name)
    times["teardown"] = time.monotonic() - t1
    return times, memory


def memory_per_node(lab: Lab) -> dict[str, float]:
    """Resident memory of a node's processes (dockerd, containerd, shims, task), in MB."""
    rss = pss = 0
    for pid in lab.cgroup.pids():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += _kb(status, "VmRSS:")
        pss += _kb(rollup, "Pss:")
    n = len(lab.nodes)
    return {"RSS MB/node": rss / 1024 / n, "PSS MB/node": pss / 1024 / n}


def _kb(text: str, key: str) -> int:
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="2,5,10")
    args = parser.parse_args()
    rows, mem_rows = [], []
    for n in [int(x) for x in args.nodes.split(",")]:
        for name in (f"bench{n}",):
            teardown(name)  # a previous interrupted run
        ours, memory = time_swarmlab(n)
        floor = time_floor(n)
        for phase in ["namespaces", "daemons", "images", "swarm formed", "service running", "teardown"]:
            a, b = ours.get(phase), floor.get(phase)
            rows.append({"nodes": n, "phase": phase, "swarmlab s": a, "floor s": b,
                         "ratio": a / b if a and b else None})
        mem_rows.append({"nodes": n, **memory})
    pd.set_option("display.float_format", "{:.2f}".format)
    print("Seconds since start of `up` (teardown: its own duration, with the service running)")
    print(pd.DataFrame(rows).to_string(index=False))
    print("\nMemory of each node's processes while the service runs")
    print(pd.DataFrame(mem_rows).to_string(index=False))


if __name__ == "__main__":
    main()
