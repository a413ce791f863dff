"""The doctor: look at every node of a swarm and say what is wrong, with proof.

    >>> swarmlab.doctor(cluster)          # a DataFrame, worst first

Each finding has a severity (error / warning / info), the node, the check, the
evidence (the command and the lines that prove it), the cause in plain words, a
fix (a command), and a link to Docker's documentation.

It is fast because every node answers ONE shell script (all its facts, each under
a `@@@ section` marker) and the nodes answer in parallel. Nothing is changed on
any node: reachability is tested with plain TCP connects, and blocked UDP ports
are found in the node's iptables rules.

The checks are functions of the gathered facts only, so they can be tested on
captured outputs without a lab (tests/unit/test_doctor_rules.py).
"""
from __future__ import annotations

import ipaddress
import json
import re
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from ipaddress import IPv4Network

import pandas as pd

from .. import pools, probes
from ..check import ESP_GCM_PROBE
from ..cluster import Cluster, Node, as_cluster
from ..errors import EvidenceError, NodeDeadError, SSHError
from ..gwbridge import GWBRIDGE, GWBRIDGE_OPTIONS, gwbridge_create_command
from ..parse import tasks_from_json

DOC_OVERLAY = "https://docs.docker.com/engine/network/drivers/overlay/"
DOC_SWARM_NETWORKING = "https://docs.docker.com/engine/swarm/networking/"
DOC_DAEMON_CONFIG = "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file"
DOC_PORTS = "https://docs.docker.com/engine/swarm/swarm-tutorial/#open-protocols-and-ports-between-the-hosts"
DOC_FIREWALL = "https://docs.docker.com/engine/network/packet-filtering-firewalls/"
DOC_SERVICES = "https://docs.docker.com/engine/swarm/how-swarm-mode-works/services/"

SEVERITIES = ("error", "warning", "info")
COLUMNS = ["severity", "node", "check", "evidence", "cause", "fix", "doc"]
VXLAN_OVERHEAD = 50  # bytes VXLAN adds to every overlay packet
DEFAULT_OVERLAY_MTU = 1450  # what Docker gives an overlay without `-o com.docker.network.driver.mtu`
SWARM_PORTS = [("tcp", 2377, "cluster management (managers only)"),
               ("tcp", 7946, "gossip: node and network membership"),
               ("udp", 7946, "gossip: node and network membership"),
               ("udp", 4789, "VXLAN: overlay network traffic")]
INGRESS_LOG_MARK = "Failed creating ingress network"


@dataclass
class Finding:
    severity: str
    node: str
    check: str
    evidence: str
    cause: str
    fix: str = ""
    doc: str = ""


# --- gathering: one script per node ---------------------------------------
# Kernel parts: vxlan and bridge every overlay needs; ip_vs for service VIPs and published
# ports (the routing mesh); esp4 for `--opt encrypted` overlays (IPsec ESP with AES-GCM).
KERNEL_MODULES = ("vxlan", "bridge", "ip_vs", "esp4")
# The daemon's own words when the kernel lacks them (moby/moby#24005; an ESP state it could not add).
IPVS_LOG_MARK = "Could not get ipvs family information from the kernel"
ESP_LOG_MARK = "Failed Adding"
# dockerd found a containerd pid file whose process it took for alive, then waited in vain
# (docker-library/docker#195, moby/moby#40292).
CONTAINERD_PID = "/var/run/docker/containerd/containerd.pid"
CONTAINERD_STILL_MARK = "containerd is still running"
CONTAINERD_WAIT_MARK = "timeout waiting for containerd to start"
GOSSIP_LOG_MARKS = ("memberlist: ", "joined gossip cluster")
# memberlist complains every second or two while probes fail: 15 s of silence means it stopped.
GOSSIP_WINDOW = 15
# A module list cannot tell whether ESP works with AES-GCM (esp4 may be built in, gcm missing):
# the kernel is asked, with a throwaway security association in a network namespace that dies
# with the command (as `swarmlab check` does). Its answer, or why it could not be asked, is one line.
ESP_GCM_LINE = ("if command -v unshare >/dev/null && command -v ip >/dev/null && unshare --net true 2>/dev/null; "
                f"then if out=$({shlex.join(ESP_GCM_PROBE)} 2>&1); then echo 'esp-gcm ok'; "
                "else echo \"esp-gcm missing: $out\" | head -n 1; fi; "
                "else echo 'esp-gcm unknown: no network namespace to ask the kernel in'; fi")
NODE_SECTIONS = {
    "info": "docker info --format '{{json .}}'",
    "networks": "docker network inspect $(docker network ls -q)",
    "routes": "ip -j route show table main",
    "links": "ip -j -d addr",
    "resolv": "cat /etc/resolv.conf",
    "daemon_json": "cat /etc/docker/daemon.json 2>/dev/null || echo '{}'",
    "iptables": "iptables-save",
    # The pid file (containerd ends it without a newline, so `read` says false: test $p), and
    # its process's state from /proc (R, S, Z...) or "gone". Shell builtins only: it runs on
    # every node every time, and `ps` took 9 ms of a node's 160.
    "containerd_pid": (f"p=; read -r p 2>/dev/null < {CONTAINERD_PID}; [ -n \"$p\" ] && "
                       "{ { read -r _ _ s _; } 2>/dev/null < /proc/$p/stat || s=gone; echo \"$p $s\"; }"),
    "kernel": ("uname -r; for m in " + " ".join(KERNEL_MODULES) + "; do "
               "if [ -d /sys/module/$m ]; then echo \"$m loaded\"; "
               "elif grep -qs \"/$m.ko\" /lib/modules/$(uname -r)/modules.builtin /lib/modules/$(uname -r)/modules.dep; "
               "then echo \"$m available\"; else echo \"$m missing\"; fi; done; " + ESP_GCM_LINE),
}
MANAGER_SECTIONS = {
    "nodes": "docker node ls --format '{{json .}}'",
    "services": "docker service ls --format '{{json .}}'",
    "tasks": ("ids=$(docker service ls -q 2>/dev/null); "
              "[ -z \"$ids\" ] || docker service ps --no-trunc --format '{{json .}}' $ids"),
    "service_modes": ("ids=$(docker service ls -q 2>/dev/null); [ -z \"$ids\" ] || "
                      "docker service inspect --format '{{.Spec.Name}} {{.Spec.EndpointSpec.Mode}}' $ids"),
}
# Over SSH the daemon's log is in the journal; a lab node's log is a file the host reads.
# systemd hosts log to the journal; others (and lab nodes) to /var/log/dockerd.log or docker.log.
JOURNAL_SECTION = {"log": "{ journalctl -u docker --no-pager -o cat -n 5000 2>/dev/null; "
                          "cat /var/log/dockerd.log /var/log/docker.log 2>/dev/null; } "
                          f"| grep -F '{INGRESS_LOG_MARK}' | tail -n 3"}
# The daemon's recent words on gossip, the kernel and the ingress network (the clock comes first,
# so the checks can tell what is happening now from what happened an hour ago).
DAEMON_LOG_SECTION = {"daemon_log": "date -u +%Y-%m-%dT%H:%M:%S; "
                      "{ journalctl -u docker --no-pager -o cat -n 5000 2>/dev/null; "
                      "tail -q -n 5000 /var/log/dockerd.log /var/log/docker.log 2>/dev/null; } "
                      f"| grep -F -e '{IPVS_LOG_MARK}' -e '{ESP_LOG_MARK}' -e 'memberlist: ' -e 'joined gossip cluster' "
                      f"-e '{CONTAINERD_STILL_MARK}' -e '{CONTAINERD_WAIT_MARK}' "
                      "| sed 's/Key: [^}]*/Key: <hidden>/' | tail -n 60"}


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


def split_sections(text: str) -> dict[str, str]:
    sections, name, lines = {}, None, []
    for line in text.splitlines():
        if line.startswith("@@@ "):
            if name:
                sections[name] = "\n".join(lines).strip("\n")
            name, lines = line[4:].strip(), []
        elif name:
            lines.append(line)
    if name:
        sections[name] = "\n".join(lines).strip("\n")
    return sections


@dataclass
class NodeFacts:
    """Everything the doctor learned about one node."""

    name: str
    address: str
    sections: dict[str, str]
    is_manager: bool = False
    error: str = ""  # set when the node could not be asked at all
    commands: dict[str, str] = field(default_factory=dict)  # section -> the command that printed it
    unreachable: bool = False  # nothing could run there: the lab node is dead, or SSH could not log in

    def command(self, section: str) -> str:
        known = {**NODE_SECTIONS, **MANAGER_SECTIONS, **JOURNAL_SECTION, **DAEMON_LOG_SECTION}
        command = self.commands.get(section) or known.get(section)
        if command is None:
            # The probe scripts differ per node and run: without the one recorded, no evidence can name it.
            raise EvidenceError(f"no command recorded for the {section} section of {self.name}: gather the "
                                "facts again (facts saved before the doctor recorded its probe scripts lack it)")
        return command

    def shown(self, section: str, keep=None, summary=(), limit: int | None = None) -> str:
        """Evidence: the command that filled `section` and lines of its real output
        (those `keep` accepts, or the list `keep` names; at most `limit`), then any
        summary, each line marked `# summary: `."""
        output = self.sections.get(section, "").splitlines()
        if isinstance(keep, list):
            if not set(keep) <= set(output):
                raise EvidenceError(f"evidence lines not in the output of `{self.command(section)}` on {self.name}: "
                                    f"{sorted(set(keep) - set(output))}")
            lines = keep
        else:
            lines = [line for line in output if keep is None or keep(line)]
        if limit is not None and len(lines) > limit:
            summary = [f"({len(lines) - limit} more lines like these)", *summary]
            lines = lines[:limit]
        return "\n".join([prompt(self.name, self.command(section)), *lines, *(SUMMARY + s for s in summary)])

    def json(self, section: str, default=None):
        # The JSON a command printed, without what followed it: `docker network inspect` prints
        # the networks it found, then an error for one that vanished after `docker network ls`
        # (a worker drops an overlay while a task retries; the section holds stderr too).
        try:
            return json.JSONDecoder().raw_decode(self.sections.get(section, "").lstrip())[0]
        except ValueError:
            return default

    def json_lines(self, section: str) -> list[dict]:
        rows = []
        for line in self.sections.get(section, "").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
        return rows

    @property
    def info(self) -> dict:
        return self.json("info", {}) or {}

    @property
    def daemon_up(self) -> bool:
        return bool(self.info.get("ServerVersion"))

    @property
    def in_swarm(self) -> bool:
        return self.info.get("Swarm", {}).get("LocalNodeState") == "active"

    @property
    def networks(self) -> list[dict]:
        return self.json("networks", []) or []

    def network(self, name: str) -> dict | None:
        return next((n for n in self.networks if n.get("Name") == name), None)

    @property
    def routes(self) -> list[pools.Route]:
        """The main routing table (from `ip -j route`; `ip route` text is read too)."""
        text = self.sections.get("routes", "")
        return pools.routes_from(self.json("routes", []) if text.lstrip().startswith("[") else text)

    @property
    def links(self) -> list[dict]:
        return self.json("links", []) or []

    @property
    def nameservers(self) -> list[str]:
        return pools.nameservers_from_resolv_conf(self.sections.get("resolv", ""))

    @property
    def daemon_config(self) -> dict:
        return self.json("daemon_json", {}) or {}

    def local_subnets(self) -> list[tuple[str, str]]:
        """(name, subnet) of the local-scope networks: they share the local address pools."""
        return [(name, subnet) for name, subnet, scope in self._ipv4_subnets() if scope == "local"]

    def swarm_subnets(self) -> list[str]:
        """The subnets of the swarm-scope (overlay) networks this node knows."""
        return [subnet for _, subnet, scope in self._ipv4_subnets() if scope == "swarm"]

    def _ipv4_subnets(self) -> list[tuple[str, str, str]]:
        return [(n["Name"], c["Subnet"], n.get("Scope")) for n in self.networks
                for c in (n.get("IPAM", {}).get("Config") or []) if c.get("Subnet") and ":" not in c["Subnet"]]

    def pool_report(self) -> pools.PoolReport:
        """Docker's view of the node's local pools (its daemon.json pools, or the defaults)."""
        configured = pools.pools_from_daemon_json(self.daemon_config)
        return pools.pool_report(self.routes, self.nameservers, self.local_subnets(),
                                 configured or pools.DOCKER_DEFAULT_POOLS)

    @property
    def underlay_mtu(self) -> int:
        return int((self.underlay() or {}).get("mtu", 1500))

    @property
    def advertise_address(self) -> str:
        """The address the node gave the swarm (--advertise-addr); peers send gossip and VXLAN there."""
        return self.info.get("Swarm", {}).get("NodeAddr", "")

    @property
    def ingress_address(self) -> str:
        """The node's ingress sandbox address on the ingress overlay ('' when it has none)."""
        sandbox = ((self.network("ingress") or {}).get("Containers") or {}).get("ingress-sbox") or {}
        return sandbox.get("IPv4Address", "").split("/")[0]

    @property
    def ingress_mtu(self) -> int:
        options = (self.network("ingress") or {}).get("Options") or {}
        return int(options.get("com.docker.network.driver.mtu") or DEFAULT_OVERLAY_MTU)

    def published_ports(self) -> list[int]:
        """Ports the routing mesh publishes (manager's `service ls`: '*:8080->80/tcp'); host-mode ones excluded."""
        ports = set()
        for row in self.json_lines("services"):
            for spec in (row.get("Ports") or "").split(","):
                match = re.match(r"\s*\*:(\d+)->\d+/tcp", spec)
                if match:
                    ports.add(int(match.group(1)))
        return sorted(ports)

    @property
    def swarm_address(self) -> str:
        """The IP the node uses in the swarm: its address, or what it advertises when the
        address is a DNS name."""
        return self.info.get("Swarm", {}).get("NodeAddr") or self.address

    def own_addresses(self) -> dict[str, str]:
        """The node's own IP addresses (from `ip addr`) -> the interface that holds each."""
        return {a["local"]: link.get("ifname", "?") for link in self.links
                for a in link.get("addr_info", []) if a.get("local")}

    def underlay(self) -> dict | None:
        """The link that carries the node's swarm address."""
        wanted = {self.address, self.swarm_address}
        return next((link for link in self.links
                     if any(a.get("local") in wanted for a in link.get("addr_info", []))), None)


@dataclass
class Facts:
    nodes: dict[str, NodeFacts]
    manager: str
    log_lines: dict[str, list[str]] = field(default_factory=dict)

    @property
    def manager_facts(self) -> NodeFacts:
        return self.nodes[self.manager]

    def to_dict(self) -> dict:
        """Plain data (for a JSON file): the doctor can then run again without the nodes."""
        return {"manager": self.manager, "log_lines": self.log_lines,
                "nodes": {name: {"address": f.address, "is_manager": f.is_manager, "error": f.error,
                                 "unreachable": f.unreachable, "commands": f.commands, "sections": f.sections}
                          for name, f in self.nodes.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "Facts":
        nodes = {name: NodeFacts(name, n["address"], n["sections"], n.get("is_manager", False), n.get("error", ""),
                                 n.get("commands", {}), n.get("unreachable", False))
                 for name, n in data["nodes"].items()}
        return cls(nodes, data["manager"], data.get("log_lines", {}))

    @cached_property
    def docker_names(self) -> dict[str, str]:
        """Docker's names for the nodes -> the cluster's names, made once: each node's ID and its
        hostname (a hostname two nodes share maps to neither)."""
        by_id, by_hostname = {}, {}
        for f in self.nodes.values():
            node_id = f.info.get("Swarm", {}).get("NodeID")
            if node_id:
                by_id[node_id] = f.name
            if f.info.get("Name"):
                by_hostname.setdefault(f.info["Name"], []).append(f.name)
        return {hostname: names[0] for hostname, names in by_hostname.items() if len(names) == 1} | by_id

    def name_of(self, docker_node: str) -> str:
        """The cluster's name (e.g. the inventory's vm-b) for a Docker node ID or hostname
        (node2), as `docker node ls` and `service ps` print them; unknown ones unchanged."""
        return self.docker_names.get(docker_node, docker_node)

    def up(self) -> list[NodeFacts]:
        return [f for f in self.nodes.values() if f.daemon_up]

    def swarm_nodes(self) -> list[NodeFacts]:
        return [f for f in self.up() if f.in_swarm]


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


# --- evidence helpers -----------------------------------------------------
SUMMARY = "# summary: "  # marks a line the doctor derived, not one a command printed


def prompt(node: str, command: str) -> str:
    """`[node]$ command` as a terminal shows it: a command of several lines (a probe script)
    goes on after `> `, so the command in the evidence is the exact string that ran."""
    return f"[{node}]$ " + command.replace("\n", "\n> ")


def containing(*needles: str):
    """A line filter for NodeFacts.shown: lines that contain any of `needles`."""
    return lambda line: any(needle in line for needle in needles)


def evidence_blocks(text: str) -> list[tuple[str, str, list[str]]]:
    """(node, command, output lines) of each `[node]$ command` block of an evidence text;
    summary lines are left out. What tests check against what really ran."""
    blocks = []
    for line in text.splitlines():
        match = re.match(r"\[([^\]]+)\]\$ (.*)", line)
        if blocks and not blocks[-1][2] and not _complete(blocks[-1][1]) and (line == ">" or line.startswith("> ")):
            blocks[-1][1] += "\n" + line[2:]  # the command goes on: a quote is still open
        elif match:
            blocks.append([match.group(1), match.group(2), []])
        elif blocks and not line.startswith(SUMMARY):
            blocks[-1][2].append(line)
    return [tuple(block) for block in blocks]


def _complete(command: str) -> bool:
    """False while a quote of `command` is open (a shell would prompt `> ` for more)."""
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


# A probe quoted in evidence: (node, section, the outcomes whose lines to show, summary lines).
Quote = tuple[str, str, list[probes.Outcome], list[str]]


def probe_evidence(facts: Facts, quotes: list[Quote]) -> str:
    """One block per node and section: the probe script that ran there, the lines it printed
    for the quoted outcomes, then what they say (summaries), in the order quoted."""
    blocks: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for node, section, outcomes, summary in quotes:
        lines, notes = blocks.setdefault((node, section), ([], []))
        lines += [o.line for o in outcomes if o.line not in lines]
        notes += summary
    return "\n".join(facts.nodes[node].shown(section, lines, notes)
                     for (node, section), (lines, notes) in blocks.items())


def answered_evidence(facts: Facts, quotes: list[Quote], summary: str, nodes: int = 3) -> str:
    """Evidence that probes answered: the lines of the first `nodes` nodes (each block repeats
    the node's whole probe script), then `summary` with how many nodes were left out."""
    shown = list(dict.fromkeys(node for node, *_ in quotes))[:nodes]
    left = len({node for node, *_ in quotes}) - len(shown)
    more = f" ({left} more node{'s' if left > 1 else ''} answered alike, not shown)" if left else ""
    return probe_evidence(facts, [q for q in quotes if q[0] in shown]) + f"\n{SUMMARY}{summary}{more}"


def said(o: probes.Outcome) -> str:
    """A probe line in words (for a summary)."""
    tries = f"({o.tries} {'try' if o.tries == 1 else 'tries'})"
    if o.kind == "tcp":
        return f"connect to {o.address}:{o.port}/tcp: {o.outcome} {tries}"
    df = f", don't fragment (-M do -s {o.size})" if o.df else ""
    return f"ping {o.address} with {o.size} bytes of data{df}: {o.outcome} {tries}"


# --- the checks -----------------------------------------------------------
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


def check_gwbridge(facts: Facts) -> list[Finding]:
    """Every swarm node has docker_gwbridge, with Docker's options and the ingress sandbox attached."""
    found = []
    reference = _gwbridge_reference(facts)
    for f in facts.swarm_nodes():
        net = f.network(GWBRIDGE)
        if net is None:
            found.append(_missing_gwbridge(f, reference, facts))
            continue
        found += _gwbridge_details(f, net)
    return found


def _gwbridge_reference(facts: Facts) -> dict | None:
    for f in [facts.manager_facts, *facts.swarm_nodes()]:
        if f.daemon_up and f.network(GWBRIDGE):
            return f.network(GWBRIDGE) | {"_node": f.name}
    return None


def _missing_gwbridge(f: NodeFacts, reference: dict | None, facts: Facts) -> Finding:
    summary = [f"no {GWBRIDGE} among these networks"]
    if reference:
        config = (reference.get("IPAM", {}).get("Config") or [{}])[0]
        summary.append(f"{reference['_node']} has {GWBRIDGE} {config.get('Subnet', '?')} "
                       "(docker network inspect there)")
    broken = _gwbridge_failed(f, facts)
    cause = (f"{f.name} is in the swarm but has no {GWBRIDGE}. Docker creates it when a node joins; "
             "without it no task container on this node gets its gateway, so every task there fails "
             "with 'error creating external connectivity network' and its containers stay Created")
    if not broken:
        cause += ("; nothing says its creation failed: if the node joined a second ago, Docker may still be "
                  "creating it - run the doctor again")
    return Finding("error" if broken else "warning", f.name, GWBRIDGE,
                   f.shown("networks", network_name_line, summary), cause,
                   gwbridge_command(f, reference), DOC_SWARM_NETWORKING)


def _gwbridge_failed(f: NodeFacts, facts: Facts) -> bool:
    # Docker creates it a moment after the join returns: only call it broken with a reason in hand.
    return f.pool_report().exhausted or bool(facts.log_lines.get(f.name)) or _tasks_failed_on(facts, f.name)


def still_joining(facts: Facts) -> list[str]:
    """Swarm nodes whose join Docker has not finished: no docker_gwbridge yet (and nothing says
    its creation failed), or the ingress sandbox not attached to it yet. Until it has, its
    part of the overlay is not set up, and pings over the overlay can be lost (seen in the
    seconds after 30 nodes joined, while some nodes had neither)."""
    joining = []
    for f in facts.swarm_nodes():
        net = f.network(GWBRIDGE)
        if (net is None and not _gwbridge_failed(f, facts)) or (net is not None and not _sandbox_attached(net)):
            joining.append(f.name)
    return joining


def _sandbox_attached(gwbridge: dict) -> bool:
    """Is the node's ingress sandbox an endpoint of its docker_gwbridge (docker network inspect)?"""
    return "ingress-sbox" in (gwbridge.get("Containers") or {})


def network_name_line(line: str) -> bool:
    """A network's own "Name" line in `docker network inspect` output (not an endpoint's)."""
    return line.startswith('        "Name": ')


def _tasks_failed_on(facts: Facts, node: str) -> bool:
    table = tasks_from_json(facts.manager_facts.sections.get("tasks", ""))
    on_node = table["node"].map(facts.name_of) == node
    return bool((on_node & (table["state"] == "Failed")).any())


def network_block(f: NodeFacts, name: str) -> list[str]:
    """The lines of network `name`'s object in the node's `docker network inspect` output."""
    lines = f.sections.get("networks", "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f'"Name": "{name}",'), None)
    if start is None:
        return []
    indent = len(lines[start]) - len(lines[start].lstrip()) - 4  # the object's own braces
    while start > 0 and not (lines[start].strip() == "{" and len(lines[start]) - 1 == indent):
        start -= 1
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip().startswith("}") and len(lines[i]) - len(lines[i].lstrip()) == indent),
               len(lines) - 1)
    return lines[start:end + 1]


def network_lines(f: NodeFacts, name: str, *needles: str) -> list[str]:
    """The lines of network `name` in the node's `docker network inspect` that contain any of `needles`."""
    return [line for line in network_block(f, name) if any(n in line for n in needles)]


def _gwbridge_lines(f: NodeFacts, *needles: str) -> list[str]:
    return network_lines(f, GWBRIDGE, *needles)


def gwbridge_command(f: NodeFacts, reference: dict | None) -> str:
    """The `docker network create` that gives this node a docker_gwbridge on a free subnet."""
    prefer = None
    if reference:
        prefer = ((reference.get("IPAM", {}).get("Config") or [{}])[0]).get("Subnet")
    try:
        subnet, _ = pools.pick_free_subnet(f.routes, f.nameservers, f.local_subnets(), prefer=prefer)
    except ValueError:
        return f"docker network create --subnet <free subnet> ... {GWBRIDGE}"
    return gwbridge_create_command(str(subnet), str(next(subnet.hosts())))


def _gwbridge_details(f: NodeFacts, net: dict) -> list[Finding]:
    found = []
    options = net.get("Options") or {}
    wrong = {k: options.get(k) for k, v in GWBRIDGE_OPTIONS.items() if options.get(k) != v}
    config = (net.get("IPAM", {}).get("Config") or [{}])[0]
    if wrong:
        found.append(Finding(
            "warning", f.name, GWBRIDGE,
            f.shown("networks", _gwbridge_lines(f, f'"Name": "{GWBRIDGE}"', '"com.docker.network.bridge.'),
                    [f"{GWBRIDGE}'s options: {json.dumps(options)}"]),
            f"{GWBRIDGE} lacks the options Docker gives it ({', '.join(f'{k}={v}' for k, v in GWBRIDGE_OPTIONS.items())}): "
            "containers may talk to each other through it, or the bridge has another name",
            f"recreate it with the options: docker network rm {GWBRIDGE}; "
            f"docker network create --subnet {config.get('Subnet')} "
            + " ".join(f"-o {k}={v}" for k, v in GWBRIDGE_OPTIONS.items()) + f" {GWBRIDGE}",
            DOC_SWARM_NETWORKING))
    endpoints = sorted((net.get("Containers") or {}).keys())
    tasks_attached = len([e for e in endpoints if e != "ingress-sbox"])
    if not _sandbox_attached(net):
        found.append(Finding(
            "warning", f.name, "ingress sandbox",
            f.shown("networks", _gwbridge_lines(f, f'"Name": "{GWBRIDGE}"', '"Name": "gateway_'),
                    [f"{GWBRIDGE} has {tasks_attached} task endpoint(s) and no ingress-sbox"]),
            "the ingress network's sandbox is not attached to docker_gwbridge on this node: the routing "
            "mesh (published ports) does not reach this node until it is; Docker attaches it when the "
            "ingress network is created (at join, or with the node's first task)",
            "run a task on the node, or restart its Docker daemon", DOC_OVERLAY))
    if not wrong and _sandbox_attached(net):
        found.append(Finding(
            "info", f.name, GWBRIDGE,
            f.shown("networks", _gwbridge_lines(f, f'"Name": "{GWBRIDGE}"', '"Subnet": ', '"enable_icc"',
                                                '"Name": "gateway_ingress-sbox"'),
                    [f"ingress-sbox + {tasks_attached} task endpoint(s) attached"]),
            f"{GWBRIDGE} is present with Docker's options and the ingress sandbox attached", "", DOC_SWARM_NETWORKING))
    return found


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


@dataclass(frozen=True)
class FailureMode:
    pattern: str  # a regex searched in the task's error
    title: str
    cause: str
    fix: str
    doc: str
    severity: str = "error"


TASK_FAILURE_MODES = [
    FailureMode(r"could not find an available, non-overlapping IPv4 address pool",
                "no address pool for docker_gwbridge",
                "the node could not create docker_gwbridge: every default address pool overlaps a route, "
                "nameserver or network there (see 'address pools'); the task's container was created but "
                "cannot start",
                "create docker_gwbridge on the node with a free subnet (swarmlab fix gwbridge NODE), "
                "then `docker service rm` + `docker service create`", DOC_SWARM_NETWORKING),
    FailureMode(r"error creating external connectivity network",
                "docker_gwbridge could not be created",
                "the task needs docker_gwbridge for its gateway, and the node could not create it",
                "see the docker_gwbridge finding for the node", DOC_SWARM_NETWORKING),
    FailureMode(r"network \S+ not found",
                "overlay network not on the node",
                "the task's overlay network is not set up on that node (it appears only when a task "
                "attached to it starts there)", "see the docker_gwbridge and port findings", DOC_OVERLAY),
    FailureMode(r"file exists|vxlan interface",
                "stale vxlan interface",
                "a VXLAN device left from an earlier network blocks the overlay's setup on that node",
                "ip -d link show type vxlan; ip link del <vx-... device>; or restart docker", DOC_OVERLAY),
    FailureMode(r"No such image|pull access denied|manifest unknown",
                "image missing on the node",
                "the node cannot get the task's image (no registry access and not loaded locally)",
                "docker load / docker pull the image on that node", DOC_SERVICES),
    FailureMode(r"no suitable node", "no node fits the task",
                "no node satisfies the task's constraints or resources, so it stays Pending",
                "docker node ls; relax --constraint / --reserve-*", DOC_SERVICES, "warning"),
]
UNKNOWN_FAILURE = FailureMode("", "unrecognised", "a task failed with an error the doctor does not know; "
                              "read it in full above", "docker inspect <task id> on the manager; the node's "
                              "Docker log", DOC_SERVICES)


def failure_mode(error: str) -> FailureMode:
    return next((m for m in TASK_FAILURE_MODES if re.search(m.pattern, error)), UNKNOWN_FAILURE)


def check_task_errors(facts: Facts) -> list[Finding]:
    """Which tasks failed and why, by Docker's own error (per node and failure mode, up to 3 quoted in full).

    A failure whose replica runs now (a later task of the same slot is Running) is
    history: reported as info, with when it happened.
    """
    manager = facts.manager_facts
    table = tasks_from_json(manager.sections.get("tasks", ""))
    if table.empty:
        return []
    current_state = table[~table["history"].astype(bool)].drop_duplicates("name").set_index("name")["state"]
    bad = table[(table["error"] != "") & table["state"].isin(["Failed", "Rejected", "Pending"])]
    bad = bad.assign(mode=bad["error"].map(lambda error: failure_mode(error).title),
                     where=bad["node"].map(lambda node: facts.name_of(node) if node else manager.name),
                     resolved=bad["name"].map(lambda name: current_state.get(name) == "Running"))
    found = []
    for (node, _, resolved), group in bad.groupby(["where", "mode", "resolved"], sort=False):
        mode = failure_mode(group["error"].iloc[0])
        summary = [f"{r['name']} on {node}: {r['current state']}: {r['error']}"
                   for _, r in group.head(3).iterrows()]
        if len(group) > 3:
            summary.append(f"{len(group)} tasks like these")
        proof = manager.shown("tasks", containing(*(f'"ID":"{task}"' for task in group["id"].head(3))), summary)
        if resolved:
            slots = sorted(set(group["name"]))
            found.append(Finding(
                "info", node, f"task errors: {mode.title}", proof,
                f"happened: the last {group['current state'].iloc[0]}; since resolved: "
                f"{', '.join(slots)} {'runs' if len(slots) == 1 else 'run'} now (a later task of the same slot). "
                f"Then: {mode.cause}", "", mode.doc))
        else:
            found.append(Finding(mode.severity, node, f"task errors: {mode.title}", proof,
                                 mode.cause, mode.fix, mode.doc))
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
    cause = cause.format(port=port, target=target, use=_port_use(port)) + f" (seen from {sources} node" \
        + ("s" if sources > 1 else "") + ")"
    fix = (f"allow {port}/tcp to {target} on every filter between the nodes (host firewall: iptables-save | "
           f"grep {port}; cloud: the security group)") if verdict in ("filtered", "unknown") else \
        ("start the node, check its cable/route" if verdict == "unreachable" else
         f"on {target}: docker info (Swarm), ss -ltn | grep {port}")
    return Finding(severity, target, f"reach {port}/tcp", probe_evidence(facts, quotes[:3]), cause, fix, DOC_PORTS)


PROBE_SECTIONS = {"probes": "TCP connects to the swarm ports", "pings": "pings on the underlay",
                  "overlay_pings": "pings over the ingress overlay"}


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


# A join this recent may still be spreading by gossip (seen: 30-node labs whose overlay lost
# pings to one node 10-25 s after the joins returned, and not a run later).
FRESH_JOIN = 60


def joined_ago(f: NodeFacts) -> float | None:
    """Seconds since the node's daemon joined the swarm's gossip (its own 'joined gossip
    cluster' line, by the node's clock), or None where its log does not say."""
    now, lines = _log_clock(f)
    own = [line for line in lines if f"/{f.swarm_address}, joined gossip cluster" in line]
    if now is None or not own or not _log_time(own[-1]):
        return None
    return (now - datetime.fromisoformat(_log_time(own[-1]))).total_seconds()


def _fresh_join(facts: Facts, nodes: list[str]) -> str:
    """A sentence for an overlay loss to nodes that joined moments ago ('' when none did)."""
    ages = {name: joined_ago(facts.nodes[name]) for name in nodes}
    fresh = {name: age for name, age in ages.items() if age is not None and 0 <= age < FRESH_JOIN}
    if not fresh:
        return ""
    when = ", ".join(f"{name} {age:.0f} s ago" for name, age in sorted(fresh.items()))
    return (f". Joined the swarm moments ago: {when}; while gossip spreads a join the overlay can lose "
            "pings to the new node for a few seconds, so run the doctor again before acting on this")


def _log_time(line: str) -> str:
    match = re.search(r'time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)', line)
    return match.group(1) if match else ""


def _log_clock(f: NodeFacts) -> tuple[datetime | None, list[str]]:
    """The node's clock when its daemon_log was read (the section's first line; None when it
    cannot be read), and the log lines after it."""
    lines = f.sections.get("daemon_log", "").splitlines()
    if not lines:
        return None, []
    try:
        return datetime.fromisoformat(lines[0].strip()), lines[1:]
    except ValueError:
        return None, lines[1:]


def recent_log(f: NodeFacts, seconds: int = GOSSIP_WINDOW) -> list[str]:
    """The daemon_log lines of the last `seconds` (by the node's own clock, the section's first line)."""
    now, lines = _log_clock(f)
    if now is None:
        return lines
    since = (now - timedelta(seconds=seconds)).isoformat()
    return [line for line in lines if _log_time(line) >= since]


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


REQUIRED_MODULES = ("vxlan", "bridge")


def kernel_status(f: NodeFacts) -> tuple[str, dict[str, str]]:
    lines = f.sections.get("kernel", "").splitlines()
    return (lines[0] if lines else "?"), dict(line.split(" ", 1) for line in lines[1:] if " " in line)


def kernel_table(findings: pd.DataFrame) -> pd.DataFrame:
    """What each node's kernel has of what Swarm networking uses, read from the doctor's
    `kernel` findings: one row per node, its release, then per part (vxlan, bridge, ip_vs,
    esp4: loaded, available or missing; esp-gcm, the kernel's own answer: ok, missing or
    unknown)."""
    rows = []
    for evidence in findings.loc[findings["check"] == "kernel", "evidence"]:
        for node, _, lines in evidence_blocks(evidence):
            parts = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
            rows.append({"node": node, "release": lines[0] if lines else "?",
                         **{part: said.split(":", 1)[0] for part, said in parts.items()}})
    return pd.DataFrame(rows).set_index("node") if rows else pd.DataFrame(columns=["release"])


def check_kernel(facts: Facts) -> list[Finding]:
    """Every node's kernel has VXLAN and bridge support (loaded, or available as a module)."""
    found = []
    for f in facts.up():
        release, status = kernel_status(f)
        required = {m: s for m, s in status.items() if m in REQUIRED_MODULES}
        lacking = [m for m, s in status.items() if s.startswith("missing")  # a built-in ESP the kernel confirmed is there
                   and not (m == "esp4" and status.get("esp-gcm") == "ok")]
        missing = [m for m, s in required.items() if s == "missing"]
        found.append(Finding(
            "error" if missing else "info", f.name, "kernel",
            f.shown("kernel"),
            (f"the kernel lacks {', '.join(missing)}: overlay networks cannot work" if missing else
             f"kernel {release} has VXLAN and bridge support, what every overlay needs"
             + (f"; it lacks {', '.join(lacking)} (see 'kernel limits')" if lacking else "")),
            "install the kernel's extra modules (e.g. linux-modules-extra-$(uname -r))" if missing else "",
            DOC_OVERLAY))
    return found


def check_kernel_limits(facts: Facts) -> list[Finding]:
    """What the swarm uses against what the kernel can do: ip_vs for VIPs and published ports, ESP for encryption."""
    manager = facts.manager_facts
    vip_services = [line.split()[0] for line in manager.sections.get("service_modes", "").splitlines()
                    if line.split()[1:] == ["vip"]]
    published = manager.published_ports()
    encrypted = [n["Name"] for n in manager.networks if n.get("Driver") == "overlay"
                 and "encrypted" in (n.get("Options") or {})]
    found = []
    lacking = [f for f in facts.up() if kernel_status(f)[1].get("ip_vs") == "missing"]
    if lacking and (vip_services or published):
        found.append(_ipvs_finding(facts, lacking, vip_services, published))
    for f in facts.up():
        release, status = kernel_status(f)
        esp = [line for line in f.sections.get("daemon_log", "").splitlines() if ESP_LOG_MARK in line][-2:]
        if encrypted and lacks_esp_gcm(status):
            found.append(Finding(
                "error", f.name, "kernel limits: ESP",
                "\n".join([f.shown("kernel", lambda line: line == release or line.startswith(("esp4 ", "esp-gcm ")))]
                          + ([f.shown("daemon_log", esp)] if esp else [])),
                f"the encrypted overlay(s) {', '.join(encrypted)} need IPsec ESP with AES-GCM in the kernel "
                f"(xfrm, esp4, rfc4106(gcm(aes))), and kernel {release} {_esp_gcm_answer(status)}: the daemon cannot "
                "add its security associations, so traffic between containers on different nodes is dropped",
                "use a kernel with CONFIG_INET_ESP and CONFIG_CRYPTO_GCM, or an overlay without --opt encrypted",
                DOC_OVERLAY))
    return found


def lacks_esp_gcm(status: dict[str, str]) -> bool:
    """The kernel's own answer when it was asked (esp-gcm), else the module list (esp4)."""
    asked = status.get("esp-gcm", "unknown")
    if not asked.startswith("unknown"):
        return asked.startswith("missing")
    return status.get("esp4") == "missing"


def _esp_gcm_answer(status: dict[str, str]) -> str:
    asked = status.get("esp-gcm", "unknown")
    if asked.startswith("missing"):
        return f"refuses an ESP security association with rfc4106(gcm(aes)) ({asked.split(':', 1)[-1].strip()})"
    return "has no ESP module"


def _ipvs_finding(facts: Facts, lacking: list[NodeFacts], vip_services, published) -> Finding:
    first = lacking[0]
    release = kernel_status(first)[0]
    log = [line for line in first.sections.get("daemon_log", "").splitlines() if IPVS_LOG_MARK in line][-1:]
    proof = [first.shown("kernel", lambda line: line == release or line.startswith("ip_vs "))]
    if log:
        proof.append(first.shown("daemon_log", log))
    # Only the manager probes the published ports (at its own address): its refusals are the proof.
    refused = [(f.name, "pings", [o], [f"published port {o.port}: {said(o)}"]) for f in lacking
               for o in probes.parse(f.sections.get("pings", ""))
               if o.kind == "tcp" and o.address == f.address and o.port in published and o.outcome != "open"]
    if refused:
        proof.append(probe_evidence(facts, refused[:2]))
    uses = []
    if published:
        uses.append("published ports " + ", ".join(map(str, published)) + " (the routing mesh)")
    if vip_services:
        uses.append("VIP services " + ", ".join(vip_services[:5]))
    nodes = [f.name for f in lacking]
    return Finding(
        "error" if refused else "warning", ", ".join(nodes) if len(nodes) < 4 else f"{len(nodes)} nodes",
        "kernel limits: ip_vs", "\n".join(proof),
        f"the swarm uses {' and '.join(uses)}, which Docker load-balances with IPVS, and kernel {release} has no "
        "ip_vs: a published port refuses connections and a service's name (its VIP) resolves but answers "
        "nothing, while `docker service ls` looks healthy"
        + (" - the refused connection above is that" if refused else
           "; tasks still reach each other by their own addresses"),
        "a kernel with ip_vs; or the workarounds: docker service update --publish-rm P --publish-add "
        "mode=host,target=T,published=P SERVICE (the port on the node that runs the task); docker service "
        "create --endpoint-mode dnsrr ... (DNS round robin, no VIP); or reach the tasks by name: tasks.SERVICE",
        DOC_SERVICES)


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


def iptables_readable(iptables_save: str) -> bool:
    """False when iptables-save printed no table (not root, or no iptables on the node)."""
    return any(line.startswith("*") for line in iptables_save.splitlines())


def check_docker_chains(facts: Facts) -> list[Finding]:
    """Docker's own iptables chains are in place on every node (nobody flushed them)."""
    found = []
    for f in facts.up():
        text = f.sections.get("iptables", "")
        if not iptables_readable(text):
            found.append(Finding("info", f.name, "iptables chains",
                                 f.shown("iptables", limit=2, summary=[] if text.strip() else ["no output"]),
                                 "could not read the node's iptables (needs root): firewall checks skipped",
                                 "run the doctor as root on the nodes (sudo)", DOC_FIREWALL))
            continue
        chains = iptables_chains(text)
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
        else:
            severity, cause = "info", ("Docker's iptables chains are in place"
                                       + ("" if ingress else "; DOCKER-INGRESS appears with the first published port"))
        found.append(Finding(severity, f.name, "iptables chains",
                             f.shown("iptables", lambda line: line.startswith(":DOCKER"),
                                     [] if present else ["no DOCKER chain"]),
                             cause, "systemctl restart docker" if severity == "error" else "", DOC_FIREWALL))
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


CHECKS = [check_daemons, check_swarm_membership, check_gwbridge, check_address_pools, check_task_errors,
          check_dockerd_log, check_probes_ran, check_swarm_ports, check_underlay, check_overlay, check_gossip, check_advertise_address,
          check_duplicate_hostnames, check_overlay_subnets, check_kernel, check_kernel_limits, check_docker_chains, check_stale_vxlan,
          check_mtu]


def diagnose(facts: Facts) -> pd.DataFrame:
    """Run every check on gathered facts; a DataFrame of findings, worst first."""
    findings = [finding for check in CHECKS for finding in check(facts)]
    table = pd.DataFrame([vars(f) for f in findings], columns=COLUMNS)
    order = table["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    return table.assign(_order=order).sort_values(["_order", "node"], kind="stable").drop(
        columns="_order").reset_index(drop=True)


def doctor(cluster, timeout: float = 20) -> pd.DataFrame:
    """Check every node of a cluster (or a Lab) and return the findings, worst first."""
    return diagnose(gather(as_cluster(cluster), timeout=timeout))


def worst(findings: pd.DataFrame) -> str:
    """'error', 'warning' or 'info' (or '' when there are no findings)."""
    for severity in SEVERITIES:
        if (findings["severity"] == severity).any():
            return severity
    return ""


def report(findings: pd.DataFrame, min_severity: str = "info") -> str:
    """The findings as text for a terminal."""
    keep = SEVERITIES[:SEVERITIES.index(min_severity) + 1]
    blocks = []
    for _, f in findings[findings["severity"].isin(keep)].iterrows():
        block = [f"{f['severity'].upper():<7} {f['node']}: {f['check']}",
                 *("    " + line for line in f["evidence"].splitlines()),
                 f"  cause: {f['cause']}"]
        if f["fix"]:
            block.append(f"  fix:   {f['fix']}")
        if f["doc"]:
            block.append(f"  docs:  {f['doc']}")
        blocks.append("\n".join(block))
    counts = findings["severity"].value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}{'s' if counts.get(s, 0) != 1 else ''}" for s in SEVERITIES)
    return "\n\n".join(blocks + [summary])
