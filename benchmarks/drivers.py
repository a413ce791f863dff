"""Both lab drivers in the same run: namespaces on this machine, and node containers on a Docker engine,
the nodes running this machine's Docker (20.10) or a chosen one (docker:28, Debian sid's).

    python benchmarks/drivers.py [--runs 3] [--engine URL] [--drivers namespaces,docker,docker:28]

Per driver, median of the runs (seconds): lab up, 2-node swarm formed (from the start),
2 replicas of a service running on the two nodes, teardown; then the article's story
end to end (up, node2 behind the VPN routes joins, the failure seen, doctor, fix,
service recreated, verified, down). Targets for the docker driver: swarm < 3 s,
story < 10 s, teardown < 3 s. A story whose ping stays lost because a node never
programmed the other's new task (lesson 5) gets lesson 5's remedy, and its row says
how many runs needed it: the 40 s wait for the ping is in that run's time.

Without --engine the engine is the dockerd of a one-node namespace lab (root), as in
the tests; its node image is built first, not timed. The workers' dockerd logs are
searched for the slow-join symptom ("failed to retrieve remote root CA certificate").
The load average is printed: figures taken while the machine is busy are marked.
For each docker:VERSION: the node image built from its cached root file system (`make test-install`
or `swarmlab lab rootfs --docker VERSION` fills the cache; its download from Debian's registry is
not timed here, as a benchmark reaches nothing outside this machine), its size, and each phase's
ratio to plain docker's (target: no phase over 1.2).
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
from swarmlab import faults, story  # noqa: E402
from swarmlab.cluster import Cluster  # noqa: E402
from swarmlab.doctor import doctor  # noqa: E402
from swarmlab.fix import fix_gwbridge, recreate_service, restart_tasks, verify_service  # noqa: E402
from swarmlab.lab import IMAGE, Lab  # noqa: E402
from swarmlab.lab.docker import debian, nodeimage  # noqa: E402
from swarmlab.lab.docker.engine import connect  # noqa: E402
from _engine import SLOW_JOIN, engine  # noqa: E402

TARGETS = {"docker": {"swarm formed": 3.0, "story": 10.0, "teardown": 3.0}}
VERSION_RATIO = 1.2  # a chosen Docker's phase against the default node image's


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def lab_for(driver: str, engine: str | None) -> Lab:
    """`driver` is namespaces, docker, or docker:VERSION (the nodes' Docker)."""
    kind, _, docker = driver.partition(":")
    options = {"engine": engine, "docker": docker or None} if kind == "docker" else {}
    return Lab(name=name("bd"), driver=kind, **options)


def time_image(docker: str, url: str) -> dict[str, float]:
    """Seconds to build docker:VERSION's node image from its cached root file system, and its MB."""
    if not debian.rootfs_path(debian.release(docker)).exists():
        raise SystemExit(f"no cached root file system for Docker {docker}: run `swarmlab lab rootfs --docker {docker}`")
    client = connect(url)
    try:
        started = time.monotonic()
        image = nodeimage.ensure(client, rebuild=True, docker=docker, progress=None)
        return {"node image from the cached root fs": time.monotonic() - started,
                "node image MB": image.attrs.get("Size", 0) / 1e6}
    finally:
        client.close()


def time_phases(driver: str, engine: str | None) -> tuple[dict[str, float], int]:
    lab = lab_for(driver, engine)
    started = time.monotonic()
    times = {}
    try:
        lab.up()
        times["up"] = time.monotonic() - started
        lab.form_swarm()
        times["swarm formed"] = time.monotonic() - started
        cluster = Cluster.from_lab(lab)
        lab.manager.run(f"docker service create --detach --name s --replicas 2 {IMAGE} sleep infinity").check()
        story.wait_for_running(cluster, "s", 2, timeout=60)
        times["2 replicas running"] = time.monotonic() - started
        slow_joins = sum(n.run(f"grep -c '{SLOW_JOIN}' /var/log/dockerd.log").stdout.strip() not in ("", "0")
                         for n in list(lab.nodes.values())[1:])
    finally:
        down = time.monotonic()
        lab.down()
        times["teardown"] = time.monotonic() - down
    return times, slow_joins


def time_story(driver: str, engine: str | None) -> tuple[float, str]:
    """Seconds for the story, and how its verification went: "ok"; "dark, remedied" when the
    ping was lost only because a node never programmed the other's task and lesson 5's
    remedy (fix.restart_tasks) made it answer; else "FAILED" (the figure is still shown, marked)."""
    started = time.monotonic()
    lab = lab_for(driver, engine)
    try:
        lab.up()
        cluster = Cluster.from_lab(lab)
        faults.inject(cluster, "vpn-routes", node="node2")
        story.form_swarm(cluster)
        story.create_overlay(cluster).check()
        story.service_create(cluster, restart_delay="1s").check()
        story.wait_for_failure(cluster, node="node2", timeout=60)
        doctor(cluster)
        fix_gwbridge(cluster.node("node2"), like=cluster.manager)
        recreate_service(cluster)
        verification = verify_service(cluster, from_node="node2")
        outcome = "ok" if verification.ok else "FAILED"
        if not verification.ok and verification.missing_peer:
            outcome = "dark, remedied" if restart_tasks(cluster, from_node="node2").ok else "FAILED"
    finally:
        lab.down()
    return time.monotonic() - started, outcome


def with_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Each docker:VERSION phase's median over plain docker's, where both ran ("" elsewhere)."""
    base = table[table.driver == "docker"].set_index("phase")["median s"]

    def ratio(row) -> str:
        if not row.driver.startswith("docker:") or row.phase not in base.index or not base[row.phase]:
            return ""
        value = row["median s"] / base[row.phase]
        return f"{value:.2f}" + ("  ** over target **" if value > VERSION_RATIO else "")
    return table.assign(**{"vs docker": table.apply(ratio, axis=1)})


def load() -> str:
    one, five, _ = os.getloadavg()
    busy = one > 1.0  # 2 cores: anything much above 1 means others are working too
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores" + \
        ("  ** MEASURED WHILE THE MACHINE IS LOADED BY OTHER WORK: not honest figures **" if busy else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", default=None, help="a Docker engine URL (default: a one-node namespace lab's)")
    parser.add_argument("--drivers", default="namespaces,docker")
    args = parser.parse_args()
    with engine(args.engine, subnet="10.214.0.0/24") as url:
        print(f"before: {load()}")
        rows, stories, slow = [], {}, {}
        for driver in args.drivers.split(","):
            runs = []
            slow[driver] = 0
            for _ in range(args.runs):
                times, slow_joins = time_phases(driver, url)
                runs.append(times)
                slow[driver] += slow_joins
            for phase in runs[0]:
                target = TARGETS.get(driver, {}).get(phase)
                rows.append({"driver": driver, "phase": phase,
                             "median s": round(statistics.median(r[phase] for r in runs), 2),
                             "max s": round(max(r[phase] for r in runs), 2),
                             "target s": target if target else ""})
            if driver.startswith("docker:"):
                for phase, value in time_image(driver.split(":")[1], url).items():
                    rows.append({"driver": driver, "phase": phase, "median s": round(value, 2), "max s": "",
                                 "target s": ""})
            stories[driver] = [time_story(driver, url) for _ in range(args.runs)]
            seconds = [t for t, _ in stories[driver]]
            outcomes = [o for _, o in stories[driver]]
            noted = ", ".join(f"{outcomes.count(o)} {o}" for o in ("dark, remedied", "FAILED") if o in outcomes)
            rows.append({"driver": driver, "phase": "story end to end" + (f" ({noted})" if noted else ""),
                         "median s": round(statistics.median(seconds), 2), "max s": round(max(seconds), 2),
                         "target s": TARGETS.get(driver, {}).get("story", "")})
        print(f"after:  {load()}")
        print(f"engine: {url}; runs per figure: {args.runs}")
        table = pd.DataFrame(rows)
        print(with_ratios(table).to_string(index=False))
        for driver, count in slow.items():
            print(f"{driver}: workers whose dockerd log shows '{SLOW_JOIN}': {count} of {args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
