"""Drills: a seed and a key decide the fault and the node, only faults check sees, each where it bites;
start hands back no fault; check sees a harmful repair; a second drill is refused; a replay grades nothing."""
from __future__ import annotations

import json
import os
import re
import stat
from types import SimpleNamespace

import nbformat
import pytest

from conftest import FIXTURES, ROOT
from lessonrun import run
from swarmlab import drill, faults
from swarmlab.cluster import Cluster, Node
from swarmlab.errors import DrillRunningError, NotGradableError, NotRepairedError, SwarmlabError
from swarmlab.result import Result
from swarmlab.transport import Transport

KEY = drill.PRACTICE_KEY
LESSON_08 = ROOT / "notebooks" / "08-drills.ipynb"


def two_nodes() -> Cluster:
    return Cluster([Node("node1", "172.16.155.131", role="manager", transport=None),
                    Node("node2", "172.16.155.132", role="worker", transport=None)])


def three_nodes(order=(0, 1, 2)) -> Cluster:
    nodes = [Node("node1", "172.16.155.131", role="manager", transport=None),
             Node("node2", "172.16.155.132", role="worker", transport=None),
             Node("node3", "172.16.155.133", role="worker", transport=None)]
    return Cluster([nodes[i] for i in order])


# What drill.check cannot see (it would pass with no repair) and where the others bite.
# Changing either is a decision about what a drill teaches: say so here.
NOT_DRILLABLE = {"duplicate-hostname", "overlay-overlaps-lan"}
# What check should see but no live drill has run yet (tests/live/test_drill.py runs the rest).
NOT_YET_DRILLED = {"gossip-blocked", "manager-port-blocked", "mtu-blackhole", "advertise-unreachable",
                   "dockerd-killed", "iptables-flushed"}
ON_THE_MANAGER: set[str] = set()  # manager-port-blocked would go there, once it is drilled


def test_a_seed_and_a_key_give_every_student_the_same_drill():
    cluster = two_nodes()
    assert [drill.choose(cluster, s, key=KEY) for s in range(50)] == \
        [drill.choose(two_nodes(), s, key=KEY) for s in range(50)]
    # Workers are drawn in name order, whatever order the inventory lists the nodes in.
    assert [drill.choose(three_nodes(), s, key=KEY) for s in range(50)] == \
        [drill.choose(three_nodes((2, 0, 1)), s, key=KEY) for s in range(50)]
    chosen = {drill.choose(cluster, s, key=KEY).fault for s in range(300)}
    assert chosen == set(drill.candidates())  # every drillable fault can come up, and only those


def test_the_seed_alone_names_no_drill():
    # A class is told its seed: without the key it names nothing.
    with pytest.raises(TypeError, match="key"):
        drill.choose(two_nodes(), 5)
    other = b"a class key nobody else holds"
    practice = [drill.choose(three_nodes(), s, key=KEY) for s in range(40)]
    classed = [drill.choose(three_nodes(), s, key=other) for s in range(40)]
    assert sum(p != c for p, c in zip(practice, classed)) > 20


def test_the_seeds_of_this_version_give_these_drills():
    # The mapping changes when the registry's drillable faults change, or the practice key (README, Drills).
    assert [drill.choose(two_nodes(), s, key=KEY) for s in (0, 1, 3)] == [
        drill.Drill(0, "vpn-routes", "node2"), drill.Drill(1, "pools-exhausted", "node2"),
        drill.Drill(3, "vxlan-blocked", "node2")]


def lesson_08_source() -> str:
    return "\n".join(c.source for c in nbformat.read(LESSON_08, as_version=4).cells)


def test_lesson_08s_seed_gives_the_drill_its_recording_and_hidden_test_hold():
    text = lesson_08_source()
    seed = int(re.search(r"^SEED = (\d+)$", text, re.M).group(1))
    among = tuple(json.loads("[" + re.search(r"^CANDIDATES = \((.*)\)$", text, re.M).group(1) + "]"))
    chosen = drill.choose(two_nodes(), seed, among, key=KEY)
    assert chosen == drill.Drill(seed, "vxlan-blocked", "node2")
    assert f'assert answer == "{chosen.fault}"' in text  # the hidden test


def student_copy(text: str) -> str:
    """What nbgrader leaves of the lesson's code: no solution, no hidden test."""
    text = re.sub(r"### BEGIN SOLUTION\n.*?### END SOLUTION\n?", "", text, flags=re.S)
    return re.sub(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS\n?", "", text, flags=re.S)


def test_lesson_08s_student_copy_holds_no_answer():
    text = student_copy(lesson_08_source())
    listed = re.search(r"^CANDIDATES = .*$", text, re.M).group(0)
    rest = text.replace(listed, "")
    assert "vxlan-blocked" in listed and "vxlan-blocked" not in rest
    assert not re.search(r"\.fault\b", rest) and "the_drill" not in rest and "choose(" not in rest


def test_every_fault_is_drillable_somewhere_or_says_why_not():
    for name, spec in faults.FAULTS.items():
        if spec.drillable:
            assert spec.drill_target in faults.DRILL_TARGETS and not spec.not_drillable, name
        else:
            assert spec.drill_target is None and len(spec.not_drillable) > 20, name
    assert {n for n, f in faults.FAULTS.items() if not f.drillable} == NOT_DRILLABLE | NOT_YET_DRILLED
    assert all(faults.FAULTS[n].not_drillable.startswith("not yet run as a drill") for n in NOT_YET_DRILLED)
    assert {n for n, f in faults.FAULTS.items() if f.drill_target == "manager"} == ON_THE_MANAGER
    assert drill.candidates() == sorted(set(faults.FAULTS) - NOT_DRILLABLE - NOT_YET_DRILLED)
    # A drill rejoins the node of a fault that acts at join: that node is a worker.
    assert all(f.drill_target == "worker" for f in faults.FAULTS.values() if f.acts_at_join)


def test_a_fault_must_say_whether_a_drill_may_pick_it():
    pair = (lambda cluster, node: [], lambda cluster, node: [])
    with pytest.raises(ValueError, match="one of the two"):
        faults._fault("new-fault", "a fault", pair)
    with pytest.raises(ValueError, match="one of the two"):
        faults._fault("new-fault", "a fault", pair, drill_target="worker", not_drillable="check cannot see it")
    with pytest.raises(ValueError, match="is not one of"):
        faults._fault("new-fault", "a fault", pair, drill_target="node2")
    with pytest.raises(ValueError, match="a manager cannot do"):
        faults._fault("new-fault", "a fault", pair, acts_at_join=True, drill_target="manager")
    assert faults._fault("new-fault", "a fault", pair, not_drillable="check cannot see it").drillable is False


@pytest.mark.parametrize("cluster", [two_nodes(), three_nodes()], ids=["two nodes", "three nodes"])
def test_choose_puts_only_drillable_faults_where_they_bite(cluster):
    workers = {n.name for n in cluster if n is not cluster.manager}
    seen = set()
    for seed in range(2000):
        d = drill.choose(cluster, seed, key=KEY)
        spec = faults.fault_named(d.fault)
        assert spec.drillable, d
        where = {cluster.manager.name} if spec.drill_target == "manager" else workers
        assert d.node in where, d
        seen.add(d.node)
    assert seen == workers | ({cluster.manager.name} if ON_THE_MANAGER else set())  # every worker comes up


def test_a_lesson_names_its_candidates():
    among = ("vxlan-blocked", "vpn-routes")
    assert {drill.choose(two_nodes(), s, among, key=KEY).fault for s in range(50)} == set(among)
    with pytest.raises(SwarmlabError, match="no fault named 'no-such-fault'"):
        drill.choose(two_nodes(), 1, ("no-such-fault",), key=KEY)
    # A lesson cannot name a fault that check would not see, whatever the seed.
    with pytest.raises(SwarmlabError, match="duplicate-hostname cannot be a drill: the node keeps"):
        drill.choose(two_nodes(), 1, ("vxlan-blocked", "duplicate-hostname"), key=KEY)
    with pytest.raises(SwarmlabError, match="manager-port-blocked cannot be a drill: not yet run as a drill"):
        drill.choose(two_nodes(), 1, ("manager-port-blocked", "vxlan-blocked"), key=KEY)


def test_a_class_key_must_be_its_owners_alone(tmp_path, monkeypatch):
    path = tmp_path / "drill.key"
    monkeypatch.delenv("SWARMLAB_DRILL_KEY", raising=False)
    assert drill.class_key() is None
    monkeypatch.setenv(drill.KEY_VARIABLE, str(path))
    with pytest.raises(SwarmlabError, match="cannot read the class key"):
        drill.class_key()
    path.write_text("k" * 44 + "\n")
    path.chmod(0o644)
    with pytest.raises(SwarmlabError, match="other users can read the class key; `chmod 600"):
        drill.class_key()
    path.chmod(0o600)
    assert drill.class_key() == b"k" * 44
    path.write_text("short")
    with pytest.raises(SwarmlabError, match="16 bytes or more"):
        drill.class_key()


# --- a swarm that answers drill's commands -------------------------------------------------
HEALTHY = json.loads((FIXTURES / "doctor" / "healthy.json").read_text())


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


class FakeSwarm:
    """Two nodes answering what drill.start, check and undo run; what a student did is state here."""

    def __init__(self):
        self.iptables = {n: HEALTHY["nodes"][n]["sections"]["iptables"] for n in ("node1", "node2")}
        self.test_on = {"node1": 1, "node2": 1}  # running replicas of `test` per node
        self.uber_net_talks = True
        self.input_rules: dict[str, list[str]] = {"node1": [], "node2": []}
        self.asked: list[tuple[str, str]] = []

    def cluster(self, lab=None) -> Cluster:
        nodes = [Node(n, HEALTHY["nodes"][n]["address"], FakeNode(self, n), "manager" if n == "node1" else "worker")
                 for n in ("node1", "node2")]
        cluster = Cluster(nodes, source=f"lab {lab}" if lab else "fake swarm", clock=FakeClock())
        cluster.lab = SimpleNamespace(name=lab) if lab else None
        return cluster

    def flush_filter(self, node: str) -> None:
        """`iptables -F`: every rule of the filter table goes, its chains stay."""
        table, kept = "", []
        for line in self.iptables[node].splitlines():
            table = line[1:].strip() if line.startswith("*") else table
            if not (table == "filter" and line.startswith("-A ")):
                kept.append(line)
        self.iptables[node] = "\n".join(kept)
        self.input_rules[node] = []

    def answer(self, node: str, command: str) -> tuple[str, int]:
        self.asked.append((node, command))
        sections = HEALTHY["nodes"][node]["sections"]
        i = "12"[node == "node2"]
        if command == "docker info --format '{{.Swarm.LocalNodeState}}'":
            return "active", 0
        if command == "docker info --format '{{json .}}'":
            return sections["info"], 0
        if command == "iptables-save":
            return self.iptables[node], 0
        if command.startswith("cat /etc/docker/daemon.json"):
            return "{}", 0
        if command == "docker network inspect $(docker network ls -q)":
            return sections["networks"], 0
        if match := re.fullmatch(r"iptables -C (INPUT .*) 2>/dev/null \|\| iptables -I (INPUT .*)", command):
            self.input_rules[node].append(match.group(1))
            return "", 0
        if command.startswith("while iptables -C"):
            self.input_rules[node] = []
            return "", 0
        if command == "iptables -S INPUT":
            return "\n".join(["-P INPUT ACCEPT", *(f"-A {r[len('INPUT '):]}" for r in self.input_rules[node])]), 0
        if command.startswith(("docker network inspect uber-net", "docker service inspect test",
                               "docker network inspect docker_gwbridge", "docker network create -d overlay",
                               "docker service create", "docker service rm", "ids=$(docker ps -aq")):
            return "", 0
        if command == "docker network inspect drill-check-net >/dev/null 2>&1 || echo gone":
            return "gone", 0
        if match := re.fullmatch(r"docker ps -q --filter label=com.docker.swarm.service.name=(\S+) --filter status=running",
                                 command):
            service = match.group(1)
            return (f"{service}-{node}" if service == "drill-check" or self.test_on[node] else ""), 0
        if match := re.fullmatch(r"docker inspect --format .*\"(\S+)\"\)\.IPAddress}}' (\S+)", command):
            return f"10.0.{2 if match.group(1) == 'drill-check-net' else 1}.{i}", 0
        if match := re.fullmatch(r"docker network inspect -v (\S+) --format .*", command):
            prefix = "10.0.2" if match.group(1) == "drill-check-net" else "10.0.1"
            on = [n for n in ("node1", "node2") if match.group(1) == "drill-check-net" or self.test_on[n]]
            return " ".join(f"{prefix}.{n[-1]}" for n in on), 0
        if match := re.fullmatch(r"docker exec (\S+) ping .* (\S+)", command):
            over_uber_net = match.group(2).startswith("10.0.1.")
            vxlan = not any("4789" in r for n in self.input_rules for r in self.input_rules[n])
            ok = vxlan and (self.uber_net_talks or not over_uber_net)
            return ("2 packets transmitted, 2 packets received, 0% packet loss" if ok else
                    "2 packets transmitted, 0 packets received, 100% packet loss"), 0 if ok else 1
        if command.startswith("timeout 5 bash -c"):
            return "open", 0
        if command == "docker service ps --no-trunc --format '{{json .}}' test":
            rows = [{"ID": f"t{n}{k}", "Name": f"test.{n[-1]}{k}", "Node": n, "DesiredState": "Running",
                     "CurrentState": "Running 2 minutes ago", "Error": ""}
                    for n, count in self.test_on.items() for k in range(count)]
            return "\n".join(json.dumps(r) for r in rows), 0
        if command == "docker service ps --no-trunc test":
            return "ID NAME NODE DESIRED STATE CURRENT STATE", 0
        if "grep -F -e" in command:
            return "", 1
        raise AssertionError(f"the fake swarm has no answer for {command!r} on {node}")


class FakeNode(Transport):
    def __init__(self, swarm: FakeSwarm, name: str):
        self.swarm, self.node_name = swarm, name

    def run(self, command, *, input=None, timeout=120) -> Result:
        stdout, code = self.swarm.answer(self.node_name, command)
        return Result(self.node_name, command, stdout if code == 0 else stdout, "", code, 0.0)


def checked(swarm: FakeSwarm) -> dict[str, bool]:
    return dict(zip(*drill.check(swarm.cluster())[["check", "passed"]].T.values))


def test_check_passes_a_healthy_swarm():
    assert all(checked(FakeSwarm()).values()) and len(checked(FakeSwarm())) == 7


def test_a_repair_that_flushes_the_firewall_fails_check():
    """vxlan-blocked repaired with `iptables -F`: the overlay works again, Docker's rules are gone."""
    swarm = FakeSwarm()
    swarm.input_rules["node2"].append("INPUT -p udp --dport 4789 -j DROP")
    assert not checked(swarm)["ping over the overlay"]
    swarm.flush_filter("node2")
    outcomes = drill.check(swarm.cluster())
    result = dict(zip(outcomes["check"], outcomes["passed"]))
    assert result["ping over the overlay"] and result["its replicas ping each other over uber-net"]
    assert not result[drill.RULES_CHECK]
    evidence = outcomes.set_index("check").loc[drill.RULES_CHECK, "evidence"]
    assert "node2: Docker's chains are in place but its rules for the node's bridges are gone" in evidence
    assert "# summary: filter: no rule for docker_gwbridge" in evidence


def test_check_wants_the_articles_service_on_every_node_and_talking():
    swarm = FakeSwarm()
    swarm.test_on = {"node1": 2, "node2": 0}  # node2 works again, but the scheduler put both replicas on node1
    outcomes = drill.check(swarm.cluster()).set_index("check")
    assert not outcomes.loc["the service test runs a replica on every node", "passed"]
    assert "`docker service update --force test`" in outcomes.loc["the service test runs a replica on every node",
                                                                  "evidence"]
    assert outcomes.loc["a task runs on every node", "passed"]  # the probe does not see it
    swarm = FakeSwarm()
    swarm.uber_net_talks = False
    assert checked(swarm) == {**checked(FakeSwarm()), "its replicas ping each other over uber-net": False}


def test_start_hands_back_the_seed_and_never_the_fault(monkeypatch):
    monkeypatch.delenv("SWARMLAB_DRILL_KEY", raising=False)
    swarm = FakeSwarm()
    cluster = swarm.cluster()
    started = drill.start(cluster, 7, among=("vxlan-blocked",))
    assert set(vars(started)) == {"seed", "where", "key"} and started.key == "practice"
    assert "vxlan" not in str(started) + repr(started)
    assert not hasattr(started, "fault") and not hasattr(started, "node")
    assert swarm.input_rules["node2"]  # the fault went in all the same
    assert drill.revealed(cluster) is False


def test_a_second_drill_is_refused_until_the_first_is_undone(tmp_path, monkeypatch):
    monkeypatch.delenv("SWARMLAB_DRILL_KEY", raising=False)
    monkeypatch.setattr(drill, "secret_path", lambda name: tmp_path / name / "drill.json")
    (tmp_path / "lab1").mkdir()
    swarm = FakeSwarm()
    drill.start(swarm.cluster("lab1"), 7, among=("vxlan-blocked",))
    kept = (tmp_path / "lab1" / "drill.json").read_text()
    with pytest.raises(DrillRunningError) as refused:
        drill.start(swarm.cluster("lab1"), 8, among=("vxlan-blocked",))
    message = str(refused.value)
    assert "\n" not in message and "lab lab1 already runs drill seed 7" in message
    assert "`swarmlab drill reveal --lab lab1`" in message and "`swarmlab drill undo --lab lab1`" in message
    assert (tmp_path / "lab1" / "drill.json").read_text() == kept  # reveal still names the first
    assert len(swarm.input_rules["node2"]) == 1  # nothing stacked on it
    drill.undo(swarm.cluster("lab1"))
    assert swarm.input_rules["node2"] == [] and not (tmp_path / "lab1" / "drill.json").exists()
    drill.start(swarm.cluster("lab1"), 8, among=("vxlan-blocked",))


def test_the_drill_is_kept_for_its_owner_only_and_holds_no_key(tmp_path, monkeypatch):
    key = tmp_path / "class.key"
    key.write_text("a class key of the teacher's, long enough")
    key.chmod(0o600)
    monkeypatch.setenv(drill.KEY_VARIABLE, str(key))
    monkeypatch.setattr(drill, "secret_path", lambda name: tmp_path / name / "drill.json")
    swarm = FakeSwarm()
    with pytest.raises(SwarmlabError, match="lab 'lab1' is not up here"):
        drill.start(swarm.cluster("lab1"), 3, among=("vxlan-blocked",))
    (tmp_path / "lab1").mkdir()
    assert drill.start(swarm.cluster("lab1"), 3, among=("vxlan-blocked",)).key == "class"
    path = tmp_path / "lab1" / "drill.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    record = json.loads(path.read_text())
    assert {k: record[k] for k in ("seed", "fault", "node", "key")} == \
        {"seed": 3, "fault": "vxlan-blocked", "node": "node2", "key": "class"}
    assert "teacher" not in path.read_text()
    with pytest.raises(SwarmlabError, match="no drill started on lab lab2; `swarmlab drill start --lab lab2`"):
        drill.undo(swarm.cluster("lab2"))


def test_a_replay_grades_no_repair():
    replay = Cluster.from_recording(ROOT / "swarmlab" / "data" / "recordings" / "08.json")
    live = FakeSwarm().cluster()
    passing = drill.check(live)
    assert drill.gradable(live) and not drill.gradable(replay)
    drill.assert_repaired(live, passing)
    with pytest.raises(NotGradableError, match="graded only on a live lab or on your own hosts"):
        drill.assert_repaired(replay, passing)
    failing = passing.assign(passed=[True] * 6 + [False])
    with pytest.raises(NotRepairedError, match=f"not repaired yet: {re.escape(drill.RULES_CHECK)}"):
        drill.assert_repaired(live, failing)
    assert isinstance(NotRepairedError("x"), AssertionError)
    # In a notebook they show as their message alone, not as a traceback into swarmlab.
    assert NotGradableError("cannot")._render_traceback_() == ["NotGradableError: cannot"]


def lesson_08_with_repair(repair: str, target) -> tuple[dict, nbformat.NotebookNode]:
    """Lesson 08 replayed with the student's repair in place of the solution, errors allowed in
    that cell as nbgrader allows them: (row, the executed notebook)."""
    nb = nbformat.read(LESSON_08, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "repair")
    cell.source = repair
    cell.metadata["tags"] = ["raises-exception"]
    (target / "lessons").mkdir(parents=True)
    nbformat.write(nb, target / "lessons" / LESSON_08.name)
    return run("08", "replay", target / "out", directory=target / "lessons")


def errors_of(nb, grade_id: str) -> list:
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return [o for o in cell.outputs if o.output_type == "error"]


def test_in_a_replay_a_repair_that_changed_nothing_is_not_graded(tmp_path):
    row, nb = lesson_08_with_repair("pass", tmp_path)
    assert row["status"] == "ok", row["error"]
    [error] = errors_of(nb, "repaired_test")  # the graded cell fails: it scores nothing
    assert error.ename == "NotGradableError" and "graded only on a live lab or on your own hosts" in error.evalue
    assert error.traceback == [f"NotGradableError: {error.evalue}"]  # its message, not a traceback


def test_in_a_replay_a_repair_typed_another_way_is_told_plainly(tmp_path):
    row, nb = lesson_08_with_repair('node2.run("iptables -D INPUT -p udp --dport 4789 -j DROP")', tmp_path)
    assert row["status"] == "ok", row["error"]
    [error] = errors_of(nb, "repair")
    assert error.ename == "NotRunInReplayError" and len(error.traceback) == 1
    assert error.evalue.startswith("`iptables -D INPUT -p udp --dport 4789 -j DROP` did not run on node2: this drill "
                                   "is a replay")
    assert [e.ename for e in errors_of(nb, "repaired_test")] == ["NotGradableError"]
