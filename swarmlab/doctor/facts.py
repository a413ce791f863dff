"""What the doctor asks every node, and what it learned: the facts the checks judge.

Each section of a node's facts is what one command printed: NODE_SECTIONS on every node,
MANAGER_SECTIONS on the manager too, and the daemon's log. `NodeFacts` reads them (docker
info, networks, routes, links, pools...) and quotes them as evidence: `shown` writes the
command as a terminal shows it (`[node]$ command`), lines of its real output, then any
`# summary: ` lines the doctor derived. `Facts` holds every node's, and turns into plain
data and back, so the checks can run again without the nodes (tests/fixtures/doctor/).
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from .. import pools
from ..check import ESP_GCM_PROBE
from ..errors import EvidenceError
from ..messages import INGRESS_FAILED

# The daemon's words when it could not create the ingress network (and so docker_gwbridge).
INGRESS_LOG_MARK = INGRESS_FAILED  # the same words on every captured version

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

# The sections the probe scripts fill (swarmlab.probes: one bash script of several lines each),
# and what each one probes.
PROBE_SECTIONS = {"probes": "TCP connects to the swarm ports", "pings": "pings on the underlay",
                  "overlay_pings": "pings over the ingress overlay"}

VXLAN_OVERHEAD = 50  # bytes VXLAN adds to every overlay packet
DEFAULT_OVERLAY_MTU = 1450  # what Docker gives an overlay without `-o com.docker.network.driver.mtu`

SUMMARY = "# summary: "  # marks a line the doctor derived, not one a command printed


def prompt(node: str, command: str) -> str:
    """`[node]$ command` as a terminal shows it: a command of several lines (a probe script)
    goes on after `> `, so the command in the evidence is the exact string that ran."""
    return f"[{node}]$ " + command.replace("\n", "\n> ")


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
    """Every node's facts, the manager's name, and each node's log lines about the ingress network."""

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


def log_time(line: str) -> str:
    """When a daemon log line was written (its `time="..."`, to the second), or '' when it does not say."""
    match = re.search(r'time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)', line)
    return match.group(1) if match else ""


def log_clock(f: NodeFacts) -> tuple[datetime | None, list[str]]:
    """The node's clock when its daemon_log was read (the section's first line; None when it
    cannot be read), and the log lines after it."""
    lines = f.sections.get("daemon_log", "").splitlines()
    if not lines:
        return None, []
    try:
        return datetime.fromisoformat(lines[0].strip()), lines[1:]
    except ValueError:
        return None, lines[1:]


def iptables_readable(iptables_save: str) -> bool:
    """False when iptables-save printed no table (not root, or no iptables on the node)."""
    return any(line.startswith("*") for line in iptables_save.splitlines())
