"""Drills on a real lab, through the CLI a student types: start with a seed, check fails,
repair with the student's own commands (never swarmlab's fixes), check passes, reveal names it.

One lab serves every drill in turn (a drill ends with the swarm repaired). The seed of each
fault is the first one `drill.choose` maps to it, so the test follows the registry as it grows.
Every drill goes to node2.
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
# What a student who found the cause types on the broken node (lessons 4-6 and the iptables/ip man pages).
REPAIRS = {
    "vxlan-blocked": [["iptables", "-F", "INPUT"]],
    "vpn-routes": [["ip", "route", "del", "172.16.0.0/12"], ["ip", "route", "del", "192.168.0.0/16"]],
    "pools-exhausted": [["docker", "network", "prune", "-f"]],
}
NODE_STATUS = ["docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}"]


def cli(*args):
    return subprocess.run([*SWARMLAB, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def lab():
    require_live()
    name = unique_lab_name("drill")
    try:
        yield Lab(name=name).up()
    finally:
        teardown(name)


def seed_for(lab, fault: str) -> drill.Drill:
    with connect(lab.name) as cluster:
        return next(d for d in (drill.choose(cluster, s) for s in range(1000)) if d.fault == fault)


def wait_until_every_node_is_ready(lab, timeout: float = 90) -> str:
    """What a student checks after a repair: `docker node ls` on the manager shows every node Ready."""
    deadline = time.monotonic() + timeout
    while True:
        listed = cli("lab", "exec", "--name", lab.name, "node1", "--", *NODE_STATUS)
        statuses = [line.split()[-1] for line in listed.stdout.splitlines() if line.strip()]
        if (statuses and all(s == "Ready" for s in statuses)) or time.monotonic() > deadline:
            return listed.stdout
        time.sleep(2)


# Lesson 08 runs the vxlan-blocked drill live (seed 2011, tests/unit/test_drill.py), through the same
# drill module: the CLI drills the other two, so every drillable fault is drilled live once.
LESSON_08_DRILL = "vxlan-blocked"


def test_the_cli_and_lesson_08_drill_every_drillable_fault():
    assert set(REPAIRS) == set(drill.candidates()) and LESSON_08_DRILL in REPAIRS


@pytest.mark.parametrize("fault", [f for f in REPAIRS if f != LESSON_08_DRILL])
def test_a_drill_fails_until_the_student_repairs_it(lab, fault):
    chosen = seed_for(lab, fault)
    seed, node = chosen.seed, chosen.node
    assert node == "node2"
    start = cli("drill", "start", "--lab", lab.name, "--seed", str(seed))
    assert start.returncode == 0, start.stderr
    assert fault not in start.stdout  # the student is not told

    secret = drill.secret_path(lab.name)
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    inside = cli("lab", "exec", "--name", lab.name, "node2", "--", "cat", str(secret))
    assert inside.returncode != 0 and fault not in inside.stdout  # a node's /run is its own

    broken = cli("drill", "check", "--lab", lab.name)
    assert broken.returncode == 1 and "FAIL" in broken.stdout, broken.stdout + broken.stderr
    # Where node2 has no task running, the evidence has what its daemon logged about the task.
    assert "| grep -F -e task.id=" in broken.stdout and "level=error" in broken.stdout, broken.stdout

    for command in REPAIRS[fault]:
        typed = cli("lab", "exec", "--name", lab.name, node, "--", *command)
        assert typed.returncode == 0, typed.stderr
    # A worker cut off from the manager takes a few seconds to come back once the port is open.
    assert "Down" not in wait_until_every_node_is_ready(lab)

    repaired = cli("drill", "check", "--lab", lab.name)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert repaired.stdout.count("PASS") == 4 and "FAIL" not in repaired.stdout

    reveal = cli("drill", "reveal", "--lab", lab.name)
    assert reveal.returncode == 0, reveal.stderr
    assert reveal.stdout.startswith(f"drill seed {seed}: {fault} on {node}")


def test_reveal_without_a_drill_says_how_to_start_one(lab):
    teardown_name = unique_lab_name("nodrill")
    out = cli("drill", "reveal", "--lab", teardown_name)
    assert out.returncode == 1 and f"no drill started on lab {teardown_name!r}" in out.stderr
