"""Faults to inject into a node, and undo: the article's failure and its cousins.

Every fault acts INSIDE one node (its routing table, its iptables), through
`node.run`, so it works on a lab node or a real host and never touches the
machine running the lab.

    >>> faults.inject(lab, "vpn-routes", node="node2")   # before node2 joins
    >>> faults.undo(lab, "vpn-routes", node="node2")

Faults in the registry `FAULTS`:

vpn-routes
    On-link routes `172.16.0.0/12` and `192.168.0.0/16` via the node's NIC, as a
    VPN client installs them. They cover all 31 of Docker's default local address
    pools, so when the node joins a swarm Docker cannot create docker_gwbridge and
    every task there fails with "error creating external connectivity network"
    (the article's error; one cause of it, see pools-exhausted for another). The node's own LAN route (e.g. 172.16.155.0/24) is more
    specific, so the node keeps talking to the others. Acts at join time: inject
    before the node joins, or pass rejoin=True.
vxlan-blocked
    iptables in the node drops incoming udp/4789: overlay (VXLAN) traffic to the
    node is lost; tasks run, but containers on different nodes cannot talk.
gossip-blocked
    iptables in the node drops incoming tcp+udp/7946: the swarm's gossip (network
    membership) cannot reach the node.
pools-exhausted
    Bridge networks (`projN_default`, as docker compose names a project's network)
    created in the node until Docker answers that no default pool is left. The
    same error as vpn-routes, with no route added at all: when the node joins,
    docker_gwbridge cannot be created and every task there fails. Acts at join
    time, like vpn-routes.

Each fault says whether a drill (swarmlab.drill) may pick it: `drill_target` is the
node it must go to for `drill.check` to fail until it is repaired ("worker" or
"manager"), or None, and then `not_drillable` says why check could not see it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from . import field_faults, messages, story, swarm
from .cluster import Cluster, Node, as_cluster
from .errors import SwarmlabError
from .result import Result

# Routes this module adds carry this protocol number, so undo removes exactly them
# and never a route of the same destination that was there before.
ROUTE_PROTO = 199
VPN_ROUTES = ("172.16.0.0/12", "192.168.0.0/16")
RULE_COMMENT = field_faults.RULE_COMMENT
# Networks this module creates carry this label, so undo removes exactly them.
NETWORK_LABEL = "swarmlab.fault=pools-exhausted"


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    inject: Callable[[Cluster, Node], list[Result]]
    undo: Callable[[Cluster, Node], list[Result]]
    acts_at_join: bool = False  # only shows when the node joins after the fault
    # Where a drill injects it so that drill.check fails until it is repaired:
    # "worker" or "manager"; None when check cannot see it, and then why.
    drill_target: str | None = None
    not_drillable: str = ""

    @property
    def drillable(self) -> bool:
        return self.drill_target is not None


@dataclass
class FaultReport:
    """What inject/undo ran, and what to expect next."""

    fault: str
    node: str
    action: str
    results: list[Result] = field(default_factory=list)
    note: str = ""

    def terminal(self) -> str:
        text = "".join(r.terminal() for r in self.results)
        return text + (f"# {self.note}\n" if self.note else "")

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.terminal())


# --- vpn-routes -----------------------------------------------------------
def nic_of(node: Node) -> str:
    """The interface that carries the node's swarm address (the article's ens33)."""
    result = node.run("ip -j addr").check()
    for link in json.loads(result.stdout or "[]"):
        if any(a.get("local") == node.address for a in link.get("addr_info", [])):
            return link["ifname"]
    raise SwarmlabError(f"no interface of {node.name} holds {node.address}; "
                        f"check `ip addr` on {node.name} and the node's address in the inventory")


def _vpn_routes_inject(cluster: Cluster, node: Node) -> list[Result]:
    nic = nic_of(node)
    results = [node.run(f"ip route add {dst} dev {nic} proto {ROUTE_PROTO}").check(
        hint=f"a route to {dst} may already exist on {node.name}: `ip route` there")
        for dst in VPN_ROUTES]
    # The node's own LAN route is more specific than the VPN's: peers stay on-link.
    peers = [n for n in cluster if n is not node]
    if peers:
        results.append(node.run(f"ip route get {peers[0].address}"))
    results.append(node.run("ip route"))
    return results


def _vpn_routes_undo(cluster: Cluster, node: Node) -> list[Result]:
    return [node.run(f"ip route del {dst} proto {ROUTE_PROTO} 2>/dev/null || true") for dst in VPN_ROUTES] + \
        [node.run("ip route")]


# --- ports dropped by iptables -------------------------------------------
def _drop_rules(fault: str, ports: list[tuple[str, int]]) -> list[str]:
    return [f"INPUT -p {proto} --dport {port} -m comment --comment {RULE_COMMENT}:{fault} -j DROP"
            for proto, port in ports]


def _ports_blocked(fault: str, ports: list[tuple[str, int]]):
    def inject(cluster: Cluster, node: Node) -> list[Result]:
        # -C first: injecting twice must not stack two rules.
        results = [node.run(f"iptables -C {rule} 2>/dev/null || iptables -I {rule}").check(
            hint=f"is iptables installed on {node.name}?") for rule in _drop_rules(fault, ports)]
        return results + [node.run("iptables -S INPUT")]

    def undo(cluster: Cluster, node: Node) -> list[Result]:
        results = [node.run(f"while iptables -C {rule} 2>/dev/null; do iptables -D {rule}; done")
                   for rule in _drop_rules(fault, ports)]
        return results + [node.run("iptables -S INPUT")]
    return inject, undo


# --- pools-exhausted -------------------------------------------------------
# Creates networks until Docker refuses one; prints each network and, last, Docker's answer,
# which must say no pool is left in some Docker version's words (messages.NO_POOL).
FILL_POOLS = ("i=0; while out=$(docker network create --label " + NETWORK_LABEL + " proj${i}_default 2>&1); "
              "do echo \"proj${i}_default $out\"; i=$((i+1)); done; "
              "echo \"$i networks created; then: $out\"; "
              "case $out in " + messages.shell_case_no_pool() + ") ;; *) exit 1;; esac")


def _pools_exhausted_inject(cluster: Cluster, node: Node) -> list[Result]:
    # However many pools the node has (its daemon.json may set its own), the last
    # answer must be the pool error; anything else means something else went wrong.
    fill = node.run(FILL_POOLS, timeout=300).check(
        hint=f"Docker on {node.name} refused a network for another reason than the address pools")
    return [fill, node.run(f"docker network ls --filter label={NETWORK_LABEL}")]


def _pools_exhausted_undo(cluster: Cluster, node: Node) -> list[Result]:
    return [node.run(f"ids=$(docker network ls -q --filter label={NETWORK_LABEL}); "
                     "[ -z \"$ids\" ] || docker network rm $ids"),
            node.run("docker network ls")]


DRILL_TARGETS = ("worker", "manager")


def _not_yet_drilled(expected: str) -> str:
    """The reason a fault that check should see is not drilled yet: no live drill has run it."""
    return (f"not yet run as a drill (tests/live/test_drill.py runs every fault a drill may pick); "
            f"expected: {expected}")


def _fault(name, description, inject_undo, acts_at_join=False, *, drill_target=None, not_drillable="") -> Fault:
    """A registry entry. It must say where a drill puts it, or why no drill may pick it."""
    if (drill_target is None) == (not not_drillable):
        raise ValueError(f"fault {name}: give a drill_target ({' or '.join(DRILL_TARGETS)}) "
                         f"or a not_drillable reason, one of the two")
    if drill_target is not None and drill_target not in DRILL_TARGETS:
        raise ValueError(f"fault {name}: drill_target {drill_target!r} is not one of {DRILL_TARGETS}")
    if acts_at_join and drill_target == "manager":
        raise ValueError(f"fault {name}: a drill rejoins the node of a fault that acts at join, "
                         f"which a manager cannot do")
    inject, undo = inject_undo
    return Fault(name, description, inject, undo, acts_at_join, drill_target, not_drillable)


FAULTS: dict[str, Fault] = {f.name: f for f in (
    _fault("vpn-routes",
           "on-link routes 172.16.0.0/12 and 192.168.0.0/16 (as a VPN adds) cover every default "
           "address pool: on join, no docker_gwbridge, tasks fail (the article's error)",
           (_vpn_routes_inject, _vpn_routes_undo), acts_at_join=True,
           drill_target="worker"),  # its tasks fail: no task of check's probe there
    _fault("vxlan-blocked",
           "iptables drops incoming udp/4789: overlay traffic to the node is lost",
           _ports_blocked("vxlan-blocked", [("udp", 4789)]),
           drill_target="worker"),  # check's pings over the overlay are lost
    _fault("gossip-blocked",
           "iptables drops incoming tcp+udp/7946: swarm gossip cannot reach the node",
           _ports_blocked("gossip-blocked", [("tcp", 7946), ("udp", 7946)]),
           not_drillable=_not_yet_drilled("the node never learns its peers' overlay endpoints: pings lost")),
    _fault("pools-exhausted",
           "bridge networks (as compose projects create) use up every default address pool: on join, "
           "no docker_gwbridge, tasks fail with the article's error, no route involved",
           (_pools_exhausted_inject, _pools_exhausted_undo), acts_at_join=True,
           drill_target="worker"),  # as vpn-routes
    # From the field (field_faults.py; docs/faults.md cites what users reported):
    _fault("manager-port-blocked",
           "iptables on a manager drops incoming tcp/2377: a join ends in 'Timeout was reached before node "
           "joined', joined nodes go Down",
           _ports_blocked("manager-port-blocked", [("tcp", 2377)]),
           # On a worker it blocks a port nothing listens on. On the manager check's 2377
           # probe fails from every node; but in the one live drill tried, check's overlay
           # pings were still lost after the student's repair, for a reason not yet found.
           not_drillable=_not_yet_drilled("on the manager, check's 2377 probe fails from every node; "
                                          "a live try left the overlay dark after the repair")),
    _fault("mtu-blackhole",
           f"the lab's switch port to the node carries {field_faults.PATH_MTU} bytes and drops bigger frames "
           "silently: pings pass, full-size overlay packets vanish (lab only; on node containers the node "
           "drops what arrives bigger)",
           (field_faults.mtu_blackhole_inject, field_faults.mtu_blackhole_undo),
           not_drillable=_not_yet_drilled("check's 1428-byte ping needs 1478 bytes on the path")),
    _fault("advertise-unreachable",
           "the node joins again with --advertise-addr on a second interface nobody can reach: Ready, but "
           "overlay traffic to it is lost",
           (field_faults.advertise_unreachable_inject, field_faults.advertise_unreachable_undo),
           not_drillable=_not_yet_drilled("VXLAN and gossip go to an address nobody reaches: pings lost")),
    _fault("iptables-flushed",
           "Docker's iptables chains flushed on the node, as a firewall reload does: published ports fail "
           "with 'No chain/target/match by that name'",
           (field_faults.iptables_flushed_inject, field_faults.iptables_flushed_undo),
           not_drillable=_not_yet_drilled("drill.check asks the doctor whether Docker's chains are in place")),
    _fault("duplicate-hostname",
           "the node takes another node's hostname (a cloned VM): 'node NAME is ambiguous (2 matches found)'",
           (field_faults.duplicate_hostname_inject, field_faults.duplicate_hostname_undo),
           not_drillable="the node keeps its swarm node ID: tasks still run there and its containers still "
                         "talk; only commands naming a node (`docker node ps NAME`) are ambiguous, and drill.check "
                         "names no node, so check would pass with no repair"),
    _fault("dockerd-killed",
           "the node's dockerd killed with SIGKILL: 'Cannot connect to the Docker daemon', the node goes Down; "
           "a stale containerd pid file can make the next start fail",
           (field_faults.dockerd_killed_inject, field_faults.dockerd_killed_undo),
           not_drillable=_not_yet_drilled("no task of check's probe runs there")),
    _fault("overlay-overlaps-lan",
           "an attachable overlay on the node's LAN subnet: its containers cannot reach the LAN (the nodes)",
           (field_faults.overlay_overlaps_lan_inject, field_faults.overlay_overlaps_lan_undo),
           not_drillable=f"the overlapping overlay ({field_faults.OVERLAP_NETWORK}) is one no service uses: "
                         "drill.check's fresh overlay and the article's uber-net take subnets from the swarm's "
                         "address pool, off the LAN, so check would pass with no repair"),
)}


def fault_named(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        raise SwarmlabError(f"no fault named {name!r}; faults: {', '.join(FAULTS)}") from None


def inject(target, fault: str, node: str = "node2", *, rejoin: bool = False) -> FaultReport:
    """Inject `fault` into `node` of a Cluster or Lab.

    A fault that acts at join time (vpn-routes) on a node already in the swarm has
    no effect until the node joins again: pass rejoin=True to leave and join now.
    """
    cluster = as_cluster(target)
    spec = fault_named(fault)
    target_node = cluster.node(node)
    joined = spec.acts_at_join and swarm.in_swarm(target_node)
    report = FaultReport(fault, node, "inject")
    if joined and rejoin:
        # Leave first: leaving removes the node's docker_gwbridge, whose pool pools-exhausted
        # must hold too, or the join takes it and the fault does not show.
        report.results += story.leave(cluster, target_node)
    report.results += spec.inject(cluster, target_node)
    if joined and rejoin:
        report.results.append(story.swarm_join(cluster, target_node).check())
        report.note = f"{node} left the swarm and joined again with the fault in place"
    elif joined:
        report.note = (f"{node} is already in the swarm: {fault} shows only when it joins again "
                       f"(inject with rejoin=True, or `--rejoin` on the command line)")
    return report


def undo(target, fault: str, node: str = "node2") -> FaultReport:
    """Remove what inject() added. Damage already done stays (see the note)."""
    cluster = as_cluster(target)
    spec = fault_named(fault)
    report = FaultReport(fault, node, "undo", spec.undo(cluster, cluster.node(node)))
    gwbridge_missing = swarm.in_swarm(cluster.node(node)) and not cluster.node(node).run(
        "docker network inspect docker_gwbridge").ok
    if spec.acts_at_join and gwbridge_missing:
        report.note = (f"{fault} undone, but the docker_gwbridge that {node} could not create is still "
                       f"missing: Docker creates it when the next task starts there (a failing service "
                       f"retries by itself), or `swarmlab fix gwbridge {node}` now")
    return report


def describe() -> str:
    """The registry as text: one line per fault."""
    width = max(map(len, FAULTS))
    return "\n".join(f"{f.name:<{width}}  {f.description}" for f in FAULTS.values())

