"""Break-fix drills: a fault the student is not told, found and repaired with their own commands.

    >>> drill.start(cluster, seed=42)          # breaks the swarm; hands back the seed, never the fault
    >>> outcomes = drill.check(cluster)        # behaviour only: placement, overlays, the join port, Docker's rules
    >>> drill.assert_repaired(cluster, outcomes)   # what a graded cell asks; refuses in a replay
    >>> drill.reveal(cluster)                  # what it was, and the doctor's evidence
    >>> drill.undo(cluster)                    # take out what is left of the fault; the drill is over

The seed and a key pick the fault and the node (`choose`): HMAC-SHA256(key, seed) seeds the
draw. The key is a class key, the file SWARMLAB_DRILL_KEY names (a teacher makes one: one seed
and one key give the whole class one drill, and the seed alone names nothing), or else the
practice key, which is public: anyone who reads swarmlab can tell a practice seed's fault.
Only faults that `check` sees are picked, each on the node where it bites
(`faults.Fault.drill_target`): a fault that leaves check passing would be "repaired" before
anyone touched it. `check` never looks at what was typed or at the fault's own rules: it
deploys a probe service and sends traffic, looks at the article's service `test` on
`uber-net`, and asks the doctor whether Docker's iptables chains and rules are intact, so any
repair that works passes and one that breaks Docker's firewall does not.

What a drill keeps secret, and from whom (the README's Drills section says the same): start
prints the seed only, the object it returns holds no fault, `check` judges behaviour. The
drill (seed, fault, node) is kept on the host, in the lab's state folder, readable by its
owner only (root for the namespace lab, the user who brought a docker-driver lab up); a
node's /run is its own and does not show it. That owner can read it, and so can a shell in a
namespace-lab node, which is root on this machine with a copy of its mounts (unmounting its own
/run shows the host's). For a cluster that is no lab (an inventory, a recording), this process
keeps it.
`reveal` is the answer; `swarmlab doctor` is the investigation the lesson teaches.

A replay runs nothing: it answers only the commands its recorded run typed. There a drill
cannot be graded: `assert_repaired` raises NotGradableError, and a command the recording does not
hold says so in one line (NotRunInReplayError), not with a traceback.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import shlex
import stat
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from . import faults, story, swarm
from .cluster import Cluster, Node
from .doctor import doctor
from .doctor.daemon import check_docker_chains
from .doctor.facts import Facts
from .doctor.gathering import node_facts
from .errors import (DrillRunningError, NotGradableError, NotRepairedError, NotRunInReplayError, RecordingError,
                     SwarmlabError)
from .lab import state_root
from .transport import TransportWrapper, command_text

PROBE_SERVICE = "drill-check"
PROBE_NETWORK = "drill-check-net"
# ICMP payload for the large ping: a 1428-byte IP packet, under the overlay's 1450 MTU,
# that needs the underlay to carry 1478 bytes with the VXLAN header (a full 1500 path).
LARGE_PAYLOAD = 1400
SWARM_PORT = 2377  # what a joining node dials first
PLACE_TIMEOUT = 30.0
PING_TRIES = 2  # a pair's pings on a just-started task, 2 s apart, before the pair counts as lost
KNOWN_TIMEOUT = 20.0  # how long the nodes may take to learn where a new task is (gossip)
KEY_VARIABLE = "SWARMLAB_DRILL_KEY"
PRACTICE_KEY = b"swarmlab practice drills: this key is public"
# What the doctor's chain check needs of a node: its daemon's answer, its daemon.json, its rules
# and its networks (the bridges whose rules must be there).
RULE_SECTIONS = ["info", "daemon_json", "iptables", "networks"]
RULES_CHECK = "Docker's iptables chains and rules are in place on every node"
NOT_GRADED_IN_REPLAY = (
    "this drill is a replay of a recorded run: nothing you typed ran on a swarm, so your repair cannot be "
    "judged here, and the recorded run's check is no judge of it. A drill is graded only on a live lab or "
    "on your own hosts (SWARMLAB_BACKEND=live or inventory); here this cell scores nothing")


@dataclass(frozen=True)
class Drill:
    """A drill's answer: the seed, the fault and the node it went to."""

    seed: int
    fault: str
    node: str


@dataclass(frozen=True)
class Started:
    """What `start` hands back: the seed and where the drill runs, never the fault (`reveal` says it)."""

    seed: int
    where: str
    key: str  # "class" or "practice"

    def __str__(self):
        return f"drill seed {self.seed} on {self.where} ({self.key} key): something is broken; the fault is not told"


def candidates() -> list[str]:
    """The faults a drill may pick, in name order: those whose check fails until they are repaired.

    A fault with no `drill_target` leaves check passing with no repair at all (its
    `not_drillable` says why), so a drill of it would teach nothing.
    """
    return sorted(name for name, spec in faults.FAULTS.items() if spec.drillable)


def class_key() -> bytes | None:
    """The class key in the file SWARMLAB_DRILL_KEY names, or None when it names none.

    The file must be readable by its owner only, as an SSH key: a key others can read is no secret.
    """
    where = os.environ.get(KEY_VARIABLE)
    if not where:
        return None
    path = Path(where).expanduser()
    try:
        mode = path.stat().st_mode
        key = path.read_bytes().strip()
    except OSError as exc:
        raise SwarmlabError(f"{KEY_VARIABLE}={where}: cannot read the class key ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SwarmlabError(f"{KEY_VARIABLE}={where}: other users can read the class key; `chmod 600 {path}`")
    if len(key) < 16:
        raise SwarmlabError(f"{KEY_VARIABLE}={where}: a class key needs 16 bytes or more; make one with "
                            f"`(umask 077; head -c 32 /dev/urandom | base64 > {path})`")
    return key


def choose(cluster: Cluster, seed: int, among=None, *, key: bytes) -> Drill:
    """The fault and the node it goes to, from the seed and the key.

    HMAC-SHA256(key, seed) seeds the draws, so a seed names a drill only together with
    its key (`class_key()`, or PRACTICE_KEY). The fault comes from `among` (names in the
    registry), by default every drillable fault (`candidates()`), in name order. A lesson
    names its candidates, so a recorded run replays whatever faults are added to the
    registry later. The node is a worker drawn by the seed, or the manager for a fault
    that bites there (`drill_target`).
    """
    names = sorted(among or candidates())
    for name in names:
        spec = faults.fault_named(name)
        if not spec.drillable:
            raise SwarmlabError(f"{name} cannot be a drill: {spec.not_drillable}")
    rng = random.Random(hmac.new(key, str(int(seed)).encode(), hashlib.sha256).digest())
    fault = rng.choice(names)
    workers = sorted(n.name for n in cluster if n is not cluster.manager)
    if not workers:
        raise SwarmlabError("a drill needs a manager and at least one worker; bring up a lab with two nodes or more")
    worker = rng.choice(workers)  # drawn for every fault, so the draws stay the same whatever the target
    node = cluster.manager.name if faults.fault_named(fault).drill_target == "manager" else worker
    return Drill(int(seed), fault, node)


def start(cluster: Cluster, seed: int, among=None, *, key: bytes | None = None) -> Started:
    """Form the swarm if needed, inject the drill's fault into its node, and deploy the article's
    service on uber-net, one replica per node. Refuses while another drill runs on the swarm.

    The key: `key`, else the class key (SWARMLAB_DRILL_KEY), else the practice key. A replay
    replays the drill its run recorded, with the practice key.
    """
    running = _recorded(cluster)
    if running is not None:
        raise DrillRunningError(f"{cluster.source or 'this swarm'} already runs drill seed {running['seed']} "
                                f"(started {running['started']}), and a second would stack its fault on it: "
                                f"{_how_to(cluster, 'reveal')} says what it is, {_how_to(cluster, 'undo')} takes it "
                                "out; then start again")
    replays = _replays(cluster)
    if key is None:
        key = PRACTICE_KEY if replays else (class_key() or PRACTICE_KEY)
    kind = "practice" if key == PRACTICE_KEY else "class"
    if replays:
        _say_plainly_what_a_replay_lacks(cluster)
    if not swarm.in_swarm(cluster.manager):
        story.form_swarm(cluster)
        swarm.wait_for_join(cluster)
    d = choose(cluster, seed, among, key=key)
    # Kept before the fault goes in: a fault injected halfway is still this drill's, for undo.
    _keep(cluster, {**asdict(d), "key": kind, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "revealed": False})
    node = cluster.node(d.node)
    if faults.fault_named(d.fault).acts_at_join and swarm.in_swarm(node):
        # Out first, then the fault, then the join: a fault that fills the address pools
        # must find docker_gwbridge's pool already given back, or the join takes it again.
        story.leave(cluster, node)
        faults.inject(cluster, d.fault, d.node)
        before = swarm.join_failures(node)  # an earlier drill's failed join is in the log too
        story.swarm_join(cluster, node).check()
        joined = swarm.wait_for_join(cluster, nodes=[node], failures_before={node.name: before})
        if joined[node.name] != "failed":  # never hand a student a drill with nothing broken
            faults.undo(cluster, d.fault, d.node)
            _forget(cluster)
            raise SwarmlabError(f"the drill did not take: {node.name} joined with a working docker_gwbridge; "
                                f"start it again (seed {d.seed})")
    else:
        faults.inject(cluster, d.fault, d.node)
    if not cluster.manager.run(f"docker network inspect {story.NETWORK}").ok:
        story.create_overlay(cluster).check()
    if not cluster.manager.run(f"docker service inspect {story.SERVICE}").ok:
        story.service_create(cluster, replicas=len(cluster.nodes)).check()
    return Started(d.seed, cluster.source, kind)


# --- check: behaviour only ------------------------------------------------------------
@dataclass
class Outcome:
    check: str
    passed: bool
    evidence: str


def check(cluster: Cluster, timeout: float = PLACE_TIMEOUT) -> pd.DataFrame:
    """Does the swarm work? A global probe service on a fresh overlay and traffic between its
    tasks; the article's service `test` with a replica on every node, talking over uber-net;
    Docker's iptables chains and rules intact on every node (the doctor's check).

    Rows: check, passed, evidence (the commands run and what they printed). The probe
    service and network are removed at the end, whatever happened.
    """
    outcomes: list[Outcome] = []
    manager = cluster.manager
    _remove_probe(cluster)
    try:
        manager.run(f"docker network create -d overlay {PROBE_NETWORK}").check()
        # `sleep` as PID 1 ignores SIGTERM: without a short grace period, `service rm` waits 10 s per task.
        # A task that fails is retried after 1 s, not Docker's 5 s, so a broken node is seen sooner.
        manager.run(f"docker service create --detach --mode global --stop-grace-period 1s --restart-delay 1s "
                    f"--name {PROBE_SERVICE} --network {PROBE_NETWORK} {story.IMAGE} sleep infinity").check()
        running = _wait_for_placement(cluster, timeout, PROBE_SERVICE)
        missing = [n.name for n in cluster if n.name not in running]
        outcomes.append(Outcome("a task runs on every node", not missing,
                                _placement_evidence(cluster, running, missing, PROBE_SERVICE)))
        addresses = {name: _overlay_address(cluster.node(name), cid, PROBE_NETWORK) for name, cid in running.items()}
        _wait_until_known(cluster, addresses, PROBE_NETWORK)
        outcomes.append(_pings(cluster, running, addresses, "ping over the overlay", None, PING_TRIES))
        # Once the small pings got through, the overlay is up: one try tells whether 1478 bytes pass.
        outcomes.append(_pings(cluster, running, addresses, f"a {LARGE_PAYLOAD + 28}-byte packet over the overlay",
                               LARGE_PAYLOAD))
        outcomes.append(_join_port(cluster))
    finally:
        _remove_probe(cluster)
    outcomes += _article_service(cluster, timeout)
    outcomes.append(_docker_rules(cluster))
    return pd.DataFrame([asdict(o) for o in outcomes], columns=["check", "passed", "evidence"])


def passed(outcomes: pd.DataFrame) -> bool:
    return bool(len(outcomes)) and bool(outcomes["passed"].all())


def gradable(cluster: Cluster) -> bool:
    """Whether a repair on this cluster can be judged: not in a replay, where nothing runs."""
    return not _replays(cluster)


def assert_repaired(cluster: Cluster, outcomes: pd.DataFrame) -> None:
    """What a graded cell asks: raises NotGradableError in a replay, NotRepairedError while a check fails."""
    if not gradable(cluster):
        raise NotGradableError(NOT_GRADED_IN_REPLAY)
    if not passed(outcomes):
        failing = outcomes[~outcomes["passed"]]
        raise NotRepairedError("not repaired yet: " + "; ".join(failing["check"]) + "\n\n" +
                               "\n\n".join(f"{row.check}:\n{row.evidence}" for row in failing.itertuples()))


def _remove_probe(cluster: Cluster) -> None:
    manager = cluster.manager
    manager.run(f"docker service rm {PROBE_SERVICE} 2>/dev/null; true")
    # Until every task is gone the network is in use: each node removes the probe's containers at
    # once, instead of waiting for Docker to stop them (about 5 s more per check).
    cluster.run_all(swarm.remove_task_containers(PROBE_SERVICE))
    deadline = cluster.clock.now() + 20
    while manager.run(f"docker network inspect {PROBE_NETWORK} >/dev/null 2>&1 || echo gone").stdout.strip() != "gone":
        manager.run(f"docker network rm {PROBE_NETWORK}")
        if cluster.clock.now() > deadline:
            raise SwarmlabError(f"the probe network {PROBE_NETWORK} is still there after 20 s; "
                                f"`docker network rm {PROBE_NETWORK}` on {manager.name} says why")
        cluster.clock.sleep(0.5)


def _wait_for_placement(cluster: Cluster, timeout: float, service: str, settled_is_enough: bool = False
                        ) -> dict[str, str]:
    """node -> a running container id of `service`, once every node runs one (or the time is up).

    settled_is_enough: for a service that has a history (the article's `test`), stop as soon as
    every task it wants is running, wherever it runs (a replica the scheduler put elsewhere stays
    there: waiting changes nothing); its old failures say nothing about now. Otherwise (the fresh
    probe), stop once a node's task failed twice (Docker retries it in vain).
    """
    deadline = cluster.clock.now() + timeout
    while True:
        running = {}
        for node in cluster:
            cid = node.run(f"docker ps -q --filter label=com.docker.swarm.service.name={service} "
                           "--filter status=running").stdout.split()
            if cid:
                running[node.name] = cid[0]
        if len(running) == len(cluster.nodes) or cluster.clock.now() > deadline:
            return running
        table = swarm.tasks(cluster, service)
        # A task an update starts is wanted Ready first, then Running: settled is every wanted one running.
        wanted = table[~table["desired state"].isin(["Shutdown", "Remove"])]
        if settled_is_enough and len(wanted) and ((wanted["state"] == "Running")
                                                  & (wanted["desired state"] == "Running")).all():
            return running
        if not settled_is_enough and _keeps_failing(table, set(cluster.nodes) - set(running)):
            return running
        cluster.clock.sleep(1.0)


def _keeps_failing(tasks: pd.DataFrame, missing: set[str], failures: int = 2) -> bool:
    """A node whose task has failed `failures` times will not run it (Docker retries in vain)."""
    failed = swarm.failed(tasks)
    return any((failed["node"] == name).sum() >= failures for name in missing)


def _placement_evidence(cluster: Cluster, running: dict[str, str], missing: list[str], service: str,
                        no_task: str = "was given no task of the probe: is it Ready and Active in `docker node ls`?",
                        then: str = "") -> str:
    lines = [f"{n}: running {cid}" for n, cid in running.items()]
    if missing:
        ps = cluster.manager.run(f"docker service ps --no-trunc {service}")
        lines += [f"no running task on {', '.join(missing)}", ps.terminal().rstrip()]
        for name, ids in _recent_tasks(cluster, missing, service).items():
            lines.append(_task_log(cluster.node(name), ids) if ids else f"{name} {no_task}")
        lines += [then] if then else []
    return "\n".join(lines)


def _recent_tasks(cluster: Cluster, nodes: list[str], service: str, count: int = 3) -> dict[str, list[str]]:
    """node -> the ids of the service's newest tasks there: the one now tried and those that failed before it."""
    table = swarm.tasks(cluster, service)
    return {name: list(table[table["node"] == name]["id"][:count]) for name in nodes}


def _task_log(node: Node, task_ids: list[str]) -> str:
    """What the node's daemon logged about these tasks: why they failed, or where one waits."""
    patterns = " ".join(f"-e {shlex.quote(f'task.id={t}')}" for t in task_ids)
    return node.run(f"{swarm.DOCKERD_LOG} | grep -F {patterns} | tail -n 8",
                    timeout=30).terminal().rstrip()


def _overlay_address(node: Node, container: str, network: str) -> str:
    template = "{{(index .NetworkSettings.Networks \"" + network + "\").IPAddress}}"
    return node.run(f"docker inspect --format {shlex.quote(template)} {container}").stdout.strip()


def _wait_until_known(cluster: Cluster, addresses: dict[str, str], network: str, timeout: float = KNOWN_TIMEOUT
                      ) -> None:
    """Wait until every node with a task on `network` has learned the other tasks' addresses there
    (its service table, `docker network inspect -v`, which gossip fills). Pings to a task that has
    just started can be lost on a working overlay while the nodes learn where it is (seen: a fresh
    overlay's small pings lost for about 10 s after a node rejoined, on a busy machine, its large
    ones answered right after). A blocked VXLAN port stops no gossip: a broken overlay waits for nothing."""
    template = shlex.quote("{{range .Services}}{{range .Tasks}}{{.EndpointIP}} {{end}}{{end}}")
    wanted = {address for address in addresses.values() if address}
    deadline = cluster.clock.now() + timeout
    while len(wanted) > 1:
        unknown = [name for name in addresses if wanted - set(cluster.node(name).run(
            f"docker network inspect -v {network} --format {template}").stdout.split())]
        if not unknown or cluster.clock.now() > deadline:
            return
        cluster.clock.sleep(1.0)


def _pings(cluster: Cluster, running: dict[str, str], addresses: dict[str, str], label: str,
           size: int | None, tries: int = 1) -> Outcome:
    if len(running) < 2:
        return Outcome(label, False, "fewer than two nodes run a task: nothing to ping between")
    # Every pair at once; -A sends the second ping as soon as the first is answered.
    pairs = [(source, cid, target, address) for source, cid in running.items()
             for target, address in addresses.items() if target != source]

    def ping(pair):
        source, cid, target, address = pair
        command = f"docker exec {cid} ping -A -c 2 -W 2 {'-s %d ' % size if size else ''}{address}"
        # A task that has just started on an overlay (a fresh one, or after a repair) can lose its
        # first pings while the nodes learn where it is, longer on a busy machine (_wait_until_known
        # waits for the service table; the forwarding entries may come a little later): a pair
        # fails only when every try is lost.
        for attempt in range(1, tries + 1):
            result = cluster.node(source).run(command, timeout=20)
            if result.ok or attempt == tries:
                break
            cluster.clock.sleep(2.0)
        summary = [l for l in result.stdout.splitlines() if "packets transmitted" in l] or \
            [(result.stderr.strip() or "no answer")]
        tried = f" ({attempt} tries)" if attempt > 1 else ""
        return result.ok, f"[{source}]$ {command}\n  {target}: {summary[0]}{tried}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ping, pairs))
    return Outcome(label, all(ok for ok, _ in answers), "\n".join(line for _, line in answers))


def _join_port(cluster: Cluster) -> Outcome:
    """A node that joins first dials the manager's 2377: every other node must reach it."""
    address = cluster.manager.address
    lines, ok = [], True
    for node in cluster:
        if node is cluster.manager:
            continue
        command = f"timeout 5 bash -c {shlex.quote(f'exec 3<>/dev/tcp/{address}/{SWARM_PORT}')} && echo open"
        result = node.run(command, timeout=15)
        ok = ok and "open" in result.stdout
        lines.append(f"[{node.name}]$ {command}\n  {result.stdout.strip() or result.stderr.strip() or 'closed'}")
    return Outcome(f"the manager's port {SWARM_PORT} answers (a new node can join)", ok, "\n".join(lines))


def _article_service(cluster: Cluster, timeout: float) -> list[Outcome]:
    """The article's service `test`: a replica on every node, and its replicas talking over uber-net."""
    placed = f"the service {story.SERVICE} runs a replica on every node"
    talking = f"its replicas ping each other over {story.NETWORK}"
    inspect = cluster.manager.run(f"docker service inspect {story.SERVICE}")
    if not inspect.ok:
        gone = (f"{inspect.terminal().rstrip()}\nno service {story.SERVICE}: the drill deployed it on "
                f"{story.NETWORK}, one replica per node; a repair may recreate it, not remove it")
        return [Outcome(placed, False, gone), Outcome(talking, False, gone)]
    running = _wait_for_placement(cluster, timeout, story.SERVICE, settled_is_enough=True)
    missing = [n.name for n in cluster if n.name not in running]
    then = (f"the scheduler does not move a running replica by itself: once every node works, "
            f"`docker service update --force {story.SERVICE}` on the manager spreads them again")
    addresses = {name: _overlay_address(cluster.node(name), cid, story.NETWORK) for name, cid in running.items()}
    _wait_until_known(cluster, addresses, story.NETWORK)
    evidence = _placement_evidence(cluster, running, missing, story.SERVICE,
                                   f"was given no replica of {story.SERVICE}", then)
    return [Outcome(placed, not missing, evidence), _pings(cluster, running, addresses, talking, None, PING_TRIES)]


def _docker_rules(cluster: Cluster) -> Outcome:
    """The doctor's check of Docker's iptables chains and rules, on every node (a flush breaks them)."""
    def ask(node: Node):
        try:
            return node_facts(node, RULE_SECTIONS), ""
        except SwarmlabError as exc:
            return None, f"{node.name}: could not read its rules: {exc}"

    with ThreadPoolExecutor(max_workers=min(8, len(cluster.nodes))) as pool:
        asked = dict(zip(cluster.nodes, pool.map(ask, cluster)))
    unread = [why for _, why in asked.values() if why]
    facts = Facts({name: f for name, (f, _) in asked.items() if f is not None}, cluster.manager.name)
    findings = check_docker_chains(facts)
    bad = [f for f in findings if f.severity != "info"]
    lines = unread + [f"{f.node}: {f.cause}\n{f.evidence}" for f in bad] or \
        [f"{f.node}: {f.cause}" for f in findings]
    return Outcome(RULES_CHECK, not bad and not unread, "\n".join(lines))


# --- reveal and undo ---------------------------------------------------------------------
def reveal(cluster: Cluster) -> str:
    """What the drill broke, and what the doctor finds on the swarm now (its evidence)."""
    d = _answer(cluster)
    _keep(cluster, {**_recorded(cluster), "revealed": True})
    spec = faults.fault_named(d.fault)
    findings = doctor(cluster)
    serious = findings[findings["severity"].isin(["error", "warning"])]
    lines = [f"drill seed {d.seed}: {d.fault} on {d.node}", f"  {spec.description}", "",
             "what the doctor finds now:" if len(serious) else "the doctor finds nothing wrong now (repaired?)"]
    for row in serious.itertuples():
        lines += [f"- {row.severity} on {row.node}: {row.check}: {row.cause}",
                  *("    " + l for l in str(row.evidence).splitlines())]
    return "\n".join(lines)


def revealed(cluster: Cluster) -> bool:
    """Whether the running drill was revealed (a graded answer given after that counts for nothing)."""
    record = _recorded(cluster)
    return bool(record and record.get("revealed"))


def undo(cluster: Cluster) -> faults.FaultReport:
    """Take out what is left of the drill's fault (nothing, once repaired), and end the drill."""
    d = _answer(cluster)
    report = faults.undo(cluster, d.fault, d.node)
    _forget(cluster)
    return report


# --- where a drill is kept: the lab's state folder on the host, owner only --------------
_KEPT: "weakref.WeakKeyDictionary[Cluster, dict]" = weakref.WeakKeyDictionary()


def secret_path(lab_name: str) -> Path:
    return state_root() / lab_name / "drill.json"


def _path(cluster: Cluster) -> Path | None:
    return secret_path(cluster.lab.name) if cluster.lab is not None else None


def _keep(cluster: Cluster, record: dict) -> None:
    path = _path(cluster)
    if path is None:
        _KEPT[cluster] = record
        return
    if not path.parent.is_dir():
        raise SwarmlabError(f"lab {cluster.lab.name!r} is not up here (no {path.parent}); "
                            f"`swarmlab lab up --name {cluster.lab.name}`")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.chmod(path, 0o600)


def _recorded(cluster: Cluster) -> dict | None:
    path = _path(cluster)
    if path is None:
        return _KEPT.get(cluster)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _answer(cluster: Cluster) -> Drill:
    record = _recorded(cluster)
    if record is None:
        raise SwarmlabError(f"no drill started on {cluster.source or 'this swarm'}; {_how_to(cluster, 'start')}")
    return Drill(record["seed"], record["fault"], record["node"])


def _forget(cluster: Cluster) -> None:
    path = _path(cluster)
    if path is None:
        _KEPT.pop(cluster, None)
    elif path.exists():
        path.unlink()


def _how_to(cluster: Cluster, *actions: str) -> str:
    """The commands that do `actions` to this cluster's drill: the CLI's for a lab, else drill's own."""
    if cluster.lab is None:
        return ", ".join(f"`drill.{action}(cluster)`" for action in actions)
    return ", ".join(f"`swarmlab drill {action} --lab {cluster.lab.name}`" for action in actions)


# --- a replay --------------------------------------------------------------------------
def _replays(cluster: Cluster) -> bool:
    return any(node.transport.replays for node in cluster)


class _SaysWhatReplayLacks(TransportWrapper):
    """A replayed node that answers a command its recording lacks with NotRunInReplayError, in one line."""

    def run(self, command, *, input=None, timeout=120):
        try:
            return self.inner.run(command, input=input, timeout=timeout)
        except RecordingError as exc:
            raise NotRunInReplayError(
                f"`{command_text(command)}` did not run on {self.node_name}: this drill is a replay, which answers "
                f"only the commands its recorded run typed, as often as it typed them. A repair of your own runs, "
                f"and is graded, on a live lab or your own hosts only. ({exc})") from None

    def __getattr__(self, name):  # what else the replay offers (recorded(), as_of_now() for widgets)
        return getattr(self.inner, name)


def _say_plainly_what_a_replay_lacks(cluster: Cluster) -> None:
    for node in cluster:
        if not isinstance(node.transport, _SaysWhatReplayLacks):
            node.transport = _SaysWhatReplayLacks(node.transport)
