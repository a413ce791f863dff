"""What `docker container start` of a Created task container on node2 answers, and when.

    python benchmarks/start_answer.py [--runs 5] [--seconds 35] [--interval 0.5] [--restart-delay 1s]

Lesson 4 starts by hand a container the failing task left on node2 (no
docker_gwbridge, the vpn-routes fault), as the article's author did. Each run
builds a lab, lets the task fail, then starts the newest Created container every
`interval` seconds for `seconds` seconds, and notes around each start whether
node2 lists uber-net (before and after the start) and whether the scheduler has
moved the replica to node1 yet. The table counts the answers (story.start_answer)
by phase; any answer other than the two lesson 4 accepts shows up as its own row.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from swarmlab import faults, story  # noqa: E402
from swarmlab.cluster import Cluster  # noqa: E402
from swarmlab.lab import Lab, teardown  # noqa: E402

NETWORKS = "docker network ls --format '{{.Name}}'"


def failed_on_node2(lab: Lab, restart_delay: str | None) -> Cluster:
    cluster = Cluster.from_lab(lab)
    faults.inject(cluster, "vpn-routes", node="node2")
    story.form_swarm(cluster)
    story.create_overlay(cluster).check()
    story.service_create(cluster, restart_delay=restart_delay).check()
    story.wait_for_failure(cluster, node="node2", timeout=30)
    return cluster


def one_run(run: int, seconds: float, interval: float, restart_delay: str | None) -> list[dict]:
    name = f"sa-{uuid.uuid4().hex[:6]}"
    try:
        cluster = failed_on_node2(Lab(name=name).up(), restart_delay)
        node2 = cluster.node("node2")
        rows, started = [], time.monotonic()
        while (t := time.monotonic() - started) < seconds:
            created = story.task_containers(node2)
            moved = story.placement(story.tasks(cluster)) == {"node1": 2}
            before = story.NETWORK in node2.run(NETWORKS).stdout.split()
            answer = story.start_answer(story.container_start(node2, created["id"].iloc[0])) \
                if not created.empty else "no Created container"
            after = story.NETWORK in node2.run(NETWORKS).stdout.split()
            rows.append({"run": run, "t": round(t, 1), "phase": "replica moved to node1" if moved else
                         "scheduler retrying on node2", "uber-net before": before, "uber-net after": after,
                         "answer": answer})
            time.sleep(max(0.0, interval - (time.monotonic() - started - t)))
        return rows
    finally:
        teardown(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=35)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--restart-delay", default=story.QUICK_RESTART_DELAY,
                        help="the service's --restart-delay (lesson 4's; Docker's default is 5s)")
    args = parser.parse_args()
    rows = []
    for run in range(args.runs):
        rows += one_run(run, args.seconds, args.interval, args.restart_delay)
        print(f"run {run + 1}/{args.runs}: {sum(r['run'] == run for r in rows)} starts", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    print(f"\n{len(table)} starts in {args.runs} runs, every {args.interval} s for {args.seconds} s after "
          f"the first failure on node2, --restart-delay {args.restart_delay} (numbers from a shared machine: "
          "the timing varies with its load)\n")
    print(table.groupby(["phase", "uber-net before", "uber-net after", "answer"]).size()
          .rename("starts").reset_index().to_string(index=False))
    first = table[table.groupby("run")["t"].transform("min") == table["t"]]
    print("\nfirst start of each run (as lesson 4 does, right after the failure):")
    print(first["answer"].value_counts().to_string())
    moved = table[table["phase"] == "replica moved to node1"].groupby("run")["t"].min()
    print(f"\nreplica on node1 after (s): {', '.join(f'{t:.1f}' for t in moved)}")


if __name__ == "__main__":
    main()
