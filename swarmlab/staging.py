"""Lessons on your own hosts: what a lesson changes there, said before, undone after.

On a local lab each lesson gets a fresh lab. On the hosts of an inventory it gets
the same starting point for real: the article's failure (VPN-like routes, one cause
that gives its error) injected into the worker over
SSH, the swarm formed, uber-net, the failing service (lessons.PREPARE). Before it
changes anything, the lesson prints the plan (which host, which command) and writes
a journal of the hosts' state; when it closes, or when it fails (the lesson runner
and the next lesson read the journal), the hosts are put back:

- the faults the lesson may inject are undone (each undo removes only what carries
  swarmlab's marks: routes with proto 199, networks labelled swarmlab.fault);
- the service's task containers are removed, and hosts that were not in a swarm
  leave it (when the manager leaves, the swarm's services go first);
- the local networks swarmlab made are removed, by the id the journal recorded when
  they appeared: the docker_gwbridge a join made (or the lesson's fix), the fault
  networks labelled swarmlab.fault. A network that was there before, or that anyone
  else created meanwhile, is left alone, whatever its name.

The journal names the process that staged the hosts. While it runs, nothing else
restores them (two lessons never share the hosts); once it is gone without putting
them back (killed), `staged_note` says so to any command on that inventory, and
`swarmlab lessons restore --inventory FILE` (or the next lesson) puts them back.

A host already in a swarm before the lesson is refused: the lessons build their own. So is a
host in no swarm whose gossip port (7946/tcp) is taken, since a join there would fail; and a
restore waits until each host that left has let that port go, and says so when one has not.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from . import faults, story, swarm
from .errors import StagingError

JOURNAL_DIR = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "swarmlab"
# Each local network's full id, name and labels (the fault networks carry swarmlab.fault).
LOCAL_NETWORKS = "docker network ls --filter scope=local --no-trunc --format '{{.ID}} {{.Name}} {{.Labels}}'"
GWBRIDGE = "docker_gwbridge"
FAULT_LABEL = "swarmlab.fault"


def journal_path(inventory) -> Path:
    """Where the journal of the lesson running on `inventory` lives (one per inventory file)."""
    resolved = str(Path(inventory).expanduser().resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    return JOURNAL_DIR / f"lesson-{Path(resolved).stem}-{digest}.json"


# --- what each set-up step changes, in words -----------------------------------------
def plan(cluster, worker, steps, lesson_changes: list[str]) -> list[str]:
    """One line per change the set-up steps (lessons.PREPARE, by name) and the lesson's own
    cells make, host first. `worker` plays the article's node2."""
    manager = cluster.manager
    lines = []
    for step in (getattr(s, "__name__", s) for s in steps):
        if step == "_node2_fails_as_in_the_article":
            nic = faults.nic_of(worker)
            lines += [f"{worker.name}: ip route add {dst} dev {nic} proto {faults.ROUTE_PROTO}   "
                      f"(routes as a VPN client adds: Docker there finds no free address pool)"
                      for dst in faults.VPN_ROUTES]
        elif step == "_swarm":
            lines.append(f"{manager.name}: docker swarm init --advertise-addr {manager.address}")
            lines += [f"{n.name}: docker swarm join --token <worker token> {manager.address}:2377   "
                      f"(through its Docker API: the token on no command line)"
                      for n in cluster if n is not manager]
        elif step == "_overlay":
            lines.append(f"{manager.name}: docker network create -d overlay {story.NETWORK}")
        elif step in ("_failed_service", "_failed_service_retrying_quickly"):
            delay = f"--restart-delay {story.QUICK_RESTART_DELAY} " if step == "_failed_service_retrying_quickly" else ""
            lines.append(f"{manager.name}: docker service create {delay}--name {story.SERVICE} --network "
                         f"{story.NETWORK} --replicas 2 {story.IMAGE} sleep infinity   (needs {story.IMAGE} on every host)")
        else:
            raise StagingError(f"no description of set-up step {step!r}: say what it changes in staging.plan")
    names = {"manager": manager.name, "worker": worker.name}
    return lines + [change.format(**names) for change in lesson_changes]


def announce(cluster, lesson_id: str, lines: list[str]) -> str:
    undo = ("when the lesson closes (lesson.close()), or fails: the faults it injected undone, "
            "the hosts leave the swarm the lesson made, the service's containers and the networks the "
            "lesson created removed")
    if not lines:
        return f"lesson {lesson_id} changes nothing on your hosts"
    return "\n".join([f"lesson {lesson_id} changes your hosts ({cluster.source}):",
                      *(f"  {line}" for line in lines), f"  undone {undo}"])


# --- before, and back -----------------------------------------------------------------
def local_networks(node) -> dict[str, tuple[str, str]]:
    """The node's local networks: {full id: (name, labels)}."""
    result = node.run(LOCAL_NETWORKS)
    if not result.ok:
        raise StagingError(f"cannot ask Docker on {node.name} ({result.stderr.strip()}); is dockerd running "
                           f"there, and may this user use it (sudo = true in the inventory)?")
    networks = {}
    for line in result.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2:
            networks[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return networks


def host_state(node) -> dict:
    # The answer itself, not swarm.state(): a host that cannot be asked is refused with dockerd's words.
    membership = node.run(swarm.STATE_COMMAND)
    if not membership.ok:
        raise StagingError(f"cannot ask Docker on {node.name} ({membership.stderr.strip()}); "
                           f"is dockerd running there, and may this user use it (sudo = true in the inventory)?")
    networks = local_networks(node)
    return {"swarm": membership.stdout.strip(), "networks": {id_: name for id_, (name, _) in sorted(networks.items())}}


def _process_start(pid: int) -> str | None:
    """When process `pid` started (its field 22 in /proc/PID/stat), or None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _owner() -> dict:
    """This process, as the journal names the one that staged the hosts."""
    return {"pid": os.getpid(), "started": _process_start(os.getpid()), "host": os.uname().nodename}


def owner_running(journal: dict) -> int | None:
    """The pid of the process that staged the hosts, while it still runs (and is not this one)."""
    owner = journal.get("owner") or {}
    pid = owner.get("pid")
    if not pid or pid == os.getpid() or owner.get("host") != os.uname().nodename:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: it runs
    started = _process_start(pid)
    if started is not None and owner.get("started") not in (None, started):
        return None  # the pid was given to another process since
    return pid


def pending(inventory) -> dict | None:
    """The journal of a lesson that staged `inventory`'s hosts and has not put them back, or None."""
    path = journal_path(inventory)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StagingError(f"cannot read the staging journal {path} ({exc}); look at it, then remove it") from None


def staged_note(inventory) -> str | None:
    """One line for any command on `inventory`: its hosts are staged by a lesson, and how to put
    them back (or that the lesson is running now). None when they are not staged, or `inventory`
    is not a file (a lab's name)."""
    if not Path(inventory).is_file():
        return None
    try:
        journal = pending(inventory)
    except StagingError as exc:
        return str(exc)
    if journal is None:
        return None
    lesson = journal.get("lesson", "?")
    pid = owner_running(journal)
    if pid:
        return (f"lesson {lesson} is running on the hosts of {inventory} now (process {pid}): they are staged "
                f"until it ends")
    return (f"the hosts of {inventory} are still staged by lesson {lesson}, which was stopped before it put them "
            f"back (journal {journal_path(inventory)}): put them back with "
            f"`swarmlab lessons restore --inventory {inventory}`")


def _refuse_if_running(journal: dict, inventory) -> None:
    pid = owner_running(journal)
    if pid:
        raise StagingError(f"lesson {journal.get('lesson', '?')} is running on the hosts of {inventory} now "
                           f"(process {pid}); let it finish or stop it (it puts the hosts back itself), then "
                           f"try again")


def begin(cluster, lesson_id: str, inventory, injects=()) -> dict:
    """Refuse hosts already in a swarm, then journal every host's state and the faults the
    lesson may inject ((fault, host) pairs, undone at the end); returns the journal."""
    path = journal_path(inventory)
    if path.exists():
        restore(cluster, inventory)  # a lesson before this one did not finish
    states = {node.name: host_state(node) for node in cluster}
    busy = [name for name, state in states.items() if state["swarm"] not in ("inactive", "")]
    if busy:
        raise StagingError(f"{', '.join(busy)} already in a swarm (state {states[busy[0]]['swarm']}); the lessons "
                           f"build their own: run `docker swarm leave --force` there, or use fresh hosts")
    held = {node.name: holder for node in cluster if (holder := swarm.gossip_port_holder(node))}
    if held:
        raise StagingError("; ".join(_gossip_port_taken(name, holder) for name, holder in held.items()))
    journal = {"lesson": lesson_id, "inventory": str(inventory), "owner": _owner(), "hosts": states,
               "faults": [[fault, host] for fault, host in injects], "made": {}}
    _write(path, journal)
    return journal


def _gossip_port_taken(name: str, holder: str) -> str:
    return (f"{name}: port {swarm.GOSSIP_PORT}/tcp is taken ({holder}) though {name} is in no swarm, so a join "
            f"there would fail (\"error in agentInit ... bind: address already in use\"); if the holder is "
            f"Docker, it kept the port after a leave: restart Docker on {name} (`sudo systemctl restart docker`)")


def _gossip_port_released(cluster, node, timeout: float = 10) -> str:
    """Wait until nobody listens on the node's gossip port after its leave; '' once free, else the holder."""
    deadline = cluster.clock.now() + timeout
    while (holder := swarm.gossip_port_holder(node)) and cluster.clock.now() < deadline:
        cluster.clock.sleep(0.5)
    return holder


def _write(path: Path, journal: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(journal, indent=1) + "\n")
    os.replace(temporary, path)  # a journal is never half written


def _made_by_swarmlab(journal: dict, node, networks: dict) -> list[str]:
    """The ids of the node's local networks swarmlab made since the journal: not there before,
    and either docker_gwbridge (Docker makes it on the join the lesson ran, or the lesson's fix
    does) or labelled swarmlab.fault. Anyone else's network, whatever its name, is not among them."""
    before = _before(journal, node)
    return [id_ for id_, (name, labels) in networks.items() if id_ not in before
            and (name == GWBRIDGE or f"{FAULT_LABEL}=" in labels)]


def _before(journal: dict, node) -> dict:
    """The node's local networks in the journal, {id: name} ({} from a journal of names only)."""
    networks = journal["hosts"].get(node.name, {}).get("networks", {})
    return networks if isinstance(networks, dict) else {}


def record_made(cluster, inventory) -> None:
    """Add to the journal the ids of the local networks swarmlab made on the hosts so far (called
    after each set-up step, and before the hosts are put back)."""
    path = journal_path(inventory)
    journal = pending(inventory)
    if journal is None:
        return
    made = journal.setdefault("made", {})
    for node in cluster:
        ids = made.setdefault(node.name, [])
        ids += [id_ for id_ in _made_by_swarmlab(journal, node, local_networks(node)) if id_ not in ids]
    _write(path, journal)


def restore(cluster, inventory) -> list[str]:
    """Put the hosts back as the journal says they were; returns what was done, one line each."""
    path = journal_path(inventory)
    journal = pending(inventory)
    if journal is None:
        return []
    _refuse_if_running(journal, inventory)
    done = []
    for fault, host in journal.get("faults", []):  # only what this lesson may have injected
        faults.fault_named(fault).undo(cluster, cluster.node(host))
        done.append(f"{host}: {fault} undone")
    manager = cluster.manager
    leaving = [n for n in [n for n in cluster if n is not manager] + [manager]  # workers first
               if journal["hosts"].get(n.name, {}).get("swarm") in ("inactive", "")
               and swarm.state(n) != "inactive"]
    if manager in leaving:  # the swarm is the lesson's own: its services go first, so no task is started again
        services = manager.run("docker service ls -q").stdout.split()
        if services:
            manager.run(["docker", "service", "rm", *services]).check()
            done.append(f"{manager.name}: removed {len(services)} service(s)")
    # The task containers go before the leave: a leave would stop each one politely, and
    # `sleep infinity` ignores SIGTERM, so every one would take its 10 s grace period.
    for node in cluster:
        containers = node.run(swarm.task_container_ids()).stdout.split()
        if containers:
            node.run(["docker", "rm", "-f", *containers]).check()
            done.append(f"{node.name}: removed {len(containers)} task container(s)")
    for node in leaving:
        left = node.run("docker swarm leave --force")
        if not left.ok and "not part of a swarm" not in left.stderr:  # gone already: what was wanted
            left.check(hint=f"leave the swarm on {node.name} by hand")
        done.append(f"{node.name}: left the swarm")
    # A host that was in no swarm must have its gossip port free again, or its next join fails.
    kept_port = {node.name: holder for node in cluster
                 if journal["hosts"].get(node.name, {}).get("swarm") in ("inactive", "")
                 and (holder := _gossip_port_released(cluster, node))}
    # Docker makes docker_gwbridge a moment after a join: a lesson stopped just after one has it
    # only now. The hosts are out of the lesson's swarm here, so nothing more appears.
    record_made(cluster, inventory)
    journal = pending(inventory)
    left_behind = {}
    for node in cluster:
        made = set(journal.get("made", {}).get(node.name, []))
        now = local_networks(node)
        mine = [id_ for id_ in now if id_ in made]
        if mine:
            swarm.remove_networks(cluster, node, mine, missing_ok=True)
            done.append(f"{node.name}: removed network(s) {', '.join(now[i][0] for i in mine)}")
        now = local_networks(node)
        before = _before(journal, node)
        state = swarm.state(node)
        wrong = ([f"swarm {state}"] if state != journal["hosts"].get(node.name, {}).get("swarm", "inactive") else []) \
            + [f"network {now[i][0]} ({i[:12]}) still there" for i in now if i in made] \
            + [f"network {name} ({i[:12]}) gone" for i, name in before.items() if i not in now]
        if node.name in kept_port:
            wrong.append(f"port {swarm.GOSSIP_PORT}/tcp still taken after the leave ({kept_port[node.name]}): "
                         f"restart Docker there before it joins a swarm again")
        if wrong:
            left_behind[node.name] = wrong
    if left_behind:
        raise StagingError(f"could not put back {'; '.join(f'{n}: ' + ', '.join(w) for n, w in left_behind.items())}; "
                           f"the journal stays in {path}: try `swarmlab lessons restore --inventory {inventory}` again")
    path.unlink()
    return done
