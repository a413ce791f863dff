"""Time the article's story end to end, the doctor alone, and watch the scheduler.

    python benchmarks/story.py [--runs 3] [--doctor-runs 10] [--no-scheduler] [--faults F ...] [--only-faults]

1. The story, per run (seconds since start): lab up -> node2 behind the VPN routes
   joins -> the task's failure seen -> doctor -> fix_gwbridge -> service recreated ->
   verified (2 replicas on 2 nodes, ping over uber-net) -> lab down. Target: < 30 s.
   Then a row per fault (faults.FAULTS): inject, doctor, fix, verified.
2. The doctor alone on 2 nodes, healthy and broken. Target: < 2 s.
3. The scheduler over time (about 35 s): where the second replica goes while
   node2 is broken, sampled twice a second.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from swarmlab import faults, story  # noqa: E402
from swarmlab.cluster import Cluster  # noqa: E402
from swarmlab.doctor import doctor  # noqa: E402
from swarmlab.fix import fix_gwbridge, recreate_service, restart_docker, verify_service  # noqa: E402
from swarmlab.lab import Lab, teardown  # noqa: E402

STORY_TARGET = 30.0
DOCTOR_TARGET = 2.0


def lab_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def broken_story_cluster(lab: Lab) -> Cluster:
    cluster = Cluster.from_lab(lab)
    faults.inject(cluster, "vpn-routes", node="node2")
    story.form_swarm(cluster)
    story.create_overlay(cluster).check()
    story.service_create(cluster).check()
    return cluster


def time_story() -> dict[str, float]:
    marks: dict[str, float] = {}
    started = time.monotonic()

    def mark(phase):
        marks[phase] = time.monotonic() - started
    lab = Lab(name=lab_name("bstory"))
    try:
        lab.up()
        mark("lab up")
        cluster = broken_story_cluster(lab)
        mark("swarm formed, service created")
        story.wait_for_failure(cluster, node="node2")
        mark("failure seen")
        findings = doctor(cluster)
        assert (findings["severity"] == "error").any()
        mark("doctor")
        fix_gwbridge(cluster.node("node2"), like=cluster.manager)
        recreate_service(cluster)
        mark("fixed: 2 replicas running")
        assert verify_service(cluster, from_node="node2").ok
        mark("verified (ping over uber-net)")
    finally:
        teardown(lab.name)
    mark("lab down")
    return marks


def time_doctor(runs: int) -> pd.DataFrame:
    rows = []
    lab = Lab(name=lab_name("bdoc"))
    try:
        lab.up()
        cluster = Cluster.from_lab(lab)
        story.form_swarm(cluster)
        story.wait_for_network(cluster, "docker_gwbridge")
        story.create_overlay(cluster).check()
        story.service_create(cluster).check()
        story.wait_for_running(cluster)
        rows.append(("healthy", _durations(cluster, runs)))
        faults.inject(cluster, "gossip-blocked", node="node2")  # probes wait out their timeout
        rows.append(("gossip-blocked (probe timeouts)", _durations(cluster, runs)))
    finally:
        teardown(lab.name)
    return pd.DataFrame([{"case": case, "runs": len(d), "median s": statistics.median(d), "min s": min(d),
                          "max s": max(d), "target s": DOCTOR_TARGET, "ok": max(d) < DOCTOR_TARGET}
                         for case, d in rows])


def _durations(cluster: Cluster, runs: int) -> list[float]:
    durations = []
    for _ in range(runs):
        started = time.monotonic()
        doctor(cluster)
        durations.append(time.monotonic() - started)
    return durations


# Per fault: the node it goes into, the doctor's check that must name it, and the fix (None: undo is
# the fix - the rule removed, the path restored, the name given back).
FAULT_CASES = {
    "vpn-routes": ("node2", "docker_gwbridge", lambda c: fix_gwbridge(c.node("node2"), like=c.manager)),
    "pools-exhausted": ("node2", "address pools", None),
    "vxlan-blocked": ("node2", "firewall 4789/udp", None),
    "gossip-blocked": ("node2", "firewall 7946/tcp", None),
    "manager-port-blocked": ("node1", "reach 2377/tcp", None),
    "mtu-blackhole": ("node2", "path mtu", None),
    "advertise-unreachable": ("node2", "advertise address", None),
    "iptables-flushed": ("node2", "iptables chains", lambda c: restart_docker(c.node("node2"))),
    "duplicate-hostname": ("node2", "duplicate hostname", None),
    "dockerd-killed": ("node2", "daemon", None),
    "overlay-overlaps-lan": ("node2", "overlay subnet", None),
}


def time_faults(only=None) -> pd.DataFrame:
    """Per fault on a fresh 2-node swarm: inject, doctor (it must name the fault), fix, verified (doctor clean)."""
    rows = []
    for fault, (node, check, fix) in FAULT_CASES.items():
        if only and fault not in only:
            continue
        lab = Lab(name=lab_name("bflt"))
        try:
            lab.up()
            cluster = Cluster.from_lab(lab)
            story.form_swarm(cluster)
            story.wait_for_network(cluster, "docker_gwbridge")
            marks, started = {}, time.monotonic()
            faults.inject(cluster, fault, node=node, rejoin=True)
            marks["inject"] = time.monotonic() - started
            findings = _wait_for_check(cluster, check, present=True)
            marks["doctor"] = time.monotonic() - started - marks["inject"]
            fixed_at = time.monotonic()
            (fix or (lambda c: faults.undo(c, fault, node=node)))(cluster)
            marks["fix"] = time.monotonic() - fixed_at
            verified_at = time.monotonic()
            _wait_for_check(cluster, check, present=False)
            marks["verified"] = time.monotonic() - verified_at
            rows.append({"fault": fault, **{k: round(v, 2) for k, v in marks.items()},
                         "found": f"{findings.iloc[0]['severity']}: {check}"})
        finally:
            teardown(lab.name)
    return pd.DataFrame(rows)


def _wait_for_check(cluster: Cluster, check: str, present: bool, timeout: float = 60) -> pd.DataFrame:
    """Run the doctor until `check` is (or is no longer) among its errors and warnings."""
    deadline = time.monotonic() + timeout
    while True:
        found = doctor(cluster)
        hits = found[(found["check"] == check) & (found["severity"] != "info")]
        if hits.empty != present:
            return hits
        if time.monotonic() > deadline:
            raise AssertionError(f"doctor: {check!r} {'never appeared' if present else 'still there'} "
                                 f"after {timeout:.0f} s")
        time.sleep(1)


def watch_scheduler(duration: float = 40) -> pd.DataFrame:
    lab = Lab(name=lab_name("bsched"))
    try:
        lab.up()
        cluster = broken_story_cluster(lab)
        timeline = story.placement_timeline(cluster, duration=duration, interval=0.5)
        both_on_node1 = [t for t, sample in timeline.groupby("t") if story.placement(sample).get("node1", 0) == 2]
        print(f"both replicas running on node1 from t = {both_on_node1[0] if both_on_node1 else 'never'} s "
              f"(t = 0: right after service create); still so at the end: {bool(both_on_node1) and both_on_node1[-1] == timeline['t'].max()}")
        return story.task_history(timeline)
    finally:
        teardown(lab.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--doctor-runs", type=int, default=10)
    parser.add_argument("--no-scheduler", action="store_true", help="skip the 40 s scheduler watch")
    parser.add_argument("--faults", nargs="*", help="only these faults (default: every fault)")
    parser.add_argument("--only-faults", action="store_true", help="only the per-fault table")
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 70)

    if args.only_faults:
        print(time_faults(args.faults).to_string(index=False))
        return
    runs = [time_story() for _ in range(args.runs)]
    table = pd.DataFrame(runs).T
    table.columns = [f"run {i + 1}" for i in range(len(runs))]
    table["median"] = table.median(axis=1)
    print(f"The article's story, seconds since start (target: whole story under {STORY_TARGET:.0f} s)")
    print(table.round(2).to_string())
    print(f"whole story: median {table.loc['lab down', 'median']:.2f} s\n")

    print(f"The doctor on 2 nodes (target: under {DOCTOR_TARGET:.0f} s)")
    print(time_doctor(args.doctor_runs).round(3).to_string(index=False))

    print("\nEach fault on a fresh 2-node swarm, seconds per phase (doctor and verified: until the "
          "doctor names the fault, and until it no longer does)")
    print(time_faults(args.faults).to_string(index=False))

    if not args.no_scheduler:
        print("\nThe scheduler while node2 is broken (every task the samples saw, t in seconds)")
        print(watch_scheduler().drop(columns=["id"]).assign(
            error=lambda h: h["error"].str.slice(0, 60)).to_string(index=False))


if __name__ == "__main__":
    main()
