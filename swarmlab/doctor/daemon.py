"""Checks of each node's Docker daemon: it answers (and if not, whether a stale containerd
is why), the node is in the swarm and Ready, no two nodes share a hostname, what its log
says about the ingress network, and Docker's iptables chains and their rules are in place.
"""
from __future__ import annotations

import re

from ..gwbridge import GWBRIDGE
from .evidence import containing
from .facts import (CONTAINERD_PID, CONTAINERD_STILL_MARK, CONTAINERD_WAIT_MARK, INGRESS_LOG_MARK, SUMMARY, Facts,
                    NodeFacts, iptables_readable)
from .findings import DOC_DAEMON_CONFIG, DOC_FIREWALL, DOC_PORTS, DOC_SWARM_NETWORKING, Finding


def check_daemons(facts: Facts) -> list[Finding]:
    """Every node's Docker daemon answers (else nothing else can be checked there)."""
    found = []
    for f in facts.nodes.values():
        if f.unreachable:
            proof = "\n".join(SUMMARY + line for line in [f"the doctor could not reach {f.name}:",
                                                          *f.error[-600:].splitlines()])
            found.append(Finding("error", f.name, "reachable", proof,
                                 "swarmlab could not run anything on the node, so nothing could be checked there",
                                 _reach_fix(f.error)))
        elif f.error or not f.daemon_up:
            # Nothing ran there, so there is no output to quote: what the node answered is a summary.
            proof = ("\n".join(SUMMARY + line for line in [f"the doctor's commands could not run on {f.name}:",
                                                             *f.error[-600:].splitlines()]) if f.error
                     else f.shown("info", limit=10))
            stale = _stale_containerd(f)
            cause = "the node's Docker daemon did not answer, so nothing else could be checked there"
            fix = "systemctl start docker   (then: journalctl -u docker)"
            if stale:
                cause += ("; its last start waited for a containerd that is no longer running (the pid in "
                          f"{CONTAINERD_PID} is {stale}): dockerd took it for alive and gave up - stale state "
                          "from a daemon that was killed")
                fix = f"rm {CONTAINERD_PID}; systemctl start docker"
                proof += "\n" + f.shown("containerd_pid")
            if any(CONTAINERD_WAIT_MARK in line or CONTAINERD_STILL_MARK in line
                   for line in f.sections.get("daemon_log", "").splitlines()):
                proof += "\n" + f.shown("daemon_log", containing(CONTAINERD_WAIT_MARK, CONTAINERD_STILL_MARK), limit=2)
            found.append(Finding("error", f.name, "daemon", proof, cause, fix, DOC_DAEMON_CONFIG))
    return found


def _reach_fix(error: str) -> str:
    # The error's own advice (`lab down`, then `up`; or what SSH wanted) is the fix; it follows its last "; ".
    if "is dead:" in error:
        return error.rsplit("; ", 1)[-1]
    return "check that the host is up and that `ssh` to it works as the inventory says (host, user, key)"


def _stale_containerd(f: NodeFacts) -> str:
    """'a zombie' / 'gone' when the containerd pid file names a process that is not running, else ''."""
    parts = f.sections.get("containerd_pid", "").split()
    if len(parts) < 2:
        return ""
    if parts[1] == "gone":
        return "gone"
    return "a zombie" if parts[1].startswith("Z") else ""


def check_swarm_membership(facts: Facts) -> list[Finding]:
    """Every node with a daemon is in the swarm, and the manager sees every swarm node Ready."""
    found = []
    for f in facts.up():
        state = f.info.get("Swarm", {}).get("LocalNodeState", "?")
        if state == "pending":
            found.append(Finding(
                "error", f.name, "swarm",
                f.shown("info", lambda line: False, [f"Swarm.LocalNodeState is {state}"]),
                "the node's join has not completed (its `swarm join` said 'Timeout was reached before node "
                "joined'): it cannot reach a manager on 2377/tcp, or the manager cannot reach it back",
                "see 'reach 2377/tcp'; the join goes on in the background once the path is open", DOC_PORTS))
        elif not f.in_swarm:
            found.append(Finding("info", f.name, "swarm",
                                 f.shown("info", lambda line: False, [f"Swarm.LocalNodeState is {state}"]),
                                 "the node is not in a swarm; swarm checks skipped for it",
                                 "docker swarm join --token <token> <manager>:2377", DOC_SWARM_NETWORKING))
    manager = facts.manager_facts
    for row in manager.json_lines("nodes"):
        if row.get("Status") != "Ready":
            found.append(Finding(
                "error", facts.name_of(row.get("ID", "")) if row.get("ID") else row.get("Hostname", "?"), "swarm",
                manager.shown("nodes", containing(f'"ID":"{row.get("ID")}"'),
                              [f"{row.get('Hostname')} is {row.get('Status')}"]),
                "the manager does not hear from this node: its daemon is down or 2377/tcp is blocked",
                "check dockerd on the node and the ports (see the port findings)", DOC_PORTS))
    return found


def check_duplicate_hostnames(facts: Facts) -> list[Finding]:
    """No two swarm nodes share a hostname (then `docker node ...` by name fails: ambiguous)."""
    rows = facts.manager_facts.json_lines("nodes")
    counts: dict[str, list[dict]] = {}
    for row in rows:
        counts.setdefault(row.get("Hostname", ""), []).append(row)
    found = []
    for hostname, same in counts.items():
        if len(same) < 2:
            continue
        summary = [f"{r.get('ID', '?')} {hostname} {r.get('Status')} {r.get('Availability')}" for r in same]
        found.append(Finding(
            "warning", hostname, "duplicate hostname",
            facts.manager_facts.shown("nodes", containing(*(f'"ID":"{r.get("ID")}"' for r in same)), summary),
            f"{len(same)} swarm nodes are called {hostname}: `docker node update/rm/ps {hostname}` answers "
            f"'node {hostname} is ambiguous ({len(same)} matches found)', and placement constraints on "
            "node.hostname pick either. Often a cloned VM, or a node that left and joined again (its old entry "
            "stays Down)",
            f"give each machine its own hostname (hostnamectl set-hostname ...; systemctl restart docker), and "
            f"remove entries that are Down: docker node rm <ID>", DOC_SWARM_NETWORKING))
    return found


LOG_TIME = re.compile(r'time="([^"]+)"')


def check_dockerd_log(facts: Facts) -> list[Finding]:
    """Whether a node's daemon failed to create the ingress network, and whether that still matters now.

    The consequence of that failure is a node without docker_gwbridge: once the node
    has one, the log lines are history (info, with when they were written).
    """
    found = []
    for f in facts.swarm_nodes():
        lines = f.sections.get("log", "").splitlines() or facts.log_lines.get(f.name) or []
        if not any(INGRESS_LOG_MARK in line for line in lines):
            continue
        times = [m.group(1) for m in map(LOG_TIME.search, lines) if m]
        when = f"at {times[-1]}" if times else "before now (the log lines carry no time)"
        proof = f.shown("log", containing(INGRESS_LOG_MARK))
        if f.network(GWBRIDGE) is not None:
            found.append(Finding(
                "info", f.name, "dockerd log", proof,
                f"happened {when}, since resolved: the daemon failed to create the ingress network then, "
                f"and {f.name} has {GWBRIDGE} now", "", DOC_SWARM_NETWORKING))
        else:
            found.append(Finding(
                "error", f.name, "dockerd log", proof,
                f"the daemon failed to create the ingress network (last {when}), for the reason quoted, and "
                f"{f.name} still has no {GWBRIDGE}: this is the root of the missing {GWBRIDGE}",
                "fix the reason quoted (usually: no free address pool), then create docker_gwbridge",
                DOC_SWARM_NETWORKING))
    return found


DOCKER_CHAINS = [("filter", "DOCKER"), ("filter", "DOCKER-USER"), ("filter", "DOCKER-ISOLATION-STAGE-1"),
                 ("nat", "DOCKER")]


def iptables_chains(iptables_save: str) -> set[tuple[str, str]]:
    chains, table = set(), ""
    for line in iptables_save.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":"):
            chains.add((table, line[1:].split()[0]))
    return chains


def bridges_without_rules(f: NodeFacts, iptables_save: str) -> list[str]:
    """What a flush took from the node's bridge networks: for each, a filter rule naming it (Docker's
    forwarding and isolation rules) and, when it masquerades, its MASQUERADE rule in nat's POSTROUTING.

    `iptables -F` (or `-t nat -F`) empties the chains and leaves them in place, so only the rules tell.
    """
    rules, table = [], ""
    for line in iptables_save.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A "):
            rules.append((table, line))
    lost = []
    for network in f.networks:
        if network.get("Driver") != "bridge":
            continue
        options = network.get("Options") or {}
        bridge = options.get("com.docker.network.bridge.name") or f"br-{network.get('Id', '')[:12]}"
        names = re.compile(rf"(-i|-o) {re.escape(bridge)}(\s|$)")
        if not any(t == "filter" and names.search(line) for t, line in rules):
            lost.append(f"filter: no rule for {bridge}")
        masquerades = options.get("com.docker.network.bridge.enable_ip_masquerade", "true") != "false"
        if masquerades and not network.get("Internal") and not any(
                t == "nat" and line.startswith("-A POSTROUTING") and line.endswith("-j MASQUERADE")
                and names.search(line) for t, line in rules):
            lost.append(f"nat: no MASQUERADE for {bridge} in POSTROUTING")
    return lost


def check_docker_chains(facts: Facts) -> list[Finding]:
    """Docker's own iptables chains are in place on every node, with their rules (nobody flushed them)."""
    found = []
    for f in facts.up():
        text = f.sections.get("iptables", "")
        if not iptables_readable(text):
            found.append(Finding("info", f.name, "iptables chains",
                                 f.shown("iptables", limit=2, summary=[] if text.strip() else ["no output"]),
                                 "could not read the node's iptables (needs root): firewall checks skipped",
                                 "run the doctor as root on the nodes (sudo)", DOC_FIREWALL))
            continue
        chains, lost = iptables_chains(text), []
        missing = [f"{t}/{c}" for t, c in DOCKER_CHAINS if (t, c) not in chains]
        ingress = any(c == "DOCKER-INGRESS" for _, c in chains)
        present = [f"{t}/{c}" for t, c in sorted(chains) if c.startswith("DOCKER")]
        if missing and f.daemon_config.get("iptables") is False:
            severity, cause = "info", "daemon.json sets \"iptables\": false, so Docker manages no chains"
        elif missing:
            severity, cause = "error", (f"Docker's chains {', '.join(missing)} are missing: something flushed "
                                        "iptables after dockerd started (a firewall reload, a firewall script); "
                                        "published ports fail with 'No chain/target/match by that name' and "
                                        "containers lose their NAT")
        elif f.daemon_config.get("iptables") is not False and (lost := bridges_without_rules(f, text)):
            severity, cause = "error", ("Docker's chains are in place but its rules for the node's bridges are gone: "
                                        "something flushed iptables after dockerd started (`iptables -F`, "
                                        "`iptables -t nat -F`); containers' traffic out of the node and published "
                                        "ports fail until Docker writes them again")
        else:
            severity, cause = "info", ("Docker's iptables chains are in place"
                                       + ("" if ingress else "; DOCKER-INGRESS appears with the first published port"))
        shown = (lambda line: line.startswith((":DOCKER", "-A FORWARD", "-A POSTROUTING"))) if lost else \
            (lambda line: line.startswith(":DOCKER"))
        found.append(Finding(severity, f.name, "iptables chains",
                             f.shown("iptables", shown, lost if lost else [] if present else ["no DOCKER chain"]),
                             cause, "systemctl restart docker" if severity == "error" else "", DOC_FIREWALL))
    return found
