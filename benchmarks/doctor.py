"""The doctor with all its probes on healthy labs of 2, 10 and 30 nodes (issue 10, issue 13, issue 20).

    python benchmarks/doctor.py [--sizes 2 10 30] [--runs 5]

Each size: a fresh lab with its swarm formed (`lab up --nodes N --swarm`), then the
doctor `--runs` times right away, and `--runs` times again once the lab has settled (the
machine below half a CPU busy: the daemons have done what the joins set off). Printed
per size and moment: the doctor's seconds (median, min, max), the lines its default report
prints (what `swarmlab doctor` shows; median and most over the runs: it should fit on one
screen), the most errors and warnings any run found and what the worst run found (a healthy
lab must have no error in any run: the probes must not cry wolf; right after the joins,
warnings say what is still joining, and the default report leaves them out, saying what is
settling), and the machine's 1-minute load average before and after - on a shared 2-core
machine the load says how far the figures can be trusted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from swarmlab.cli.doctor import default_report  # noqa: E402
from swarmlab.cluster import Cluster  # noqa: E402
from swarmlab.doctor import diagnose, gather  # noqa: E402
from swarmlab.lab import Lab, teardown  # noqa: E402

TARGETS = {2: 2.0, 10: 5.0, 30: 5.0}  # seconds
# "Settled": the machine uses less than this many CPUs (the lab's daemons have done what a
# join sets off: ingress networks, gossip; a 30-node lab here keeps ~0.1 CPU busy at rest).
QUIET_CORES = 0.5


def cpu_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def wait_until_quiet(cores: float = QUIET_CORES, window: float = 2.0, limit: float = 120.0) -> float:
    """Wait until the machine uses less than `cores` CPUs over `window` seconds; the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = cpu_busy_seconds()
        time.sleep(window)
        if (cpu_busy_seconds() - before) / window < cores:
            break
    return time.monotonic() - started


def time_doctor(cluster: Cluster, runs: int) -> tuple[list[float], list[pd.DataFrame], list[int], float, float]:
    """Each run's seconds (gather and diagnose), findings, and lines of the default report."""
    load_before = os.getloadavg()[0]
    durations, findings, lines = [], [], []
    for _ in range(runs):
        started = time.monotonic()
        facts = gather(cluster)
        findings.append(diagnose(facts))
        durations.append(time.monotonic() - started)
        lines.append(len(default_report(facts, findings[-1]).splitlines()))
    return durations, findings, lines, load_before, os.getloadavg()[0]


def row(nodes: int, when: str, measured) -> dict:
    """Errors and warnings are counted in every run (the most any run had), and the problems
    shown are those of the run with the most errors, then warnings: a healthy lab has none in any."""
    durations, findings, lines, load_before, load_after = measured
    counts = [f["severity"].value_counts() for f in findings]
    worst = max(range(len(findings)), key=lambda i: (counts[i].get("error", 0), counts[i].get("warning", 0)))
    problems = findings[worst][findings[worst]["severity"] != "info"]
    kinds = problems.groupby(["severity", "check"]).size()
    return {"nodes": nodes, "when": when, "runs": len(durations),
            "median s": round(statistics.median(durations), 2),
            "min s": round(min(durations), 2), "max s": round(max(durations), 2),
            "target s": TARGETS.get(nodes, 5.0),
            "lines med": int(statistics.median(lines)), "lines max": max(lines), "errors": max(int(c.get("error", 0)) for c in counts),
            "warnings": max(int(c.get("warning", 0)) for c in counts),
            "load before": round(load_before, 1), "load after": round(load_after, 1),
            "problems (worst run)": "; ".join(f"{n} {sev} {check}" for (sev, check), n in kinds.items())[:120]}


def time_size(nodes: int, runs: int) -> list[dict]:
    lab = Lab(name=f"bdoc{nodes}-{uuid.uuid4().hex[:4]}", nodes=nodes)
    try:
        lab.up()
        lab.form_swarm()
        cluster = Cluster.from_lab(lab)
        right_after = time_doctor(cluster, runs)
        waited = wait_until_quiet()
        settled = time_doctor(cluster, runs)
    finally:
        teardown(lab.name)
    return [row(nodes, "right after form_swarm", right_after),
            row(nodes, f"settled ({waited:.0f} s wait)", settled)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[2, 10, 30])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    pd.set_option("display.width", 220)
    rows = [r for n in args.sizes for r in time_size(n, args.runs)]
    print(f"The doctor on healthy labs ({os.cpu_count()} cores; load = 1-minute load average)")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
