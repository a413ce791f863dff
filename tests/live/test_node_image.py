"""The docker driver's node image, built offline from this machine's packages on a real engine."""
from __future__ import annotations

from swarmlab.lab.docker import nodeimage


def test_node_image_is_tagged_with_the_version_and_labelled(docker_engine):
    image = docker_engine.client().images.get(nodeimage.image_ref())
    assert image.tags == [f"swarmlab/node:{nodeimage.version()}"]
    assert image.labels[nodeimage.LABEL_IMAGE] == "node"
    assert image.labels[nodeimage.LABEL_VERSION] == nodeimage.version()
    assert image.labels[nodeimage.LABEL_SOURCE] == nodeimage.HOST
    assert image.attrs["Size"] < 260e6  # the packages' files and their libraries, no docs or extra tools


def test_node_image_holds_dockerd_and_the_articles_tools(docker_engine):
    script = ("for t in dockerd containerd containerd-shim-runc-v2 runc docker docker-proxy tini "
              "iptables ip brctl ifconfig ps nsenter xargs awk mount; do command -v $t || echo missing $t; done; "
              "readlink /bin/sh; dockerd --version; iptables --version; brctl --version 2>&1 | head -1")
    out = docker_engine.client().containers.run(
        nodeimage.image_ref(), ["-c", script], entrypoint="sh", remove=True, network_mode="none").decode()
    assert "missing" not in out, out
    # the real tools, not busybox's (its nsenter would run busybox's own `ip`)
    assert "/usr/sbin/brctl" in out and "/usr/sbin/ifconfig" in out and "/usr/bin/nsenter" in out
    assert "dash" in out  # busybox's ash would run its own applets ahead of PATH
    assert "Docker version 20.10" in out
    assert "nf_tables" in out or "legacy" in out


def test_ensure_reuses_the_image_and_rebuild_replaces_it(docker_engine):
    client = docker_engine.client()
    before = client.images.get(nodeimage.image_ref()).id
    lines = []
    assert nodeimage.ensure(client, progress=lines.append).id == before
    assert lines == []  # nothing built, nothing said
    rebuilt = nodeimage.ensure(client, rebuild=True, source=nodeimage.HOST, progress=lines.append)
    assert lines[0].startswith(f"building the node image {nodeimage.image_ref()} from this machine's packages")
    assert lines[1].startswith(f"built {nodeimage.image_ref()} in ")
    assert client.images.get(nodeimage.image_ref()).id == rebuilt.id


BUILD_UNTIL_KILLED = """
import platform, sys
from types import SimpleNamespace
from swarmlab.lab.docker import nodeimage
# An engine that never answers the import: the build is killed while it writes the archive.
engine = SimpleNamespace(version=lambda: {"Arch": platform.machine()})
print("building", flush=True)
nodeimage.build_from_host(engine)
"""


def test_a_build_killed_with_sigkill_leaves_no_archive(tmp_path):
    """kill -9 in the middle of writing the ~300 MB archive: nothing of it stays on disk."""
    import os
    import signal
    import subprocess
    import sys
    import time
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    build = subprocess.Popen([sys.executable, "-c", BUILD_UNTIL_KILLED], env=env, stdout=subprocess.PIPE, text=True)
    assert build.stdout.readline() == "building\n"
    started = time.monotonic()
    while _written(build.pid) < 20e6 and build.poll() is None and time.monotonic() - started < 60:
        time.sleep(0.1)  # until the archive holds 20 MB
    assert build.poll() is None and _written(build.pid) >= 20e6, "the build never wrote its archive"
    os.kill(build.pid, signal.SIGKILL)
    build.wait(timeout=30)
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def _written(pid: int) -> int:
    """Bytes this process has written (/proc/PID/io)."""
    try:
        io = dict(line.split(": ") for line in open(f"/proc/{pid}/io").read().splitlines())
    except OSError:
        return 0
    return int(io["wchar"])
