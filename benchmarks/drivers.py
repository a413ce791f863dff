"""The lab drivers in the same run: namespaces on this machine (root), userns (a plain user's own user
namespaces), and node containers on a Docker engine, the nodes running this machine's Docker (20.10)
or a chosen one (docker:28, Debian sid's).

    python benchmarks/drivers.py [--runs 3] [--engine URL] [--drivers namespaces,userns,docker,docker:28] [--big 10]

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
Memory per node: the proportional set size (Pss) of the lab's processes on this machine, with the
swarm formed and 2 replicas running, over the nodes (drivers whose processes run elsewhere: "").
userns run as root: its figures are a plain user's, made for the run (subordinate ids, no groups)
and removed after it; targets: each phase within 1.2x of namespaces', swarm < 2 s, story < 8 s.
--big N: one lab of N nodes per driver, up and swarm formed (every node joined), timed once.
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
from contextlib import nullcontext
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

TARGETS = {"docker": {"swarm formed": 3.0, "story": 10.0, "teardown": 3.0},
           "userns": {"swarm formed": 2.0, "story": 8.0}}
VERSION_RATIO = 1.2  # a chosen Docker's phase against the default node image's
USERNS_RATIO = 1.2  # a userns phase against the namespaces driver's


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def lab_for(driver: str, engine: str | None, nodes: int = 2) -> Lab:
    """`driver` is namespaces, userns, docker, or docker:VERSION (the nodes' Docker)."""
    kind, _, docker = driver.partition(":")
    options = {"engine": engine, "docker": docker or None} if kind == "docker" else {}
    return Lab(name=name("bd"), driver=kind, nodes=nodes, **options)


def memory_per_node_mb(lab: Lab) -> float | str:
    """The Pss of the lab's processes on this machine, over its nodes ("" where they run elsewhere)."""
    total_kb = 0
    pids = lab.driver.processes()
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # gone meanwhile, or a kernel thread
        total_kb += sum(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    return round(total_kb / 1024 / len(lab.nodes), 1) if pids else ""


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
        times["memory per node MB"] = memory_per_node_mb(lab)
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


def time_big(driver: str, engine: str | None, nodes: int) -> dict[str, float]:
    """Seconds for one lab of `nodes` nodes: up, and its swarm formed (every node joined), from the start."""
    lab = lab_for(driver, engine, nodes=nodes)
    started = time.monotonic()
    try:
        lab.up()
        lab.form_swarm()
        return {f"{nodes} nodes: swarm formed": time.monotonic() - started}
    finally:
        lab.down()


def with_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Each docker:VERSION phase's median over plain docker's, and each userns phase's over the
    namespaces driver's, where both ran ("" elsewhere)."""
    bases = {kind: table[table.driver == kind].set_index("phase")["median s"] for kind in ("docker", "namespaces")}

    def ratio(row) -> str:
        kind, limit = ("docker", VERSION_RATIO) if row.driver.startswith("docker:") else ("namespaces", USERNS_RATIO)
        base = bases[kind]
        if row.driver == kind or not (row.driver.startswith("docker:") or row.driver == "userns") \
                or row.phase not in base.index or not isinstance(base[row.phase], float) or not base[row.phase]:
            return ""
        value = row["median s"] / base[row.phase]
        return f"{value:.2f}" + ("  ** over target **" if value > limit and "MB" not in row.phase else "")
    return table.assign(**{"ratio": table.apply(ratio, axis=1)})


def load() -> str:
    one, five, _ = os.getloadavg()
    busy = one > 1.0  # 2 cores: anything much above 1 means others are working too
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores" + \
        ("  ** MEASURED WHILE THE MACHINE IS LOADED BY OTHER WORK: not honest figures **" if busy else "")


def measure(driver: str, url: str | None, runs: int, big: int) -> tuple[list[dict], int]:
    """The table's rows for one driver, and how many of its workers joined slowly."""
    rows, times, slow = [], [], 0
    for _ in range(runs):
        phases, slow_joins = time_phases(driver, url)
        times.append(phases)
        slow += slow_joins
    for phase in times[0]:
        values = [t[phase] for t in times]
        numbers = all(isinstance(v, float) for v in values)
        rows.append({"driver": driver, "phase": phase,
                     "median s": round(statistics.median(values), 2) if numbers else values[0],
                     "max s": round(max(values), 2) if numbers else "",
                     "target s": TARGETS.get(driver, {}).get(phase, "")})
    if driver.startswith("docker:"):
        for phase, value in time_image(driver.split(":")[1], url).items():
            rows.append({"driver": driver, "phase": phase, "median s": round(value, 2), "max s": "", "target s": ""})
    stories = [time_story(driver, url) for _ in range(runs)]
    seconds, outcomes = [t for t, _ in stories], [o for _, o in stories]
    noted = ", ".join(f"{outcomes.count(o)} {o}" for o in ("dark, remedied", "FAILED") if o in outcomes)
    rows.append({"driver": driver, "phase": "story end to end" + (f" ({noted})" if noted else ""),
                 "median s": round(statistics.median(seconds), 2), "max s": round(max(seconds), 2),
                 "target s": TARGETS.get(driver, {}).get("story", "")})
    if big and not driver.startswith("docker"):
        for phase, value in time_big(driver, url, big).items():
            rows.append({"driver": driver, "phase": phase, "median s": round(value, 2), "max s": "", "target s": ""})
    return rows, slow


def measure_as_student(runs: int, big: int) -> tuple[list[dict], int]:
    """The userns rows when root runs the benchmark: this script again, as a plain user made for it."""
    import json
    import subprocess
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import as_user, plain_user
    with plain_user("bun", subids=True) as (_, uid, home):
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}
        ran = subprocess.run([*as_user(uid), sys.executable, __file__, "--drivers", "userns", "--runs", str(runs),
                              "--big", str(big), "--json"], capture_output=True, text=True, cwd=ROOT, env=env)
    if ran.returncode != 0:
        raise SystemExit(f"the userns benchmark as a plain user failed:\n{ran.stderr[-3000:]}")
    found = json.loads(ran.stdout.splitlines()[-1])
    return found["rows"], found["slow"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", default=None, help="a Docker engine URL (default: a one-node namespace lab's)")
    parser.add_argument("--drivers", default="namespaces,userns,docker")
    parser.add_argument("--big", type=int, default=0, help="also time one lab of this many nodes per driver")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (how root gets a plain user's)")
    args = parser.parse_args()
    drivers = args.drivers.split(",")
    if args.json:
        import json
        rows, slow = [], 0
        for driver in drivers:
            found, slowed = measure(driver, None, args.runs, args.big)
            rows, slow = rows + found, slow + slowed
        print(json.dumps({"rows": rows, "slow": slow}))
        return 0
    needs_engine = any(d.startswith("docker") for d in drivers)
    with (engine(args.engine, subnet="10.214.0.0/24") if needs_engine else nullcontext(None)) as url:
        print(f"before: {load()}")
        rows, slow = [], {}
        for driver in drivers:
            as_student = driver == "userns" and os.geteuid() == 0
            found, slow[driver] = measure_as_student(args.runs, args.big) if as_student else \
                measure(driver, url, args.runs, args.big)
            rows += found
        print(f"after:  {load()}")
        print(f"engine: {url or 'none'}; runs per figure: {args.runs}")
        print(with_ratios(pd.DataFrame(rows)).to_string(index=False))
        for driver, count in slow.items():
            print(f"{driver}: workers whose dockerd log shows '{SLOW_JOIN}': {count} of {args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
