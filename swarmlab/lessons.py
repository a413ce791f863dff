"""A lesson's session: the cluster it talks to (live lab, inventory or recording), in the state it starts from.

Running the lesson notebooks headless is swarmlab.headless.
"""
from __future__ import annotations

import atexit
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import faults, progress, staging, story, swarm
from .claims import Claims
from .cluster import Cluster, connect
from .errors import SwarmlabError
from .i18n import translate
from .lab import DRIVERS, Lab, driver_class, teardown
from .transport.recording import Recorder

RECORDINGS = Path(__file__).resolve().parent / "data" / "recordings"
# Recordings by the nodes' Docker: the article's era (Debian bookworm's 20.10) at the top, each
# newer one in a folder of its own. Replay shows the newest that has the lesson, unless
# SWARMLAB_DOCKER names one; `swarmlab lessons record` writes SWARMLAB_DOCKER's (default 20).
RECORDED_DOCKERS = {"20": ("20.10", RECORDINGS), "28": ("28.5", RECORDINGS / "docker28")}
LIVE = "live"
REPLAY = "replay"
INVENTORY = "inventory"


class Lesson:
    """The cluster a lesson talks to, and how it got it (live lab, inventory, or replay)."""

    def __init__(self, lesson_id: str, backend: str, cluster, lab=None, recorder=None, recording=None,
                 inventory=None):
        self.id = lesson_id
        self.backend = backend
        self.cluster = cluster
        self.lab = lab
        self.recorder = recorder
        self.recording = recording
        self.inventory = inventory  # the inventory file whose hosts this lesson changed (staging)
        self.staged = False
        self.claims = Claims(lesson_id, backend)  # in the language the lesson speaks (swarmlab.i18n)
        self._progress(state="open", claims_passed=0, failed=None)

    def expect(self, claim: str, holds, seen=None):
        """The lesson's text says `claim` about the output above; fail the lesson unless `holds`."""
        self._judged(self.claims.expect, claim, holds, seen)

    def expect_output(self, result, claim: str, *, contains=(), lacks=()):
        """A claim about what one command printed."""
        self._judged(self.claims.expect_output, result, claim, contains=contains, lacks=lacks)

    def expect_one_of(self, claim: str, value, allowed):
        """A claim that `value` is one of the outcomes that really occur."""
        self._judged(self.claims.expect_one_of, claim, value, allowed)

    def _judged(self, check, *args, **kwargs):
        """Run a claim's check; the classroom's progress record learns how it went (progress.py)."""
        try:
            check(*args, **kwargs)
        except Exception as exc:
            self._progress(failed=str(exc).splitlines()[0][:300])
            raise
        self._progress(claims_passed=len(self.claims.checked), failed=None)

    def _progress(self, **fields):
        progress.record(self.id, backend=self.backend, lab=self.lab.name if self.lab else None, **fields)

    def __repr__(self):
        return f"<Lesson {self.id} backend={self.backend} {self.cluster!r}>"

    def node(self, name: str):
        return self.cluster.node(name)

    @property
    def node1(self):
        """The article's node1: the manager (in an inventory, the host with role manager)."""
        return self.cluster.manager

    @property
    def node2(self):
        """The article's node2: the worker (the first node that is not the manager)."""
        return worker_of(self.cluster)

    def over_ssh(self):
        """The same nodes reached over SSH with the lab's own inventory (lesson 7).

        Live: the lab's sshd, host keys verified. Replay: the recording, which holds
        what the SSH session printed.
        """
        if self.backend != LIVE:
            return self.cluster
        cluster = Cluster.from_lab(self.lab, via="ssh")
        return self._recorded(cluster)

    def _put_hosts_back(self) -> None:
        """Inventory: undo what the lesson changed on the hosts (staging.restore)."""
        if self.staged:
            done = staging.restore(self.cluster, self.inventory)
            self.staged = False
            print(_say("your hosts are back as they were") + "".join(f"\n  {line}" for line in done))

    def _recorded(self, cluster):
        return cluster if self.recorder is None else self.recorder.wrap(cluster)

    def close(self) -> None:
        """End the lesson: say how many claims it checked, save the recording (when recording)
        and take the lab down."""
        print(self.claims.summary())
        self._progress(state="closed", claims_passed=len(self.claims.checked))
        self._put_hosts_back()
        if self.recorder is not None:
            self.recorder.save()
        if self.lab is not None:
            self.lab.down()
        print(_say(f"lesson {self.id} closed") + (_say(f"; lab {self.lab.name} is down") if self.lab else ""))


def worker_of(cluster):
    """The node that plays the article's node2: the first that is not the manager."""
    workers = [n for n in cluster if n is not cluster.manager]
    if not workers:
        raise SwarmlabError(f"{cluster.source or 'this cluster'} has one node; the lessons need a manager and a "
                            "worker (role = \"worker\" in the inventory)")
    return workers[0]


@dataclass(frozen=True)
class Choice:
    """Where a lesson runs, and why: live (a lab of `driver`), inventory, or replay."""

    backend: str
    reason: str
    driver: str | None = None  # live: a name in swarmlab.lab.DRIVERS


def requested_backend(requested: str | None = None) -> str:
    """The backend asked for: `requested` when given, else SWARMLAB_BACKEND, else auto."""
    return requested or os.environ.get("SWARMLAB_BACKEND") or "auto"


def choose(requested: str | None = None) -> Choice:
    """The first lab driver that can run here (the namespace lab when root on Linux, else a
    Docker engine that answers), else an inventory (SWARMLAB_INVENTORY), else the recording.
    SWARMLAB_BACKEND=live|replay|inventory forces one; SWARMLAB_DRIVER=docker makes a live
    lesson use the Docker engine even as root."""
    backend = requested_backend(requested)
    if backend not in ("auto", LIVE, REPLAY, INVENTORY):
        raise SwarmlabError(f"unknown backend {backend!r}: use live, replay, inventory or auto")
    if backend in (REPLAY, INVENTORY):
        return Choice(backend, f"SWARMLAB_BACKEND={backend}")
    live, why_not = _live_choice(os.environ.get("SWARMLAB_DRIVER") or None)
    if live:
        return live
    if backend == LIVE:
        raise SwarmlabError(f"no live lab here: {why_not}")
    if os.environ.get("SWARMLAB_INVENTORY"):
        return Choice(INVENTORY, f"no local lab ({why_not}): your hosts in SWARMLAB_INVENTORY")
    return Choice(REPLAY, f"no local lab: {why_not}")


def _live_choice(forced: str | None) -> tuple[Choice | None, str]:
    """The first driver, in DRIVERS' order, that can make a lab here (only the one SWARMLAB_DRIVER
    names, when set), as a Choice that says why; else None and why none could."""
    names = list(DRIVERS)
    if forced not in (None, *names):
        raise SwarmlabError(f"SWARMLAB_DRIVER={forced!r}: use {' or '.join(names)}")
    tried = [forced] if forced else names
    # What was passed over, and why: the drivers ahead of the forced one, or each that cannot run here.
    why_not = [f"SWARMLAB_DRIVER={forced}"] if forced and names.index(forced) > 0 else []
    for name in tried:
        usable, reason, forced_error = driver_class(name).usable_here()
        if usable:
            return Choice(LIVE, ", and ".join([*why_not, reason]), name), ""
        if forced and forced_error:
            raise SwarmlabError(f"SWARMLAB_DRIVER={forced}, but {forced_error}")
        why_not.append(reason)
    return None, ", and ".join(why_not)


def open_lesson(lesson_id: str, backend: str | None = None, prepare: bool = True) -> Lesson:
    """Give a lesson its cluster, in the state the lesson starts from.

    live: a fresh local lab (root, Linux) named `lessonNN`; replay: the recording of a
    real run bundled with swarmlab; inventory: your own hosts (SWARMLAB_INVENTORY).
    Set SWARMLAB_RECORD=FILE (live) to record the lesson for replay.
    """
    choice = choose(backend)
    backend = choice.backend
    if backend == LIVE:
        lesson = _open_live(lesson_id, choice.driver)
    elif backend == REPLAY:
        lesson = _open_replay(lesson_id)
    else:
        lesson = _open_inventory(lesson_id)
    print(_announce(lesson))
    print(_say(f"  why: {choice.reason}"))
    steps = PREPARE.get(lesson_id, ()) if prepare else ()
    if backend == INVENTORY and prepare:
        _stage(lesson, steps)
    try:
        for step in steps:
            step(lesson.cluster)
            if lesson.staged:  # the networks this step made, by id: only those are removed after
                staging.record_made(lesson.cluster, lesson.inventory)
    except BaseException:
        lesson._put_hosts_back()  # a set-up that fails halfway leaves nothing behind
        raise
    if steps:
        print(_say("ready: ") + _say(STARTS_FROM[lesson_id]))
    return lesson


def inventory_path() -> str:
    path = os.environ.get("SWARMLAB_INVENTORY")
    if not path:
        raise SwarmlabError("backend inventory needs SWARMLAB_INVENTORY=path/to/hosts.toml "
                            "(or `swarmlab lessons run --backend inventory --inventory FILE`)")
    return path


def _open_inventory(lesson_id: str) -> Lesson:
    path = inventory_path()
    lesson = Lesson(lesson_id, INVENTORY, connect(path), inventory=path)
    put_back_first(lesson.cluster, path)  # every lesson, 00 too, starts from hosts as they were
    return lesson


def put_back_first(cluster, path, say=print) -> None:
    """Hosts a lesson left staged (it was killed): say so, and put them back before anything else."""
    journal = staging.pending(path)
    if journal is None:
        return
    say(f"the hosts of {path} were left staged by lesson {journal.get('lesson', '?')}: putting them back first")
    for line in staging.restore(cluster, path):
        say(f"  {line}")


def _stage(lesson: Lesson, steps) -> None:
    """Say what the lesson will change on the hosts, journal them, and undo it all at exit too."""
    lines = staging.plan(lesson.cluster, lesson.node2, steps, LESSON_CHANGES.get(lesson.id, []))
    print(staging.announce(lesson.cluster, lesson.id, lines))
    if lines:
        worker = lesson.node2.name
        injects = [("vpn-routes", worker)] if _node2_fails_as_in_the_article in steps else []
        injects += [(fault, worker) for fault in LESSON_FAULTS.get(lesson.id, ())]
        staging.begin(lesson.cluster, lesson.id, lesson.inventory, injects)
        lesson.staged = True
        atexit.register(lesson._put_hosts_back)  # a kernel shut down before lesson.close()


def _open_live(lesson_id: str, driver: str = "namespaces") -> Lesson:
    name = lesson_lab_name(lesson_id)
    teardown(name, driver=driver)  # a lesson always starts from a fresh lab
    # SWARMLAB_DOCKER=28: the nodes run that Docker (docker driver; its node image is built once).
    lab = Lab(name=name, driver=driver, docker=os.environ.get("SWARMLAB_DOCKER") or None).up()
    cluster = Cluster.from_lab(lab)
    recorder = None
    if os.environ.get("SWARMLAB_RECORD"):
        # A lesson's recording is masked and meant to be shared (bundled with swarmlab).
        recorder = Recorder(cluster, os.environ["SWARMLAB_RECORD"], mode=0o644)
        cluster = recorder.cluster
    return Lesson(lesson_id, LIVE, cluster, lab=lab, recorder=recorder)


def lesson_lab_name(lesson_id: str) -> str:
    """`lessonNN`; SWARMLAB_LESSON_PREFIX replaces "lesson" (tests run lessons side by side)."""
    return f"{os.environ.get('SWARMLAB_LESSON_PREFIX', 'lesson')}{lesson_id}"


def recording_path(lesson_id: str, docker: str | None = None) -> Path:
    """Lesson `lesson_id`'s recording on Docker `docker` (else SWARMLAB_DOCKER's, else the newest)."""
    return RECORDED_DOCKERS[recorded_docker(lesson_id, docker)][1] / f"{lesson_id}.json"


def recorded_docker(lesson_id: str, docker: str | None = None) -> str:
    """Which Docker's recording a replay of the lesson shows: `docker`, SWARMLAB_DOCKER, or the
    newest that has one."""
    asked = docker or os.environ.get("SWARMLAB_DOCKER")
    if asked:
        key = str(asked).split(".")[0]
        if key not in RECORDED_DOCKERS:
            raise SwarmlabError(f"SWARMLAB_DOCKER={asked}: the recordings are of Docker "
                                f"{' and '.join(v for v, _ in RECORDED_DOCKERS.values())}")
        return key
    have = [key for key, (_, folder) in RECORDED_DOCKERS.items() if (folder / f"{lesson_id}.json").exists()]
    return have[-1] if have else "20"


def _open_replay(lesson_id: str) -> Lesson:
    path = recording_path(lesson_id)
    if not path.exists():
        raise SwarmlabError(f"no recording for lesson {lesson_id} ({path}); record one with "
                            f"`swarmlab lessons record` on a machine that runs the lab")
    return Lesson(lesson_id, REPLAY, Cluster.from_recording(path), recording=path)


def _say(sentence: str) -> str:
    """What a lesson prints about itself, in the lesson's language (the claims catalog). The first
    words, "swarmlab backend: BACKEND", stay as they are in every language: the runner reads them."""
    return translate(sentence, "claims")


def _announce(lesson: Lesson) -> str:
    if lesson.backend == LIVE:
        nodes = ", ".join(f"{n.name} {n.address}" for n in lesson.cluster)
        return _say(f"swarmlab backend: live (lab {lesson.lab.name}, {lesson.lab.describe()}: {nodes})")
    if lesson.backend == REPLAY:
        created = json.loads(lesson.recording.read_text()).get("created", "?")[:10]
        docker = next(v for v, folder in RECORDED_DOCKERS.values() if folder == lesson.recording.parent)
        return (_say(f"swarmlab backend: replay of a real run recorded on {created}, the nodes on Docker {docker}.")
                + "\n  " + _say("Every output below was printed by a real lab; nothing runs now.")
                + "\n  " + _say("To run it live: on Linux as root, or with a Docker engine (Docker Desktop), "
                                 "`make jupyter` (or SWARMLAB_BACKEND=live)."))
    return _say(f"swarmlab backend: inventory ({lesson.cluster.source})")


# --- where each lesson starts ----------------------------------------------------------
def _node2_fails_as_in_the_article(cluster) -> None:
    """node2 gets routes that give the article's error (the article does not say what its
    worker had: this is one cause that reproduces it; lesson 6 shows it and another)."""
    faults.inject(cluster, "vpn-routes", node=worker_of(cluster).name)


def _swarm(cluster) -> None:
    """The swarm, once every node has finished joining (docker_gwbridge made, or failed)."""
    # A host that joined a swarm before (an earlier lesson) has old failures in its log.
    failures = {node.name: swarm.join_failures(node) for node in cluster}
    story.form_swarm(cluster)
    swarm.wait_for_join(cluster, failures_before=failures)


def _overlay(cluster) -> None:
    story.create_overlay(cluster).check()


def _failed_service(cluster) -> None:
    story.service_create(cluster).check()
    swarm.wait_for_failure(cluster, node=worker_of(cluster).name, timeout=30)


def _failed_service_retrying_quickly(cluster) -> None:
    """Lesson 4 waits for the scheduler to give up on node2, which lesson 3 showed at the
    article's pace: here a failed task is retried after 1 s instead of Docker's 5 s, so the
    wait takes seconds, not half a minute (the lesson says so)."""
    story.service_create(cluster, restart_delay=story.QUICK_RESTART_DELAY).check()
    swarm.wait_for_failure(cluster, node=worker_of(cluster).name, timeout=30)


PREPARE = {
    "00": (),
    "01": (_node2_fails_as_in_the_article,),
    "02": (_node2_fails_as_in_the_article, _swarm),
    "03": (_node2_fails_as_in_the_article, _swarm, _overlay),
    "04": (_node2_fails_as_in_the_article, _swarm, _overlay, _failed_service_retrying_quickly),
    "05": (_node2_fails_as_in_the_article, _swarm, _overlay, _failed_service),
    "06": (_node2_fails_as_in_the_article, _swarm, _overlay),
    "07": (_swarm,),
    "08": (_swarm,),
}
# What each lesson's own cells change on an inventory's hosts ({manager}, {worker}: their names).
LESSON_CHANGES = {
    "01": ["{manager}: docker swarm init (in the lesson)", "{worker}: docker swarm join (in the lesson)"],
    "02": ["{manager}: docker network create -d overlay uber-net (in the lesson)"],
    "03": ["{manager}: docker service create --name test ... (in the lesson; needs busybox:latest on every host)"],
    "04": ["{worker}: docker container start of a Created task container, which fails (in the lesson)"],
    "05": ["{worker}: docker network create ... docker_gwbridge (the fix, in the lesson)",
           "{manager}: docker service rm test; docker service create --name test ... (in the lesson)"],
    "06": ["{worker}: the routes removed again, then bridge networks projN_default created until no address pool "
           "is left (pools-exhausted), then it leaves the swarm and joins again (in the lesson)",
           "{manager}: docker service create --name test ... (in the lesson)"],
}
# Faults a lesson's own cells inject into the worker (undone at the end on an inventory).
LESSON_FAULTS = {"06": ("pools-exhausted",)}
STARTS_FROM = {
    "01": "two nodes, not yet a swarm (node1 will be the manager)",
    "02": "the swarm of lesson 1: node1 manager, node2 worker",
    "03": "the swarm with the overlay network uber-net (lesson 2)",
    "04": "the service `test` of lesson 3 (retrying a failed task after 1 s), its replica failing on node2",
    "05": "the failing service of lessons 3 and 4",
    "06": "the swarm and uber-net, node2 failing as in the article (behind VPN-like routes)",
    "07": "a healthy two-node swarm",
    "08": "a healthy two-node swarm, about to be broken",
}
