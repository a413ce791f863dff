"""The userns driver when things go wrong, as real plain users: `lab up` killed with -9 at several
points, then `lab down` leaves no process, mount or file; and each bad input gets one line that
says what to do, with nothing left behind."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, as_user, plain_user, plain_user_cli, processes_of, require_live

# A line `lab up` prints on its way (the phases of swarmlab/lab/userns/driver.py), or a time after
# its first line: the kill lands in that step or just after it.
KILL_POINTS = ["bringing up lab", 0.3, 1.0, "namespaces", "daemons", "images"]


@pytest.fixture(scope="module")
def student():
    require_live()
    with plain_user("snk", subids=True) as user:
        yield user


def labs_folder(user) -> Path:
    return user[2] / ".local/state/swarmlab/labs"


def host_mounts_naming(folder: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(folder) in line]


def up_killed_at(user, name: str, point) -> str:
    """Start `lab up` as the user and kill -9 it at `point`; return what it had printed."""
    _, uid, home = user
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    proc = subprocess.Popen([*as_user(uid), sys.executable, "-m", "swarmlab.cli", "lab", "up", "--name", name,
                             "--driver", "userns"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=ROOT, env=env, text=True)
    said = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        said.append(line)
        if isinstance(point, str) and point in line:
            break
        if isinstance(point, float):
            time.sleep(point)
            break
        assert time.monotonic() < deadline, said
    proc.kill()  # SIGKILL: no rollback, no finally
    proc.wait()
    return "".join(said)


@pytest.mark.parametrize("point", KILL_POINTS, ids=str)
def test_down_after_up_was_killed_leaves_nothing(student, point):
    name = f"k{KILL_POINTS.index(point)}"
    said = up_killed_at(student, name, point)
    assert "bringing up lab" in said, said
    down = plain_user_cli(student, "lab", "down", "--name", name)
    assert down.returncode == 0, down.stderr
    assert processes_of(student[1]) == []
    folder = labs_folder(student) / name
    assert not folder.exists() and host_mounts_naming(folder) == []
    # ...and the name is free again: a whole lab comes up under it, and goes.
    if point == KILL_POINTS[-1]:
        assert plain_user_cli(student, "lab", "up", "--name", name, "--driver", "userns").returncode == 0
        assert plain_user_cli(student, "lab", "down", "--name", name).returncode == 0
        assert processes_of(student[1]) == [] and not folder.exists()


def one_line_refusal(ran: subprocess.CompletedProcess, *words: str) -> None:
    assert ran.returncode == 1 and ran.stderr.startswith("swarmlab: ") and ran.stderr.count("\n") == 1, ran.stderr
    for word in words:
        assert word in ran.stderr, ran.stderr


def assert_nothing_left(user, name: str) -> None:
    assert not (labs_folder(user) / name).exists()
    assert processes_of(user[1]) == []


def test_a_name_the_users_own_lab_holds_is_refused_and_that_lab_goes_on(student):
    assert plain_user_cli(student, "lab", "up", "--name", "held", "--driver", "userns").returncode == 0
    try:
        again = plain_user_cli(student, "lab", "up", "--name", "held", "--driver", "userns")
        one_line_refusal(again, "'held'", "swarmlab lab down --name held")
        alive = plain_user_cli(student, "lab", "exec", "--name", "held", "node1", "--", "docker", "info",
                               "--format", "{{.Name}}")
        assert alive.stdout.strip() == "node1", alive.stderr
    finally:
        plain_user_cli(student, "lab", "down", "--name", "held")
    assert_nothing_left(student, "held")


def test_no_newuidmap_is_named_with_the_package_to_install(student, tmp_path):
    """uidmap not installed: /usr/bin seen without newuidmap and newgidmap (an overlay whose upper
    layer whites them out, in a mount namespace of this test's own), nothing else changed."""
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir(), work.mkdir()
    for tool in ("newuidmap", "newgidmap"):
        subprocess.run(["mknod", str(upper / tool), "c", "0", "0"], check=True)  # an overlay whiteout
    hide = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f"mount -t overlay overlay -o lowerdir=/usr/bin,upperdir={upper},workdir={work} /usr/bin && exec \"$@\"",
            "hide"]
    ran = plain_user_cli(student, "lab", "up", "--name", "nomap", "--driver", "userns", prefix=hide)
    one_line_refusal(ran, "newuidmap", "apt-get install", "uidmap", "`swarmlab check`")
    assert_nothing_left(student, "nomap")


# As the plain user: a user namespace of its own (the user's id mapped to itself) in which the
# limit of user namespaces is 0, then `swarmlab lab up` in it, with no capability left. In there,
# root's folders are an unmapped owner's, which no capability reaches: swarmlab is imported first,
# in case this interpreter or checkout lies under one (pyenv's under /root), with one thread of
# OpenBLAS (numpy's) only: unshare(CLONE_NEWUSER) refuses a process with threads (EINVAL).
NESTED = r"""
import ctypes, os, sys
import swarmlab.cli, swarmlab.lab.userns.driver, swarmlab.userns_check
CLONE_NEWUSER = 0x10000000
uid, gid = os.getuid(), os.getgid()
if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWUSER) != 0:
    sys.exit(f"unshare: {os.strerror(ctypes.get_errno())}")
open("/proc/self/setgroups", "w").write("deny")
open("/proc/self/uid_map", "w").write(f"{uid} {uid} 1")
open("/proc/self/gid_map", "w").write(f"{gid} {gid} 1")
open("/proc/sys/user/max_user_namespaces", "w").write("0")
sys.exit(swarmlab.cli.main(sys.argv[1:]))
"""


def test_user_namespaces_refused_are_named_with_the_setting(student):
    ran = plain_user_cli(student, "lab", "up", "--name", "nested", "--driver", "userns")  # the control: it works
    assert ran.returncode == 0, ran.stderr
    assert plain_user_cli(student, "lab", "down", "--name", "nested").returncode == 0
    nested = subprocess.run([*as_user(student[1]), sys.executable, "-c", NESTED, "lab", "up", "--name", "nested",
                             "--driver", "userns"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(student[2]),
                                 "OPENBLAS_NUM_THREADS": "1"})
    one_line_refusal(nested, "user.max_user_namespaces is 0", "sysctl -w user.max_user_namespaces=")
    assert_nothing_left(student, "nested")
