"""`swarmlab run` streams: what a node prints reaches this terminal as it comes, and a big
output is never held (it once was: 300 MB of output took 1.26 GB of memory)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, require_live, unique_lab_name

SWARMLAB = [sys.executable, "-m", "swarmlab.cli"]
MB = 1 << 20


@pytest.fixture(scope="module")
def lab():
    from swarmlab.lab import Lab, teardown
    require_live()
    lab = Lab(name=unique_lab_name("tok"))
    try:
        lab.up()  # sshd included: --via ssh reaches the nodes as real hosts are reached
        yield lab
    finally:
        teardown(lab.name)


@pytest.fixture(scope="module")
def docker_lab(docker_engine):
    """Node containers on a real engine: their commands come through the engine's exec API."""
    from swarmlab.lab import Lab, teardown
    lab = Lab(name=unique_lab_name("tok"), nodes=1, driver="docker", engine=docker_engine.url)
    try:
        yield lab.up()
    finally:
        teardown(lab.name, engine=docker_engine.url, driver="docker")


WAYS = ["namespaces", "ssh", "docker-exec"]  # how the command reaches the node


def target(request, way: str):
    """The lab, and `swarmlab run --via`, for that way in."""
    if way == "docker-exec":
        return request.getfixturevalue("docker_lab"), "local"
    return request.getfixturevalue("lab"), "ssh" if way == "ssh" else "local"


def start_run(lab, via: str, command: str) -> subprocess.Popen:
    return subprocess.Popen([*SWARMLAB, "run", "--via", via, "-n", "node1", lab.name, "--", command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)


@pytest.mark.parametrize("way", WAYS)
def test_a_big_output_passes_through_in_little_memory(request, way):
    lab, via = target(request, way)
    size = 400 * MB
    proc = start_run(lab, via, f"head -c {size} /dev/zero | tr '\\0' x; echo; echo done >&2")
    received, peak = 0, 0
    while chunk := proc.stdout.read1(MB):
        received += len(chunk)
        peak = max(peak, high_water_kb(proc.pid))
    # The CLI's own high-water mark (VmHWM), read while it runs: wait4's ru_maxrss also counts
    # the children it waited for, and under xdist read a 297 MB figure that was none of its own.
    proc.returncode = proc.wait()
    header = len(f"[node1]$ head -c {size} /dev/zero | tr '\\0' x; echo; echo done >&2\n")
    assert proc.returncode == 0, proc.stderr.read()
    assert received == header + size + len("\ndone\n")
    assert 0 < peak * 1024 < 0.4 * size, f"peak RSS {peak // 1024} MB for {size // MB} MB of output"


def high_water_kb(pid: int) -> int:
    """The peak resident memory of process `pid` so far, in kB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


@pytest.mark.parametrize("way", WAYS)
def test_the_first_line_arrives_while_the_command_still_runs(request, way):
    lab, via = target(request, way)
    proc = start_run(lab, via, "echo first; sleep 4; echo last; exit 3")
    assert proc.stdout.readline() == b"[node1]$ echo first; sleep 4; echo last; exit 3\n"
    assert proc.stdout.readline() == b"first\n"
    first_seen = time.monotonic()
    rest = proc.stdout.read()
    ended = time.monotonic()
    assert proc.wait(timeout=30) == 3 and rest == b"last\n(exit code 3)\n"
    assert ended - first_seen > 3, f"'first' came {ended - first_seen:.1f} s before the end, not as it was printed"
