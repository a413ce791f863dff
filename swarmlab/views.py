"""Cluster-wide views: one table built from the same command run on every node.

Each view runs a few fixed CLI commands through `node.run(...)`, so it works on the
local lab, on real hosts over SSH and on a recording (which answers the exact same
command strings; that is why they are constants here and never change with input,
except the service name of `tasks`).

    >>> views.network_matrix(cluster)          # which network exists on which node
    >>> views.bridges(cluster)                 # each bridge port, and what is on its other end
    >>> views.tasks(cluster, "test")           # a service's tasks with full errors
    >>> views.interfaces(cluster), views.routes(cluster)

How a bridge port is traced to its other end: a veth's two halves name each other
by interface index. On the node, `ip -j addr` shows the bridge port `vethca9d006`
with `ifindex` 17 and `link_index` 16; inside one of dockerd's network namespaces
(/run/docker/netns/*) the interface with `ifindex` 16 and `link_index` 17 is the
other half, e.g. `eth1` of a task container. Indexes are only unique within one
namespace, so both directions must agree, and a port that matches twice is
reported as "ambiguous" rather than guessed.
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field

import pandas as pd

from . import parse, swarm
from .cluster import Cluster
from .errors import SwarmlabError
from .result import Result

__all__ = [
    "PRESENT", "MISSING", "NOT_YET", "NOT_HERE",
    "networks", "network_matrix", "matrix_from_networks", "styled_network_matrix",
    "bridges", "settled_bridges", "tasks", "interfaces", "routes",
    "Snapshot", "snapshot",
    "NETWORK_LS", "BRCTL_SHOW", "IP_ADDR", "IP_ROUTE", "SANDBOX_LINKS", "CONTAINER_SANDBOXES",
    "service_ps_command",
]

# Cell markers of the network matrix: text, so the table reads the same in a
# terminal, in a notebook and in a test. Absent is a fault only where the node should
# have the network; elsewhere it is normal, and drawn apart.
PRESENT = "✓"
MISSING = "✗ missing"  # a fault: every Docker has it, or every node of a swarm
NOT_YET = "· not yet"  # normal: an overlay a worker lists once a task of it runs there
NOT_HERE = "· not here"  # normal: a local network another node made for itself
EVERY_DOCKER = ("bridge", "host", "none")
EVERY_SWARM_NODE = ("docker_gwbridge", "ingress")  # Docker creates both as a node joins

# --- the commands (fixed strings: a recording replays them verbatim) ---------
NETWORK_LS = "docker network ls"
BRCTL_SHOW = "brctl show"
IP_ADDR = "ip -j addr"
IP_ROUTE = "ip -j route"
# Every network namespace dockerd made: a header line, then its interfaces as one
# JSON line. `-d` adds the link kind (veth, vxlan, bridge) and the VXLAN id. An
# error lands in place of the JSON (2>&1), so it stays with its namespace: after a
# failed task dockerd leaves files there that are no namespace any more.
SANDBOX_LINKS = (
    'for ns in /run/docker/netns/*; do [ -e "$ns" ] || continue; '
    'echo "netns ${ns##*/}"; nsenter --net="$ns" ip -d -j addr 2>&1; done'
)
# Which namespace belongs to which running container (its SandboxKey).
CONTAINER_SANDBOXES = (
    "docker ps -q | xargs -r docker inspect -f '{{.Name}} {{.NetworkSettings.SandboxKey}}'"
)


service_ps_command = swarm.tasks_command


def _stdout_everywhere(cluster: Cluster, command: str, hint: str) -> dict[str, str]:
    """stdout of `command` on every node (in parallel); a failure names node and fix."""
    results = cluster.run_all(command)
    return {name: result.check(hint).stdout for name, result in results.items()}


# --- networks ----------------------------------------------------------------
NETWORK_COLUMNS = ["node", "network", "id", "driver", "scope"]


def networks(cluster: Cluster) -> pd.DataFrame:
    """`docker network ls` of every node, as one long table (node, network, id, driver, scope)."""
    outputs = _stdout_everywhere(cluster, NETWORK_LS, "is dockerd running on that node?")
    return _networks_from(outputs)


def _networks_from(outputs: dict[str, str]) -> pd.DataFrame:
    frames = []
    for node, text in outputs.items():
        table = parse.docker_table(text)
        frames.append(pd.DataFrame({
            "node": node, "network": table.get("NAME", pd.Series(dtype=object)),
            "id": table.get("NETWORK ID"), "driver": table.get("DRIVER"), "scope": table.get("SCOPE"),
        }, columns=NETWORK_COLUMNS))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=NETWORK_COLUMNS)


# A node that could not create docker_gwbridge lists ingress for a moment each time a task is
# tried there: Docker makes the ingress network again, cannot attach its sandbox (which needs
# docker_gwbridge) and removes it. Measured on a namespaces lab with the article's node2 and a
# task retried every second there: `docker network ls` on node2 listed ingress, then not, every
# 0.5-1 s, until the scheduler gave up on node2. The matrix is taken between two such moments.
PASSING_INGRESS_WAIT = 30.0


def network_matrix(cluster: Cluster, wait: float = PASSING_INGRESS_WAIT) -> pd.DataFrame:
    """Networks x nodes: "✓" where the node has the network; where it has not, "✗ missing"
    (a fault) or "· not yet" / "· not here" (normal).

    The article's comparison in one table: a worker shows an overlay network only
    once a task of it runs there (not yet), and the broken node2 lacks docker_gwbridge
    (missing). A node caught listing ingress without docker_gwbridge is in the middle of a
    failing attempt (above): the nodes are asked again, for up to `wait` seconds.
    """
    table = networks(cluster)
    deadline = cluster.clock.now() + wait
    while passing_ingress(table) and cluster.clock.now() < deadline:
        cluster.clock.sleep(0.3)
        table = networks(cluster)
    return matrix_from_networks(table, nodes=list(cluster.nodes))


def passing_ingress(table: pd.DataFrame) -> list[str]:
    """The nodes of a `networks()` table that list ingress but no docker_gwbridge."""
    have = set(zip(table["network"], table["node"]))
    return [node for node in dict.fromkeys(table["node"])
            if ("ingress", node) in have and ("docker_gwbridge", node) not in have]


def matrix_from_networks(table: pd.DataFrame, nodes: list[str] | None = None) -> pd.DataFrame:
    """The matrix of a `networks()` table (e.g. one kept in a Snapshot).

    A node lacking a network every Docker has (bridge, host, none) or, once any node
    lists a swarm-scoped network, one every swarm node gets as it joins (docker_gwbridge,
    ingress): MISSING. Lacking another swarm-scoped network (an overlay): NOT_YET, as a
    worker lists one only while a task of it is there (a manager lists them all). Lacking
    another node's local network: NOT_HERE.
    """
    nodes = nodes or list(dict.fromkeys(table["node"]))
    names = sorted(set(table["network"]))  # docker network ls sorts by name too
    have = set(zip(table["network"], table["node"]))
    swarm_scoped = set(table.loc[table["scope"] == "swarm", "network"])
    required = set(EVERY_DOCKER) | (set(EVERY_SWARM_NODE) if swarm_scoped else set())

    def absent(name: str) -> str:
        return MISSING if name in required else NOT_YET if name in swarm_scoped else NOT_HERE
    return pd.DataFrame(
        [[PRESENT if (name, node) in have else absent(name) for node in nodes] for name in names],
        index=pd.Index(names, name="network"), columns=pd.Index(nodes, name="node"))


def styled_network_matrix(matrix: pd.DataFrame | Cluster):
    """The matrix as a pandas Styler: missing cells on red, present ones green, the normal
    absences grey."""
    if isinstance(matrix, Cluster):
        matrix = network_matrix(matrix)

    def colour(cell: str) -> str:
        if cell == MISSING:
            return "background-color: #f8d7da; color: #842029; font-weight: bold"
        if cell in (NOT_YET, NOT_HERE):
            return "color: #6c757d"
        return "color: #0f5132"
    return matrix.style.map(colour).set_caption(
        "networks on each node (docker network ls); absent: ✗ a fault, "
        "· normal (an overlay with no task there yet, or another node's own network)")


# --- bridges and what hangs off them -----------------------------------------
BRIDGE_COLUMNS = ["node", "namespace", "bridge", "network", "bridge_address", "interface",
                  "peer_kind", "peer", "peer_interface", "peer_address"]
NODE_NAMESPACE = "node"  # the node's own network namespace, where brctl looks


@dataclass
class Sandbox:
    """A network namespace dockerd made, with its interfaces (`ip -d -j addr` objects)."""

    name: str  # its file name under /run/docker/netns
    kind: str  # container / ingress-sbox / load-balancer / overlay / sandbox
    label: str  # the container's name, else the namespace's name
    links: list[dict] = field(default_factory=list)
    error: str = ""  # what nsenter said when the namespace could not be entered


def bridges(cluster: Cluster) -> pd.DataFrame:
    """Every Linux bridge of every node, one row per port, with the port's other end.

    Bridges of the node itself come from `brctl show` (namespace "node"); each
    overlay network also has a bridge `br0` in a namespace of its own, with its
    `vxlan0` port to the other nodes (namespace e.g. "1-h6fkcr9bcq"). For a veth
    port, peer_kind says what sits on the other end: container, ingress-sbox (the
    routing-mesh sandbox), load-balancer (an overlay's VIP sandbox), overlay (an
    overlay namespace), sandbox (another dockerd namespace), unresolved or
    ambiguous; "vxlan" for the tunnel port. A bridge without ports is one row
    with an empty interface.
    """
    return _bridges_from(_bridge_outputs(cluster), networks(cluster))


TASK_CONTAINER = re.compile(r"[^.\s]+\.\d+\.[a-z0-9]+")


def settled_bridges(cluster: Cluster, bridge: str = "docker_gwbridge", timeout: float = 20) -> pd.DataFrame:
    """bridges(), once `bridge` has settled on every node: each running task container
    (SERVICE.SLOT.TASKID: the tasks of a service on an overlay network) has its port
    there, and each port leads somewhere.

    Docker wires a container's veth in steps (the port first, its peer moved into the
    container a moment later), so a look in between shows ports with no peer, or no
    port yet for a container that just started.
    """
    deadline = cluster.clock.now() + timeout
    pauses = swarm.poll_pauses()
    while True:
        outputs = _bridge_outputs(cluster)
        table = _bridges_from(outputs, networks(cluster))
        unsettled = _unsettled(table, outputs, bridge)
        if not unsettled:
            return table
        if cluster.clock.now() > deadline:
            raise SwarmlabError(f"{bridge} did not settle within {timeout:.0f} s: {'; '.join(unsettled)}")
        cluster.clock.sleep(next(pauses))


def _unsettled(table: pd.DataFrame, outputs: dict[str, dict[str, Result]], bridge: str) -> list[str]:
    problems = []
    for node, results in outputs.items():
        ports = table[(table["node"] == node) & (table["bridge"] == bridge) & (table["interface"] != "")]
        lost = ports[~ports["peer_kind"].isin(("container", "ingress-sbox", "load-balancer", "sandbox"))]
        problems += [f"{node}: {p} leads nowhere yet" for p in lost["interface"]]
        running = {c for c in _container_names(results[CONTAINER_SANDBOXES]).values() if TASK_CONTAINER.fullmatch(c)}
        wired = set(ports.loc[ports["peer_kind"] == "container", "peer"])
        if bridge in set(table.loc[table["node"] == node, "bridge"]):
            problems += [f"{node}: container {c} has no port yet" for c in sorted(running - wired)]
    return problems


def _bridge_outputs(cluster: Cluster) -> dict[str, dict[str, Result]]:
    """The raw evidence of each node: brctl, its interfaces, dockerd's namespaces."""
    outputs = {name: {} for name in cluster.nodes}
    for command in (BRCTL_SHOW, IP_ADDR, SANDBOX_LINKS, CONTAINER_SANDBOXES):
        for name, result in cluster.run_all(command).items():
            outputs[name][command] = result
    return outputs


def _bridges_from(outputs: dict[str, dict[str, Result]], network_table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for node, results in outputs.items():
        node_networks = network_table[network_table["node"] == node]
        rows += _node_bridge_rows(node, results, node_networks)
    return pd.DataFrame(rows, columns=BRIDGE_COLUMNS)


def _node_bridge_rows(node: str, results: dict[str, Result], node_networks: pd.DataFrame) -> list[dict]:
    brctl = results[BRCTL_SHOW].check("is bridge-utils installed on that node? (`brctl`)")
    node_links = _ip_json(results[IP_ADDR].check(), "ip -j addr")
    names = _container_names(results[CONTAINER_SANDBOXES].check("is dockerd running on that node?"))
    sandboxes = _sandboxes(results[SANDBOX_LINKS], names)
    network_of = _network_namer(node_networks)
    by_name = {link["ifname"]: link for link in node_links}

    rows = []
    for port in parse.brctl_show(brctl.stdout).itertuples():
        bridge = by_name.get(port.bridge, {})
        base = {"node": node, "namespace": NODE_NAMESPACE, "bridge": port.bridge,
                "network": network_of(port.bridge), "bridge_address": _ipv4(bridge)}
        link = by_name.get(port.interface) if port.interface else None
        rows.append({**base, "interface": port.interface,
                     **_peer_of(link, NODE_NAMESPACE, sandboxes)})
    for sandbox in sandboxes:
        rows += _sandbox_bridge_rows(node, sandbox, sandboxes, network_of)
    _warn_if_unresolved(node, rows, sandboxes)
    return rows


def _warn_if_unresolved(node: str, rows: list[dict], sandboxes: list[Sandbox]) -> None:
    """Say why a port's peer is unknown when a namespace could not be entered (e.g. not root)."""
    # "Invalid argument": a file dockerd left behind that is no namespace any more
    # (it happens all the time while a task keeps failing); nothing to warn about.
    errors = {f"{s.name}: {s.error}" for s in sandboxes if s.error and "Invalid argument" not in s.error}
    if errors and any(row["peer_kind"] == "unresolved" for row in rows):
        warnings.warn(f"on {node}: some veth peers stay unresolved; entering dockerd's namespaces "
                      f"failed ({'; '.join(sorted(errors))}). `{SANDBOX_LINKS}` needs root.", stacklevel=4)


def _sandbox_bridge_rows(node, sandbox: Sandbox, sandboxes, network_of) -> list[dict]:
    """Bridges inside a dockerd namespace: the `br0` of an overlay network."""
    rows = []
    for bridge in (l for l in sandbox.links if _kind(l) == "bridge"):
        base = {"node": node, "namespace": sandbox.name, "bridge": bridge["ifname"],
                "network": network_of(sandbox.name), "bridge_address": _ipv4(bridge)}
        ports = [l for l in sandbox.links if l.get("master") == bridge["ifname"]]
        for port in ports:
            rows.append({**base, "interface": port["ifname"], **_peer_of(port, sandbox.name, sandboxes)})
        if not ports:
            rows.append({**base, "interface": "", **_no_peer("")})
    return rows


def _peer_of(link: dict | None, here: str, sandboxes: list[Sandbox]) -> dict:
    """What is on the other end of a bridge port."""
    if link is None:
        return _no_peer("")
    if _kind(link) == "vxlan":
        vxlan = link["linkinfo"].get("info_data", {})
        return {"peer_kind": "vxlan", "peer": f"VNI {vxlan.get('id', '?')}",
                "peer_interface": "", "peer_address": f"udp/{vxlan.get('port', 4789)}"}
    if "link_index" not in link:
        return _no_peer("")  # a plain port, e.g. a NIC put in a bridge by hand
    # Both halves must name each other: an index alone repeats across namespaces.
    matches = [(sandbox, other) for sandbox in sandboxes if sandbox.name != here
               for other in sandbox.links
               if other.get("ifindex") == link["link_index"] and other.get("link_index") == link["ifindex"]]
    if not matches:
        return _no_peer("unresolved")
    if len(matches) > 1:
        return {**_no_peer("ambiguous"), "peer": ", ".join(s.label for s, _ in matches)}
    sandbox, other = matches[0]
    return {"peer_kind": sandbox.kind, "peer": sandbox.label,
            "peer_interface": other["ifname"], "peer_address": _ipv4(other)}


def _no_peer(kind: str) -> dict:
    return {"peer_kind": kind, "peer": "", "peer_interface": "", "peer_address": ""}


def _sandboxes(result: Result, container_names: dict[str, str]) -> list[Sandbox]:
    """Parse SANDBOX_LINKS: "netns NAME" lines, each followed by its JSON or an error."""
    found: list[Sandbox] = []
    for line in result.stdout.splitlines():
        if line.startswith("netns "):
            name = line.removeprefix("netns ").strip()
            found.append(Sandbox(name, *_sandbox_kind(name, container_names)))
        elif found and line.strip().startswith("["):
            found[-1].links = _ip_json(line, f"ip -d -j addr in namespace {found[-1].name}")
        elif found and line.strip():
            found[-1].error = " ".join(filter(None, [found[-1].error, line.strip()]))
    return found


def _sandbox_kind(name: str, container_names: dict[str, str]) -> tuple[str, str]:
    if name in container_names:
        return "container", container_names[name]
    if name == "ingress_sbox":
        return "ingress-sbox", name
    if name.startswith("lb_"):
        return "load-balancer", name
    if re.fullmatch(r"\d+-\w+", name):  # "1-" + network id: an overlay's own namespace
        return "overlay", name
    return "sandbox", name


def _container_names(result: Result) -> dict[str, str]:
    """Namespace file name -> container name, from CONTAINER_SANDBOXES."""
    names = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            names[parts[1].rsplit("/", 1)[-1]] = parts[0].lstrip("/")
    return names


def _network_namer(node_networks: pd.DataFrame):
    """Name the docker network behind a bridge or a dockerd namespace."""
    ids = dict(zip(node_networks["id"], node_networks["network"]))

    def by_id_prefix(prefix: str) -> str:
        hits = [name for nid, name in ids.items() if nid.startswith(prefix) or prefix.startswith(nid)]
        return hits[0] if len(hits) == 1 else ""

    def network_of(name: str) -> str:
        if name == "docker0":
            return "bridge"  # the default bridge network's Linux bridge
        if name in set(ids.values()):
            return name  # docker_gwbridge: network and bridge share the name
        if m := re.fullmatch(r"br-([0-9a-f]+)|\d+-(\w+)|lb_(\w+)", name):
            return by_id_prefix(next(g for g in m.groups() if g))
        return ""
    return network_of


def _ip_json(source: Result | str, what: str) -> list[dict]:
    text = source.stdout if isinstance(source, Result) else source
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise parse.ParseError(what, e.lineno, text.splitlines()[e.lineno - 1][:120], e.msg) from None
    return data


def _kind(link: dict) -> str:
    return (link.get("linkinfo") or {}).get("info_kind", "")


def _ipv4(link: dict) -> str:
    """The first IPv4 address of an interface as address/prefix, or ""."""
    for addr in link.get("addr_info") or []:
        if addr.get("family") == "inet":
            return f"{addr['local']}/{addr['prefixlen']}"
    return ""


# --- tasks -------------------------------------------------------------------
# One task table for the whole package (swarm.tasks), here beside the other cluster-wide tables.
tasks = swarm.tasks


# --- interfaces and routes ---------------------------------------------------
def interfaces(cluster: Cluster) -> pd.DataFrame:
    """`ip -j addr` of every node: one row per (node, interface, address)."""
    outputs = _stdout_everywhere(cluster, IP_ADDR, "is iproute2 installed on that node? (`ip`)")
    return _per_node(outputs, parse.ip_addr)


def routes(cluster: Cluster) -> pd.DataFrame:
    """`ip -j route` of every node: one row per (node, route)."""
    outputs = _stdout_everywhere(cluster, IP_ROUTE, "is iproute2 installed on that node? (`ip`)")
    return _per_node(outputs, parse.ip_route)


def _per_node(outputs: dict[str, str], parser) -> pd.DataFrame:
    frames = [parser(text).assign(node=node) for node, text in outputs.items()]
    table = pd.concat(frames, ignore_index=True)
    return table[["node", *(c for c in table.columns if c != "node")]]


# --- a snapshot of all of it, for pictures before and after ------------------
@dataclass
class Snapshot:
    """What the views showed at one moment, kept so a lesson can compare later.

    nodes maps node name -> address (in cluster order); tasks is empty when no
    service was asked for.
    """

    nodes: dict[str, str]
    networks: pd.DataFrame
    bridges: pd.DataFrame
    tasks: pd.DataFrame
    service: str = ""
    label: str = ""

    def network_matrix(self) -> pd.DataFrame:
        return matrix_from_networks(self.networks, nodes=list(self.nodes))


def snapshot(cluster: Cluster, service: str = "", label: str = "") -> Snapshot:
    """Take networks, bridges (and the tasks of `service`) of the cluster now."""
    network_table = networks(cluster)
    bridge_table = _bridges_from(_bridge_outputs(cluster), network_table)
    task_table = tasks(cluster, service) if service else pd.DataFrame(columns=parse.TASK_COLUMNS)
    return Snapshot(nodes={n.name: n.address for n in cluster}, networks=network_table,
                    bridges=bridge_table, tasks=task_table, service=service, label=label)
