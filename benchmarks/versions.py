"""Every lesson live on the docker driver, once per Docker the nodes run: 20.10 (the default node
image, this machine's packages), 26.1 (Debian trixie's) and 28.5 (sid's); with --faults, every
fault too.

    python benchmarks/versions.py [--dockers 20,26,28] [--engine URL] [--faults | --only-faults]

Prints each lesson's status and seconds per Docker, and the series' total. --faults: each fault
on a fresh 2-node lab with the article's service running on both nodes, injected, found by the
doctor (the finding FOUND names), undone, and the doctor's check clean again, with its seconds.
The root file systems of 26 and 28 come from the cache (`swarmlab lab rootfs --docker 26`, done
once beforehand: a benchmark reaches nothing outside this machine). Targets: every lesson ok and
every fault found and undone on every Docker.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from swarmlab import faults, story  # noqa: E402
from swarmlab.cluster import Cluster  # noqa: E402
from swarmlab.doctor import doctor  # noqa: E402
from swarmlab.headless import run_lessons  # noqa: E402
from swarmlab.lab import Lab, teardown  # noqa: E402
from swarmlab.lab.docker import debian  # noqa: E402
from _engine import engine  # noqa: E402


def lessons_on(docker: str, url: str) -> pd.DataFrame:
    """The series live with the nodes on `docker` ("20": the default node image)."""
    env = {"SWARMLAB_DRIVER": "docker", "DOCKER_HOST": url, "SWARMLAB_LESSON_PREFIX": f"bv{uuid.uuid4().hex[:4]}"}
    if docker != "20":  # its root file system is in the cache: main() checked
        env["SWARMLAB_DOCKER"] = docker
    saved = {k: os.environ.get(k) for k in [*env, "SWARMLAB_DOCKER"]}
    os.environ.pop("SWARMLAB_DOCKER", None)
    os.environ.update(env)
    try:
        with tempfile.TemporaryDirectory() as out:
            table = run_lessons("live", out=Path(out), progress=None)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    return table.assign(docker=debian.release(docker).seen)


# The doctor's finding that names each fault (seen in a run of every fault on Docker 28.5, the
# article's service running): the node the fault goes to, the finding's node column (contains),
# its check, its severity.
FOUND = {
    "vpn-routes": ("node2", "node2", "address pools", "error"),
    "vxlan-blocked": ("node2", "node2", "firewall 4789/udp", "error"),
    "gossip-blocked": ("node2", "node2", "firewall 7946/udp", "error"),
    "pools-exhausted": ("node2", "node2", "address pools", "error"),
    "manager-port-blocked": ("node1", "node1", "firewall 2377/tcp", "error"),
    "mtu-blackhole": ("node2", "node1 -> node2", "path mtu", "error"),
    "advertise-unreachable": ("node2", "node2", "advertise address", "error"),
    "iptables-flushed": ("node2", "node2", "iptables chains", "error"),
    "duplicate-hostname": ("node2", "node1", "duplicate hostname", "warning"),
    "dockerd-killed": ("node2", "node2", "daemon", "error"),
    "overlay-overlaps-lan": ("node2", "node1, node2", "overlay subnet", "error"),
}


def severities(cluster: Cluster, node: str, check: str) -> set[str]:
    """The severities of the doctor's `check` findings on a node column containing `node`."""
    found = doctor(cluster)
    return set(found[(found["check"] == check) & found["node"].str.contains(node, regex=False)]["severity"])


def fault_on(docker: str, url: str, fault: str) -> dict:
    """One fault on a fresh lab whose nodes run `docker`: found after inject, and clean after undo
    (info only: the check says all is well)."""
    target, shown_on, check, severity = FOUND[fault]
    lab = Lab(name=f"bvf{uuid.uuid4().hex[:4]}", driver="docker", engine=url, docker=None if docker == "20" else docker)
    row = {"docker": debian.release(docker).seen, "fault": fault, "check": check}
    try:
        lab.up()
        lab.form_swarm()
        cluster = Cluster.from_lab(lab)
        story.create_overlay(cluster).check()
        story.service_create(cluster, restart_delay="1s").check()
        story.wait_for_running(cluster, timeout=30)
        started = time.monotonic()
        faults.inject(cluster, fault, node=target, rejoin=faults.FAULTS[fault].acts_at_join)
        row["found"] = severity in severities(cluster, shown_on, check)
        faults.undo(cluster, fault, node=target)
        row["undone"] = severities(cluster, shown_on, check) <= {"info"}
        row["seconds"] = round(time.monotonic() - started, 1)
    except Exception as error:  # a row says what went wrong; the next fault still runs
        row.update(found=False, undone=False, error=str(error).splitlines()[0][:80])
    finally:
        teardown(lab.name, engine=url, driver="docker")
    return row


def faults_on(docker: str, url: str) -> pd.DataFrame:
    return pd.DataFrame([fault_on(docker, url, fault) for fault in FOUND])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockers", default="20,26,28")
    parser.add_argument("--engine", default=None, help="a Docker engine URL (default: a one-node namespace lab's)")
    parser.add_argument("--faults", action="store_true", help="every fault on every Docker too")
    parser.add_argument("--only-faults", action="store_true", help="every fault on every Docker, no lessons")
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    dockers = args.dockers.split(",")
    if set(FOUND) != set(faults.FAULTS):
        raise SystemExit(f"FOUND has no finding for {sorted(set(faults.FAULTS) - set(FOUND))} "
                         f"and one for no fault in {sorted(set(FOUND) - set(faults.FAULTS))}: say what names each")
    with engine(args.engine, subnet="10.218.0.0/24") as url:
        for docker in dockers:
            if docker != "20" and not debian.rootfs_path(debian.release(docker)).exists():
                raise SystemExit(f"no cached root file system for Docker {docker}: "
                                 f"run `swarmlab lab rootfs --docker {docker}` first")
        failed_faults = 0
        if args.faults or args.only_faults:
            found = pd.concat([faults_on(d, url) for d in dockers], ignore_index=True)
            print(found.to_string(index=False))
            failed_faults = int((~(found["found"] & found["undone"])).sum())
            print("every fault found and undone on every Docker\n" if not failed_faults
                  else f"{failed_faults} fault run(s) not found or not undone\n")
            if args.only_faults:
                return 0 if not failed_faults else 1
        table = pd.concat([lessons_on(d, url) for d in dockers], ignore_index=True)
    wide = table.pivot(index="lesson", columns="docker", values=["status", "seconds"])
    print(wide.to_string())
    print("\nseries s: " + ", ".join(f"Docker {d} {s:.0f}" for d, s in table.groupby("docker")["seconds"].sum().items()))
    failed = table[table["status"] != "ok"]
    print("every lesson ok on every Docker" if failed.empty else f"{len(failed)} lesson run(s) failed")
    return 0 if failed.empty and not failed_faults else 1


if __name__ == "__main__":
    sys.exit(main())
