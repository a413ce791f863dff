"""Has a node finished joining the swarm? Asked by the docker_gwbridge check, the overlay's,
and the report, which says what is still settling instead of listing it.

Docker creates a node's docker_gwbridge a moment after its join returns, then attaches the
ingress sandbox to it; until then the node's part of the overlay is not set up. A missing
bridge is called broken only with a reason in hand: exhausted address pools, the daemon's
log line about the ingress network, or a task that failed on the node. Once every node has
both, gossip still spreads the joins for some seconds, and pings over the overlay can be lost
meanwhile (seen on 30-node labs here: lost 10-25 s after the joins returned, none at 30 s).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from ..gwbridge import GWBRIDGE
from ..parse import tasks_from_json
from .facts import Facts, NodeFacts, log_clock, log_time
from ..i18n import joint
from .findings import _say, counted, some_names

# A join this recent may still be spreading by gossip (seen: 30-node labs whose overlay lost
# pings to one node 10-25 s after the joins returned, and not a run later).
FRESH_JOIN = 60

NO_GWBRIDGE = f"no {GWBRIDGE} yet"
NO_SANDBOX = f"ingress sandbox not on {GWBRIDGE} yet"


def still_joining(facts: Facts) -> list[str]:
    """Swarm nodes whose join Docker has not finished: no docker_gwbridge yet (and nothing says
    its creation failed), or the ingress sandbox not attached to it yet. Until it has, its
    part of the overlay is not set up, and pings over the overlay can be lost (seen in the
    seconds after 30 nodes joined, while some nodes had neither)."""
    return list(joining_nodes(facts))


def joining_nodes(facts: Facts) -> dict[str, str]:
    """still_joining's nodes, each with what Docker has not done there yet (NO_GWBRIDGE or NO_SANDBOX)."""
    joining = {}
    for f in facts.swarm_nodes():
        net = f.network(GWBRIDGE)
        if net is None and not gwbridge_failed(f, facts):
            joining[f.name] = NO_GWBRIDGE
        elif net is not None and not sandbox_attached(net):
            joining[f.name] = NO_SANDBOX
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


def joined_ago(f: NodeFacts) -> float | None:
    """Seconds since the node's daemon joined the swarm's gossip (its own 'joined gossip
    cluster' line, by the node's clock), or None where its log does not say."""
    now, lines = log_clock(f)
    own = [line for line in lines if f"/{f.swarm_address}, joined gossip cluster" in line]
    if now is None or not own or not log_time(own[-1]):
        return None
    return (now - datetime.fromisoformat(log_time(own[-1]))).total_seconds()


# What may be only settling, by check: what the node lacks yet (for the first two), or nothing
# (the overlay, which every join reconfigures: while any node joined recently).
SETTLING_CHECKS = {GWBRIDGE: NO_GWBRIDGE, "ingress sandbox": NO_SANDBOX, "overlay traffic": None}


@dataclass
class Settling:
    """What Docker is still doing after recent joins: the nodes that joined under FRESH_JOIN seconds
    ago, and those of them that have not finished joining (each with what it lacks yet)."""

    joining: dict[str, str] = field(default_factory=dict)  # node -> NO_GWBRIDGE or NO_SANDBOX
    fresh: dict[str, float] = field(default_factory=dict)  # node -> seconds since it joined

    def __bool__(self) -> bool:
        return bool(self.joining or self.fresh)

    def about(self, findings: pd.DataFrame) -> pd.Series:
        """Which errors and warnings may be only this settling: docker_gwbridge or ingress
        sandbox on a node that lacks it yet, and overlay traffic while any node joined recently."""
        def settles(row) -> bool:
            if row["severity"] == "info" or row["check"] not in SETTLING_CHECKS or not self:
                return False
            lacking = SETTLING_CHECKS[row["check"]]
            return lacking is None or self.joining.get(row["node"]) == lacking
        return findings.apply(settles, axis=1).astype(bool) if len(findings) else pd.Series([], dtype=bool)

    def left_out(self, findings: pd.DataFrame) -> pd.Series:
        """The warnings the overview leaves out, saying instead what is settling (`about`'s warnings;
        its errors stay in, with their own word on the recent joins)."""
        return self.about(findings) & (findings["severity"] == "warning")

    def say(self, findings: pd.DataFrame) -> str:
        """One paragraph for the overview: what is settling, what it left out, and when to look again."""
        about = findings[self.about(findings)]
        parts = []
        if self.fresh:
            ages = sorted(self.fresh.values())
            when = (_say(f"{ages[0]:.0f} s ago") if round(ages[0]) == round(ages[-1])
                    else _say(f"{ages[0]:.0f}-{ages[-1]:.0f} s ago"))
            n = len(self.fresh)
            parts.append(_say(f"{n} node joined the swarm {when}" if n == 1 else f"{n} nodes joined the swarm {when}"))
        for lacking in (NO_GWBRIDGE, NO_SANDBOX):
            nodes = [name for name, what in self.joining.items() if what == lacking]
            if nodes:
                n, names = len(nodes), some_names(nodes)
                parts.append(_say(f"{n} node has {lacking} ({names}): Docker makes it a moment after the join"
                                  if n == 1 else
                                  f"{n} nodes have {lacking} ({names}): Docker makes it a moment after the join"))
        if (about["check"] == "overlay traffic").any():
            parts.append(_say("pings over the overlay can be lost while the joins spread by gossip"))
        left = int(self.left_out(findings).sum())
        said = joint("; ").join(parts) + joint(". ") + _say(
            f"{left} warning about it left out (--all prints them)" if left == 1 else
            f"{left} warnings about it left out (--all prints them)")
        kept = about[about["severity"] == "error"]
        if len(kept):
            n, checks = len(kept), ", ".join(dict.fromkeys(kept["check"]))
            said += joint(". ") + _say(
                f"The {n} error about {checks} above may be only that: look again before acting on it" if n == 1 else
                f"The {n} errors about {checks} above may be only that: look again before acting on them")
        return _say(f"still settling: {said}. Run the doctor again in a minute, or `swarmlab doctor --wait`")

    def waiting_for(self, findings: pd.DataFrame) -> str:
        """What is still settling, in a few words ('30 docker_gwbridge warnings, 2 overlay traffic errors')."""
        about = findings[self.about(findings)]
        kinds = about.groupby(["check", "severity"], sort=False).size()
        return joint(", ").join(counted(n, severity, check) for (check, severity), n in kinds.items())


def settling(facts: Facts) -> Settling:
    """What is still settling in the swarm: the nodes that joined under FRESH_JOIN s ago (by their
    daemons' logs), and those of them not done joining. Only a join the log dates is called
    recent: a node whose log does not say keeps its warnings, each saying to look again."""
    ages = {f.name: joined_ago(f) for f in facts.swarm_nodes()}
    fresh = {name: age for name, age in ages.items() if age is not None and 0 <= age < FRESH_JOIN}
    return Settling({name: what for name, what in joining_nodes(facts).items() if name in fresh}, fresh)

