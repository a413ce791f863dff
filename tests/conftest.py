"""Shared fixtures. Live tests build real labs; they fail (never skip) where they cannot run."""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SEEDS = ROOT.parent / "shared" / "seeds"


# `make test` runs the suite on a few workers (pytest-xdist, --dist loadgroup). A test
# module is one group, so its module-scoped lab is built once, on one worker. Tests that
# compare the host's root namespace before and after, and those whose labs add a link to
# it (host_link), share one group: they never run at the same time.
ROOT_NAMESPACE_GROUP = "root-namespace"
ROOT_NAMESPACE_TESTS = ("tests/live/test_lab.py::test_teardown_leaves_nothing_and_host_is_untouched",
                        "tests/live/test_ssh.py::", "tests/live/test_lessons_inventory.py::",
                        "tests/live/test_userns_isolation.py::")
# The slowest modules start first, slowest first (by `--durations` of a full run: each runs a
# lesson series, a classroom or several drills), so the workers finish together instead of one
# of them starting a 3-minute module last while the other has nothing left.
SLOW_FIRST = ("tests/live/test_lessons_inventory.py", "tests/live/test_classroom_grading.py",
              "tests/live/test_docker_lessons.py", "tests/live/test_classroom.py", "tests/live/test_userns_lab.py",
              "tests/live/test_lessons.py", "tests/live/test_drill.py",
              "tests/live/test_story.py", "tests/live/test_userns_failures.py", "tests/live/test_docker_access.py",
              "tests/live/test_cli.py", "tests/live/test_faults.py", "tests/live/test_student_image.py")


def xdist_group_of(nodeid: str) -> str:
    if nodeid.startswith(ROOT_NAMESPACE_TESTS):
        return ROOT_NAMESPACE_GROUP
    return nodeid.split("::", 1)[0]


def _slowness(item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/live/" in str(item.fspath):
            item.add_marker(pytest.mark.live)
        item.add_marker(pytest.mark.xdist_group(xdist_group_of(item.nodeid)))
    items.sort(key=_slowness)  # stable: within a module, the order stays as written


def require_live() -> None:
    """Fail loudly when this machine cannot run the lab: a skipped live test proves nothing."""
    from swarmlab.check import can_run_lab, run_checks
    if os.geteuid() != 0:
        pytest.fail("live tests need root: run `make test` as root on Linux")
    checks = run_checks()
    if not can_run_lab(checks):
        missing = "; ".join(f"{c.name}: {c.fix}" for c in checks if not c.ok)
        pytest.fail(f"this machine cannot run the live lab: {missing}")


def unique_lab_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def processes_mentioning(text: str) -> list[str]:
    """Every process of this machine whose command line holds `text` (but this one)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and int(pid) != os.getpid():
            found.append(f"{pid} {cmd}")
    return found


def as_user(uid: int, groups=(), python: bool = True) -> list[str]:
    """setpriv to run as `uid` (in `groups`, else none); python=False for a command that is not
    swarmlab's interpreter, which never needs the capability below. A checkout where other users cannot
    read (under /root, in a `mktemp -d` folder) would stop that user importing swarmlab at
    all: then it gets one capability, CAP_DAC_READ_SEARCH (read any file), and still is no
    root: the same uid, none of the capabilities the lab needs (namespaces, mounts, networks)."""
    import subprocess
    import sys
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}",
            f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups"]
    if not python:
        return drop
    # Also a child of the interpreter (a notebook's kernel is one): where the interpreter lives
    # under /root (pyenv), the first exec can still start (on the system's libpython) while
    # its own children are refused.
    probe = "import subprocess, sys, swarmlab.cli; subprocess.run([sys.executable, '-c', ''], check=True)"
    readable = subprocess.run([*drop, sys.executable, "-c", probe], cwd=ROOT,
                              capture_output=True, timeout=60).returncode == 0
    return drop if readable else [*drop, "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]


@pytest.fixture
def make_lab():
    """Build labs on demand (unique names); every one is taken down after the test."""
    from swarmlab.lab import teardown
    require_live()
    names = []
    yield _lab_factory(names, prefix="t")
    for name in names:
        teardown(name)


def _lab_factory(names: list[str], prefix: str, **defaults):
    """make(up=True, swarm=False, **Lab kwargs): builds a lab and notes its name for teardown."""
    from swarmlab.lab import Lab

    def make(up: bool = True, swarm: bool = False, **kwargs):
        kwargs = {"name": unique_lab_name(prefix), **defaults, **kwargs}
        names.append(kwargs["name"])
        lab = Lab(**kwargs)
        if up:
            lab.up()
            if swarm:
                lab.form_swarm()
        return lab
    return make


@pytest.fixture(scope="module")
def swarm_lab():
    """One 2-node lab with its swarm formed, shared by a test module."""
    from swarmlab.lab import Lab, teardown
    require_live()
    lab = Lab(name=unique_lab_name("m"))
    try:
        lab.up()
        lab.form_swarm()
        yield lab
    finally:
        teardown(lab.name)


# --- a Docker engine for the docker driver -------------------------------------------
# CI has no Docker engine, and the host's root namespace must stay untouched: the
# engine is the dockerd of a one-node namespace lab, reached through its socket. Its
# LAN subnet stays clear of the article's, which docker-driver labs use on the engine.
ENGINE_SUBNET = "10.213.0.0/24"


class Engine:
    """A real dockerd that docker-driver labs run on (a one-node namespace lab)."""

    def __init__(self, lab):
        self.lab = lab
        self.node = lab.node("node1")
        self.url = self.node.docker_host  # unix:///run/swarmlab/<lab>/node1/run/docker.sock

    def client(self):
        import docker
        return docker.DockerClient(base_url=self.url)

    def objects(self, label: str) -> dict[str, list[str]]:
        """Containers, networks and volumes on the engine that carry `label` (key or key=value)."""
        client = self.client()
        try:
            flt = {"label": label}
            # ignore_removed: a container can go between the list and its inspection (a lab up
            # removes its trial of --privileged; a down runs beside), which is not an object left
            return {"containers": sorted(c.name for c in client.containers.list(all=True, filters=flt,
                                                                                 ignore_removed=True)),
                    "networks": sorted(n.name for n in client.networks.list(filters=flt)),
                    "volumes": sorted(v.name for v in client.volumes.list(filters=flt))}
        finally:
            client.close()


@pytest.fixture(scope="session")
def docker_engine():
    """One engine for the whole run, with the node image built on it once (offline, from
    this machine's packages): the image is the slow part, labs on it are quick."""
    from swarmlab.lab import Lab, teardown
    from swarmlab.lab.docker import nodeimage
    require_live()
    lab = Lab(name=unique_lab_name("engine"), nodes=1, subnet=ENGINE_SUBNET)
    try:
        lab.up()
        engine = Engine(lab)
        client = engine.client()
        nodeimage.ensure(client, source=nodeimage.HOST, progress=None)
        client.close()
        yield engine
    finally:
        teardown(lab.name)


@pytest.fixture
def make_docker_lab(docker_engine):
    """Docker-driver labs on the test engine, on demand (unique names); all taken down after."""
    from swarmlab.lab import teardown
    names = []
    yield _lab_factory(names, prefix="d", driver="docker", engine=docker_engine.url)
    for name in names:
        teardown(name, engine=docker_engine.url, driver="docker")


@pytest.fixture(scope="module")
def docker_swarm_lab(docker_engine):
    """One 2-node docker-driver lab with its swarm formed, shared by a test module."""
    with docker_swarm(docker_engine, "dm") as lab:
        yield lab


@contextlib.contextmanager
def docker_swarm(docker_engine, prefix: str, docker: str | None = None, subnet: str | None = None):
    """A 2-node docker-driver lab on the test engine (its nodes on Docker `docker`, else the
    default image's; on `subnet`, else the article's), its swarm formed; taken down after. A chosen
    Docker's root file system must be in the cache `make test-install` fills: the tests download nothing."""
    from swarmlab.lab import Lab, teardown
    from swarmlab.lab.docker import debian
    if docker and not debian.rootfs_path(debian.release(docker)).exists():
        pytest.fail(f"no Docker {docker} root file system in {debian.rootfs_path(debian.release(docker))}: "
                    f"`make test-install` builds it (`swarmlab lab rootfs --docker {docker}`)")
    lab = Lab(name=unique_lab_name(prefix), driver="docker", engine=docker_engine.url, docker=docker,
              **({"subnet": subnet} if subnet else {}))
    try:
        lab.up()
        lab.form_swarm()
        yield lab
    finally:
        teardown(lab.name, engine=docker_engine.url, driver="docker")



def pytest_configure(config):
    """The run's own user cache (what swarmlab keeps there, e.g. engine-privileges.json),
    so the tests leave nothing in root's home; lesson kernels and CLI calls inherit it."""
    import tempfile
    # The node root file systems `make test-install` built (the tests download nothing).
    os.environ.setdefault("SWARMLAB_ROOTFS", str(ROOT / ".cache" / "rootfs"))
    if "SWARMLAB_TEST_CACHE" not in os.environ:  # xdist workers inherit the controller's
        os.environ["SWARMLAB_TEST_CACHE"] = os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="swarmlab-test-cache-")
        config._swarmlab_cache = os.environ["SWARMLAB_TEST_CACHE"]


def pytest_unconfigure(config):
    made = getattr(config, "_swarmlab_cache", None)  # only the process that made it removes it
    if made:
        import shutil
        shutil.rmtree(made, ignore_errors=True)


# --- plain users of this machine, made for a test ---------------------------------------
def _subid_options(name: str) -> list[str]:
    """usermod's options that remove the user's subordinate ranges (Debian's useradd gives some
    by itself where /etc/subuid exists)."""
    from swarmlab.userns_check import subordinate_range
    options = []
    for kind, option in (("subuid", "--del-subuids"), ("subgid", "--del-subgids")):
        found = subordinate_range(name, kind)
        if found:
            options += [option, f"{found[0]}-{found[0] + found[1] - 1}"]
    return options


@contextlib.contextmanager
def plain_user(prefix: str, subids: bool):
    """A plain user of this machine (not root, in no group but its own) with a home of its own and,
    when `subids`, 65536 subordinate uids and gids; removed afterwards with its files and ranges.
    Yields (name, uid, home)."""
    import random
    import shutil
    import subprocess
    name = f"{prefix}{random.randint(0, 99999):05d}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True, capture_output=True)
    try:
        if _subid_options(name):
            subprocess.run(["usermod", *_subid_options(name), name], check=True, capture_output=True)
        if subids:
            start = 300_000_000 + random.randint(0, 999) * 65536
            subprocess.run(["usermod", "--add-subuids", f"{start}-{start + 65535}", "--add-subgids",
                            f"{start}-{start + 65535}", name], check=True, capture_output=True)
        pw = subprocess.run(["getent", "passwd", name], capture_output=True, text=True).stdout.split(":")
        yield name, int(pw[2]), Path(pw[5])
    finally:
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
        if _subid_options(name):
            home = subprocess.run(["getent", "passwd", name], capture_output=True, text=True).stdout.split(":")[5]
            # Files the user's namespaces wrote as its subordinate ids: only such a namespace removes them.
            subprocess.run(["setpriv", f"--reuid={name}", f"--regid={name}", "--clear-groups", "unshare", "--user",
                            "--map-root-user", "--map-auto", "rm", "-rf", home], capture_output=True, cwd="/")
            subprocess.run(["usermod", *_subid_options(name), name], capture_output=True)
        subprocess.run(["userdel", "--remove", name], capture_output=True)


def as_plain_user(user, *argv, timeout=300, env=None, prefix=(), python=False):
    """Run argv as a plain user made by plain_user, with that user's HOME and nothing of root's
    environment (python=True: argv runs swarmlab's interpreter, see as_user); `prefix` goes before
    the user switch (e.g. root's own `unshare --mount ...`)."""
    import subprocess
    name, uid, home = user
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", **(env or {})}
    return subprocess.run([*prefix, *as_user(uid, python=python), *argv], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)


def plain_user_cli(user, *args, timeout=300, **options):
    """`swarmlab ARGS` as a plain user made by plain_user."""
    import sys
    return as_plain_user(user, sys.executable, "-m", "swarmlab.cli", *args, timeout=timeout, python=True, **options)


def processes_of(uid: int) -> list[str]:
    """The processes running as `uid` ("PID ARGS"), but zombies: a lab's `unshare` and `nsenter`
    outlive the `up` that started them, so when `down` ends them the machine's init reaps them,
    in its own time (this sandbox's init does it seconds later)."""
    import subprocess
    out = subprocess.run(["ps", "-u", str(uid), "-o", "pid=,stat=,args="], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if not line.split()[1].startswith("Z")]
