"""Faults people report from real swarms, beyond the article (docs/faults.md cites the threads).

Each is a pair of functions (inject, undo) taking the cluster and the node; the
registry in faults.py lists them. Most act inside the node, as the article's
fault does; `mtu-blackhole` lowers the MTU of the lab's switch port, the one
place on the path that is not a node, so it needs a lab (on the docker driver the
switch is the engine's, out of reach: the node drops the big packets itself).

manager-port-blocked
    iptables on a manager drops incoming tcp/2377: a node that joins waits, then
    "Timeout was reached before node joined"; joined nodes go Down.
mtu-blackhole
    the switch port of the node carries 1400 bytes; bigger frames are dropped with
    no ICMP error. Small pings pass, full-size overlay packets (1450 + 50) vanish.
    Docker driver: an iptables rule in the node (raw table, before anything else
    sees the packet) drops arriving packets over 1400 bytes, silently too. What the
    node sends leaves whole, but a big reply to it is dropped, so a ping fails both
    ways, as with the switch port.
advertise-unreachable
    the node gets a second interface and joins with --advertise-addr on it, an
    address the others cannot reach: it shows Ready, but overlay traffic to it is lost.
iptables-flushed
    Docker's iptables chains flushed on the node, as a firewall reload does:
    published ports fail with "No chain/target/match by that name".
duplicate-hostname
    the node takes another node's hostname (a cloned VM): `docker node ... NAME`
    answers "node NAME is ambiguous (2 matches found)".
dockerd-killed
    the node's dockerd is killed with SIGKILL: the node goes Down. The containerd it
    had started dies with it and stays a zombie here (this machine's PID 1 does not
    reap it, as in docker-in-docker); a start that finds its pid file may wait for it
    and fail with "timeout waiting for containerd to start" (seen here once, not every
    time). Undo removes that stale pid file and starts dockerd.
overlay-overlaps-lan
    an attachable overlay whose subnet is the node's LAN: its containers cannot
    reach the LAN (the nodes themselves) any more.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import subprocess
import time

from . import story, swarm
from .cluster import Cluster, Node
from .errors import SwarmlabError
from .result import Result

PATH_MTU = 1400  # what the mtu-blackhole path carries: less than the overlay's 1450 + 50
SECOND_NIC = "eth1"  # advertise-unreachable: the interface the node wrongly advertises
UNREACHABLE_NET = "10.99.0"  # advertise-unreachable: a /24 nobody else on the LAN has
SAVED_IPTABLES = "/run/swarmlab-fault.iptables"  # iptables-flushed: what undo restores
OVERLAP_NETWORK = "lan-overlap"  # overlay-overlaps-lan: the network it creates
FAULT_LABEL = "swarmlab.fault"
# Every iptables rule a fault adds carries this comment (and the fault's name), so undo
# removes exactly those; faults.py uses it too.
RULE_COMMENT = "swarmlab-fault"


def _host_result(args: list[str], where: str) -> Result:
    """A command on the machine running the lab (never a host of the swarm), as a Result."""
    started = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return Result(where, " ".join(args), proc.stdout, proc.stderr, proc.returncode, time.monotonic() - started)


def _lab(cluster: Cluster, fault: str):
    lab = cluster.lab
    if lab is None:
        raise SwarmlabError(f"{fault} changes the lab's switch, so it needs a local lab "
                            f"(swarmlab lab inject ...), not hosts reached over SSH")
    return lab


def _nic(node: Node) -> dict:
    for link in json.loads(node.run("ip -j addr").check().stdout or "[]"):
        if any(a.get("local") == node.address for a in link.get("addr_info", [])):
            return link
    raise SwarmlabError(f"no interface of {node.name} holds {node.address}; check `ip addr` on {node.name}")


# --- mtu-blackhole -----------------------------------------------------------
def _switch_port(cluster: Cluster, node: Node, mtu: int) -> list[Result]:
    ns = _lab(cluster, "mtu-blackhole").driver.switch_netns()
    # The switch's end of the node's cable is named after the node (Driver.switch_netns).
    set_mtu = _host_result(["ip", "-n", ns, "link", "set", node.name, "mtu", str(mtu)], "switch")
    set_mtu.check(hint=f"is {node.name} cabled to the lab's switch?")
    return [set_mtu, _host_result(["ip", "-n", ns, "-o", "link", "show", node.name], "switch"),
            node.run(f"ip -o link show {_nic(node)['ifname']}")]


def _blackhole_rule(node: Node) -> str:
    """A narrow switch port's stand-in where the switch is out of reach (an engine's bridge):
    the node drops arriving packets over PATH_MTU itself."""
    return (f"PREROUTING -i {_nic(node)['ifname']} -m length --length {PATH_MTU + 1}:65535 "
            f"-m comment --comment {RULE_COMMENT}:mtu-blackhole -j DROP")


def _switch_out_of_reach(cluster: Cluster) -> bool:
    return not _lab(cluster, "mtu-blackhole").driver.switch_in_reach


def mtu_blackhole_inject(cluster: Cluster, node: Node) -> list[Result]:
    if _switch_out_of_reach(cluster):
        rule = _blackhole_rule(node)
        return [node.run(f"iptables -t raw -C {rule} 2>/dev/null || iptables -t raw -I {rule}").check(
                    hint=f"is iptables (with the length match) in {node.name}?"),
                node.run("iptables -t raw -S PREROUTING")]
    return _switch_port(cluster, node, PATH_MTU)


def mtu_blackhole_undo(cluster: Cluster, node: Node) -> list[Result]:
    if _switch_out_of_reach(cluster):
        rule = _blackhole_rule(node)
        return [node.run(f"while iptables -t raw -C {rule} 2>/dev/null; do iptables -t raw -D {rule}; done"),
                node.run("iptables -t raw -S PREROUTING")]
    return _switch_port(cluster, node, int(_nic(node).get("mtu", 1500)))


# --- advertise-unreachable --------------------------------------------------
def _second_address(cluster: Cluster, node: Node) -> str:
    return f"{UNREACHABLE_NET}.{list(cluster.nodes).index(node.name) + 2}"


def _join(cluster: Cluster, node: Node, advertise_addr: str) -> list[Result]:
    """Leave (if in), join again advertising `advertise_addr`, and remove the entry the node left behind."""
    manager = cluster.manager
    results = []
    old_id = node.run("docker info --format '{{.Swarm.NodeID}}'").stdout.strip()
    if old_id:
        results += swarm.leave(node)
    token = story.token_in(story.join_token(cluster))
    joined = swarm.join(node, manager.address, token, advertise_addr=advertise_addr)  # the token on no command line
    # The report shows the command; the token is a secret (anyone holding it can join).
    results.append(dataclasses.replace(joined, command=joined.command.replace(token, "SWMTKN-1-<hidden>"))
                   .check(hint=f"{node.name} could not join"))
    if old_id:
        # The old entry stays Down under the same hostname until removed.
        results.append(manager.run(f"docker node rm --force {old_id}"))
    return results


def advertise_unreachable_inject(cluster: Cluster, node: Node) -> list[Result]:
    address = _second_address(cluster, node)
    results = [node.run(f"ip link add {SECOND_NIC} type veth peer name {SECOND_NIC}-peer && "
                        f"ip addr add {address}/24 dev {SECOND_NIC} && ip link set {SECOND_NIC} up && "
                        f"ip link set {SECOND_NIC}-peer up").check(hint=f"does {node.name} have {SECOND_NIC} already?")]
    results += _join(cluster, node, address)
    return results + [node.run("docker info --format 'advertised: {{.Swarm.NodeAddr}}'")]


def advertise_unreachable_undo(cluster: Cluster, node: Node) -> list[Result]:
    results = _join(cluster, node, node.address)
    results.append(node.run(f"ip link del {SECOND_NIC} 2>/dev/null || true"))
    return results + [node.run("docker info --format 'advertised: {{.Swarm.NodeAddr}}'")]


# --- iptables-flushed --------------------------------------------------------
# dockerd re-arranges its chains whenever it creates a network: it deletes the FORWARD jump to
# DOCKER-USER and inserts it again, so a save taken in between lacks that jump, and an undo
# restoring it would leave the node without it (seen once in CI). Save what two reads agree on.
SETTLED_IPTABLES_SAVE = (
    "prev=; tries=0; while [ $tries -lt 25 ]; do "
    "now=$(iptables-save | sed '/^#/d; s/ \\[[0-9]*:[0-9]*\\]$//'); "
    "[ \"$now\" = \"$prev\" ] && break; prev=$now; tries=$((tries+1)); sleep 0.2; done; "
    "printf '%s\\n' \"$now\"")


def iptables_flushed_inject(cluster: Cluster, node: Node) -> list[Result]:
    # What `firewall-cmd --reload` (or a firewall script's iptables -F/-X) does to Docker's rules.
    return [node.run(f"[ -e {SAVED_IPTABLES} ] || {{ {SETTLED_IPTABLES_SAVE}; }} > {SAVED_IPTABLES}").check(),
            node.run("for t in filter nat; do iptables -t $t -F && iptables -t $t -X; done").check(),
            node.run("iptables-save | grep -c '^:DOCKER' || true")]


def iptables_flushed_undo(cluster: Cluster, node: Node) -> list[Result]:
    # After the fix (a restart of dockerd) Docker has written its rules again: keep those.
    return [node.run(f"if [ -e {SAVED_IPTABLES} ] && ! iptables -t nat -S DOCKER >/dev/null 2>&1; "
                     f"then iptables-restore < {SAVED_IPTABLES}; fi; rm -f {SAVED_IPTABLES}").check(),
            node.run("iptables-save | grep '^:DOCKER'")]


# --- duplicate-hostname ------------------------------------------------------
def _rename(node: Node, hostname: str) -> list[Result]:
    # dockerd tells the swarm its hostname when it connects: restart it, as after a rename.
    return [node.run(f"hostname {hostname}").check(), swarm.restart_docker(node), node.run("hostname")]


def duplicate_hostname_inject(cluster: Cluster, node: Node) -> list[Result]:
    other = next(n for n in cluster if n is not node)
    return _rename(node, other.name)


def duplicate_hostname_undo(cluster: Cluster, node: Node) -> list[Result]:
    return _rename(node, node.name)


# --- dockerd-killed ----------------------------------------------------------
def dockerd_killed_inject(cluster: Cluster, node: Node) -> list[Result]:
    return [node.run("pid=$(cat /var/run/docker.pid) && kill -9 $pid && echo killed dockerd $pid").check(
        hint=f"is dockerd running on {node.name}?")]


# The pid file of a containerd that is gone or a zombie: dockerd would wait for it (stale state).
REMOVE_STALE_CONTAINERD = ("p=$(cat /var/run/docker/containerd/containerd.pid 2>/dev/null) || exit 0; "
                           "case $(ps -o stat= -p $p 2>/dev/null || echo gone) in Z*|gone) "
                           "rm -f /var/run/docker/containerd/containerd.pid; echo removed the pid file of "
                           "containerd $p, which is not running;; esac")


def dockerd_killed_undo(cluster: Cluster, node: Node) -> list[Result]:
    return [node.run(REMOVE_STALE_CONTAINERD), swarm.start_docker(node)]


# --- overlay-overlaps-lan ----------------------------------------------------
def lan_subnet(node: Node) -> str:
    nic = _nic(node)
    info = next(a for a in nic["addr_info"] if a.get("local") == node.address)
    return str(ipaddress.ip_network(f"{node.address}/{info['prefixlen']}", strict=False))


def overlay_overlaps_lan_inject(cluster: Cluster, node: Node) -> list[Result]:
    subnet = lan_subnet(node)
    create = cluster.manager.run(f"docker network create -d overlay --attachable --subnet {subnet} "
                                 f"--label {FAULT_LABEL}=overlay-overlaps-lan {OVERLAP_NETWORK}")
    return [create.check(hint="the manager refused the network"),
            cluster.manager.run(f"docker network inspect {OVERLAP_NETWORK} --format '{{{{json .IPAM.Config}}}}'")]


def overlay_overlaps_lan_undo(cluster: Cluster, node: Node) -> list[Result]:
    return [cluster.manager.run(f"docker network rm {OVERLAP_NETWORK} 2>/dev/null || true"),
            cluster.manager.run("docker network ls --filter driver=overlay")]
