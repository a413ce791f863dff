"""The article's walk through a two-node swarm, one function per step.

Every step runs the article's command on the node where the article ran it and
returns the Result, so a lesson can show `result.terminal()` exactly as a terminal
would. The functions take a Cluster (or one of its Nodes), so the same lesson runs
on the local lab, on real hosts over SSH, or from a recording.

The article: node1 (manager, 172.16.155.131) and node2 (worker, .132); `swarm
init`, `swarm join`, `node ls`, an overlay network `uber-net`, and a service `test`
with two replicas. With its test image replaced by the lab's busybox (no registry
here), the commands are the article's.

Waiting is done by polling `docker service ps --format '{{json .}}'` with a
deadline, never by fixed sleeps: a lab converges in about a second, real hosts
take longer, and a broken node never does.
"""
from __future__ import annotations

import json
import re
import shlex
from typing import Callable

import pandas as pd

from .cluster import Cluster, Node
from .errors import SwarmlabError
from .parse import tasks_from_json
from .result import Result

IMAGE = "busybox:latest"  # the lab's local image; the article used ubuntu
SERVICE = "test"
NETWORK = "uber-net"
# Docker retries a failed task after 5 s; where a lesson or a test only waits for the scheduler
# to give up on a broken node, 1 s tells the same story in seconds.
QUICK_RESTART_DELAY = "1s"
POLL_INTERVAL = 0.2  # seconds between the first looks of a wait
POLL_LONGEST = 1.0  # ... growing to this: Docker's scheduler and daemons move in seconds


def poll_pauses(first: float = POLL_INTERVAL, longest: float = POLL_LONGEST, factor: float = 1.5):
    """The pauses of a polling loop: short at first (most waits end within a second), then
    growing to `longest`. Each look runs the docker CLI and costs CPU, so a wait of 25 s
    (the scheduler giving up on a node) takes about 30 looks instead of 125."""
    pause = first
    while True:
        yield pause
        pause = min(longest, pause * factor)



def _node(cluster: Cluster, node: Node | str) -> Node:
    return node if isinstance(node, Node) else cluster.node(node)


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
    """`docker swarm join --token ... MANAGER:2377` on `node` (the article's worker join).

    Without a token, asks the manager for the worker token first.
    """
    node = _node(cluster, node)
    token = token or token_in(join_token(cluster, "worker").check())
    return node.run(f"docker swarm join --token {token} {cluster.manager.address}:2377")


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
    node = _node(cluster, node)
    results = leave(cluster, node)
    results.append(swarm_join(cluster, node).check())
    return results


def leave(cluster: Cluster, node: Node | str) -> list[Result]:
    """`node` leaves the swarm, the manager forgets it, and its docker_gwbridge goes (a join makes it)."""
    node = _node(cluster, node)
    node_id = node.run("docker info --format '{{.Swarm.NodeID}}'").check().stdout.strip()
    results = [node.run("docker swarm leave --force").check(hint=f"leave the swarm on {node.name} by hand")]
    if node_id:
        results.append(cluster.manager.run(f"docker node rm --force {node_id}"))
    results.append(remove_networks(cluster, node, ["docker_gwbridge"], missing_ok=True))
    return results


def remove_networks(cluster: Cluster, node: Node | str, names: list[str], attempts: int = 20,
                    missing_ok: bool = False) -> Result:
    """`docker network rm NAMES` on the node, again while an endpoint still holds one.

    Right after `docker swarm leave` the ingress sandbox is still on docker_gwbridge for
    a moment ("has active endpoints"): removed too early, the bridge and its address pool
    stay. `missing_ok`: a network that is not there is not an error.
    """
    node = _node(cluster, node)
    for attempt in range(attempts):
        result = node.run(["docker", "network", "rm", *names])
        if result.ok or "active endpoints" not in result.stderr:
            break
        names = [n for n in names if node.run(["docker", "network", "inspect", n]).ok]
        if not names or attempt == attempts - 1:
            break
        cluster.clock.sleep(0.5)
    if result.ok or not names or (missing_ok and "No such network" in result.stderr):
        return result  # the last `docker network rm` that ran; the networks are gone
    return result.check(hint=f"see `docker network ls` on {node.name}")


def wait_for_network(cluster: Cluster, name: str = "docker_gwbridge", nodes=None,
                     timeout: float = 10, present: bool = True) -> None:
    """Wait until network `name` exists on every node (or on `nodes`); present=False: until it is gone.

    Docker creates the ingress network and docker_gwbridge a moment AFTER `swarm
    init`/`join` return (about 0.5-1 s in the lab): look before that and a healthy
    node seems to lack them. A worker lets an overlay network go once no task of
    its own uses it.
    """
    targets = [_node(cluster, n) for n in nodes] if nodes else list(cluster)
    deadline = cluster.clock.now() + timeout
    pauses = poll_pauses()
    while True:
        waiting = [n.name for n in targets
                   if n.run(f"docker network inspect --format '{{{{.Name}}}}' {shlex.quote(name)}").ok != present]
        if not waiting:
            return
        if cluster.clock.now() > deadline:
            raise SwarmlabError(f"network {name} did not {'appear on' if present else 'leave'} {', '.join(waiting)} "
                                f"within {timeout:.0f} s; `swarmlab doctor` says why")
        cluster.clock.sleep(next(pauses))


# What a node's dockerd logs when the join could not create docker_gwbridge (and so the
# ingress network's sandbox); the doctor reads it too. The journal on systemd hosts,
# a file elsewhere (lab nodes log to /var/log/dockerd.log).
INGRESS_FAILED = "Failed creating ingress network"
DOCKERD_LOG = ("{ journalctl -u docker --no-pager -o cat -n 5000 2>/dev/null; "
               "cat /var/log/dockerd.log /var/log/docker.log 2>/dev/null; }")


def join_state_command(failures_before: int = 0) -> str:
    """Prints ready (ingress sandbox on docker_gwbridge), failed (more ingress failures logged
    than `failures_before`) or waiting."""
    return ("docker network inspect --format '{{range $id, $c := .Containers}}{{$id}} {{end}}' docker_gwbridge "
            "2>/dev/null | grep -qw ingress-sbox && echo ready || "
            f"{{ [ \"$({DOCKERD_LOG} | grep -cF '{INGRESS_FAILED}')\" -gt {int(failures_before)} ] "
            "&& echo failed || echo waiting; }")


def join_failures(node: Node) -> int:
    """How many times the node's dockerd has logged that it could not create the ingress network."""
    result = node.run(f"{DOCKERD_LOG} | grep -cF '{INGRESS_FAILED}'")
    return int(result.stdout.strip() or 0)


def wait_for_join(cluster: Cluster, nodes=None, timeout: float = 20,
                  failures_before: dict[str, int] | None = None) -> dict[str, str]:
    """Wait until every swarm node (or `nodes`) has finished what joining sets up.

    A join returns before Docker has created docker_gwbridge and attached the ingress
    network's sandbox to it. A node is "ready" once the sandbox hangs on its
    docker_gwbridge, "failed" once its dockerd logged that it could not create the
    ingress network (no docker_gwbridge: the article's node2). Look before either and a
    healthy node seems broken. After a second join, pass `failures_before` (node ->
    join_failures(node) before it) so an old failure does not count.
    Returns {node: "ready" | "failed"}.
    """
    targets = [_node(cluster, n) for n in nodes] if nodes else list(cluster)
    commands = {n.name: join_state_command((failures_before or {}).get(n.name, 0)) for n in targets}
    deadline = cluster.clock.now() + timeout
    pauses = poll_pauses()
    states: dict[str, str] = {}
    while True:
        for node in targets:
            if states.get(node.name) in (None, "waiting"):
                states[node.name] = node.run(commands[node.name]).stdout.strip() or "waiting"
        waiting = [name for name, state in states.items() if state == "waiting"]
        if not waiting:
            return states
        if cluster.clock.now() > deadline:
            raise SwarmlabError(f"{', '.join(waiting)} did not finish joining within {timeout:.0f} s: no ingress "
                                f"sandbox on docker_gwbridge, and no new '{INGRESS_FAILED}' in the dockerd log; "
                                "`swarmlab doctor` says more")
        cluster.clock.sleep(next(pauses))


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
START_ANSWERS = {
    ADDRESS_POOL: "could not find an available, non-overlapping IPv4 address pool",
    NETWORK_NOT_FOUND: re.compile(r"Error response from daemon: network \S+ not found"),
}


def start_answer(result: Result) -> str:
    """Which of START_ANSWERS a `docker container start` printed; else its first line."""
    text = result.stdout + result.stderr
    for answer, mark in START_ANSWERS.items():
        if (mark.search(text) if isinstance(mark, re.Pattern) else mark in text):
            return answer
    return "started" if result.ok else (text.strip().splitlines() or ["(nothing)"])[0]


def task_container_ids(service: str = SERVICE) -> str:
    """The command that prints the ids of the service's task containers on a node, stopped ones too."""
    return f"docker ps -aq --filter label=com.docker.swarm.service.name={shlex.quote(service)}"


def remove_task_containers(service: str = SERVICE) -> str:
    """The command that removes the service's task containers on a node at once (`sleep infinity`
    ignores SIGTERM: stopped politely, each would take Docker's 10 s grace period)."""
    return f"ids=$({task_container_ids(service)}); [ -z \"$ids\" ] || docker rm -f $ids"


def task_containers(node: Node, service: str = SERVICE) -> pd.DataFrame:
    """The service's task containers on `node`: id, name, state (e.g. 'created')."""
    result = node.run("docker container ls -a --no-trunc --format '{{json .}}' "
                      f"--filter label=com.docker.swarm.service.name={shlex.quote(service)}").check()
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return pd.DataFrame([{"id": r["ID"], "name": r["Names"], "state": r["State"], "status": r["Status"]}
                         for r in rows], columns=["id", "name", "state", "status"])


# --- tasks: what the scheduler did ----------------------------------------
def tasks_command(service: str = SERVICE) -> str:
    """The task list of a service as JSON lines, errors in full."""
    return f"docker service ps --no-trunc --format '{{{{json .}}}}' {shlex.quote(service)}"


def tasks(cluster: Cluster, service: str = SERVICE) -> pd.DataFrame:
    """The service's tasks, newest first per slot, with the error text in full.

    The node column holds the cluster's names for the nodes (an inventory may call
    node2 `vm-b`); `docker service ps` itself prints Docker's hostnames.
    """
    result = cluster.manager.run(tasks_command(service))
    result.check(hint=f"does service {service!r} exist? `docker service ls` on {cluster.manager.name}")
    table = tasks_from_json(result.stdout)
    if set(table["node"]) - set(cluster.nodes) - {""}:  # Docker's hostnames are not the cluster's names
        names = node_names(cluster)
        table["node"] = table["node"].map(lambda hostname: names.get(hostname, hostname))
    return table


HOSTNAME = "docker info --format '{{.Name}}'"


def node_names(cluster: Cluster) -> dict[str, str]:
    """{Docker's hostname of a node: the node's name in this cluster}, asked once per cluster.

    A lab or a recording names nodes by their hostnames; an inventory may not.
    """
    known = getattr(cluster, "_names_by_hostname", None)
    if known is None:
        answers = cluster.run_all(HOSTNAME)
        known = {result.stdout.strip(): name for name, result in answers.items() if result.ok and result.stdout.strip()}
        if len(known) == len(cluster):  # keep it only when every node answered
            cluster._names_by_hostname = known
    return known


def running(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["state"] == "Running") & (table["desired state"] == "Running")]


def failed(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["state"].isin(["Failed", "Rejected"])]


def wait_for_tasks(cluster: Cluster, service: str, until: Callable[[pd.DataFrame], bool],
                   timeout: float = 20, what: str = "the tasks to settle") -> pd.DataFrame:
    """Poll the service's tasks until `until(table)` holds; return that table.

    Raises SwarmlabError after `timeout` seconds, with the last table seen.
    """
    deadline = cluster.clock.now() + timeout
    pauses = poll_pauses()
    while True:
        table = tasks(cluster, service)
        if until(table):
            return table
        if cluster.clock.now() > deadline:
            raise SwarmlabError(
                f"waited {timeout:.0f} s for {what} of service {service!r}; last task list:\n"
                f"{table.drop(columns=['id', 'name']).to_string(index=False)}\n"
                f"  hint: `swarmlab doctor` looks for the usual causes")
        cluster.clock.sleep(next(pauses))


def wait_for_running(cluster: Cluster, service: str = SERVICE, replicas: int = 2,
                     timeout: float = 20) -> pd.DataFrame:
    """Wait until `replicas` tasks run."""
    return wait_for_tasks(cluster, service, lambda t: len(running(t)) >= replicas, timeout,
                          f"{replicas} running replicas")


def wait_for_failure(cluster: Cluster, service: str = SERVICE, node: str | None = None,
                     timeout: float = 20) -> pd.DataFrame:
    """Wait until a task failed (on `node`, when given); return the task list."""
    def has_failed(table):
        bad = failed(table)
        return not (bad if node is None else bad[bad["node"] == node]).empty
    return wait_for_tasks(cluster, service, has_failed, timeout,
                          f"a failed task{' on ' + node if node else ''}")


def wait_for_placement(cluster: Cluster, expected: dict[str, int], service: str = SERVICE,
                       timeout: float = 30) -> pd.DataFrame:
    """Wait until the running replicas sit exactly as `expected`, e.g. {"node1": 2}."""
    return wait_for_tasks(cluster, service, lambda t: placement(t) == expected, timeout,
                          f"running replicas placed as {expected}")


def placement_timeline(cluster: Cluster, service: str = SERVICE, duration: float = 8,
                       interval: float = 0.5,
                       until: Callable[[pd.DataFrame], bool] | None = None) -> pd.DataFrame:
    """Sample where the scheduler puts the service's tasks, over time.

    One row per task per sample: t (seconds since the first sample), slot, task
    id, node, desired state, state, error. Stops after `duration` seconds, or
    earlier when `until(tasks)` holds. Keep `duration` short in tests; about 30 s
    shows the whole article story (failures on node2, then the replica on node1).
    """
    started = cluster.clock.now()
    samples = []
    while True:
        t = cluster.clock.now() - started
        table = tasks(cluster, service)
        samples.append(table.assign(t=round(t, 2)))
        if (until and until(table)) or t >= duration:
            break
        cluster.clock.sleep(max(0.0, interval - (cluster.clock.now() - started - t)))
    timeline = pd.concat(samples, ignore_index=True)
    return timeline[["t", "slot", "id", "node", "desired state", "state", "error"]]


def task_history(timeline: pd.DataFrame) -> pd.DataFrame:
    """One row per task the timeline saw: slot, node, first/last seen, last state, error.

    Swarm keeps only the last 5 tasks per slot (task-history-limit), so sampling
    over time sees failures that `docker service ps` has already forgotten.
    """
    # A pending task has no node yet: take the last node it was seen on.
    grouped = timeline.assign(node=timeline["node"].replace("", pd.NA)).groupby("id", sort=False)
    history = grouped.agg(slot=("slot", "first"), node=("node", "first"), first_seen=("t", "min"),
                          last_seen=("t", "max"), state=("state", "last"), error=("error", "last"))
    return history.reset_index().sort_values(["first_seen", "slot"]).reset_index(drop=True)[
        ["slot", "node", "first_seen", "last_seen", "state", "error", "id"]]


def placement(table: pd.DataFrame) -> dict[str, int]:
    """Running replicas per node, e.g. {'node1': 2}."""
    return running(table)["node"].value_counts().to_dict()
