"""Gathering: every node answers one shell script, all at once; then the nodes probe each other.

It is fast because every node answers ONE script (all its facts, each under a `@@@ section`
marker) and the nodes answer in parallel. Nothing is changed on any node: reachability is
tested with plain TCP connects (they run with the script), then with pings planned from
what the nodes said (their MTUs, their ingress sandboxes). Each section's command is kept
with the facts, so evidence quotes the exact string that ran.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .. import probes
from ..cluster import Cluster, Node
from ..errors import NodeDeadError, SSHError
from .facts import DAEMON_LOG_SECTION, JOURNAL_SECTION, MANAGER_SECTIONS, NODE_SECTIONS, Facts, NodeFacts, split_sections


def probe_targets(cluster: Cluster, node: Node) -> list[probes.Probe]:
    """The TCP probes `node` sends: 7946 on its ring of peers, 2377 on (up to 3 of) the managers."""
    names = list(cluster.nodes)
    managers = ([n for n in cluster if n.role == "manager"] or [cluster.manager])[:3]
    targets = [probes.Probe("tcp", cluster.node(peer).address, 7946) for peer in probes.ring(names, node.name)]
    targets += [probes.Probe("tcp", m.address, 2377) for m in managers if m is not node]
    return targets


def node_commands(cluster: Cluster, node: Node) -> dict[str, str]:
    """section -> the command whose output it holds, for `node` (the probes' own script aside)."""
    sections = dict(NODE_SECTIONS)
    if node is cluster.manager:
        sections.update(MANAGER_SECTIONS)
    sections.update(JOURNAL_SECTION)
    sections.update(DAEMON_LOG_SECTION)
    return sections


def probe_command(cluster: Cluster, node: Node) -> str:
    """The script of `node`'s TCP probes, whose output is its `probes` section ('' when it has no peer)."""
    return probes.script(probe_targets(cluster, node))


def node_script(cluster: Cluster, node: Node) -> str:
    """The one shell script that collects everything the checks need from `node`."""
    sections = node_commands(cluster, node)
    tcp = probe_command(cluster, node)
    # TCP probes run in the background while the other commands run; their lines come last.
    # The docker CLI starts a few times on every node, and lives a tenth of a second: it needs
    # neither Go's collector nor every core (measured: about 6 ms less CPU a start, 37 -> 31 ms).
    script = "export GOGC=off GOMAXPROCS=1\n"
    script += f"probes=$(mktemp)\n{tcp} > \"$probes\" 2>&1 &\n" if tcp else ""
    for name, command in sections.items():
        script += f"printf '\\n@@@ {name}\\n'\n{{ {command} ; }} 2>&1\n"
    if tcp:
        script += "wait\nprintf '\\n@@@ probes\\n'\ncat \"$probes\"; rm -f \"$probes\"\n"
    return script


def gather(cluster: Cluster, timeout: float = 20) -> Facts:
    """Ask every node at once (one script each), then let them ping each other with what they said."""
    def ask(node: Node) -> NodeFacts:
        try:
            result = node.run(node_script(cluster, node), timeout=timeout)
        except (NodeDeadError, SSHError) as exc:  # one node out of reach must not hide what the others say
            return NodeFacts(node.name, node.address, {}, node is cluster.manager, error=str(exc), unreachable=True)
        tcp = probe_command(cluster, node)
        facts = NodeFacts(node.name, node.address, split_sections(result.stdout), node is cluster.manager,
                          commands={**node_commands(cluster, node), **({"probes": tcp} if tcp else {})})
        if not facts.sections:
            facts.error = (result.stderr or result.stdout).strip() or f"exit code {result.exit_code}"
        return facts

    nodes = _on_every_node(cluster, ask)
    facts = Facts(nodes, cluster.manager.name,
                  {name: f.sections.get("log", "").splitlines() for name, f in nodes.items()})
    _ping_phase(cluster, facts, timeout)
    return facts


def _on_every_node(cluster: Cluster, work, nodes=None) -> dict:
    # Threads only wait for the nodes; 16 keeps a 2-core machine from thrashing on big labs.
    nodes = list(cluster) if nodes is None else nodes
    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(nodes))) as pool:
        futures = {n.name: pool.submit(work, n) for n in nodes}
        return {name: fut.result() for name, fut in futures.items()}


def ping_plan(cluster: Cluster, facts: "Facts") -> dict[str, tuple[list[probes.Probe], list[probes.Probe]]]:
    """Per swarm node: (underlay probes, overlay probes), built from what phase one learned.

    Underlay: a small ping and a full-size don't-fragment ping (the node's NIC MTU) to
    its ring of peers. Overlay: the same from its ingress sandbox to the peers' sandboxes,
    the large one at the ingress network's MTU. The manager also probes any address a
    node advertises that is not the node's own, and its published ports.
    """
    swarm = [name for name in cluster.nodes if name in facts.nodes and facts.nodes[name].in_swarm]
    plan = {}
    for name in swarm:
        f = facts.nodes[name]
        underlay, overlay = [], []
        for peer_name in probes.ring(swarm, name):
            peer = facts.nodes[peer_name]
            underlay += [probes.Probe("ping", peer.address, size=56),
                         probes.Probe("ping", peer.address, size=f.underlay_mtu - probes.ICMP_IP_HEADERS, df=True)]
            if f.ingress_address and peer.ingress_address:
                overlay += [probes.Probe("ping", peer.ingress_address, size=56),
                            probes.Probe("ping", peer.ingress_address,
                                         size=f.ingress_mtu - probes.ICMP_IP_HEADERS, df=True)]
        if name == facts.manager:
            for other in facts.swarm_nodes():
                advertised = other.advertise_address
                if advertised and advertised != other.address:
                    underlay += [probes.Probe("ping", advertised, size=56), probes.Probe("tcp", advertised, 7946)]
            underlay += [probes.Probe("tcp", f.address, port) for port in f.published_ports()]
        plan[name] = (underlay, overlay)
    return plan


def ping_commands(underlay: list[probes.Probe], overlay: list[probes.Probe]) -> dict[str, str]:
    """section -> the probe script whose output it holds (`true` when there is nothing to probe)."""
    return {"pings": probes.script(underlay) or "true",
            "overlay_pings": probes.script(overlay, prefix=f"nsenter --net={probes.INGRESS_SANDBOX}") or "true"}


def _ping_phase(cluster: Cluster, facts: "Facts", timeout: float) -> None:
    plan = ping_plan(cluster, facts)

    def ping(node: Node) -> None:
        commands = ping_commands(*plan[node.name])
        result = node.run("; ".join(f"printf '@@@ {name}\\n'; {command}" for name, command in commands.items()),
                          timeout=timeout)
        facts.nodes[node.name].sections.update(split_sections(result.stdout))
        facts.nodes[node.name].commands.update(commands)

    _on_every_node(cluster, ping, [cluster.node(name) for name in plan if any(plan[name])])


# Sections whose text is JSON: a command that failed there left an error message, not facts.
JSON_SECTIONS = {"info", "networks", "routes", "links", "daemon_json"}


def node_facts(node: Node, names: list[str]) -> NodeFacts:
    """A few sections of one node's facts, each from its own command (the fixes need only a few).

    Raises CommandError when a JSON section's command fails.
    """
    sections = {}
    for name in names:
        result = node.run(NODE_SECTIONS[name])
        # A network can vanish between `ls` and `inspect` (a worker drops an overlay while a
        # task retries): inspect prints the others and fails. Only an empty answer is an error.
        if name in JSON_SECTIONS and not result.stdout.strip():
            result.check()
        sections[name] = result.stdout
    return NodeFacts(node.name, node.address, sections)
