"""Break-fix drills: a fault the student is not told, found and repaired with their own commands.

    >>> d = drill.start(cluster, seed=42)     # a fault from faults.FAULTS, chosen by the seed
    >>> drill.check(cluster)                  # behaviour only: placement, overlay, large packets, join port
    >>> drill.reveal(cluster, d)              # what it was, and the doctor's evidence

The seed alone decides the fault and the node (`choose`), so a whole class given one seed
gets one drill (with one swarmlab version: the registry grows). Only faults that `check`
sees are picked, each on the node where it bites (`faults.Fault.drill_target`): a fault
that leaves check passing would be "repaired" before anyone touched it. `check` never looks at
what was typed or at the fault's own rules: it deploys a probe service and sends traffic,
so any repair that works passes. The CLI keeps the drill (seed, fault, node) on the host,
in the lab's state folder, readable by root only; a node's /run is its own and does not
show it.
"""
from __future__ import annotations

import json
import os
import random
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from . import faults, story, swarm
from .cluster import Cluster, Node
from .doctor import doctor
from .errors import SwarmlabError
from .lab import state_root

PROBE_SERVICE = "drill-check"
PROBE_NETWORK = "drill-check-net"
# ICMP payload for the large ping: a 1428-byte IP packet, under the overlay's 1450 MTU,
# that needs the underlay to carry 1478 bytes with the VXLAN header (a full 1500 path).
LARGE_PAYLOAD = 1400
SWARM_PORT = 2377  # what a joining node dials first
PLACE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Drill:
    seed: int
    fault: str
    node: str


def candidates() -> list[str]:
    """The faults a drill may pick, in name order: those whose check fails until they are repaired.

    A fault with no `drill_target` leaves check passing with no repair at all (its
    `not_drillable` says why), so a drill of it would teach nothing.
    """
    return sorted(name for name, spec in faults.FAULTS.items() if spec.drillable)


def choose(cluster: Cluster, seed: int, among=None) -> Drill:
    """The fault and the node it goes to, from the seed alone.

    The fault comes from `among` (names in the registry), by default every drillable fault
    (`candidates()`), in name order. A lesson names its candidates, so a recorded run
    replays whatever faults are added to the registry later. The node is a worker drawn
    by the seed, or the manager for a fault that bites there (`drill_target`).
    """
    names = sorted(among or candidates())
    for name in names:
        spec = faults.fault_named(name)
        if not spec.drillable:
            raise SwarmlabError(f"{name} cannot be a drill: {spec.not_drillable}")
    rng = random.Random(int(seed))
    fault = rng.choice(names)
    workers = sorted(n.name for n in cluster if n is not cluster.manager)
    if not workers:
        raise SwarmlabError("a drill needs a manager and at least one worker; bring up a lab with two nodes or more")
    worker = rng.choice(workers)  # drawn for every fault, so the draws stay the same whatever the target
    node = cluster.manager.name if faults.fault_named(fault).drill_target == "manager" else worker
    return Drill(int(seed), fault, node)


def start(cluster: Cluster, seed: int, among=None) -> Drill:
    """Form the swarm if needed, inject the seed's fault into its node, and deploy the article's service on uber-net."""
    if not swarm.in_swarm(cluster.manager):
        story.form_swarm(cluster)
        swarm.wait_for_join(cluster)
    d = choose(cluster, seed, among)
    node = cluster.node(d.node)
    if faults.fault_named(d.fault).acts_at_join and swarm.in_swarm(node):
        # Out first, then the fault, then the join: a fault that fills the address pools
        # must find docker_gwbridge's pool already given back, or the join takes it again.
        story.leave(cluster, node)
        faults.inject(cluster, d.fault, d.node)
        before = swarm.join_failures(node)  # an earlier drill's failed join is in the log too
        story.swarm_join(cluster, node).check()
        joined = swarm.wait_for_join(cluster, nodes=[node], failures_before={node.name: before})
        if joined[node.name] != "failed":  # never hand a student a drill with nothing broken
            raise SwarmlabError(f"the drill did not take: {node.name} joined with a working docker_gwbridge; "
                                f"run `swarmlab drill start` again (seed {d.seed})")
    else:
        faults.inject(cluster, d.fault, d.node)
    if not cluster.manager.run(f"docker network inspect {story.NETWORK}").ok:
        story.create_overlay(cluster).check()
    if not cluster.manager.run(f"docker service inspect {story.SERVICE}").ok:
        story.service_create(cluster).check()
    return d


# --- check: behaviour only ------------------------------------------------------------
@dataclass
class Outcome:
    check: str
    passed: bool
    evidence: str


def check(cluster: Cluster, timeout: float = PLACE_TIMEOUT) -> pd.DataFrame:
    """Does the swarm work? A global probe service on a fresh overlay, traffic between its tasks.

    Rows: check, passed, evidence (the commands run and what they printed). The probe
    service and network are removed at the end, whatever happened.
    """
    outcomes: list[Outcome] = []
    manager = cluster.manager
    _remove_probe(cluster)
    try:
        manager.run(f"docker network create -d overlay {PROBE_NETWORK}").check()
        # `sleep` as PID 1 ignores SIGTERM: without a short grace period, `service rm` waits 10 s per task.
        # A task that fails is retried after 1 s, not Docker's 5 s, so a broken node is seen sooner.
        manager.run(f"docker service create --detach --mode global --stop-grace-period 1s --restart-delay 1s "
                    f"--name {PROBE_SERVICE} --network {PROBE_NETWORK} {story.IMAGE} sleep infinity").check()
        running = _wait_for_placement(cluster, timeout)
        missing = [n.name for n in cluster if n.name not in running]
        outcomes.append(Outcome("a task runs on every node", not missing,
                                _placement_evidence(cluster, running, missing)))
        addresses = {name: _overlay_address(cluster.node(name), cid) for name, cid in running.items()}
        for label, size in (("ping over the overlay", None), (f"a {LARGE_PAYLOAD + 28}-byte packet over the overlay",
                                                               LARGE_PAYLOAD)):
            outcomes.append(_pings(cluster, running, addresses, label, size))
        outcomes.append(_join_port(cluster))
    finally:
        _remove_probe(cluster)
    return pd.DataFrame([asdict(o) for o in outcomes], columns=["check", "passed", "evidence"])


def passed(outcomes: pd.DataFrame) -> bool:
    return bool(len(outcomes)) and bool(outcomes["passed"].all())


def _remove_probe(cluster: Cluster) -> None:
    manager = cluster.manager
    manager.run(f"docker service rm {PROBE_SERVICE} 2>/dev/null; true")
    # Until every task is gone the network is in use: each node removes the probe's containers at
    # once, instead of waiting for Docker to stop them (about 5 s more per check).
    cluster.run_all(swarm.remove_task_containers(PROBE_SERVICE))
    deadline = cluster.clock.now() + 20
    while manager.run(f"docker network inspect {PROBE_NETWORK} >/dev/null 2>&1 || echo gone").stdout.strip() != "gone":
        manager.run(f"docker network rm {PROBE_NETWORK}")
        if cluster.clock.now() > deadline:
            raise SwarmlabError(f"the probe network {PROBE_NETWORK} is still there after 20 s; "
                                f"`docker network rm {PROBE_NETWORK}` on {manager.name} says why")
        cluster.clock.sleep(0.5)


def _wait_for_placement(cluster: Cluster, timeout: float) -> dict[str, str]:
    """node -> the probe's running container id, once every node runs one (or the time is up)."""
    deadline = cluster.clock.now() + timeout
    while True:
        running = {}
        for node in cluster:
            cid = node.run(f"docker ps -q --filter label=com.docker.swarm.service.name={PROBE_SERVICE} "
                           "--filter status=running").stdout.split()
            if cid:
                running[node.name] = cid[0]
        if len(running) == len(cluster.nodes) or cluster.clock.now() > deadline:
            return running
        if _keeps_failing(cluster, set(cluster.nodes) - set(running)):
            return running
        cluster.clock.sleep(1.0)


def _keeps_failing(cluster: Cluster, missing: set[str], failures: int = 2) -> bool:
    """A node whose probe task has failed `failures` times will not run it (Docker retries in vain)."""
    tasks = swarm.tasks(cluster, PROBE_SERVICE)
    failed = swarm.failed(tasks)
    return any((failed["node"] == name).sum() >= failures for name in missing)


def _placement_evidence(cluster: Cluster, running: dict[str, str], missing: list[str]) -> str:
    lines = [f"{n}: running {cid}" for n, cid in running.items()]
    if missing:
        ps = cluster.manager.run(f"docker service ps --no-trunc {PROBE_SERVICE}")
        lines += [f"no running task on {', '.join(missing)}", ps.terminal().rstrip()]
        for name, ids in _recent_tasks(cluster, missing).items():
            lines.append(_task_log(cluster.node(name), ids) if ids else
                         f"{name} was given no task of the probe: is it Ready and Active in `docker node ls`?")
    return "\n".join(lines)


def _recent_tasks(cluster: Cluster, nodes: list[str], count: int = 3) -> dict[str, list[str]]:
    """node -> the ids of the probe's newest tasks there: the one now tried and those that failed before it."""
    table = swarm.tasks(cluster, PROBE_SERVICE)
    return {name: list(table[table["node"] == name]["id"][:count]) for name in nodes}


def _task_log(node: Node, task_ids: list[str]) -> str:
    """What the node's daemon logged about these tasks: why they failed, or where one waits."""
    patterns = " ".join(f"-e {shlex.quote(f'task.id={t}')}" for t in task_ids)
    return node.run(f"{swarm.DOCKERD_LOG} | grep -F {patterns} | tail -n 8",
                    timeout=30).terminal().rstrip()


def _overlay_address(node: Node, container: str) -> str:
    template = "{{(index .NetworkSettings.Networks \"" + PROBE_NETWORK + "\").IPAddress}}"
    return node.run(f"docker inspect --format {shlex.quote(template)} {container}").stdout.strip()


def _pings(cluster: Cluster, running: dict[str, str], addresses: dict[str, str], label: str,
           size: int | None) -> Outcome:
    if len(running) < 2:
        return Outcome(label, False, "fewer than two nodes run a probe task: nothing to ping between")
    # Every pair at once; -A sends the second ping as soon as the first is answered.
    pairs = [(source, cid, target, address) for source, cid in running.items()
             for target, address in addresses.items() if target != source]

    def ping(pair):
        source, cid, target, address = pair
        command = f"docker exec {cid} ping -A -c 2 -W 2 {'-s %d ' % size if size else ''}{address}"
        result = cluster.node(source).run(command, timeout=20)
        summary = [l for l in result.stdout.splitlines() if "packets transmitted" in l] or \
            [(result.stderr.strip() or "no answer")]
        return result.ok, f"[{source}]$ {command}\n  {target}: {summary[0]}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ping, pairs))
    return Outcome(label, all(ok for ok, _ in answers), "\n".join(line for _, line in answers))



def _join_port(cluster: Cluster) -> Outcome:
    """A node that joins first dials the manager's 2377: every other node must reach it."""
    address = cluster.manager.address
    lines, ok = [], True
    for node in cluster:
        if node is cluster.manager:
            continue
        command = f"timeout 5 bash -c {shlex.quote(f'exec 3<>/dev/tcp/{address}/{SWARM_PORT}')} && echo open"
        result = node.run(command, timeout=15)
        ok = ok and "open" in result.stdout
        lines.append(f"[{node.name}]$ {command}\n  {result.stdout.strip() or result.stderr.strip() or 'closed'}")
    return Outcome(f"the manager's port {SWARM_PORT} answers (a new node can join)", ok, "\n".join(lines))


# --- reveal ---------------------------------------------------------------------------
def reveal(cluster: Cluster, d: Drill) -> str:
    """What the drill broke, and what the doctor finds on the swarm now (its evidence)."""
    spec = faults.fault_named(d.fault)
    findings = doctor(cluster)
    serious = findings[findings["severity"].isin(["error", "warning"])]
    lines = [f"drill seed {d.seed}: {d.fault} on {d.node}", f"  {spec.description}", "",
             "what the doctor finds now:" if len(serious) else "the doctor finds nothing wrong now (repaired?)"]
    for row in serious.itertuples():
        lines += [f"- {row.severity} on {row.node}: {row.check}: {row.cause}",
                  *("    " + l for l in str(row.evidence).splitlines())]
    return "\n".join(lines)


# --- where the CLI keeps a drill: the host, root only -----------------------------------
def secret_path(lab_name: str) -> Path:
    return state_root() / lab_name / "drill.json"


def save(lab_name: str, d: Drill) -> Path:
    path = secret_path(lab_name)
    if not path.parent.is_dir():
        raise SwarmlabError(f"lab {lab_name!r} is not up here (no {path.parent}); `swarmlab lab up --name {lab_name}`")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(d), f)
    os.chmod(path, 0o600)
    return path


def load(lab_name: str) -> Drill:
    path = secret_path(lab_name)
    try:
        return Drill(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise SwarmlabError(f"no drill started on lab {lab_name!r}; `swarmlab drill start --lab {lab_name}`") from None
