"""Swarm operations every part of swarmlab shares: membership, node names, the daemon, joins, networks, tasks.

- membership: `state(node)`, `in_swarm(node)`: is this node in a swarm;
- node names: `node_names(cluster)`, Docker's hostnames to the cluster's names;
- the daemon: `start_docker(node)`, `restart_docker(node)`, the lab's dockerd or systemd's;
- joins: `join` (through the node's Docker API: the token on no command line), `wait_for_join`,
  `join_failures` (what a join sets up, or the log says it could not), `gossip_port_holder`
  (a node that cannot join because its gossip port is taken);
- networks: `wait_for_network`, `remove_networks`;
- tasks: `tasks(cluster, service)` and the waits on it (`wait_for_running`, `_failure`,
  `_placement`), `placement_timeline`, `task_history`; the task containers on a node.

The article's steps that use them (init, join, the overlay, the service) are in
swarmlab.story, which also re-exports these names for the lessons.

Waiting is done by polling with a deadline on the cluster's clock, never by fixed
sleeps: a lab converges in about a second, real hosts take longer, and a broken node
never does. A replayed cluster's clock is the recorded session's, so waiting costs
nothing there. Every command here is sent exactly as the recordings hold it: a replay
finds a run by its command text.
"""
from __future__ import annotations

import functools
import json
import re
import shlex
import time
from typing import Callable

import pandas as pd

from . import messages
from .cluster import Cluster, Node
from .errors import LabError, SwarmlabError
from .lab import dockerapi
from .messages import INGRESS_FAILED
from .parse import tasks_from_json
from .result import Result

SERVICE = "test"  # the article's service: the default of every function here that takes a service
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


def as_node(cluster: Cluster, node: Node | str) -> Node:
    """The cluster's node, given the Node or its name."""
    return node if isinstance(node, Node) else cluster.node(node)


# --- membership ----------------------------------------------------------------------------
STATE_COMMAND = "docker info --format '{{.Swarm.LocalNodeState}}'"


def state(node: Node) -> str:
    """The node's swarm state as dockerd says it: inactive, pending, active, error or locked;
    "" when dockerd did not answer."""
    answer = node.run(STATE_COMMAND)
    return answer.stdout.strip() if answer.ok else ""


def in_swarm(node: Node) -> bool:
    """Is the node an active member of a swarm."""
    return state(node) == "active"


# --- node names ----------------------------------------------------------------------------
HOSTNAME = "docker info --format '{{.Name}}'"


def node_names(cluster: Cluster) -> dict[str, str]:
    """{Docker's hostname of a node: the node's name in this cluster}, asked once per cluster.

    A lab or a recording names nodes by their hostnames; an inventory may not.
    """
    known = cluster.names_by_hostname
    if known is None:
        answers = cluster.run_all(HOSTNAME)
        known = {result.stdout.strip(): name for name, result in answers.items() if result.ok and result.stdout.strip()}
        if len(known) == len(cluster):  # keep it only when every node answered
            cluster.names_by_hostname = known
    return known


# --- the daemon ----------------------------------------------------------------------------
DOCKERD_BACK = "docker info --format 'dockerd {{.ServerVersion}} is back; swarm {{.Swarm.LocalNodeState}}'"


def start_docker(node: Node, *, restart: bool = False) -> Result:
    """Start the node's Docker daemon (restart=True: stop it first), and say what it answers once up.

    A lab node's own dockerd is started by its driver, which waits until it answers; on a
    real host systemd does it (`systemctl start|restart docker` returns once it is up).
    """
    verb = "restart" if restart else "start"
    lab_node = node.transport.lab_node
    if lab_node is None:
        return node.run(f"systemctl {verb} docker").check(hint=f"{verb} Docker on {node.name} by hand")
    if restart:
        lab_node.restart_docker()
    else:
        lab_node.start_docker()
        lab_node.wait_docker()
    return node.run(DOCKERD_BACK)


def restart_docker(node: Node) -> Result:
    """Restart the node's Docker daemon: the lab's own dockerd, or systemd's on a real host."""
    return start_docker(node, restart=True)


def leave(node: Node) -> list[Result]:
    """`docker swarm leave --force` on `node`; when dockerd cannot finish it, the node's swarm state
    removed with Docker stopped, which is what a leave does to the node itself.

    Seen on Docker 28.5: a node that advertises an address nobody reaches, and once in CI a node
    under load, answered "Error response from daemon: context deadline exceeded" (after 15 s in
    that log) and stayed in the swarm, also after a restart. A node in no swarm has nothing to
    leave: that is what was wanted. The manager's entry for the node is the caller's to remove."""
    left = node.run("docker swarm leave --force")
    if left.ok or "not part of a swarm" in left.stderr:
        return [left]
    return [left, node.run("systemctl stop docker && rm -rf /var/lib/docker/swarm").check(
                hint=f"stop Docker on {node.name} and remove /var/lib/docker/swarm by hand"),
            start_docker(node)]


# --- joins ---------------------------------------------------------------------------------
# What a node's dockerd logs when the join could not create docker_gwbridge (and so the
# ingress network's sandbox) is messages.INGRESS_FAILED; the doctor reads it too. The journal
# on systemd hosts, a file elsewhere (lab nodes log to /var/log/dockerd.log).
DOCKERD_LOG = ("{ journalctl -u docker --no-pager -o cat -n 5000 2>/dev/null; "
               "cat /var/log/dockerd.log /var/log/docker.log 2>/dev/null; }")


def join_command(manager: str, token: str, advertise_addr: str | None = None) -> str:
    """The `docker swarm join` that `join` does: how it is shown, recorded and replayed."""
    flags = f"--advertise-addr {advertise_addr} " if advertise_addr else ""
    return f"docker swarm join {flags}--token {token} {manager}:2377"


def join(node: Node, manager: str, token: str, advertise_addr: str | None = None) -> Result:
    """`node` joins the swarm of the manager at address `manager`, as `docker swarm join` does,
    through the node's own Docker API: the token travels in a request body, never on a command
    line, which every user of the machine (and of a real host) can read in `ps`. The Result
    reads as the command's would (its output; on failure exit code 1 and dockerd's error)."""
    command = join_command(manager, token, advertise_addr)
    return node.transport.answered(command, lambda: _join_by_api(node, manager, token, advertise_addr, command))


def _join_by_api(node: Node, manager: str, token: str, advertise_addr: str | None, command: str) -> Result:
    started = time.monotonic()
    api = _docker_api(node)
    # One call, as `docker swarm join` makes it: a join dockerd cannot finish within its 20 s answers
    # "Timeout was reached before node joined ... will continue in the background" and the node
    # stays pending (the manager-port-blocked fault shows exactly that), so nothing is retried here.
    body = {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": advertise_addr or "", "RemoteAddrs": [f"{manager}:2377"],
            "JoinToken": token}
    try:
        api("POST", "/swarm/join", body, timeout=60)
    except LabError as exc:
        said = str(exc)
        message = said.split("): ", 1)[1] if " failed (" in said and "): " in said else said
        return Result(node.name, command, "", f"Error response from daemon: {message}\n", 1,
                      time.monotonic() - started)  # dockerd's own words, as the CLI prints them
    # What the docker CLI prints after the same call, from the same answer.
    manages = (api("GET", "/info", timeout=10).get("Swarm") or {}).get("ControlAvailable")
    return Result(node.name, command, f"This node joined a swarm as a {'manager' if manages else 'worker'}.\n",
                  "", 0, time.monotonic() - started)


def _docker_api(node: Node):
    """docker_api(method, path, body, timeout) on the node's daemon: a lab node's own way in,
    else the stream its transport opens (a real host: dial-stdio over SSH)."""
    if node.transport.lab_node is not None:
        return node.transport.lab_node.docker_api
    return functools.partial(dockerapi.call, node.transport.docker_connector(), node.name)


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
    targets = [as_node(cluster, n) for n in nodes] if nodes else list(cluster)
    commands = {n.name: join_state_command((failures_before or {}).get(n.name, 0)) for n in targets}
    deadline = cluster.clock.now() + timeout
    pauses = poll_pauses()
    states: dict[str, str] = {}
    while True:
        for node in targets:
            if states.get(node.name) in (None, "waiting"):
                states[node.name] = node.run(commands[node.name]).stdout.strip() or "waiting"
        waiting = [name for name, seen in states.items() if seen == "waiting"]
        if not waiting:
            return states
        if cluster.clock.now() > deadline:
            said = "; ".join(f"{name}'s dockerd logged: {line}{PORT_TAKEN_HINT if 'address already in use' in line else ''}"
                             for name in waiting if (line := last_agent_error(cluster.node(name))))
            raise SwarmlabError(f"{', '.join(waiting)} did not finish joining within {timeout:.0f} s: no ingress "
                                f"sandbox on docker_gwbridge, and no new '{INGRESS_FAILED}' in the dockerd log"
                                f"{'; ' + said if said else ''}; `swarmlab doctor` says more")
        cluster.clock.sleep(next(pauses))


# What a node's dockerd logs when its network agent, which sets up the ingress sandbox, did
# not start or reach the others. Docker sets up the ingress network only once the agent is up:
# after "error in agentInit" no join on that daemon gets its ingress sandbox until it restarts.
AGENT_ERRORS = ("error in agentInit", "Error in joining gossip cluster", "Failed to delete ingress network",
                "Failed getting ingress network")
AGENT_ERRORS_COMMAND = (f"{DOCKERD_LOG} | grep -iF {' '.join('-e ' + shlex.quote(e) for e in AGENT_ERRORS)} "
                        "| tail -n 1")


PORT_TAKEN_HINT = (" (a port the swarm needs was taken when the node joined; until its Docker restarts, "
                   "no join there gets an ingress sandbox)")


def last_agent_error(node: Node) -> str:
    """The last line the node's dockerd logged about its network agent or ingress network failing
    (AGENT_ERRORS), cut to its message; '' if none."""
    line = node.run(AGENT_ERRORS_COMMAND).stdout.strip()
    message = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
    return (message.group(1).replace('\\"', '"') if message else line)[:300]


# The swarm's gossip port: a node's network agent listens there once it is in a swarm, and
# lets it go when the node leaves.
GOSSIP_PORT = 7946
GOSSIP_LISTENER = f"ss -Hltnp 'sport = :{GOSSIP_PORT}' 2>/dev/null"


def gossip_port_holder(node: Node) -> str:
    """Who listens on the gossip port (7946/tcp) of `node`, as `ss` names it (e.g.
    'users:(("dockerd",pid=812,fd=31))'); '' when nobody does, or the host has no `ss`.

    On a node in no swarm nobody should. Where somebody does, a join cannot start the node's
    network agent ("error in agentInit ... bind: address already in use") and that daemon gets
    no ingress sandbox until it restarts (AGENT_ERRORS)."""
    line = node.run(GOSSIP_LISTENER).stdout.strip()
    users = re.search(r"users:\(\(.*\)\)", line)
    return users.group(0) if users else line


# --- networks ------------------------------------------------------------------------------
def wait_for_network(cluster: Cluster, name: str = "docker_gwbridge", nodes=None,
                     timeout: float = 10, present: bool = True) -> None:
    """Wait until network `name` exists on every node (or on `nodes`); present=False: until it is gone.

    Docker creates the ingress network and docker_gwbridge a moment AFTER `swarm
    init`/`join` return (about 0.5-1 s in the lab): look before that and a healthy
    node seems to lack them. A worker lets an overlay network go once no task of
    its own uses it.
    """
    targets = [as_node(cluster, n) for n in nodes] if nodes else list(cluster)
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


def remove_networks(cluster: Cluster, node: Node | str, names: list[str], attempts: int = 60,
                    missing_ok: bool = False) -> Result:
    """`docker network rm NAMES` on the node, again while an endpoint still holds one.

    Right after `docker swarm leave` the ingress sandbox is still on docker_gwbridge for
    a moment ("has active endpoints"): removed too early, the bridge and its address pool
    stay. Tried every 0.5 s for up to 30 s: CI under load once saw it still held after 10 s.
    `missing_ok`: a network that is not there is not an error.
    """
    node = as_node(cluster, node)
    for attempt in range(attempts):
        result = node.run(["docker", "network", "rm", *names])
        if result.ok or messages.NETWORK_IN_USE not in result.stderr:
            break
        names = [n for n in names if node.run(["docker", "network", "inspect", n]).ok]
        if not names or attempt == attempts - 1:
            break
        cluster.clock.sleep(0.5)
    if result.ok or not names or (missing_ok and messages.network_missing(result.stderr)):
        return result  # the last `docker network rm` that ran; the networks are gone
    return result.check(hint=f"see `docker network ls` on {node.name}")


# --- task containers on a node ---------------------------------------------------------------
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


# --- tasks: what the scheduler did ------------------------------------------------------------
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


def running(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["state"] == "Running") & (table["desired state"] == "Running")]


def failed(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["state"].isin(["Failed", "Rejected"])]


def placement(table: pd.DataFrame) -> dict[str, int]:
    """Running replicas per node, e.g. {'node1': 2}."""
    return running(table)["node"].value_counts().to_dict()


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
