"""Has a node finished joining the swarm? Asked by the docker_gwbridge check and the overlay's.

Docker creates a node's docker_gwbridge a moment after its join returns, then attaches the
ingress sandbox to it; until then the node's part of the overlay is not set up. A missing
bridge is called broken only with a reason in hand: exhausted address pools, the daemon's
log line about the ingress network, or a task that failed on the node.
"""
from __future__ import annotations

from ..gwbridge import GWBRIDGE
from ..parse import tasks_from_json
from .facts import Facts, NodeFacts


def still_joining(facts: Facts) -> list[str]:
    """Swarm nodes whose join Docker has not finished: no docker_gwbridge yet (and nothing says
    its creation failed), or the ingress sandbox not attached to it yet. Until it has, its
    part of the overlay is not set up, and pings over the overlay can be lost (seen in the
    seconds after 30 nodes joined, while some nodes had neither)."""
    joining = []
    for f in facts.swarm_nodes():
        net = f.network(GWBRIDGE)
        if (net is None and not gwbridge_failed(f, facts)) or (net is not None and not sandbox_attached(net)):
            joining.append(f.name)
    return joining


def gwbridge_failed(f: NodeFacts, facts: Facts) -> bool:
    """Does something say the node could not create its docker_gwbridge (its pools exhausted,
    the daemon's log line about the ingress network, a task that failed there)?"""
    # Docker creates it a moment after the join returns: only call it broken with a reason in hand.
    return f.pool_report().exhausted or bool(facts.log_lines.get(f.name)) or tasks_failed_on(facts, f.name)


def sandbox_attached(gwbridge: dict) -> bool:
    """Is the node's ingress sandbox an endpoint of its docker_gwbridge (docker network inspect)?"""
    return "ingress-sbox" in (gwbridge.get("Containers") or {})


def tasks_failed_on(facts: Facts, node: str) -> bool:
    """Did a task fail on `node` (the manager's task list, under the cluster's names)?"""
    table = tasks_from_json(facts.manager_facts.sections.get("tasks", ""))
    on_node = table["node"].map(facts.name_of) == node
    return bool((on_node & (table["state"] == "Failed")).any())
