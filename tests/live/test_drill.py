"""Drills on a real lab, through the CLI a student types: start with a seed, check fails,
repair with the student's own commands (never swarmlab's fixes), check passes, reveal names it,
undo ends it.

One lab serves every drill in turn (a drill ends repaired and undone). The seed of each fault is
the first one `drill.choose` maps to it with the drill's key, so the test follows the registry as
it grows. Every drill goes to node2. The drills run with a class key (SWARMLAB_DRILL_KEY), as a
class does.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from conftest import ROOT, require_live, unique_lab_name
from swarmlab import drill
from swarmlab.cluster import connect
from swarmlab.lab import Lab, teardown

SWARMLAB = [sys.executable, "-m", "swarmlab.cli"]
# What a student who found the cause types (lessons 4-6 and the iptables/ip man pages), on the
# drill's node (NODE) or the manager: a fault that made the scheduler put both replicas of `test`
# on node1 also needs them spread again, as the article recreated its service.
SPREAD = ("node1", ["docker", "service", "update", "--force", "--detach", "test"])
REPAIRS = {
    "vxlan-blocked": [("NODE", ["iptables", "-F", "INPUT"])],
    "vpn-routes": [("NODE", ["ip", "route", "del", "172.16.0.0/12"]), ("NODE", ["ip", "route", "del", "192.168.0.0/16"]),
                   SPREAD],
    "pools-exhausted": [("NODE", ["docker", "network", "prune", "-f"]), SPREAD],
}
NODE_STATUS = ["docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}"]
CLASS_KEY = b"the class key of tests/live/test_drill.py"


def cli(*args, key_file=None):
    env = dict(os.environ, **({drill.KEY_VARIABLE: str(key_file)} if key_file else {}))
    return subprocess.run([*SWARMLAB, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)


@pytest.fixture(scope="module")
def lab():
    require_live()
    name = unique_lab_name("drill")
    try:
        yield Lab(name=name).up()
    finally:
        teardown(name)


@pytest.fixture(autouse=True)
def no_drill_left(request):
    """A drill that failed halfway is undone, so the next one can start (one lab serves them all)."""
    yield
    if "lab" in request.fixturenames:
        name = request.getfixturevalue("lab").name
        if drill.secret_path(name).exists():
            cli("drill", "undo", "--lab", name)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("class") / "drill.key"
    path.write_bytes(CLASS_KEY)
    path.chmod(0o600)
    return path


def seed_for(lab, fault: str, key: bytes = CLASS_KEY) -> drill.Drill:
    with connect(lab.name) as cluster:
        return next(d for d in (drill.choose(cluster, s, key=key) for s in range(1000)) if d.fault == fault)


def repair(lab, fault: str, node: str) -> None:
    for where, command in REPAIRS[fault]:
        typed = cli("lab", "exec", "--name", lab.name, node if where == "NODE" else where, "--", *command)
        assert typed.returncode == 0, typed.stderr


def wait_until_every_node_is_ready(lab, timeout: float = 90) -> str:
    """What a student checks after a repair: `docker node ls` on the manager shows every node Ready."""
    deadline = time.monotonic() + timeout
    while True:
        listed = cli("lab", "exec", "--name", lab.name, "node1", "--", *NODE_STATUS)
        statuses = [line.split()[-1] for line in listed.stdout.splitlines() if line.strip()]
        if (statuses and all(s == "Ready" for s in statuses)) or time.monotonic() > deadline:
            return listed.stdout
        time.sleep(2)


# Lesson 08 runs the vxlan-blocked drill live (its seed, tests/unit/test_drill.py), through the same
# drill module, and repairs it well; the CLI repairs the other two well and vxlan-blocked harmfully, so
# every drillable fault is drilled live once.
LESSON_08_DRILL = "vxlan-blocked"


def test_the_cli_and_lesson_08_drill_every_drillable_fault():
    assert set(REPAIRS) == set(drill.candidates()) and LESSON_08_DRILL in REPAIRS


@pytest.mark.parametrize("fault", [f for f in REPAIRS if f != LESSON_08_DRILL])
def test_a_drill_fails_until_the_student_repairs_it(lab, key_file, fault):
    chosen = seed_for(lab, fault)
    seed, node = chosen.seed, chosen.node
    assert node == "node2"
    start = cli("drill", "start", "--lab", lab.name, "--seed", str(seed), key_file=key_file)
    assert start.returncode == 0, start.stderr
    assert fault not in start.stdout and "the seed alone does not name it" in start.stdout  # the student is not told

    secret = drill.secret_path(lab.name)
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert CLASS_KEY.decode() not in secret.read_text()  # the record holds no key
    inside = cli("lab", "exec", "--name", lab.name, "node2", "--", "cat", str(secret))
    assert inside.returncode != 0 and fault not in inside.stdout  # a node's /run is its own

    broken = cli("drill", "check", "--lab", lab.name)
    assert broken.returncode == 1 and "FAIL  the service test runs a replica on every node" in broken.stdout, \
        broken.stdout + broken.stderr
    # Where node2 has no task running, the evidence has what its daemon logged about the task.
    assert "| grep -F -e task.id=" in broken.stdout and "level=error" in broken.stdout, broken.stdout

    repair(lab, fault, node)
    # A worker cut off from the manager takes a few seconds to come back once the port is open.
    assert "Down" not in wait_until_every_node_is_ready(lab)

    repaired = cli("drill", "check", "--lab", lab.name)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert repaired.stdout.count("PASS") == 7 and "FAIL" not in repaired.stdout

    reveal = cli("drill", "reveal", "--lab", lab.name)
    assert reveal.returncode == 0, reveal.stderr
    assert reveal.stdout.startswith(f"drill seed {seed}: {fault} on {node}")
    assert cli("drill", "undo", "--lab", lab.name).returncode == 0 and not secret.exists()


def check_until(lab, passes: bool, timeout: float = 90) -> subprocess.CompletedProcess:
    """`drill check` again until it passes (or fails) or the time is up: an overlay settles after a restart."""
    deadline = time.monotonic() + timeout
    while True:
        checked = cli("drill", "check", "--lab", lab.name)
        if (checked.returncode == 0) == passes or time.monotonic() > deadline:
            return checked
        time.sleep(5)


def test_a_harmful_repair_fails_and_a_second_drill_is_refused(lab, key_file):
    """vxlan-blocked repaired with `iptables -F`: the overlay works again, but Docker's rules are gone
    and check says so; `systemctl restart docker` on the node writes them again (then test's replicas
    are spread again, as check's evidence says). A second start while the drill runs is refused in
    one line, and reveal still names the first."""
    chosen = seed_for(lab, "vxlan-blocked")
    assert cli("drill", "start", "--lab", lab.name, "--seed", str(chosen.seed), key_file=key_file).returncode == 0
    other = seed_for(lab, "vpn-routes")
    again = cli("drill", "start", "--lab", lab.name, "--seed", str(other.seed), key_file=key_file)
    assert again.returncode == 1 and again.stderr.count("\n") == 1, again.stderr
    assert f"already runs drill seed {chosen.seed}" in again.stderr and "drill undo --lab" in again.stderr

    harmful = cli("lab", "exec", "--name", lab.name, "node2", "--", "iptables", "-F")
    assert harmful.returncode == 0, harmful.stderr
    checked = check_until(lab, passes=False, timeout=0)
    assert checked.returncode == 1, checked.stdout
    assert "PASS  ping over the overlay" in checked.stdout  # the fault's own rule went with the rest
    assert f"FAIL  {drill.RULES_CHECK}" in checked.stdout and "no rule for docker_gwbridge" in checked.stdout
    assert checked.stdout.count("FAIL") == 1, checked.stdout

    restarted = cli("lab", "exec", "--name", lab.name, "node2", "--", "systemctl", "restart", "docker")
    assert restarted.returncode == 0, restarted.stderr
    assert "Down" not in wait_until_every_node_is_ready(lab)
    # While node2's daemon restarted, the scheduler may have moved its replica of test to node1.
    spread = cli("lab", "exec", "--name", lab.name, SPREAD[0], "--", *SPREAD[1])
    assert spread.returncode == 0, spread.stderr
    checked = check_until(lab, passes=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    reveal = cli("drill", "reveal", "--lab", lab.name)
    assert reveal.stdout.startswith(f"drill seed {chosen.seed}: vxlan-blocked on node2"), reveal.stdout
    assert cli("drill", "undo", "--lab", lab.name).returncode == 0


def test_reveal_and_undo_without_a_drill_say_how_to_start_one(lab):
    for action in ("reveal", "undo"):
        out = cli("drill", action, "--lab", lab.name)
        assert out.returncode == 1, out.stdout
        assert f"no drill started on lab {lab.name}; `swarmlab drill start --lab {lab.name}`" in out.stderr
