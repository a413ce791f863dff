"""Repairs: the article's docker_gwbridge by hand, the service again, and the lasting fix.

    >>> fix_gwbridge(cluster.node("node2"), like=cluster.manager)
    >>> recreate_service(cluster)
    >>> verify_service(cluster).ok

The article copied the manager's docker_gwbridge (172.18.0.0/16, gateway
172.18.0.1, enable_icc=false, bridge name docker_gwbridge) onto node2. That works
even under the VPN routes that caused the trouble, because Docker does NOT check
routes when `--subnet` is given explicitly (measured: the article's exact command
succeeds on a node whose 172.16.0.0/12 route covers 172.18.0.0/16, and the
service then runs on both nodes). The bridge's own /16 route is more specific
than the VPN's /12, so containers on the node are fine - but hosts behind the
VPN in 172.18.0.0/16 become unreachable from that node. So by default
fix_gwbridge() keeps the manager's subnet only when it is clear of the node's
routes, and otherwise picks a free one and says why; pass `subnet=` to insist
(the report then explains the overlap).

The lasting fix is `default-address-pools` in the node's daemon.json
(fix_address_pools; see docs/address-pools.md).
"""
from __future__ import annotations

import ipaddress
import json
import shlex
import time
from dataclasses import dataclass, field

import pandas as pd

from . import messages, pools, story, swarm
from .cluster import Cluster, Node, WallClock
from .doctor.facts import NodeFacts
from .doctor.gathering import node_facts
from .errors import SwarmlabError
from .gwbridge import GWBRIDGE, GWBRIDGE_OPTIONS, gwbridge_create_command
from .result import Result
from .swarm import restart_docker  # a repair of its own too (iptables-flushed): fix.restart_docker

# What a fix needs to know of a node to choose a subnet: the doctor's facts, these sections.
SUBNET_FACTS = ["routes", "resolv", "networks"]


@dataclass
class FixReport:
    """What a fix ran and why it chose what it chose."""

    action: str
    node: str
    results: list[Result] = field(default_factory=list)
    explanation: str = ""
    subnet: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def terminal(self) -> str:
        text = "".join(r.terminal() for r in self.results)
        return text + "".join(f"# {line}\n" for line in self.explanation.splitlines())

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.terminal())


# --- docker_gwbridge --------------------------------------------------------
def inspect_network(node: Node, name: str) -> dict | None:
    result = node.run(f"docker network inspect {shlex.quote(name)}")
    if not result.ok:
        return None
    data = json.loads(result.stdout or "[]")
    return data[0] if data else None


def choose_gwbridge_subnet(facts: NodeFacts, like: dict | None, subnet: str | None = None):
    """(subnet, gateway, explanation) for a docker_gwbridge on the node of `facts` (SUBNET_FACTS).

    `like` is the manager's docker_gwbridge (inspect output) or None.
    """
    like_config = ((like or {}).get("IPAM", {}).get("Config") or [{}])[0]
    if subnet:
        return _explicit_subnet(facts, subnet, like_config)
    chosen, why = pools.pick_free_subnet(facts.routes, facts.nameservers, facts.local_subnets(),
                                         prefer=like_config.get("Subnet"), avoid=facts.swarm_subnets())
    same = like_config.get("Subnet") == str(chosen)
    gateway = like_config.get("Gateway") if same and like_config.get("Gateway") else str(next(chosen.hosts()))
    return str(chosen), gateway, ("the manager's subnet, as in the article: " if same else "") + why


def _explicit_subnet(facts: NodeFacts, subnet: str, like_config: dict):
    local = facts.local_subnets()
    try:
        net = ipaddress.IPv4Network(subnet, strict=False)
    except ValueError:
        raise SwarmlabError(f"bad subnet {subnet!r}: give an IPv4 network such as 172.18.0.0/16") from None
    taken = [f"network {name} uses {s}" for name, s in local if ipaddress.IPv4Network(s).overlaps(net)]
    if taken:
        raise SwarmlabError(f"{net} cannot be docker_gwbridge on {facts.name}: {'; '.join(taken)} "
                            "(Docker refuses overlapping networks); leave subnet out to get a free one")
    gateway = like_config.get("Gateway") if like_config.get("Subnet") == str(net) else str(next(net.hosts()))
    clashes = pools.conflicts(net, facts.routes, facts.nameservers, local)
    why = f"{net} as asked"
    if clashes:
        why += (f", although {'; '.join(clashes)}. Docker accepts it: with an explicit --subnet it does not "
                "check routes. The bridge's route is more specific, so containers here work, but hosts "
                f"in {net} behind that route become unreachable from {facts.name}")
    return str(net), gateway, why


def fix_gwbridge(node: Node, like: Node | None = None, subnet: str | None = None) -> FixReport:
    """Create docker_gwbridge on `node`, modelled on `like`'s (usually the manager), as the article did.

    Without `subnet`, uses like's subnet when it is clear of node's routes,
    nameservers and networks, else a free one (the explanation says why).
    """
    facts = node_facts(node, SUBNET_FACTS)
    if facts.network(GWBRIDGE) is not None:
        return FixReport("gwbridge", node.name, [node.run(f"docker network ls --filter name={GWBRIDGE}")],
                         f"{node.name} already has {GWBRIDGE}: nothing to do")
    reference = inspect_network(like, GWBRIDGE) if like is not None else None
    options = {k: v for k, v in ((reference or {}).get("Options") or {}).items() if k in GWBRIDGE_OPTIONS}
    options = options or dict(GWBRIDGE_OPTIONS)
    chosen, gateway, why = choose_gwbridge_subnet(facts, reference, subnet)
    command = gwbridge_create_command(chosen, gateway, options)
    result = _create_network(node, command)
    return FixReport("gwbridge", node.name, [result], why, chosen)


def _create_network(node: Node, command: str, attempts: int = 5) -> Result:
    """Run a `docker network create`, riding out one race in the daemon.

    While a failing task retries on the node, dockerd walks its default pools for a
    docker_gwbridge of its own and holds each one it tries (172.18.0.0/16 among them)
    until the walk ends; an explicit --subnet asked for at that moment gets "Pool
    overlaps with other one on this address space". A moment later it is free.
    """
    for attempt in range(attempts):
        result = node.run(command)
        if result.ok or messages.POOL_OVERLAPS not in result.stderr or attempt == attempts - 1:
            break
        time.sleep(0.3)
    return result.check(hint=f"see `docker network ls` on {node.name}; `swarmlab doctor`")


# --- the service --------------------------------------------------------------
# How long a ping over the overlay may stay unanswered before the path counts as
# broken: past networkdb's 30 s bulk-sync wait for a peer (see ping_between).
PING_PATIENCE = 40.0


def recreate_service(cluster: Cluster, name: str = story.SERVICE, network: str = story.NETWORK,
                     replicas: int = 2, image: str = story.IMAGE, command: str = "sleep infinity",
                     timeout: float = 45) -> list[Result]:
    """`docker service rm` + `docker service create`, as the article did; waits for the replicas.

    Removing the service also clears its failed tasks, whose Created containers
    would otherwise stay on the node. The new service is created once the old one's
    containers are gone from every node, so the new tasks never share the network
    with endpoints still being removed; they are removed with `docker rm -f`, as
    `sleep` ignores SIGTERM and each would otherwise take the 10 s stop grace period.
    On a node that was just fixed, the first task has been seen to sit in Starting
    for up to about 20 s: hence the longer wait.
    """
    results = [story.service_rm(cluster, name)]
    for node in cluster:
        results.append(node.run(swarm.remove_task_containers(name)))
    results.append(wait_for_containers_gone(cluster, name))
    results.append(story.service_create(cluster, name, network, replicas, image, command).check())
    swarm.wait_for_running(cluster, name, replicas, timeout)
    return results


def wait_for_containers_gone(cluster: Cluster, service: str, timeout: float = 30) -> Result:
    """Until no node has a container of `service` (after `docker service rm`); returns the last look."""
    look = swarm.task_container_ids(service)
    deadline = cluster.clock.now() + timeout
    while True:
        left = {node.name: node.run(look) for node in cluster}
        if not any(r.stdout.strip() for r in left.values()):
            return next(iter(left.values()))
        if cluster.clock.now() >= deadline:
            raise SwarmlabError(f"containers of {service} are still on "
                                f"{', '.join(n for n, r in left.items() if r.stdout.strip())} {timeout:.0f} s after "
                                f"`docker service rm {service}`; see `docker ps -a` there")
        cluster.clock.sleep(1.0)


@dataclass
class Verification:
    checks: pd.DataFrame  # check, ok, detail
    results: list[Result] = field(default_factory=list)
    # Set when the ping was lost because one side never programmed the other's task
    # (no neighbour entry for it on the overlay): see restart_tasks.
    missing_peer: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.checks["ok"].all())

    def terminal(self) -> str:
        return "".join(r.terminal() for r in self.results) + self.checks.to_string(index=False) + "\n"

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.terminal())


def verify_service(cluster: Cluster, name: str = story.SERVICE, network: str = story.NETWORK,
                   replicas: int = 2, from_node: str | None = None, timeout: float = 20,
                   reach_timeout: float = PING_PATIENCE) -> Verification:
    """Is the service really fixed? All replicas run, on distinct nodes, and reach each other.

    The reach test pings, over `network`, from a replica on `from_node` (default:
    the first worker) to a replica on another node, by IP, through `docker exec`,
    for up to `reach_timeout` seconds (see ping_between).
    """
    table = swarm.wait_for_running(cluster, name, replicas, timeout)
    running = swarm.running(table)
    nodes = sorted(set(running["node"]))
    want_nodes = min(replicas, len(cluster))
    missing_peer = ""
    checks = [("replicas running", len(running) >= replicas, f"{len(running)}/{replicas}"),
              ("on distinct nodes", len(nodes) >= want_nodes, ", ".join(nodes))]
    results = [story.service_ps(cluster, name)]
    source = cluster.node(from_node) if from_node else next((n for n in cluster if n is not cluster.manager),
                                                            cluster.manager)
    targets = [n for n in nodes if n != source.name]
    if source.name in nodes and targets:
        ping, tries = ping_between(source, cluster.node(targets[0]), name, network, reach_timeout, cluster.clock)
        results.append(ping)
        detail = _last_line(ping) or "no answer"
        if tries > 1:
            detail += f" (try {tries})" if ping.ok else f" ({tries} tries over {reach_timeout:.0f} s)"
        if not ping.ok:  # why the path is dark: whom each side knows, where its VXLAN sends what, gossip
            target = cluster.node(targets[0])
            seen = {node.name: [node.run(f"docker network inspect --verbose --format "
                                         f"'{{{{range .Peers}}}}{{{{.Name}}}} {{{{.IP}}}}{{{{println}}}}{{{{end}}}}' "
                                         f"{shlex.quote(network)}"),
                                node.run(overlay_forwarding_command(network)),
                                node.run(f"{swarm.DOCKERD_LOG} | grep -iE 'bulk sync|memberlist: |peerdb|netpeer|"
                                         "Neighbor entry' | sed 's/Key: [^}]*/Key: <hidden>/' | tail -n 8")]
                    for node in (source, target)}  # the sed: the gossip keys in the log are secrets
            results += seen[source.name] + seen[target.name]
            tasks = {node.name: container_ip(node, service_containers(node, name)[0], network)
                     for node in (source, target)}
            missing_peer = lacking_neighbour(source.name, target.name, tasks,
                                             {node: looks[1].stdout for node, looks in seen.items()})
            if missing_peer:
                detail += (f"; {missing_peer} (`docker service update --force {name}` "
                           "starts new tasks: fix.restart_tasks)")
        checks.append((f"{source.name} -> {targets[0]} over {network}", ping.ok, detail))
    else:
        checks.append((f"ping over {network}", False,
                       f"needs replicas on {source.name} and on another node; running on: {', '.join(nodes) or 'none'}"))
    return Verification(pd.DataFrame(checks, columns=["check", "ok", "detail"]), results, missing_peer)


def restart_tasks(cluster: Cluster, name: str = story.SERVICE, **verify) -> Verification:
    """`docker service update --force` (new tasks, each programmed afresh on every node),
    then verify_service again.

    Seen on the lab right after a service was re-created (more often with node
    containers, and under load): one node never programmed the other node's new task on
    the overlay (no neighbour entry for it), and pings between the two replicas were lost
    for good; after this, they answered.
    """
    cluster.manager.run(f"docker service update --force --detach {shlex.quote(name)}").check()
    swarm.wait_for_running(cluster, name, verify.get("replicas", 2), 60)
    return verify_service(cluster, name, **verify)


def overlay_forwarding_command(network: str) -> str:
    """The overlay's own namespace on a node (libnetwork names it 1-<first 10 of the network id>):
    the VXLAN forwarding entries (MAC -> the peer's VTEP, `dst`) and the neighbours (IP -> MAC)
    that Docker programmed from what its peers told it."""
    return (f"id=$(docker network inspect --format '{{{{.Id}}}}' {shlex.quote(network)} | cut -c1-10); "
            "nsenter --net=/var/run/docker/netns/1-$id sh -c "
            "'echo \"# fdb\"; bridge fdb show | grep vxlan; echo \"# neigh\"; ip neigh show'")


def verified(cluster: Cluster, name: str = story.SERVICE, **verify) -> Verification:
    """verify_service; when the ping was lost only because a node never programmed the other's
    task (Verification.missing_peer), the remedy it names (restart_tasks), then verify again."""
    verification = verify_service(cluster, name, **verify)
    if not verification.ok and verification.missing_peer:
        print(f"{verification.missing_peer}: docker service update --force {name}, then verify again")
        verification = restart_tasks(cluster, name, **verify)
    return verification


def has_neighbour(printed: str, address: str) -> bool | None:
    """Does overlay_forwarding_command's output list a neighbour entry for `address`?
    None when it holds no neighbour table (the command could not look)."""
    if "# neigh\n" not in printed:
        return None
    neigh = printed.split("# neigh\n", 1)[1]
    return any(line.split()[:1] == [address] for line in neigh.splitlines())


def lacking_neighbour(source: str, target: str, tasks: dict[str, str], tables: dict[str, str]) -> str:
    """Which side of a lost ping never programmed the other's task, said in a sentence ('' when
    both tables have the other's entry, or could not be read). tasks: node -> its task's IP
    on the overlay; tables: node -> overlay_forwarding_command's output there."""
    if has_neighbour(tables[target], tasks[source]) is False:
        return f"{target} has no neighbour entry for {source}'s task {tasks[source]}, so it cannot answer it"
    if has_neighbour(tables[source], tasks[target]) is False:
        return f"{source} has no neighbour entry for {target}'s task {tasks[target]}, so it cannot reach it"
    return ""


def service_containers(node: Node, service: str) -> list[str]:
    result = node.run(f"docker ps -q --filter label=com.docker.swarm.service.name={shlex.quote(service)}")
    return result.stdout.split()


def container_ip(node: Node, container: str, network: str) -> str:
    result = node.run(f"docker inspect --format '{{{{json .NetworkSettings.Networks}}}}' {container}").check()
    networks = json.loads(result.stdout)
    if network not in networks:
        raise SwarmlabError(f"container {container} on {node.name} is not on {network}; "
                            f"its networks: {', '.join(networks)}")
    return networks[network]["IPAddress"]


def ping_between(source: Node, target: Node, service: str, network: str,
                 patience: float = PING_PATIENCE, clock=None) -> tuple[Result, int]:
    """`docker exec <replica on source> ping -c 1 <IP of a replica on target>`, again
    until it answers or `patience` seconds have passed (on `clock`, the cluster's).
    Returns the last try's result and how many tries it took.

    Right after a task starts, the other node may not know its overlay endpoint yet:
    nodes learn each other's endpoints by gossip, and a node that joins a network
    waits for a bulk sync from its peers (libnetwork's networkdb gives each peer up to
    30 s). A path still dark after that is broken, not late.
    """
    clock = clock or WallClock()
    sources, targets = service_containers(source, service), service_containers(target, service)
    if not sources or not targets:
        raise SwarmlabError(f"no running replica of {service} on {source.name if not sources else target.name}")
    address = container_ip(target, targets[0], network)
    deadline = clock.now() + patience
    tries = 0
    while True:
        tries += 1
        result = source.run(f"docker exec {sources[0]} ping -c 1 -W 2 {address}")
        if result.ok or clock.now() >= deadline:
            break
        clock.sleep(0.5)
    return result, tries


def _last_line(result: Result) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- the lasting fix: default-address-pools ------------------------------------
def suggest_address_pools(node: Node, size: int = 24) -> list[dict]:
    """One pool base that nothing on the node overlaps, cut into /`size` networks."""
    facts = node_facts(node, SUBNET_FACTS)
    base, _ = pools.pick_free_subnet(facts.routes, facts.nameservers, facts.local_subnets(), pools=(),
                                     avoid=facts.swarm_subnets())
    return [{"base": str(base), "size": size}]


def fix_address_pools(node: Node, address_pools: list[dict] | None = None, restart: bool = True) -> FixReport:
    """Write `default-address-pools` into the node's /etc/docker/daemon.json and restart Docker.

    Keeps the file's other settings. Without `address_pools`, suggests one free
    base (suggest_address_pools). In the lab the node's own dockerd restarts; on a
    real host, `systemctl restart docker`.
    """
    address_pools = address_pools or suggest_address_pools(node)
    current = node.run("cat /etc/docker/daemon.json 2>/dev/null || echo '{}'")
    try:
        config = json.loads(current.stdout or "{}")
    except ValueError:
        raise SwarmlabError(f"/etc/docker/daemon.json on {node.name} is not valid JSON; fix it by hand first:\n"
                            f"{current.stdout}") from None
    config["default-address-pools"] = address_pools
    text = json.dumps(config, indent=2) + "\n"
    results = [current, node.run("mkdir -p /etc/docker && cat > /etc/docker/daemon.json", input=text).check()]
    results.append(node.run("cat /etc/docker/daemon.json"))
    if restart:
        results.append(restart_docker(node))
    pools_text = ", ".join(f"{p['base']} in /{p['size']}s" for p in address_pools)
    return FixReport("address-pools", node.name, results,
                     f"Docker on {node.name} now takes local networks from {pools_text}", address_pools[0]["base"])

