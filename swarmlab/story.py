"""The article's walk through a two-node swarm, one function per step.

Every step runs the article's command on the node where the article ran it and
returns the Result, so a lesson can show `result.terminal()` exactly as a terminal
would. The functions take a Cluster (or one of its Nodes), so the same lesson runs
on the local lab, on real hosts over SSH, or from a recording.

The article: node1 (manager, 172.16.155.131) and node2 (worker, .132); `swarm
init`, `swarm join`, `node ls`, an overlay network `uber-net`, and a service `test`
with two replicas. With its test image replaced by the lab's busybox (no registry
here), the commands are the article's.

The operations the steps share with the rest of swarmlab (the tasks table, waiting
for tasks, networks and joins, the node's swarm state) live in swarmlab.swarm; the
names the lessons and notebooks use are re-exported here, so `story.tasks(cluster)`
and `story.wait_for_join(cluster)` read as part of the story.
"""
from __future__ import annotations

import re
import shlex

from . import messages
from .cluster import Cluster, Node
from .errors import SwarmlabError
from . import swarm
from .result import Result
# Re-exported for the lessons, the notebooks and user code: `story.tasks(cluster)` and the rest.
from .swarm import (  # noqa: F401
    DOCKERD_LOG, HOSTNAME, INGRESS_FAILED, POLL_INTERVAL, POLL_LONGEST, SERVICE, as_node, failed,
    join_failures, join_state_command, node_names, placement, placement_timeline, poll_pauses,
    remove_networks, remove_task_containers, running, task_container_ids, task_containers, task_history,
    tasks, tasks_command, wait_for_failure, wait_for_join, wait_for_network, wait_for_placement,
    wait_for_running, wait_for_tasks,
)

IMAGE = "busybox:latest"  # the lab's local image; the article used ubuntu
NETWORK = "uber-net"
# Docker retries a failed task after 5 s; where a lesson or a test only waits for the scheduler
# to give up on a broken node, 1 s tells the same story in seconds.
QUICK_RESTART_DELAY = "1s"


# --- forming the swarm ----------------------------------------------------
def swarm_init(cluster: Cluster) -> Result:
    """`docker swarm init` on the manager, advertising its LAN address."""
    manager = cluster.manager
    return manager.run(f"docker swarm init --advertise-addr {manager.address}")


def join_token(cluster: Cluster, role: str = "worker") -> Result:
    """`docker swarm join-token ROLE` on the manager: it prints the join command."""
    if role not in ("worker", "manager"):
        raise SwarmlabError(f"role must be 'worker' or 'manager', not {role!r}")
    return cluster.manager.run(f"docker swarm join-token {role}")


def token_in(result: Result) -> str:
    """The SWMTKN-... token inside a `join-token` (or `swarm init`) output."""
    match = re.search(r"SWMTKN-\S+", result.stdout)
    if not match:
        raise SwarmlabError(f"no join token in the output of `{result.command}` on {result.node}: "
                            f"{(result.stdout + result.stderr).strip()!r}; is {result.node} a swarm manager?")
    return match.group(0)


def swarm_join(cluster: Cluster, node: Node | str, token: str | None = None) -> Result:
    """`docker swarm join --token ... MANAGER:2377` on `node` (the article's worker join), done
    through the node's Docker API so the token is on no command line (swarm.join).

    Without a token, asks the manager for the worker token first.
    """
    node = as_node(cluster, node)
    token = token or token_in(join_token(cluster, "worker").check())
    return swarm.join(node, cluster.manager.address, token)


def form_swarm(cluster: Cluster) -> list[Result]:
    """The article's first steps: init on the manager, every other node joins as a worker."""
    results = [swarm_init(cluster).check(hint="is this node already in a swarm? `docker swarm leave --force`")]
    token_result = join_token(cluster, "worker").check()
    results.append(token_result)
    token = token_in(token_result)
    for node in cluster:
        if node is not cluster.manager:
            results.append(swarm_join(cluster, node, token).check(
                hint=f"can {node.name} reach {cluster.manager.address}:2377? try `swarmlab doctor`"))
    return results


def rejoin(cluster: Cluster, node: Node | str) -> list[Result]:
    """Take `node` out of the swarm and join it again, as if it joined for the first time.

    Its docker_gwbridge goes too: joining is when Docker creates it, so a fault that
    acts at that moment (vpn-routes) needs a fresh join to show.
    """
    node = as_node(cluster, node)
    results = leave(cluster, node)
    results.append(swarm_join(cluster, node).check())
    return results


def leave(cluster: Cluster, node: Node | str) -> list[Result]:
    """`node` leaves the swarm, the manager forgets it, and its docker_gwbridge goes (a join makes it).

    Its task containers go first: a node that left keeps them running, each holding an endpoint
    on docker_gwbridge, which then could never be removed ("has active endpoints")."""
    node = as_node(cluster, node)
    node_id = node.run("docker info --format '{{.Swarm.NodeID}}'").check().stdout.strip()
    tasks = "ids=$(docker ps -aq --filter label=com.docker.swarm.task); [ -z \"$ids\" ] || docker rm -f $ids"
    results = [node.run(tasks).check(hint=f"remove the swarm's task containers on {node.name} by hand"),
               *swarm.leave(node)]
    if node_id:
        results.append(cluster.manager.run(f"docker node rm --force {node_id}"))
    try:
        results.append(remove_networks(cluster, node, ["docker_gwbridge"], missing_ok=True))
    except SwarmlabError as exc:
        if "active endpoints" not in str(exc):
            raise
        # Seen in CI under load: 30 s after the leave, with no task container left, an endpoint
        # (the ingress sandbox, which dockerd releases by a job of its own) still held the bridge.
        # The node is out of the swarm: a restart of its dockerd lets it go.
        results += [swarm.restart_docker(node),
                    remove_networks(cluster, node, ["docker_gwbridge"], missing_ok=True)]
    return results


def node_ls(cluster: Cluster) -> Result:
    return cluster.manager.run("docker node ls")


# --- networks and the service --------------------------------------------
def create_overlay(cluster: Cluster, name: str = NETWORK) -> Result:
    return cluster.manager.run(f"docker network create -d overlay {shlex.quote(name)}")


def network_ls(node: Node) -> Result:
    return node.run("docker network ls")


def service_create(cluster: Cluster, name: str = SERVICE, network: str = NETWORK, replicas: int = 2,
                   image: str = IMAGE, command: str = "sleep infinity",
                   restart_delay: str | None = None) -> Result:
    """The article's `docker service create`, with `--detach`.

    Without --detach the CLI waits for the service to converge, which with a
    broken node takes half a minute or never ends; wait_for_tasks() watches instead.
    `restart_delay` (e.g. "1s"; Docker's default is 5s) only makes a failing task
    retry sooner: the scheduler then gives up on a broken node after its 5
    failures in about 8 s instead of about 22 s.
    """
    delay = f"--restart-delay {shlex.quote(restart_delay)} " if restart_delay else ""
    return cluster.manager.run(
        f"docker service create --detach {delay}--name {shlex.quote(name)} --network {shlex.quote(network)} "
        f"--replicas {int(replicas)} {shlex.quote(image)} {command}")


def service_ps(cluster: Cluster, name: str = SERVICE, no_trunc: bool = False) -> Result:
    return cluster.manager.run(f"docker service ps {'--no-trunc ' if no_trunc else ''}{shlex.quote(name)}")


def service_rm(cluster: Cluster, name: str = SERVICE) -> Result:
    return cluster.manager.run(f"docker service rm {shlex.quote(name)}")


def container_ls_all(node: Node) -> Result:
    return node.run("docker container ls -a")


def container_start(node: Node, container_id: str) -> Result:
    return node.run(f"docker container start {shlex.quote(container_id)}")


# What `docker container start` of a Created task container answers on a node without
# docker_gwbridge (measured: benchmarks/start_answer.py). Docker first looks up the
# container's overlay network on the node, then attaches the container to it, which
# needs docker_gwbridge (created on the spot from the default pools):
ADDRESS_POOL = "address-pool"            # the node holds the network: creating the gateway fails
NETWORK_NOT_FOUND = "network-not-found"  # the node has let the network go (the article's answer)
# Each answer in every captured Docker version's words (swarmlab.messages).
START_ANSWERS = {
    ADDRESS_POOL: re.compile(messages.NO_POOL_PATTERN),
    NETWORK_NOT_FOUND: messages.NETWORK_GONE,
}


# Each answer's words, by Docker release (messages.RELEASES): what a lesson shows the student.
START_WORDS = {ADDRESS_POOL: messages.start_no_pool, NETWORK_NOT_FOUND: messages.start_network_gone}


def docker_version(node: Node) -> str:
    """The Docker the node runs, as it says itself (e.g. 20.10.24+dfsg1, 28.5.2+dfsg4)."""
    return node.run("docker version --format '{{.Server.Version}}'").check().stdout.strip()


def start_answer(result: Result) -> str:
    """Which of START_ANSWERS a `docker container start` printed; else its first line."""
    text = result.stdout + result.stderr
    for answer, mark in START_ANSWERS.items():
        if (mark.search(text) if isinstance(mark, re.Pattern) else mark in text):
            return answer
    return "started" if result.ok else (text.strip().splitlines() or ["(nothing)"])[0]
