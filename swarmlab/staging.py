"""Lessons on your own hosts: what a lesson changes there, said before, undone after.

On a local lab each lesson gets a fresh lab. On the hosts of an inventory it gets
the same starting point for real: the article's failure (VPN-like routes, one cause
that gives its error) injected into the worker over
SSH, the swarm formed, uber-net, the failing service (lessons.PREPARE). Before it
changes anything, the lesson prints the plan (which host, which command) and writes
a journal of the hosts' state; when it closes, or when it fails (the lesson runner
and the next lesson read the journal), the hosts are put back:

- the faults the lesson may inject are undone (each undo removes only what carries
  swarmlab's marks: routes with proto 199, networks labelled swarmlab.fault);
- the service's task containers are removed, and hosts that were not in a swarm
  leave it (when the manager leaves, the swarm's services go first);
- the local networks that appeared during the lesson (docker_gwbridge among them)
  are removed.

A host already in a swarm before the lesson is refused: the lessons build their own.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from . import faults, story, swarm
from .errors import StagingError

JOURNAL_DIR = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "swarmlab"
LOCAL_NETWORKS = "docker network ls --filter scope=local --format '{{.Name}}'"


def journal_path(inventory) -> Path:
    """Where the journal of the lesson running on `inventory` lives (one per inventory file)."""
    resolved = str(Path(inventory).expanduser().resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    return JOURNAL_DIR / f"lesson-{Path(resolved).stem}-{digest}.json"


# --- what each set-up step changes, in words -----------------------------------------
def plan(cluster, worker, steps, lesson_changes: list[str]) -> list[str]:
    """One line per change the set-up steps (lessons.PREPARE, by name) and the lesson's own
    cells make, host first. `worker` plays the article's node2."""
    manager = cluster.manager
    lines = []
    for step in (getattr(s, "__name__", s) for s in steps):
        if step == "_node2_fails_as_in_the_article":
            nic = faults.nic_of(worker)
            lines += [f"{worker.name}: ip route add {dst} dev {nic} proto {faults.ROUTE_PROTO}   "
                      f"(routes as a VPN client adds: Docker there finds no free address pool)"
                      for dst in faults.VPN_ROUTES]
        elif step == "_swarm":
            lines.append(f"{manager.name}: docker swarm init --advertise-addr {manager.address}")
            lines += [f"{n.name}: docker swarm join --token <worker token> {manager.address}:2377"
                      for n in cluster if n is not manager]
        elif step == "_overlay":
            lines.append(f"{manager.name}: docker network create -d overlay {story.NETWORK}")
        elif step in ("_failed_service", "_failed_service_retrying_quickly"):
            delay = f"--restart-delay {story.QUICK_RESTART_DELAY} " if step == "_failed_service_retrying_quickly" else ""
            lines.append(f"{manager.name}: docker service create {delay}--name {story.SERVICE} --network "
                         f"{story.NETWORK} --replicas 2 {story.IMAGE} sleep infinity   (needs {story.IMAGE} on every host)")
        else:
            raise StagingError(f"no description of set-up step {step!r}: say what it changes in staging.plan")
    names = {"manager": manager.name, "worker": worker.name}
    return lines + [change.format(**names) for change in lesson_changes]


def announce(cluster, lesson_id: str, lines: list[str]) -> str:
    undo = ("when the lesson closes (lesson.close()), or fails: the faults it injected undone, "
            "the hosts leave the swarm the lesson made, the service's containers and the networks the "
            "lesson created removed")
    if not lines:
        return f"lesson {lesson_id} changes nothing on your hosts"
    return "\n".join([f"lesson {lesson_id} changes your hosts ({cluster.source}):",
                      *(f"  {line}" for line in lines), f"  undone {undo}"])


# --- before, and back -----------------------------------------------------------------
def host_state(node) -> dict:
    # The answer itself, not swarm.state(): a host that cannot be asked is refused with dockerd's words.
    membership = node.run(swarm.STATE_COMMAND)
    networks = node.run(LOCAL_NETWORKS)
    if not membership.ok or not networks.ok:
        raise StagingError(f"cannot ask Docker on {node.name} ({(membership.stderr or networks.stderr).strip()}); "
                           f"is dockerd running there, and may this user use it (sudo = true in the inventory)?")
    return {"swarm": membership.stdout.strip(), "networks": sorted(networks.stdout.split())}


def begin(cluster, lesson_id: str, inventory, injects=()) -> dict:
    """Refuse hosts already in a swarm, then journal every host's state and the faults the
    lesson may inject ((fault, host) pairs, undone at the end); returns the journal."""
    path = journal_path(inventory)
    if path.exists():
        restore(cluster, inventory)  # a lesson before this one did not finish
    states = {node.name: host_state(node) for node in cluster}
    busy = [name for name, state in states.items() if state["swarm"] not in ("inactive", "")]
    if busy:
        raise StagingError(f"{', '.join(busy)} already in a swarm (state {states[busy[0]]['swarm']}); the lessons "
                           f"build their own: run `docker swarm leave --force` there, or use fresh hosts")
    journal = {"lesson": lesson_id, "inventory": str(inventory), "hosts": states,
               "faults": [[fault, host] for fault, host in injects]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(journal, indent=1) + "\n")
    return journal


def restore(cluster, inventory) -> list[str]:
    """Put the hosts back as the journal says they were; returns what was done, one line each."""
    path = journal_path(inventory)
    if not path.exists():
        return []
    journal = json.loads(path.read_text())
    done = []
    for fault, host in journal.get("faults", []):  # only what this lesson may have injected
        faults.fault_named(fault).undo(cluster, cluster.node(host))
        done.append(f"{host}: {fault} undone")
    manager = cluster.manager
    leaving = [n for n in [n for n in cluster if n is not manager] + [manager]  # workers first
               if journal["hosts"].get(n.name, {}).get("swarm") in ("inactive", "")
               and swarm.state(n) != "inactive"]
    if manager in leaving:  # the swarm is the lesson's own: its services go first, so no task is started again
        services = manager.run("docker service ls -q").stdout.split()
        if services:
            manager.run(["docker", "service", "rm", *services]).check()
            done.append(f"{manager.name}: removed {len(services)} service(s)")
    # The task containers go before the leave: a leave would stop each one politely, and
    # `sleep infinity` ignores SIGTERM, so every one would take its 10 s grace period.
    for node in cluster:
        containers = node.run(swarm.task_container_ids()).stdout.split()
        if containers:
            node.run(["docker", "rm", "-f", *containers]).check()
            done.append(f"{node.name}: removed {len(containers)} task container(s)")
    for node in leaving:
        node.run("docker swarm leave --force").check(hint=f"leave the swarm on {node.name} by hand")
        done.append(f"{node.name}: left the swarm")
    for node in cluster:
        before = set(journal["hosts"].get(node.name, {}).get("networks", []))
        new = [n for n in node.run(LOCAL_NETWORKS).check().stdout.split() if n not in before]
        if new:
            swarm.remove_networks(cluster, node, new)
            done.append(f"{node.name}: removed network(s) {', '.join(new)}")
    left = {n.name: host_state(n) for n in cluster}
    changed = [name for name, state in left.items() if state != journal["hosts"].get(name)]
    if changed:
        raise StagingError(f"could not put back {', '.join(changed)}: before {journal['hosts']}, now {left}; "
                           f"the journal stays in {path}")
    path.unlink()
    return done

