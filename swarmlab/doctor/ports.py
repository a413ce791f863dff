"""The swarm's ports: 2377/tcp and 7946/tcp answer between the nodes (TCP probes; a silence
is blamed on a filter only when the controls answer), no iptables rule drops a swarm port,
and the daemons' own gossip over udp/7946 (memberlist) gets its acks.
"""
from __future__ import annotations

import re
from datetime import timedelta

from .. import probes
from .evidence import Quote, answered_evidence, containing, probe_evidence, said
from .facts import Facts, NodeFacts, iptables_readable, log_clock, log_time
from .findings import DOC_FIREWALL, DOC_PORTS, Finding

SWARM_PORTS = [("tcp", 2377, "cluster management (managers only)"),
               ("tcp", 7946, "gossip: node and network membership"),
               ("udp", 7946, "gossip: node and network membership"),
               ("udp", 4789, "VXLAN: overlay network traffic")]


def check_swarm_ports(facts: Facts) -> list[Finding]:
    """2377/tcp and 7946/tcp answer between the nodes, and no iptables rule drops a swarm port."""
    return _probe_findings(facts) + _firewall_findings(facts)


def _probe_findings(facts: Facts) -> list[Finding]:
    """TCP probes to 7946 and 2377, each failure retried; silence is blamed on a filter only with controls."""
    by_address = {f.address: f for f in facts.nodes.values()}
    failures: dict[tuple[str, int, str], list[Quote]] = {}
    answered: list[Quote] = []
    for f in facts.up():  # a node whose join is pending says best why
        outcomes = probes.parse(f.sections.get("probes", ""))
        for o in outcomes:
            target = by_address.get(o.address)
            if o.kind != "tcp" or not target or not target.in_swarm:
                continue  # a node outside the swarm listens on neither port
            if o.outcome == "open":
                answered.append((f.name, "probes", [o], []))
                continue
            verdict = probes.silence_verdict(outcomes, o.address) if o.outcome == "timeout" else o.outcome
            failures.setdefault((target.name, o.port, verdict), []).append(_tcp_quote(f, o, outcomes))
    found = [_port_failure(facts, target, port, verdict, quotes)
             for (target, port, verdict), quotes in failures.items()]
    if answered and not found:
        found.append(Finding("info", "all", "swarm ports",
                             answered_evidence(facts, answered, f"{len(answered)} TCP connects answered (7946 on "
                                               f"each node's {probes.RING} ring peers, 2377 on the managers)"),
                             "2377/tcp (managers) and 7946/tcp answer between the nodes", "", DOC_PORTS))
    return found


def _tcp_quote(f: NodeFacts, o: probes.Outcome, outcomes: list[probes.Outcome]) -> Quote:
    """A failed TCP probe's line and, when it timed out, the lines of the controls its verdict rests on."""
    if o.outcome != "timeout":
        return f.name, "probes", [o], [said(o)]
    controls = [next(c for c in outcomes if c.kind == kind and c.address == o.address)
                for kind in ("ctl-ping", "ctl-tcp") if any(c.kind == kind and c.address == o.address for c in outcomes)]
    return (f.name, "probes", [o, *controls],
            [f"{said(o)}; then the controls: {_control_text(outcomes, o.address)} "
             f"(a ping, and a connect to port {probes.CLOSED_PORT}, where nothing listens)"])


def _control_text(outcomes, address: str) -> str:
    ping = next((o.outcome for o in outcomes if o.kind == "ctl-ping" and o.address == address), "?")
    closed = next((o.outcome for o in outcomes if o.kind == "ctl-tcp" and o.address == address), "?")
    return f"ping: {ping}; closed port: {closed}"


_PORT_VERDICTS = {
    "filtered": ("error", "something between drops {port}/tcp to {target}: the same node answers a ping and resets "
                          "a closed port, only {port}/tcp stays silent ({use})"),
    "unreachable": ("error", "{target} does not answer at all (no ping, no reset on a closed port): the node is "
                             "down or the path to it is cut"),
    "refused": ("error", "{target} refuses {port}/tcp: the path works but nothing listens there ({use}); "
                         "is the node's dockerd in the swarm, listening on this address?"),
    "unknown": ("warning", "{port}/tcp on {target} gave no answer, even on the retry, and the controls do not say "
                           "why; a filter or a node too busy to answer"),
    "error": ("warning", "the probe of {port}/tcp on {target} could not run (see the evidence)"),
}


def _port_failure(facts: Facts, target: str, port: int, verdict: str, quotes: list[Quote]) -> Finding:
    severity, cause = _PORT_VERDICTS.get(verdict, _PORT_VERDICTS["unknown"])
    sources = len(quotes)
    cause = cause.format(port=port, target=target, use=_port_use(port)) \
        + f" (seen from {sources} node{'s' if sources > 1 else ''})"  # one sentence: one msgid for the catalog
    fix = (f"allow {port}/tcp to {target} on every filter between the nodes (host firewall: iptables-save | "
           f"grep {port}; cloud: the security group)") if verdict in ("filtered", "unknown") else \
        ("start the node, check its cable/route" if verdict == "unreachable" else
         f"on {target}: docker info (Swarm), ss -ltn | grep {port}")
    return Finding(severity, target, f"reach {port}/tcp", probe_evidence(facts, quotes[:3]), cause, fix, DOC_PORTS)


def _port_use(port: int) -> str:
    return next(use for _, p, use in SWARM_PORTS if p == port)


_DROP_RULE = re.compile(r"-j (DROP|REJECT)\b")
_DPORT = re.compile(r"--dports? (\S+)")


def blocking_rules(iptables_save: str) -> list[tuple[str, str, int, str]]:
    """(table, proto, port, rule) for each DROP/REJECT rule that hits a swarm port."""
    hits, table = [], ""
    for line in iptables_save.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        if not line.startswith("-A ") or not _DROP_RULE.search(line) or _is_docker_encryption_rule(line):
            continue
        ports = _rule_ports(line)
        for proto, port, _ in SWARM_PORTS:
            if port in ports and (f"-p {proto}" in line or "-p " not in line):
                hits.append((table, proto, port, line))
    return hits


def _is_docker_encryption_rule(rule: str) -> bool:
    """Docker's own rule for an encrypted overlay: drop VXLAN of that network's VNI that did not come
    through IPsec (`-m policy --pol none ... -m u32`). It protects, it does not block the swarm."""
    return "--pol none" in rule and "-m u32" in rule


def _rule_ports(rule: str) -> set[int]:
    ports = set()
    for spec in _DPORT.findall(rule):
        for part in spec.split(","):
            low, _, high = part.partition(":")
            if low.isdigit():
                ports.update(range(int(low), int(high or low) + 1))
    return ports


def _firewall_findings(facts: Facts) -> list[Finding]:
    found = []
    readable = [f for f in facts.up() if iptables_readable(f.sections.get("iptables", ""))]
    for f in readable:
        by_port: dict[tuple[str, int], list[tuple[str, str]]] = {}
        for table, proto, port, rule in blocking_rules(f.sections.get("iptables", "")):
            by_port.setdefault((proto, port), []).append((table, rule))
        for (proto, port), rules in by_port.items():
            found.append(Finding(
                "error", f.name, f"firewall {port}/{proto}",
                f.shown("iptables", containing(*{rule for _, rule in rules}),
                        [f"in table {table}: {rule}" for table, rule in rules]),
                f"a firewall rule on {f.name} drops {port}/{proto} ({_port_use(port)})"
                + (": containers on different nodes cannot reach each other over overlay networks"
                   if port == 4789 else ""),
                "; ".join(f"iptables -t {table} -D {rule[3:]}" for table, rule in rules),
                DOC_PORTS))
    if not found and readable:
        proof = "\n".join(f.shown("iptables", lambda line: False, ["no DROP/REJECT rule for 2377/tcp, "
                                                                  "7946/tcp+udp or 4789/udp"]) for f in readable)
        found.append(Finding("info", "all", "firewall", proof, "no firewall rule blocks the swarm's ports",
                             "", DOC_FIREWALL))
    return found


# memberlist complains every second or two while probes fail: 15 s of silence means it stopped.
GOSSIP_WINDOW = 15


def recent_log(f: NodeFacts, seconds: int = GOSSIP_WINDOW) -> list[str]:
    """The daemon_log lines of the last `seconds` (by the node's own clock, the section's first line)."""
    now, lines = log_clock(f)
    if now is None:
        return lines
    since = (now - timedelta(seconds=seconds)).isoformat()
    return [line for line in lines if log_time(line) >= since]


_GOSSIP_NAME = re.compile(r"Node (\w+)/([\d.]+), joined gossip cluster")
_GOSSIP_PEER = re.compile(r"memberlist: (?:Suspect (\w+) has failed|Was able to connect to (\w+) but)")


def about_old_incarnation(lines: list[str]):
    """A test for gossip lines about a peer's earlier incarnation, from all of `lines`.

    Each time a daemon joins a swarm its memberlist takes a new name; a peer that
    left while this node still probed it is suspected under its old name seconds
    later (seen on this lab: a swarm left and formed again within 15 s). A line
    about a name that a newer one has replaced at the same address is history.
    """
    latest = {}  # address -> the name that joined last from there
    for line in lines:
        match = _GOSSIP_NAME.search(line)
        if match:
            latest[match.group(2)] = match.group(1)
    replaced = {name for line in lines for name, address in _GOSSIP_NAME.findall(line)
                if latest.get(address) != name}

    def old(line: str) -> bool:
        match = _GOSSIP_PEER.search(line)
        return bool(match) and (match.group(1) or match.group(2)) in replaced
    return old


def check_gossip(facts: Facts) -> list[Finding]:
    """The daemons' own gossip probes (UDP 7946, memberlist): who got no acks in the last GOSSIP_WINDOW seconds."""
    names = {}  # memberlist name -> address, from the daemons' "joined gossip cluster" lines
    for f in facts.up():
        for line in f.sections.get("daemon_log", "").splitlines():
            match = _GOSSIP_NAME.search(line)
            if match:
                names[match.group(1)] = match.group(2)
    by_address = {f.address: f.name for f in facts.nodes.values()}
    found, suspected = [], {}
    for f in facts.swarm_nodes():
        old = about_old_incarnation(f.sections.get("daemon_log", "").splitlines())
        recent = [line for line in recent_log(f) if not old(line)]
        udp_only = [line for line in recent if "but other probes failed" in line]
        suspects = [line for line in recent if "has failed, no acks received" in line]
        if suspects and not udp_only:
            suspected[f.name] = suspects
        if udp_only:
            found.append(Finding(
                "error", f.name, "gossip udp/7946", f.shown("daemon_log", udp_only[-3:]),
                f"{f.name}'s daemon reaches its peers over TCP but its UDP gossip probes get no answer: UDP 7946 to "
                f"or from {f.name} is dropped, so network membership and overlay peers go stale",
                f"allow udp/7946 between the nodes (iptables-save | grep 7946 on {f.name}; cloud security groups)",
                DOC_PORTS))
    explained = {f.node for f in found}
    for name, suspects in suspected.items():
        who = sorted({names.get(m.group(1), m.group(1)) for m in
                      (re.search(r"Suspect (\w+) has failed", line) for line in suspects) if m})
        if {by_address.get(a, a) for a in who} <= explained:
            continue  # the node they suspect has its own finding, with the cause
        found.append(Finding(
            "warning", name, "gossip", facts.nodes[name].shown("daemon_log", suspects[-3:]),
            f"{name}'s daemon got no gossip acks from "
            + ", ".join(by_address.get(a, a) for a in who) + f" in the last {GOSSIP_WINDOW} s",
            "see the findings for those nodes", DOC_PORTS))
    return found
