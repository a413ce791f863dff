"""The address pools check: on every node Docker can still take a local network from its
pools; when it cannot, what holds them (routes, networks, nameservers) and how to free one.
"""
from __future__ import annotations

from ipaddress import IPv4Network

from .. import pools  # swarmlab.pools: Docker's local pools, and what covers them
from ..gwbridge import GWBRIDGE
from .evidence import containing, network_name_line
from .facts import SUMMARY, Facts, NodeFacts
from .findings import DOC_DAEMON_CONFIG, Finding


def check_address_pools(facts: Facts) -> list[Finding]:
    """On every node Docker can still take a local network from its pools (not all covered by routes or networks)."""
    found = []
    for f in facts.up():
        report = f.pool_report()
        configured = pools.pools_from_daemon_json(f.daemon_config)
        which = "default-address-pools from daemon.json" if configured else "Docker's default pools"
        if report.exhausted:
            found.append(_exhausted_pools(f, report, which))
        else:
            free = report.free
            found.append(Finding(
                "info", f.name, "address pools",
                f.shown("routes", lambda line: False,
                        [f"route {route}" for route in f.routes] + [report.summary()]),
                f"{len(free)} of {len(report.pools)} of {which} free; the next bridge network gets {free[0]}",
                "", DOC_DAEMON_CONFIG))
    return found


def _pools_evidence(f: NodeFacts, report: pools.PoolReport) -> str:
    """The routes that cover pools, the networks that hold them, the nameservers in them."""
    # `ip -j route` prints one long JSON line: the routes that matter are given as a summary.
    blocks = [f.shown("routes", lambda line: False,
                      [f"route {route} covers {pools.describe_pools(pools_)}"
                       for route, pools_ in report.covering.items()])] if report.covering else []
    holders = {name for name, subnet in f.local_subnets()
               if any(IPv4Network(subnet).overlaps(pool) for pool in report.pools)}
    if holders:
        # Each network's own "Name" line (8 spaces in) and its subnet, in docker's order.
        names = {f'        "Name": "{name}",' for name in holders}
        keep, inside = [], False
        for line in f.sections.get("networks", "").splitlines():
            if network_name_line(line):
                inside = line in names
                if inside:
                    keep.append(line)
            elif inside and line.strip().startswith('"Subnet": '):
                keep.append(line)
        blocks.append(f.shown("networks", keep, [f"default pools held by networks: {len(holders)}"]))
    if any("nameserver" in reason for reasons in report.blockers.values() for reason in reasons):
        blocks.append(f.shown("resolv", containing("nameserver")))
    return "\n".join(blocks + [SUMMARY + report.summary()])


def _exhausted_pools(f: NodeFacts, report: pools.PoolReport, which: str) -> Finding:
    missing_gw = f.in_swarm and f.network(GWBRIDGE) is None
    suggestion, _ = _pool_suggestion(f)
    pools_fix = (f'set "default-address-pools": [{{"base": "{suggestion}", "size": 24}}] in /etc/docker/daemon.json '
                 "and restart docker (swarmlab.fix.fix_address_pools)")
    if report.covering:
        covering = ", ".join(str(r.dst) for r in report.covering)
        blame = f"overlaps a route ({covering}), a nameserver or a network"
        fix = pools_fix + ", or have the VPN push narrower routes"
    else:
        blame = "is held by a network of the node (see which above)"
        fix = ("remove the networks no container uses: docker network prune (compose projects leave one each), "
               "or " + pools_fix)
    return Finding(
        "error" if missing_gw else "warning", f.name, "address pools",
        _pools_evidence(f, report),
        f"every one of {which} {blame}, so Docker cannot create a bridge network without an explicit subnet"
        + (f": that is why {GWBRIDGE} is missing" if missing_gw else
           ": the next one (e.g. docker_gwbridge on a re-join, a compose network) will fail"),
        fix, DOC_DAEMON_CONFIG)


def _pool_suggestion(f: NodeFacts):
    """A base for default-address-pools that nothing on the node overlaps."""
    try:
        return pools.pick_free_subnet(f.routes, f.nameservers, f.local_subnets(), pools=())
    except ValueError:
        return "<a free /16>", ""
