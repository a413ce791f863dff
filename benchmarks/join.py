"""How long a worker's join takes on node containers (the docker driver), and whether the
slow join ever shows: the worker's dial of the manager's 2377 timing out for ~20 s
("failed to retrieve remote root CA certificate ... deadline exceeded") before it joins.

    python benchmarks/join.py [--runs 3] [--engine URL]

Each run: a fresh 2-node lab on the engine, then `swarm init` on node1 and node2's join,
timed from the init to node2 Ready in the manager's `node ls`. Four ways, the runs of each
in a row: joined through the node's Docker API (what `form_swarm` does) or with the
`docker swarm join` command in the node (what a user types); with no default route (the
driver's default) or with the engine's default route and nameserver (`--default-route`).
The table gives the median and slowest join, and how many workers' dockerd logs show the
symptom. Without --engine the engine is the dockerd of a one-node namespace lab (root).
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
from swarmlab.lab import Lab, dockerapi  # noqa: E402
from _engine import SLOW_JOIN, engine  # noqa: E402

READY = "docker node ls --format '{{.Hostname}} {{.Status}}'"


def join_seconds(engine: str, how: str, default_route: bool) -> tuple[float, bool]:
    """Seconds from `swarm init` to node2 Ready, and whether node2 logged the slow-join symptom."""
    lab = Lab(name=f"bj-{uuid.uuid4().hex[:6]}", driver="docker", engine=engine, default_route=default_route)
    try:
        lab.up()
        manager, worker = lab.node("node1"), lab.node("node2")
        started = time.monotonic()
        manager.run(["docker", "swarm", "init", "--advertise-addr", manager.address]).check()
        token = manager.run("docker swarm join-token -q worker").check().stdout.strip()
        if how == "api":
            dockerapi.join_swarm(worker, f"{manager.address}:2377", token)
        else:  # the token is on this command line: a benchmark's throwaway lab, not a lesson's
            worker.run(["docker", "swarm", "join", "--token", token, f"{manager.address}:2377"],
                       timeout=120).check()
        while "node2 Ready" not in manager.run(READY).stdout:
            time.sleep(0.05)
        seconds = time.monotonic() - started
        logged = worker.run(f"grep -c '{SLOW_JOIN}' /var/log/dockerd.log").stdout.strip() not in ("", "0")
        return seconds, logged
    finally:
        lab.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", default=None, help="a Docker engine URL (default: a one-node namespace lab's)")
    args = parser.parse_args()
    with engine(args.engine, subnet="10.217.0.0/24") as url:
        rows = []
        for how in ("api", "cli"):
            for default_route in (False, True):
                runs = [join_seconds(url, how, default_route) for _ in range(args.runs)]
                seconds = [s for s, _ in runs]
                rows.append({"join through": "node's Docker API" if how == "api" else "docker swarm join",
                             "default route": "yes, engine's DNS" if default_route else "no",
                             "runs": args.runs, "median s": round(statistics.median(seconds), 2),
                             "max s": round(max(seconds), 2),
                             "workers logging the symptom": sum(logged for _, logged in runs)})
        print(f"engine: {url}; a join is timed from `swarm init` to node2 Ready in `node ls`")
        print(pd.DataFrame(rows).to_string(index=False))
        print(f"symptom: '{SLOW_JOIN}' in node2's /var/log/dockerd.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
