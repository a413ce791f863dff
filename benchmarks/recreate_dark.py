"""How often the overlay stays dark after the fix and a re-created service (lesson 5's story).

    python benchmarks/recreate_dark.py [--runs 3] [--busy 0] [--driver namespaces|docker]
                                       [--fault pools-exhausted|vpn-routes]

Each run: a fresh 2-node lab, the fault on node2, the swarm, uber-net, the service
failing on node2, the fault's fix (pools-exhausted: `docker network prune` and the fault
undone, then docker_gwbridge comes back; vpn-routes: fix.fix_gwbridge), then
fix.recreate_service and fix.verify_service from node2. A dark run (ping lost for 40 s)
is then given fix.restart_tasks (`docker service update --force`) and verified again;
its verification (pings, peers, forwarding tables) is printed to stderr.

`--driver docker` runs the labs as node containers on the dockerd of a one-node
namespace lab. `--busy N` runs N busy loops meanwhile, as a loaded machine. Prints one row per run and the totals, with the load
average.
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
from swarmlab import faults, fix, story  # noqa: E402
from swarmlab.cluster import Cluster  # noqa: E402
from swarmlab.lab import Lab, teardown  # noqa: E402
from swarmlab.lab.docker import nodeimage  # noqa: E402
from swarmlab.lab.docker.engine import connect  # noqa: E402


def fix_fault(cluster: Cluster, fault: str) -> None:
    node2 = cluster.node("node2")
    if fault == "pools-exhausted":
        node2.run("docker network prune -f").check()
        faults.undo(cluster, fault, node="node2")
        story.wait_for_network(cluster, "docker_gwbridge", nodes=["node2"], timeout=20)
    else:
        fix.fix_gwbridge(node2, like=cluster.manager)


def one_run(fault: str, lab_options: dict) -> dict:
    lab = Lab(name=f"bdark-{uuid.uuid4().hex[:4]}", **lab_options)
    try:
        lab.up()
        cluster = Cluster.from_lab(lab)
        faults.inject(cluster, fault, node="node2")
        story.form_swarm(cluster)
        story.create_overlay(cluster).check()
        story.service_create(cluster, restart_delay="1s").check()
        story.wait_for_failure(cluster, node="node2")
        fix_fault(cluster, fault)
        fix.recreate_service(cluster)
        first = fix.verify_service(cluster, from_node="node2")
        row = {"dark": not first.ok, "missing peer": first.missing_peer, "after update --force": ""}
        if not first.ok:
            print(first.terminal(), file=sys.stderr, flush=True)  # what each node knew, for the record
            row["after update --force"] = "answered" if fix.restart_tasks(cluster, from_node="node2").ok else "dark"
        return row
    finally:
        teardown(lab.name, **({"engine": lab_options["engine"], "driver": "docker"} if "engine" in lab_options else {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="busy loops to run meanwhile")
    parser.add_argument("--driver", choices=("namespaces", "docker"), default="namespaces")
    parser.add_argument("--fault", choices=("pools-exhausted", "vpn-routes"), default="pools-exhausted")
    args = parser.parse_args()
    engine_lab, lab_options = None, {}
    if args.driver == "docker":
        engine_lab = Lab(name=f"bdeng-{uuid.uuid4().hex[:4]}", nodes=1, subnet="10.218.0.0/24").up()
        lab_options = {"driver": "docker", "engine": engine_lab.node("node1").docker_host}
        client = connect(lab_options["engine"])
        nodeimage.ensure(client, progress=lambda line: print(line, file=sys.stderr))
        client.close()
    busy = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(args.busy)]
    try:
        rows = []
        for i in range(args.runs):
            rows.append({"run": i, **one_run(args.fault, lab_options), "load": round(os.getloadavg()[0], 1)})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=(i == 0)), flush=True)
    finally:
        for p in busy:
            p.kill()
        if engine_lab is not None:
            teardown(engine_lab.name)
    table = pd.DataFrame(rows)
    print(f"\n{int(table['dark'].sum())} dark of {len(table)} runs ({args.driver} driver, {args.fault}, "
          f"{args.busy} busy loops); "
          f"after update --force: {', '.join(v for v in table['after update --force'] if v) or 'not needed'}")


if __name__ == "__main__":
    main()
