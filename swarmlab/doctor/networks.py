"""How the nodes' networks are set up for the overlay: each node advertises an address its
peers reach, no overlay's subnet covers a network the nodes route to, the underlay carries
overlay packets whole (MTU), and no leftover VXLAN device sits in a node's namespace.
"""
from __future__ import annotations

import ipaddress
from ipaddress import IPv4Network

from .. import pools, probes
from ..gwbridge import GWBRIDGE
from .evidence import network_lines, probe_evidence, said
from .facts import DEFAULT_OVERLAY_MTU, VXLAN_OVERHEAD, Facts, NodeFacts
from .findings import DOC_OVERLAY, DOC_SWARM_NETWORKING, Finding


def check_advertise_address(facts: Facts) -> list[Finding]:
    """Each node advertises an address its peers can reach (docker info: Swarm.NodeAddr).

    An inventory address that is a DNS name is not compared with the advertised IP: the
    node's own addresses (its interfaces) are, so a node that advertises its own LAN address
    under a name is not called a mismatch.
    """
    found = []
    outcomes = probes.parse(facts.manager_facts.sections.get("pings", ""))
    for f in facts.swarm_nodes():
        advertised = f.advertise_address
        if not advertised or advertised == f.address:
            continue
        tried = [o for o in outcomes if o.address == advertised and o.kind in ("ping", "tcp")]
        reached = any(o.outcome in ("ok", "open") for o in tried)
        own = is_name(f.address) and advertised in f.own_addresses()
        if own and (reached or not tried):
            continue  # the name's node advertises an address of its own, and nothing says it is unreachable
        found.append(_advertise_finding(facts, f, tried, reached))
    return found


def is_name(address: str) -> bool:
    """True when an inventory address is a DNS name, not an IP."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return True
    return False


def _advertise_finding(facts: Facts, f: NodeFacts, tried: list[probes.Outcome], reached: bool) -> Finding:
    advertised, manager = f.advertise_address, facts.manager_facts
    proof = [f.shown("info", lambda line: False, [f"Swarm.NodeAddr is {advertised}; the cluster's address of "
                                                   f"{f.name} is {f.address}"])]
    if is_name(f.address):
        # A name cannot be compared with an IP: say whether one of the node's interfaces holds the address.
        device = f.own_addresses().get(advertised)
        proof.append(f.shown("links", lambda line: False, [f"{advertised} is on {f.name}'s {device}" if device else
                                                           f"none of {f.name}'s interfaces holds {advertised}"]))
    if tried:
        proof.append(probe_evidence(facts, [(manager.name, "pings", tried, [said(o) for o in tried])]))
    address = f"<an IP of {f.address} the manager reaches>" if is_name(f.address) else f.address
    fix = "" if reached else (f"on {f.name}: docker swarm leave; then join again with --advertise-addr {address}; "
                              "on the manager: docker node rm <the old entry>")
    return Finding("info" if reached else "error", f.name, "advertise address", "\n".join(proof),
                   _advertise_cause(f, reached), fix, DOC_SWARM_NETWORKING)


def _advertise_cause(f: NodeFacts, reached: bool) -> str:
    advertised = f.advertise_address
    if is_name(f.address):
        whose = "its own address" if advertised in f.own_addresses() else "an address none of its interfaces holds"
        compared = (f"{f.name} advertises {advertised}, {whose} ({f.address} is a name: the doctor compared the "
                    "node's own addresses)")
    else:
        compared = f"{f.name} advertises {advertised}, not {f.address}"
    if reached:
        return compared + "; the manager reaches it there"
    return (compared + ", and the manager cannot reach it: it is the address the node gave the swarm "
            "(--advertise-addr / --data-path-addr), where peers send gossip and VXLAN, so overlay traffic to "
            f"{f.name} is lost although the node shows Ready")


def check_overlay_subnets(facts: Facts) -> list[Finding]:
    """No overlay's subnet covers a network the nodes reach through their own routes (their LAN, a VPN)."""
    found, manager = [], facts.manager_facts
    overlays = [(n["Name"], c["Subnet"]) for n in manager.networks if n.get("Driver") == "overlay"
                for c in (n.get("IPAM", {}).get("Config") or []) if c.get("Subnet") and ":" not in c["Subnet"]]
    for name, subnet in overlays:
        net = ipaddress.ip_network(subnet, strict=False)
        hits = {f.name: routes for f in facts.up() if (routes := _routes_into(f, net))}
        if not hits:
            continue
        # The overlay's own lines of the manager's inspect, then each node's routes into it (from
        # `ip -j route`, one long JSON line: the routes are given as summaries).
        proof = [manager.shown("networks", network_lines(manager, name, f'"Name": "{name}"', f'"Subnet": "{subnet}"'),
                               [f"overlay {name}: {subnet}"])]
        proof += [facts.nodes[node].shown("routes", lambda line: False,
                                          [f"route {route} overlaps {name} ({subnet})" for route in routes])
                  for node, routes in sorted(hits.items())[:4]]
        found.append(Finding(
            "error", ", ".join(sorted(hits)), "overlay subnet", "\n".join(proof),
            f"the overlay {name} ({subnet}) overlaps a network the nodes reach through their own routes: a container "
            f"on {name} sends packets for those addresses into the overlay, so it cannot reach them (the nodes "
            "themselves, a database, a DNS server on the LAN); nothing fails loudly",
            f"recreate {name} on a free subnet: docker network create -d overlay --subnet <free /24> ...; for "
            "ingress: docker network rm ingress; docker network create --ingress -d overlay --subnet <free> ingress;"
            " or set `docker swarm init --default-addr-pool`", DOC_OVERLAY))
    return found


def _routes_into(f: NodeFacts, net: IPv4Network) -> list[pools.Route]:
    """The node's routes (not its default, not Docker's own bridges) that cover part of `net`."""
    docker_links = {link.get("ifname") for link in f.links if _is_docker_link(link)}
    return [r for r in f.routes if r.dst is not None and r.dst.prefixlen > 0 and r.dst.overlaps(net)
            and r.dev not in docker_links]


def _is_docker_link(link: dict) -> bool:
    """A bridge Docker made (docker0, docker_gwbridge, br-...): its routes are Docker's own networks."""
    name = link.get("ifname", "")
    return name in ("docker0", GWBRIDGE) or name.startswith("br-")


def check_mtu(facts: Facts) -> list[Finding]:
    """Every swarm node's underlay carries overlay packets whole (overlay MTU + VXLAN header <= link MTU)."""
    found = []
    overlays = [n for n in facts.manager_facts.networks if n.get("Driver") == "overlay"]
    for f in facts.swarm_nodes():
        if not overlays:
            continue
        link = f.underlay()
        if not link:
            # Say so rather than skip in silence (e.g. an inventory address that is a DNS name).
            found.append(Finding(
                "info", f.name, "mtu", f.shown("links", lambda line: False,
                                               [f"no interface holds {f.address} or {f.swarm_address}"]),
                f"the MTU check was skipped on {f.name}: none of its interfaces holds its address",
                f"give the node's IP address in the inventory", DOC_OVERLAY))
            continue
        underlay = int(link.get("mtu", 1500))
        mtus = {net["Name"]: int((net.get("Options") or {}).get("com.docker.network.driver.mtu")
                                 or DEFAULT_OVERLAY_MTU) for net in overlays}
        too_big = {name: mtu for name, mtu in mtus.items() if mtu + VXLAN_OVERHEAD > underlay}
        summary = [f"{link['ifname']} mtu {underlay}"] + [
            f"overlay {name} mtu {mtu} (+{VXLAN_OVERHEAD} VXLAN)" for name, mtu in mtus.items()]
        proof = f.shown("links", lambda line: False, summary)
        if too_big:
            found.append(Finding(
                "warning", f.name, "mtu", proof,
                f"overlay packets of {max(too_big.values())} bytes become {max(too_big.values()) + VXLAN_OVERHEAD} "
                f"with VXLAN, more than {link['ifname']} carries ({underlay}): large transfers stall on "
                f"{', '.join(too_big)} while pings work",
                f"docker network create -d overlay -o com.docker.network.driver.mtu={underlay - VXLAN_OVERHEAD} ...",
                DOC_OVERLAY))
        else:
            found.append(Finding("info", f.name, "mtu", proof,
                                 f"the underlay carries overlay packets whole ({underlay} >= overlay MTU + "
                                 f"{VXLAN_OVERHEAD})", "", DOC_OVERLAY))
    return found


def check_stale_vxlan(facts: Facts) -> list[Finding]:
    """No leftover VXLAN device (vx-...) sits in a node's own namespace."""
    found = []
    for f in facts.up():
        stale = [link["ifname"] for link in f.links
                 if (link.get("linkinfo") or {}).get("info_kind") == "vxlan" and link.get("ifname", "").startswith("vx-")]
        if stale:
            found.append(Finding(
                "warning", f.name, "stale vxlan",
                f.shown("links", lambda line: False, [f"vxlan devices in the node's namespace: "
                                                      f"{', '.join(stale)}"]),
                "Docker keeps an overlay's VXLAN device inside the network's own namespace; one in the "
                "node's namespace is a leftover that makes the next overlay setup fail with 'file exists'",
                "; ".join(f"ip link del {name}" for name in stale), DOC_OVERLAY))
    return found
