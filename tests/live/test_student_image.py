"""docs/classroom.md's student image, run as the doc says a student's pod runs: not privileged, only
the security options the doc names, as a plain user, with the memory limit the doc gives a student;
lesson 01 runs live inside it on the userns lab.

The engine is the tests' own (a one-node namespace lab: its dockerd runs in the lab's namespaces, so
the host's Docker, if any, is never used). The image is built offline from this machine's packages
(tests/studentimage.py). Each security option the doc names is shown to be needed: without it the
lab cannot start, and no-new-privileges (a pod's allowPrivilegeEscalation: false) breaks it too.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import threading
import time

import pytest

import studentimage
from conftest import ROOT, require_live, unique_lab_name
from lessonrun import claims_in

DOC = ROOT / "docs" / "classroom.md"
ENGINE_SUBNET = "10.215.0.0/24"
LESSON = "/opt/swarmlab/site-packages/swarmlab/data/notebooks/01-build-the-swarm.ipynb"
# Runs lesson 01 as a notebook, as JupyterLab's kernel would (the HTML handout is not made here).
RUN_LESSON = (
    "import nbformat, nbclient; nb = nbformat.read('" + LESSON + "', 4); "
    "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3').execute(); "
    "print(''.join(o.get('text', '') for c in nb.cells for o in c.get('outputs', []) if o.output_type == 'stream'))")


def doc_run_command() -> str:
    """The `docker run` line of the doc's '## Past one server' (the one block that has it)."""
    section = DOC.read_text().split("## Past one server", 1)[1]
    [line] = [line for line in section.splitlines() if line.startswith("docker run ")]
    return line


def doc_security_options() -> list[str]:
    return re.findall(r"--security-opt (\S+)", doc_run_command())


def doc_memory_limit() -> str:
    return re.search(r"--memory (\S+)", doc_run_command()).group(1)


@pytest.fixture(scope="module")
def engine():
    """A dockerd of the tests' own, with the student image imported."""
    import docker
    from swarmlab.lab import Lab, teardown
    require_live()
    lab = Lab(name=unique_lab_name("stud"), nodes=1, subnet=ENGINE_SUBNET)
    try:
        lab.up()
        url = lab.node("node1").docker_host
        client = docker.DockerClient(base_url=url, timeout=900)
        client.url = url  # for the docker CLI
        studentimage.build(client)
        yield client
        client.close()
    finally:
        teardown(lab.name)


def run(client, script: str, security_opt: list[str], memory: str | None = None,
        environment: dict | None = None, user: str | None = None) -> tuple[int, str, dict]:
    """Run `script` in the student image as the image's user, with the docker CLI as the doc does
    (it turns systempaths=unconfined into the API's empty masked and read-only paths); its exit
    code, output and the container's facts."""
    argv = ["docker", "run", "--detach", *(f"--security-opt={o}" for o in security_opt),
            *([f"--memory={memory}"] if memory else []), *([f"--user={user}"] if user else []),
            *(f"--env={k}={v}" for k, v in (environment or {}).items()), studentimage.TAG, "sh", "-c", script]
    started = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "DOCKER_HOST": client.url})
    assert started.returncode == 0, started.stderr
    container = client.containers.get(started.stdout.strip())
    peak = PeakMemory(container)
    try:
        exit_code = container.wait(timeout=900)["StatusCode"]
        peak.stop()
        container.reload()
        facts = {"host_config": container.attrs["HostConfig"], "config": container.attrs["Config"],
                 "peak": peak.bytes}
        return exit_code, container.logs().decode(errors="replace"), facts
    finally:
        peak.stop()
        container.remove(force=True)


class PeakMemory(threading.Thread):
    """The most memory the container's cgroup held while it ran (cgroup v1's max_usage; else the
    largest usage sampled), read from the engine every second or so."""

    def __init__(self, container):
        super().__init__(daemon=True)
        self.container, self.bytes, self.done = container, 0, threading.Event()
        self.start()

    def run(self):
        while not self.done.is_set():
            try:
                memory = self.container.stats(stream=False).get("memory_stats", {})
            except Exception:  # the container ended between two looks
                return
            self.bytes = max(self.bytes, int(memory.get("max_usage", 0)), int(memory.get("usage", 0)))
            self.done.wait(0.5)

    def stop(self):
        self.done.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=10)


def test_the_doc_names_no_privilege_only_security_options():
    line = doc_run_command()
    assert "--privileged" not in line and "--cap-add" not in line and "--device" not in line
    assert sorted(doc_security_options()) == ["seccomp=unconfined", "systempaths=unconfined"]


def test_lesson_01_runs_live_in_the_student_image_as_a_plain_user_without_privileges(engine):
    started = time.monotonic()
    code, out, facts = run(engine, f"id -u; python3 -c {shlex.quote(RUN_LESSON)}", doc_security_options(),
                           memory=doc_memory_limit(), environment={"SWARMLAB_BACKEND": "live"})
    took = time.monotonic() - started
    host = facts["host_config"]
    assert host["Privileged"] is False and not host["CapAdd"] and host["SecurityOpt"] == ["seccomp=unconfined"]
    assert host["MaskedPaths"] == [] and host["ReadonlyPaths"] == []  # what systempaths=unconfined means
    assert facts["config"]["User"] == studentimage.USER
    assert code == 0, out[-3000:]
    assert out.splitlines()[0] == str(studentimage.UID)
    assert "swarmlab backend: live (lab lesson01, your own user namespaces" in out
    assert f"claims checked: {claims_in('01')}, all true" in out and "lesson 01 closed; lab lesson01 is down" in out
    print(f"\nlesson 01 live in the student image: {took:.0f} s (container start to end), "
          f"peak memory {facts['peak'] / 2**20:.0f} MiB (limit {doc_memory_limit()})")


@pytest.mark.parametrize("left_out, says", [
    # Docker's default profile refuses unshare(CLONE_NEWUSER); here the probe's unshare then hung (30 s)
    ("seccomp=unconfined", "cannot run a lab in your user namespaces: userns probe: `unshare"),
    # Docker masks parts of /proc, and the kernel lets a user namespace mount a proc only where one is fully visible
    ("systempaths=unconfined", "mount /proc failed: Operation not permitted"),
])
def test_each_security_option_the_doc_names_is_needed(engine, left_out, says):
    options = [o for o in doc_security_options() if o != left_out]
    code, out, _ = run(engine, "swarmlab lab up --driver userns --name needs", options)
    assert code != 0 and says in out, out[-2000:]


def test_no_new_privileges_stops_the_lab_as_allow_privilege_escalation_false_would(engine):
    code, out, _ = run(engine, "swarmlab lab up --driver userns --name needs", [*doc_security_options(), "no-new-privileges"])
    # newuidmap's file capability is not granted under no_new_privs
    assert code != 0 and "newuidmap: write to uid_map failed: Operation not permitted" in out, out[-2000:]


def test_setuid_id_mappers_fail_in_the_container_as_the_doc_says(engine):
    """The image's newuidmap/newgidmap made setuid again (as Debian installs them), without their file
    capabilities: run as the student, the kernel refuses the id map."""
    setuid_again = ("python3 -c \"import os\n"
                    "for tool in ('/usr/bin/newuidmap', '/usr/bin/newgidmap'):\n"
                    "    os.removexattr(tool, 'security.capability'); os.chmod(tool, 0o4755)\"; "
                    f"setpriv --reuid={studentimage.UID} --regid={studentimage.UID} --clear-groups "
                    "unshare --user --map-root-user --map-auto true")
    code, out, _ = run(engine, setuid_again, doc_security_options(), user="0")
    assert code != 0 and "newuidmap: write to uid_map failed: Operation not permitted" in out, out[-2000:]
