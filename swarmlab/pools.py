"""Docker's local address pools, and which of them a node's routes leave free.

When Docker creates a bridge network without an explicit `--subnet` (docker0,
docker_gwbridge, a compose network), its IPAM walks the default local pools in
order and takes the first one that

  1. no existing network of that daemon uses,
  2. holds none of the nameservers in /etc/resolv.conf, and
  3. overlaps no route with a destination in the main routing table
     (any route: on-link or via a gateway; the default route does not count).

If none is left it fails with "could not find an available, non-overlapping IPv4
address pool among the defaults to assign to the network" - the error behind the
missing docker_gwbridge in the article. A VPN client that installs
`172.16.0.0/12` and `192.168.0.0/16` routes covers every default pool at once.

Everything here is pure: it works on `ip -j route` output, nameserver lists and
network subnets, so it can be tested on synthetic route tables.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from ipaddress import IPv4Network

import pandas as pd

from .errors import NoFreeSubnetError

# Docker 20.10's default local pools (libnetwork ipamutils.localScopeDefaultNetworks):
# 172.17.0.0/16 ... 172.31.0.0/16 as /16s, then 192.168.0.0/16 in /20s. 31 pools.
DOCKER_DEFAULT_POOLS: tuple[tuple[str, int], ...] = (
    ("172.17.0.0/16", 16), ("172.18.0.0/16", 16), ("172.19.0.0/16", 16),
    ("172.20.0.0/14", 16), ("172.24.0.0/14", 16), ("172.28.0.0/14", 16),
    ("192.168.0.0/16", 20),
)

# The subnets swarm gives overlay networks by default (`swarm init --default-addr-pool`).
SWARM_DEFAULT_POOL = IPv4Network("10.0.0.0/8")

# Where to look for a subnet when every default pool is blocked: private ranges that
# VPNs seldom claim, far from where swarm's 10.0.0.0/8 overlay allocation starts.
FALLBACK_SUBNETS: tuple[str, ...] = ("10.199.0.0/16", "10.198.0.0/16", "10.197.0.0/16", "198.18.0.0/16")


@dataclass(frozen=True)
class Route:
    """One route of the main table, as `ip route` shows it."""

    dst: IPv4Network | None  # None for the default route
    dev: str = ""
    gateway: str = ""
    text: str = ""  # the line as `ip route` prints it (for evidence)

    def __str__(self):
        return self.text or f"{self.dst} dev {self.dev}"


def route_from_json(entry: dict) -> Route:
    """A Route from one element of `ip -j route`."""
    dst_text = entry.get("dst", "")
    dst = None if dst_text in ("", "default") else _network(dst_text)
    words = [entry["type"]] if entry.get("type") not in (None, "unicast") else []
    words.append(dst_text or "default")
    for key, label in (("gateway", "via"), ("dev", "dev"), ("protocol", "proto"),
                       ("scope", "scope"), ("prefsrc", "src"), ("metric", "metric")):
        if entry.get(key) not in (None, ""):
            words += [label, str(entry[key])]
    words += [f for f in entry.get("flags", []) if f]
    return Route(dst, entry.get("dev", ""), entry.get("gateway", ""), " ".join(words))


def route_from_text(line: str) -> Route:
    """A Route from one line of `ip route` (e.g. '172.16.0.0/12 dev ens33 scope link')."""
    words = line.split()
    if words and words[0] in ("unicast", "blackhole", "unreachable", "prohibit", "local", "broadcast", "throw"):
        words = words[1:]
    dst = None if not words or words[0] == "default" else _network(words[0])
    return Route(dst, _after(words, "dev"), _after(words, "via"), line.strip())


def routes_from(source) -> list[Route]:
    """Routes from `ip -j route` JSON (list of dicts), `ip route` text, or Route objects."""
    if isinstance(source, str):
        return [route_from_text(line) for line in source.splitlines() if line.strip()]
    return [r if isinstance(r, Route) else route_from_json(r) for r in source]


def nameservers_from_resolv_conf(text: str) -> list[str]:
    return [line.split()[1] for line in text.splitlines()
            if line.strip().startswith("nameserver") and len(line.split()) > 1]


def split_pools(pools=DOCKER_DEFAULT_POOLS) -> list[IPv4Network]:
    """The subnets a pool list hands out, in Docker's order (base split into `size` pieces)."""
    subnets = []
    for base, size in pools:
        subnets += list(IPv4Network(base).subnets(new_prefix=int(size)))
    return subnets


def pools_from_daemon_json(config: dict) -> tuple[tuple[str, int], ...] | None:
    """The `default-address-pools` of a daemon.json, or None when it keeps Docker's defaults."""
    pools = config.get("default-address-pools")
    if not pools:
        return None
    return tuple((p["base"], int(p["size"])) for p in pools)


@dataclass
class PoolReport:
    """Which pools are free on a node and, for each blocked one, what blocks it."""

    pools: list[IPv4Network]
    blockers: dict[IPv4Network, list[str]]  # pool -> reasons, Docker's order first
    covering: dict[Route, list[IPv4Network]] = field(default_factory=dict)  # non-Docker routes -> pools

    @property
    def free(self) -> list[IPv4Network]:
        return [p for p in self.pools if not self.blockers.get(p)]

    @property
    def exhausted(self) -> bool:
        return not self.free

    def table(self):
        """One row per pool: pool, free, blocked by (the first reason Docker would hit)."""
        return pd.DataFrame([{"pool": str(p), "free": not self.blockers.get(p),
                              "blocked by": (self.blockers.get(p) or [""])[0]} for p in self.pools])

    def summary(self) -> str:
        return f"{len(self.free)} of {len(self.pools)} default pools free"


def pool_report(routes, nameservers=(), networks=(), pools=DOCKER_DEFAULT_POOLS) -> PoolReport:
    """Predict, as Docker's IPAM would, which default pools a node can still hand out.

    routes: `ip -j route` list, `ip route` text or Routes. nameservers: IP strings.
    networks: (name, subnet) pairs of the daemon's existing networks.
    pools: (base, size) pairs: Docker's defaults or the node's default-address-pools.
    """
    routes = routes_from(routes)
    networks = [(name, _network(subnet)) for name, subnet in networks if subnet]
    network_subnets = {subnet for _, subnet in networks}
    # A bridge network's own route (172.17.0.0/16 dev docker0) is that network, not a foreign route.
    foreign = [r for r in routes if r.dst is not None and r.dst not in network_subnets]
    subnets = split_pools(pools)
    blockers: dict[IPv4Network, list[str]] = {}
    covering: dict[Route, list[IPv4Network]] = {}
    for pool in subnets:
        reasons = [f"network {name} ({subnet})" for name, subnet in networks if subnet.overlaps(pool)]
        reasons += [f"nameserver {ns}" for ns in nameservers if _in(ns, pool)]
        for route in foreign:
            if route.dst.overlaps(pool):
                reasons.append(f"route {route}")
                covering.setdefault(route, []).append(pool)
        if reasons:
            blockers[pool] = reasons
    return PoolReport(subnets, blockers, covering)


BLOCKER_KINDS = (("route", "blocked by a route"), ("network", "held by a network"),
                 ("nameserver", "holding a nameserver"))


def blocked_by(report: PoolReport) -> dict[str, int]:
    """How many pools are free, and how many each kind of thing blocks (a pool may count twice)."""
    counts = {"free": len(report.free)}
    for kind, label in BLOCKER_KINDS:
        counts[label] = sum(any(reason.startswith(kind + " ") for reason in reasons)
                            for reasons in report.blockers.values())
    return counts


def side_by_side(reports: dict[str, PoolReport]):
    """One column per situation (e.g. {"vpn-routes": ..., "pools-exhausted": ...}): blocked_by of each."""
    return pd.DataFrame({name: blocked_by(report) for name, report in reports.items()})


def describe_pools(pools: list[IPv4Network]) -> str:
    """'172.17.0.0/16 ... 172.31.0.0/16 (15 pools)' - short enough for a table cell."""
    if not pools:
        return "no pools"
    if len(pools) == 1:
        return str(pools[0])
    return f"{pools[0]} ... {pools[-1]} ({len(pools)} pools)"


def conflicts(subnet, routes, nameservers=(), networks=()) -> list[str]:
    """Why `subnet` would clash on a node: overlapping routes, nameservers, networks."""
    subnet = _network(subnet)
    routes = routes_from(routes)
    network_subnets = {_network(s) for _, s in networks if s}
    found = [f"network {name} uses {s}" for name, s in networks if s and _network(s).overlaps(subnet)]
    found += [f"nameserver {ns} lies in it" for ns in nameservers if _in(ns, subnet)]
    found += [f"route `{r}` covers it" for r in routes
              if r.dst is not None and r.dst not in network_subnets and r.dst.overlaps(subnet)]
    return found


def pick_free_subnet(routes, nameservers=(), networks=(), prefer=None,
                     pools=DOCKER_DEFAULT_POOLS, avoid=()) -> tuple[IPv4Network, str]:
    """A subnet that clashes with nothing on the node, and why it was chosen.

    Tries `prefer` first (e.g. the manager's docker_gwbridge subnet), then the
    default pools in Docker's order, then FALLBACK_SUBNETS. `avoid` lists more
    subnets to stay clear of (e.g. the swarm's overlay subnets).
    """
    avoid = [_network(a) for a in avoid]

    def clashes(candidate):
        candidate = _network(candidate)
        return conflicts(candidate, routes, nameservers, networks) + \
            [f"overlay subnet {a} overlaps it" for a in avoid if a.overlaps(candidate)]

    preferred_problems = []
    if prefer:
        preferred_problems = clashes(prefer)
        if not preferred_problems:
            return _network(prefer), f"{prefer} is free on this node"
    candidates = split_pools(pools) + [_network(f) for f in FALLBACK_SUBNETS]
    for candidate in candidates:
        if not clashes(candidate):
            why = f"{candidate} overlaps no route, nameserver or network on this node"
            if prefer:
                why = f"{prefer} is not usable here ({'; '.join(preferred_problems)}); " + why
            return candidate, why
    raise NoFreeSubnetError("no free subnet found among Docker's default pools and the fallbacks "
                     f"{', '.join(FALLBACK_SUBNETS)}; pass one explicitly")


def _network(text) -> IPv4Network:
    return IPv4Network(str(text), strict=False)


def _in(address: str, net: IPv4Network) -> bool:
    try:
        return ipaddress.ip_address(address) in net
    except ValueError:
        return False


def _after(words: list[str], key: str) -> str:
    try:
        return words[words.index(key) + 1]
    except (ValueError, IndexError):
        return ""
