"""Two plain users, each with a userns lab called `swarmlab` on 172.16.155.0/24 at the same moment:
neither sees, enters, signals or takes down the other's, a node cannot change a host file its
user could not, and the host's root namespace is as it was. Real users, real kernel objects."""
from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import as_plain_user, plain_user, plain_user_cli, processes_of, require_live
from hoststate import changes, snapshot

NAME = "swarmlab"  # both users' labs: the default name, on the default subnet


@pytest.fixture(scope="module")
def two_labs():
    require_live()
    before = snapshot()
    with plain_user("sia", subids=True) as a, plain_user("sib", subids=True) as b:
        with ThreadPoolExecutor(2) as pool:  # both `lab up`s at the same moment
            ups = list(pool.map(lambda u: plain_user_cli(u, "lab", "up", "--name", NAME, "--driver", "userns"), (a, b)))
        try:
            for up in ups:
                assert up.returncode == 0, up.stderr[-2000:]
            yield a, b, before
        finally:
            for user in (a, b):
                plain_user_cli(user, "lab", "down", "--name", NAME)


def node_says(user, script: str, node: str = "node1"):
    return plain_user_cli(user, "lab", "exec", "--name", NAME, node, "--", "sh", "-c", script)


def holder_pid(user) -> int:
    return json.loads((lab_folder(user) / "holder.json").read_text())["pid"]


def lab_folder(user) -> Path:
    return user[2] / ".local/state/swarmlab/labs" / NAME


def test_both_labs_have_the_same_name_and_addresses_and_each_user_sees_their_own(two_labs):
    a, b, _ = two_labs
    for user in (a, b):
        marked = node_says(user, f"echo {user[0]} > /root/owner && ip -4 -br addr show ens33")
        assert marked.returncode == 0 and "172.16.155.131/24" in marked.stdout, marked.stderr
    for user in (a, b):
        assert node_says(user, "cat /root/owner").stdout.strip() == user[0]
        status = plain_user_cli(user, "lab", "status", "--name", NAME)
        assert status.returncode == 0 and "node1" in status.stdout and "node2" in status.stdout, status.stderr


def test_a_cannot_list_enter_or_signal_bs_lab(two_labs):
    a, b, _ = two_labs
    b_holder = holder_pid(b)
    # B's lab state is in B's home, which A cannot read.
    listed = as_plain_user(a, "ls", str(lab_folder(b)))
    assert listed.returncode != 0 and "Permission denied" in listed.stderr, listed
    # A cannot enter B's namespaces, nor signal B's processes: not as A, and not as root of A's own
    # user namespace (CAP_KILL there does not reach a process of another user namespace).
    entered = as_plain_user(a, "nsenter", "-t", str(b_holder), "--user", "--net", "--", "true")
    assert entered.returncode != 0 and f"cannot open /proc/{b_holder}/ns/user: Permission denied" in entered.stderr
    for argv in (["kill", "-KILL", str(b_holder)],
                 ["unshare", "--user", "--map-root-user", "kill", "-KILL", str(b_holder)]):
        killed = as_plain_user(a, *argv)
        assert killed.returncode != 0 and "Operation not permitted" in killed.stderr, (argv, killed)
    # From inside A's node, root there sees only A's lab's processes: none of B's is there to signal.
    b_pidns = os.stat(f"/proc/{b_holder}/ns/pid").st_ino
    seen = node_says(a, "for p in /proc/[0-9]*; do readlink $p/ns/pid; done | sort -u")
    assert seen.returncode == 0 and f"pid:[{b_pidns}]" not in seen.stdout, seen.stdout
    killed = node_says(a, f"kill -KILL {b_holder}")
    assert killed.returncode != 0
    assert os.stat(f"/proc/{b_holder}/ns/pid").st_ino == b_pidns  # B's lab is still there
    assert node_says(b, "cat /root/owner").stdout.strip() == b[0]


def test_a_node_cannot_change_a_host_file_its_user_could_not(two_labs):
    a, b, _ = two_labs
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="swarmlab-iso-") as probe:
        os.chmod(probe, 0o755)  # root's folder: A may read it, not write in it
        mine = Path(probe) / "roots-file"
        mine.write_text("root's\n")
        os.chmod(mine, 0o644)
        b_file = b[2] / "b-file"
        b_file.write_text("b's\n")
        os.chown(b_file, b[1], b[1])
        # The node sees the host's /var/tmp (as files of an id its namespace does not map)...
        assert node_says(a, f"cat {mine}").stdout == "root's\n"
        # ...and root in it, which is A, can neither change nor add to it, nor touch B's home.
        for attempt in (f"echo x >> {mine}", f"chmod 666 {mine}", f"rm -f {mine}", f"touch {probe}/new",
                        f"echo x >> {b_file}", f"touch {b[2]}/new", "touch /etc/swarmlab-probe",
                        "cat /proc/sys/vm/swappiness > /proc/sys/vm/swappiness"):
            done = node_says(a, attempt)
            assert done.returncode != 0, attempt
        assert mine.read_text() == "root's\n" and oct(mine.stat().st_mode & 0o777) == "0o644"
        assert sorted(os.listdir(probe)) == ["roots-file"]
        assert b_file.read_text() == "b's\n" and not (b[2] / "new").exists()
        assert not Path("/etc/swarmlab-probe").exists()


def test_a_takes_down_their_own_lab_only_and_the_host_is_as_it_was(two_labs):
    a, b, before = two_labs
    # Pointed at B's state folder, A's `lab down` still cannot end B's processes or remove B's files.
    forged = plain_user_cli(a, "lab", "down", "--name", NAME, env={"XDG_STATE_HOME": str(b[2] / ".local/state")})
    assert f"lab {NAME} is down" not in forged.stderr, forged.stderr
    assert node_says(b, "cat /root/owner").stdout.strip() == b[0], forged.stderr
    down = plain_user_cli(a, "lab", "down", "--name", NAME)
    assert down.returncode == 0 and f"lab {NAME} is down" in down.stderr, down.stderr
    assert not lab_folder(a).exists()
    assert processes_of(a[1]) == []
    assert node_says(b, "cat /root/owner").stdout.strip() == b[0]  # B's lab went on
    assert plain_user_cli(b, "lab", "down", "--name", NAME).returncode == 0
    assert changes(before, snapshot()) == []
