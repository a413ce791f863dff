"""The task errors check: which tasks failed and why, by Docker's own error (its failure
modes), and whether a failure is history because the replica runs now.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..messages import NO_POOL_PATTERN
from ..parse import tasks_from_json
from .evidence import containing
from .facts import Facts
from .findings import DOC_OVERLAY, DOC_SERVICES, DOC_SWARM_NETWORKING, Finding


@dataclass(frozen=True)
class FailureMode:
    pattern: str  # a regex searched in the task's error
    title: str
    cause: str
    fix: str
    doc: str
    severity: str = "error"


TASK_FAILURE_MODES = [
    FailureMode(NO_POOL_PATTERN,  # every captured version's words
                "no address pool for docker_gwbridge",
                "the node could not create docker_gwbridge: every default address pool overlaps a route, "
                "nameserver or network there (see 'address pools'); the task's container was created but "
                "cannot start",
                "create docker_gwbridge on the node with a free subnet (swarmlab fix gwbridge NODE), "
                "then `docker service rm` + `docker service create`", DOC_SWARM_NETWORKING),
    FailureMode(r"error creating external connectivity network",
                "docker_gwbridge could not be created",
                "the task needs docker_gwbridge for its gateway, and the node could not create it",
                "see the docker_gwbridge finding for the node", DOC_SWARM_NETWORKING),
    FailureMode(r"network \S+ not found",
                "overlay network not on the node",
                "the task's overlay network is not set up on that node (it appears only when a task "
                "attached to it starts there)", "see the docker_gwbridge and port findings", DOC_OVERLAY),
    FailureMode(r"file exists|vxlan interface",
                "stale vxlan interface",
                "a VXLAN device left from an earlier network blocks the overlay's setup on that node",
                "ip -d link show type vxlan; ip link del <vx-... device>; or restart docker", DOC_OVERLAY),
    FailureMode(r"No such image|pull access denied|manifest unknown",
                "image missing on the node",
                "the node cannot get the task's image (no registry access and not loaded locally)",
                "docker load / docker pull the image on that node", DOC_SERVICES),
    FailureMode(r"no suitable node", "no node fits the task",
                "no node satisfies the task's constraints or resources, so it stays Pending",
                "docker node ls; relax --constraint / --reserve-*", DOC_SERVICES, "warning"),
]

UNKNOWN_FAILURE = FailureMode("", "unrecognised", "a task failed with an error the doctor does not know; "
                              "read it in full above", "docker inspect <task id> on the manager; the node's "
                              "Docker log", DOC_SERVICES)


def failure_mode(error: str) -> FailureMode:
    return next((m for m in TASK_FAILURE_MODES if re.search(m.pattern, error)), UNKNOWN_FAILURE)


def check_task_errors(facts: Facts) -> list[Finding]:
    """Which tasks failed and why, by Docker's own error (per node and failure mode, up to 3 quoted in full).

    A failure whose replica runs now (a later task of the same slot is Running) is
    history: reported as info, with when it happened.
    """
    manager = facts.manager_facts
    table = tasks_from_json(manager.sections.get("tasks", ""))
    if table.empty:
        return []
    current_state = table[~table["history"].astype(bool)].drop_duplicates("name").set_index("name")["state"]
    bad = table[(table["error"] != "") & table["state"].isin(["Failed", "Rejected", "Pending"])]
    bad = bad.assign(mode=bad["error"].map(lambda error: failure_mode(error).title),
                     where=bad["node"].map(lambda node: facts.name_of(node) if node else manager.name),
                     resolved=bad["name"].map(lambda name: current_state.get(name) == "Running"))
    found = []
    for (node, _, resolved), group in bad.groupby(["where", "mode", "resolved"], sort=False):
        mode = failure_mode(group["error"].iloc[0])
        summary = [f"{r['name']} on {node}: {r['current state']}: {r['error']}"
                   for _, r in group.head(3).iterrows()]
        if len(group) > 3:
            summary.append(f"{len(group)} tasks like these")
        proof = manager.shown("tasks", containing(*(f'"ID":"{task}"' for task in group["id"].head(3))), summary)
        if resolved:
            slots = sorted(set(group["name"]))
            found.append(Finding(
                "info", node, f"task errors: {mode.title}", proof,
                f"happened: the last {group['current state'].iloc[0]}; since resolved: "
                f"{', '.join(slots)} {'runs' if len(slots) == 1 else 'run'} now (a later task of the same slot). "
                f"Then: {mode.cause}", "", mode.doc))
        else:
            found.append(Finding(mode.severity, node, f"task errors: {mode.title}", proof,
                                 mode.cause, mode.fix, mode.doc))
    return found
