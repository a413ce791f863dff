"""Time the local lab's phases beside the floor script (a bare shell script doing the same).

    python benchmarks/lab.py [--nodes 2,5,10]

Prints one table: seconds since start for each phase, for swarmlab and the floor,
with the ratio; teardown of a lab with a running service; memory per node.
"""
from __future__ import annotations

import argparse
import statistics
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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the table shows medians")
    args = parser.parse_args()
    rows, mem_rows = [], []
    for n in [int(x) for x in args.nodes.split(",")]:
        teardown(f"bench{n}")  # a previous interrupted run
        ours, floor, memory = [], [], []
        for _ in range(args.repeat):  # alternate, so both see the same machine
            times, mem = time_swarmlab(n)
            ours.append(times)
            memory.append(mem)
            floor.append(time_floor(n))
        for phase in PHASES:
            a, b = _median(ours, phase), _median(floor, phase)
            rows.append({"nodes": n, "phase": phase, "swarmlab s": a, "floor s": b,
                         "ratio": a / b if a and b else None,
                         "swarmlab runs": " ".join(f"{t[phase]:.2f}" for t in ours if phase in t)})
        for key in memory[0]:
            values = [m[key] for m in memory]
            mem_rows.append({"nodes": n, "measure": key, "median": statistics.median(values), "max": max(values)})
    pd.set_option("display.float_format", "{:.2f}".format)
    print(f"Seconds since start of `up`, median of {args.repeat} runs "
          "(teardown: its own duration, with the service running)")
    print(pd.DataFrame(rows).to_string(index=False))
    print("\nMemory of each node's processes while the service runs (RSS counts shared pages once per "
          "process; PSS shares them out)")
    print(pd.DataFrame(mem_rows).to_string(index=False))


PHASES = ["namespaces", "daemons", "images", "sshd", "swarm formed", "service running", "teardown"]


def _median(runs: list[dict], phase: str):
    values = sorted(r[phase] for r in runs if phase in r)
    return statistics.median(values) if values else None


if __name__ == "__main__":
    main()
