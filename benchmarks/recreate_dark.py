"""How often the overlay stays dark after the fix and a re-created service (lesson 5's story).

    python benchmarks/recreate_dark.py [--runs 3] [--busy 0]

Each run: a fresh 2-node lab, pools-exhausted on node2, the swarm, uber-net, the service
failing on node2, `docker network prune`, the fault undone, docker_gwbridge back,
fix.recreate_service, then fix.verify_service from node2. A dark run (ping lost for 40 s)
is then given fix.restart_tasks (`docker service update --force`) and verified again.
`--busy N` runs N busy loops meanwhile, as a loaded machine. Prints one row per run and
the totals, with the load average.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from swarmlab import faults, story  # noqa: E402
from swarmlab.cluster import Cluster  # noqa: E402
from swarmlab.fix import recreate_service, restart_tasks, verify_service  # noqa: E402
from swarmlab.lab import Lab, teardown  # noqa: E402


def one_run() -> dict:
    lab = Lab(name=f"bdark-{uuid.uuid4().hex[:4]}")
    try:
        lab.up()
        cluster = Cluster.from_lab(lab)
        node2 = cluster.node("node2")
        faults.inject(cluster, "pools-exhausted", node="node2")
        story.form_swarm(cluster)
        story.create_overlay(cluster).check()
        story.service_create(cluster, restart_delay="1s").check()
        story.wait_for_failure(cluster, node="node2")
        node2.run("docker network prune -f").check()
        faults.undo(cluster, "pools-exhausted", node="node2")
        story.wait_for_network(cluster, "docker_gwbridge", nodes=["node2"], timeout=20)
        recreate_service(cluster)
        first = verify_service(cluster, from_node="node2")
        row = {"dark": not first.ok, "missing peer": first.missing_peer, "after update --force": ""}
        if not first.ok:
            row["after update --force"] = "answered" if restart_tasks(cluster, from_node="node2").ok else "dark"
        return row
    finally:
        teardown(lab.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="busy loops to run meanwhile")
    args = parser.parse_args()
    busy = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(args.busy)]
    try:
        rows = []
        for i in range(args.runs):
            rows.append({"run": i, **one_run(), "load": round(os.getloadavg()[0], 1)})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=(i == 0)), flush=True)
    finally:
        for p in busy:
            p.kill()
    table = pd.DataFrame(rows)
    print(f"\n{int(table['dark'].sum())} dark of {len(table)} runs with {args.busy} busy loops; "
          f"after update --force: {', '.join(v for v in table['after update --force'] if v) or 'not needed'}")


if __name__ == "__main__":
    main()
