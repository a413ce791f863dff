"""Traffic between the nodes: pings on the underlay (a full-size one with don't-fragment
set finds a path that carries less than the MTU) and over the ingress overlay between the
nodes' sandboxes (VXLAN); and where the probe scripts could not run at all, a warning, so
that silence never reads as health.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .. import probes
from .evidence import Quote, answered_evidence, probe_evidence, said
from .facts import PROBE_SECTIONS, VXLAN_OVERHEAD, Facts
from .findings import DOC_OVERLAY, DOC_PORTS, Finding
from .joining import FRESH_JOIN, joined_ago, still_joining

def check_probes_ran(facts: Facts) -> list[Finding]:
    """A node where the probe scripts printed no probe line: the checks built on them
    (swarm ports, underlay, overlay) have nothing to judge there, which must not read as health."""
    found = []
    for f in facts.up():
        silent = [section for section in PROBE_SECTIONS
                  if f.commands.get(section, "true") != "true" and not probes.parse(f.sections.get(section, ""))]
        if not silent:
            continue
        said_ = "; ".join(f"{PROBE_SECTIONS[s]}: " + (f.sections.get(s, "").strip().splitlines() or ["no output"])[-1]
                          for s in silent)
        found.append(Finding(
            "warning", f.name, "probes", "\n".join(f.shown(s) for s in silent),
            f"the doctor's probes did not run on {f.name} ({said_}), so the port, underlay and overlay "
            "checks know nothing about it; they need bash, timeout and ping there",
            f"on {f.name}: install bash", DOC_PORTS))
    return found


def blame(pairs: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Failing (source, target) pairs by who to blame: the node in every pair when there is one
    (the narrow link is its own), else each pair on its own."""
    if not pairs:
        return {}
    common = set(pairs[0]).intersection(*map(set, pairs[1:]))
    if len(common) == 1 and len(pairs) > 1:
        return {common.pop(): pairs}
    return {f"{a} -> {b}": [(a, b)] for a, b in pairs}


def check_underlay(facts: Facts) -> list[Finding]:
    """Nodes ping each other, and a full-size packet with don't-fragment set crosses the path (MTU)."""
    found, narrow, quotes, mtus = [], [], {}, {}
    by_address = {f.address: f for f in facts.nodes.values()}
    for f in facts.swarm_nodes():
        outcomes = [o for o in probes.parse(f.sections.get("pings", "")) if o.kind == "ping" and o.address in by_address]
        for address in dict.fromkeys(o.address for o in outcomes):
            target = by_address[address].name
            small = next((o for o in outcomes if o.address == address and not o.df), None)
            big = next((o for o in outcomes if o.address == address and o.df), None)
            pair = [o for o in (small, big) if o]
            quote = (f.name, "pings", pair, [f"to {target}: {said(o)}" for o in pair])
            if small and small.outcome == "ok" and big and big.outcome in ("lost", "toolong"):
                narrow.append((f.name, target))
                quotes[(f.name, target)] = quote
                mtus[(f.name, target)] = big.size + probes.ICMP_IP_HEADERS
            elif small and small.outcome != "ok":
                found.append(Finding(
                    "warning", f.name, "ping", probe_evidence(facts, [quote]),
                    f"{target} does not answer pings from {f.name} (ICMP may be filtered; the TCP probes say whether "
                    "the swarm's ports are reachable)", "", DOC_PORTS))
    for who, pairs in blame(narrow).items():
        size = max(mtus[p] for p in pairs)
        between = ", ".join(f"{a} -> {b}" for a, b in pairs)
        found.append(Finding(
            "error", who, "path mtu", probe_evidence(facts, [quotes[p] for p in pairs[:3]]),
            f"small packets pass but a {size}-byte packet with don't-fragment set does not ({between}): the path "
            f"{'to ' + who + ' ' if len(pairs) > 1 else ''}carries less than the nodes' MTU, and says nothing "
            f"(no 'fragmentation needed' comes back). Full-size overlay packets (VXLAN adds {VXLAN_OVERHEAD} bytes) "
            "are lost the same way: pings and small requests work, large transfers hang",
            "make the nodes' MTU match the path (ip link set <NIC> mtu <path MTU>), or give the overlays a "
            f"smaller one: docker network create -d overlay -o com.docker.network.driver.mtu=<path MTU - "
            f"{VXLAN_OVERHEAD}> ...", DOC_OVERLAY))
    return found


@dataclass
class OverlayPings:
    """The pings over the ingress overlay, sorted for the overlay checks."""

    small: dict[str, dict[str, Quote | None]] = field(default_factory=dict)  # target -> source -> quote when lost
    big_lost: dict[tuple[str, str], Quote] = field(default_factory=dict)  # (source, target) -> quote
    answered: list[Quote] = field(default_factory=list)


def overlay_pings(facts: Facts) -> OverlayPings:
    """Each node's pings to the peers' ingress sandboxes, by target and source."""
    by_ingress = {f.ingress_address: f for f in facts.swarm_nodes() if f.ingress_address}
    pings = OverlayPings()
    for f in facts.swarm_nodes():
        outcomes = [o for o in probes.parse(f.sections.get("overlay_pings", "")) if o.kind == "ping"]
        for o in outcomes:
            target = by_ingress.get(o.address)
            if not target:
                continue
            quote = (f.name, "overlay_pings", [o], [f"{o.address} is {target.name}'s ingress sandbox; {said(o)}"])
            if o.outcome == "ok":
                pings.answered.append((f.name, "overlay_pings", [o], []))
            if not o.df:
                pings.small.setdefault(target.name, {})[f.name] = None if o.outcome == "ok" else quote
            elif o.outcome != "ok" and any(x.address == o.address and not x.df and x.outcome == "ok" for x in outcomes):
                pings.big_lost[(f.name, target.name)] = quote
    return pings


def check_overlay(facts: Facts) -> list[Finding]:
    """Pings over the ingress overlay between the nodes' sandboxes (VXLAN), small and full-size."""
    pings = overlay_pings(facts)
    found = _overlay_losses(facts, pings.small)
    for who, pairs in blame(list(pings.big_lost)).items():
        between = ", ".join(f"{a} -> {b}" for a, b in pairs)
        found.append(Finding(
            "error", who, "overlay mtu", probe_evidence(facts, [pings.big_lost[p] for p in pairs[:3]]),
            f"over the overlay ({between}) small packets pass and a full-size one (the overlay's MTU, "
            "don't-fragment) does not: the path carries less than the overlay MTU + VXLAN's 50 bytes; large "
            "transfers hang while pings work",
            "docker network create -d overlay -o com.docker.network.driver.mtu=<path MTU - 50> ... (or fix the "
            "path's MTU)", DOC_OVERLAY))
    if pings.answered and not found:
        found.append(Finding("info", "all", "overlay traffic",
                             answered_evidence(facts, pings.answered, f"{len(pings.answered)} pings over the "
                                               "ingress overlay answered (small and full-size, don't-fragment)"),
                             "VXLAN carries full-size packets between the nodes' ingress sandboxes", "", DOC_OVERLAY))
    return found


def _overlay_losses(facts: Facts, small: dict[str, dict[str, Quote | None]]) -> list[Finding]:
    """Lost small pings: nodes cut off from each other, a node cut off from all, or one pair."""
    # A target is cut off when every node that pinged it lost its pings; a source that is itself cut
    # off explains its own losses (its replies cannot come back), so it blames nobody else.
    cut_off = {t for t, sources in small.items() if sources and all(sources.values())}
    found = []
    # Nodes cut off only from each other (two nodes, or all of them): the pings cannot say which side drops.
    mutual = sorted(t for t in cut_off if set(small[t]) <= cut_off)
    if len(mutual) > 1:
        quotes = [quote for t in mutual for quote in small[t].values()]
        found.append(Finding(
            "error", ", ".join(mutual), "overlay traffic", probe_evidence(facts, quotes[:4]),
            f"pings over the ingress overlay between {', '.join(mutual)} are lost both ways: containers on these "
            "nodes cannot reach each other. VXLAN (udp/4789) is dropped on one side (the pings cannot tell which; "
            "see the firewall findings), or a node advertises an address the others cannot reach, or gossip "
            "has not told them where the others are (see 'gossip')" + _fresh_join(facts, mutual),
            "allow udp/4789 between the nodes; check each node's advertise address", DOC_PORTS))
        cut_off -= set(mutual)
    for target in sorted(cut_off):
        quotes = list(small[target].values())
        found.append(Finding(
            "error", target, "overlay traffic", probe_evidence(facts, quotes[:3]),
            f"pings over the ingress overlay to {target} are lost from every node that tried ({len(quotes)}), "
            f"while the others answer: containers elsewhere cannot reach containers on {target}. VXLAN "
            f"(udp/4789) to {target} is dropped, or the peers send it to an address {target} does not have "
            "(see 'advertise address'), or gossip has not told them where it is (see 'gossip')"
            + _fresh_join(facts, [target]),
            "allow udp/4789 between the nodes; check the node's advertise address", DOC_PORTS))
    found = _not_yet_errors(found, still_joining(facts))
    blamed = cut_off | set(mutual)
    for target, sources in small.items():
        if target in blamed:
            continue
        for source, quote in sources.items():
            if quote and source not in blamed:
                found.append(Finding(
                    "warning", source, "overlay traffic", probe_evidence(facts, [quote]),
                    f"pings over the ingress overlay from {source} to {target} are lost, while other nodes reach "
                    f"{target}: something between these two drops VXLAN (udp/4789), or gossip has not reached them yet",
                    "run the doctor again; if it stays, check udp/4789 between the two", DOC_PORTS))
    return found


def _not_yet_errors(found: list[Finding], joining: list[str]) -> list[Finding]:
    """While nodes are still joining, overlay losses are warnings that say so, and what would
    make them errors."""
    if not joining:
        return found
    named = f"{', '.join(joining[:5])}{', ...' if len(joining) > 5 else ''}"
    return [replace(finding, severity="warning",
                    cause=f"{finding.cause}. Not called an error yet: {len(joining)} node(s) have not finished "
                          f"joining ({named}: no docker_gwbridge or no ingress sandbox yet), and the overlay is "
                          "set up as they do",
                    fix=f"run the doctor again once they have joined; if it stays, {finding.fix}")
            for finding in found]


def _fresh_join(facts: Facts, nodes: list[str]) -> str:
    """A sentence for an overlay loss to nodes that joined moments ago ('' when none did)."""
    ages = {name: joined_ago(facts.nodes[name]) for name in nodes}
    fresh = {name: age for name, age in ages.items() if age is not None and 0 <= age < FRESH_JOIN}
    if not fresh:
        return ""
    when = ", ".join(f"{name} {age:.0f} s ago" for name, age in sorted(fresh.items()))
    return (f". Joined the swarm moments ago: {when}; while gossip spreads a join the overlay can lose "
            "pings to the new node for a few seconds, so run the doctor again before acting on this")
