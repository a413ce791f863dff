"""A swarm join token is on no command line while swarmlab joins a node: every user of the
machine reads /proc/*/cmdline (`ps`), and the token lets anyone join the swarm.

Each join swarmlab does is watched, /proc polled all along: the drill that forms the swarm
and rejoins its node, a fault's rejoin, and the join through SSH that lessons stage on
real hosts. Only this test's labs count (their cgroup), so other people's labs cannot
fail it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from contextlib import contextmanager

import pytest

from conftest import ROOT, require_live, unique_lab_name
from swarmlab import drill, faults, story
from swarmlab.cluster import connect
from swarmlab.lab import Lab, teardown

SWARMLAB = [sys.executable, "-m", "swarmlab.cli"]


@pytest.fixture
def lab():
    require_live()
    name = unique_lab_name("tok")
    try:
        yield Lab(name=name).up()
    finally:
        teardown(name)


def token_holders(lab_name: str) -> list[str]:
    """The processes of that lab whose command line holds a swarm token."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/cgroup") as f:
                ours = f"swarmlab/{lab_name}/" in f.read()
        except OSError:
            continue  # it ended meanwhile
        if ours and b"SWMTKN" in cmdline:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


@contextmanager
def watching(lab_name: str):
    """/proc polled for as long as the block runs; yields the list of what was seen."""
    seen: list[str] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.extend(token_holders(lab_name))
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()


def workers_joined(lab) -> list[str]:
    nodes = lab.node("node1").run(["docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}"]).check()
    return sorted(nodes.stdout.split("\n")[:-1])


def test_drill_start_on_a_lab_not_in_a_swarm_and_a_faults_rejoin_put_no_token_on_a_command_line(lab):
    with connect(lab.name) as cluster:
        seed = next(s for s in range(1000) if drill.choose(cluster, s, key=drill.PRACTICE_KEY).fault == "vpn-routes")
    env = {k: v for k, v in os.environ.items() if k != drill.KEY_VARIABLE}  # the practice key
    with watching(lab.name) as seen:  # it forms the swarm, then node2 leaves and joins with the fault in
        started = subprocess.run([*SWARMLAB, "drill", "start", "--lab", lab.name, "--seed", str(seed)],
                                 capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
        assert started.returncode == 0, started.stderr
        assert subprocess.run([*SWARMLAB, "drill", "undo", "--lab", lab.name], capture_output=True, cwd=ROOT,
                              timeout=300).returncode == 0
        with connect(lab.name) as cluster:
            faults.inject(cluster, "pools-exhausted", "node2", rejoin=True)
            faults.undo(cluster, "pools-exhausted", "node2")
    assert not seen, f"a token on a command line: {sorted(set(seen))[:3]}"
    assert workers_joined(lab) == ["node1 Ready", "node2 Ready"]


def test_a_join_over_ssh_as_lessons_stage_real_hosts_puts_no_token_on_a_command_line(lab):
    with connect(lab.name, via="ssh") as cluster, watching(lab.name) as seen:
        results = story.form_swarm(cluster)
    assert not seen, f"a token on a command line: {sorted(set(seen))[:3]}"
    assert results[-1].stdout == "This node joined a swarm as a worker.\n"
    assert results[-1].command.startswith("docker swarm join --token SWMTKN-1-")
    assert workers_joined(lab) == ["node1 Ready", "node2 Ready"]


@pytest.fixture
def docker_lab(docker_engine):
    name = unique_lab_name("tok")
    try:
        yield Lab(name=name, driver="docker", engine=docker_engine.url).up()
    finally:
        teardown(name, engine=docker_engine.url, driver="docker")


def test_on_node_containers_the_articles_join_and_a_faults_rejoin_put_no_token_on_a_command_line(
        docker_lab, docker_engine):
    # The node containers' processes live under the engine's cgroup: the engine is a lab too.
    with connect(docker_lab.name) as cluster, watching(docker_engine.lab.name) as seen:
        story.form_swarm(cluster)
        faults.inject(cluster, "pools-exhausted", "node2", rejoin=True)
        faults.undo(cluster, "pools-exhausted", "node2")
    assert not seen, f"a token on a command line: {sorted(set(seen))[:3]}"
    assert workers_joined(docker_lab) == ["node1 Ready", "node2 Ready"]
