"""The `swarmlab lab` command as a user types it, including each bad input."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from conftest import ROOT, as_user, require_live, unique_lab_name
from swarmlab.lab import leftovers

SWARMLAB = [sys.executable, "-m", "swarmlab.cli"]


def cli(*args, env=None, user=None):
    cmd = [*SWARMLAB, *args]
    if user:
        cmd = [*as_user(user), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_up_exec_status_swarm_down():
    require_live()
    name = unique_lab_name("cli")
    try:
        up = cli("lab", "up", "--name", name)
        assert up.returncode == 0, up.stderr
        assert "daemons" in up.stderr and "node2" in up.stdout
        swarm = cli("lab", "swarm", "--name", name)
        assert swarm.returncode == 0 and "Leader" in swarm.stdout, swarm.stderr
        status = cli("lab", "status", "--name", name)
        assert status.stdout.count("active") == 2
        ok = cli("lab", "exec", "--name", name, "node2", "--", "hostname")
        assert (ok.returncode, ok.stdout) == (0, "node2\n")
        bad = cli("lab", "exec", "--name", name, "node2", "--", "sh", "-c", "echo no >&2; exit 3")
        assert (bad.returncode, bad.stderr) == (3, "no\n")
        unknown = cli("lab", "exec", "--name", name, "node9", "--", "true")
        assert unknown.returncode == 1 and "has no node 'node9'" in unknown.stderr
    finally:
        down = cli("lab", "down", "--name", name)
    assert down.returncode == 0 and leftovers(name) == []
    assert cli("lab", "down", "--name", name).returncode == 0


def one_line_error(result, words):
    assert result.returncode == 1, result
    assert result.stderr.startswith("swarmlab: ") and words in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_bad_input_is_one_line_and_leaves_nothing():
    require_live()
    name = unique_lab_name("bad")
    for args, words in [
        (["--nodes", "0"], "at least 1"),
        (["--nodes", "400"], "do not fit"),
        (["--subnet", "172.16.155.0/33"], "bad subnet"),
        (["--subnet", "10.1.2.3/24"], "host bits"),
    ]:
        one_line_error(cli("lab", "up", "--name", name, *args), words)
        assert leftovers(name) == []
    one_line_error(cli("lab", "up", "--name", "a/b"), "bad lab name")
    one_line_error(cli("lab", "up", "--name", "a b"), "bad lab name")


def test_not_root_is_refused():
    require_live()
    name = unique_lab_name("nr")
    who = subprocess.run([*as_user(65534), sys.executable, "-c", "import os; print(os.geteuid())"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert who.stdout.strip() == "65534", who.stderr
    res = cli("lab", "up", "--name", name, "--driver", "namespaces", user=65534)
    one_line_error(res, "needs root")
    assert leftovers(name) == []
    # Without --driver a user who is not root gets the docker driver; this machine has no engine.
    res = cli("lab", "up", "--name", name, user=65534)
    one_line_error(res, "cannot reach the Docker engine at unix:///var/run/docker.sock")
    assert leftovers(name) == []


def test_another_user_looking_at_roots_healthy_lab_is_told_why_not_that_it_is_dead():
    require_live()
    name = unique_lab_name("ro")
    try:
        assert cli("lab", "up", "--name", name).returncode == 0
        for args in (("lab", "status"), ("lab", "exec", "--name", name, "node1", "--", "true")):
            res = cli(*args, *(("--name", name) if len(args) == 2 else ()), user=65534)
            one_line_error(res, "only root can enter its nodes")
            assert "dead" not in res.stderr and "lab down" not in res.stderr, res.stderr  # no harmful advice
        assert "dockerd stopped" not in cli("lab", "status", "--name", name).stdout  # root sees it healthy
    finally:
        cli("lab", "down", "--name", name)


def test_missing_dockerd_is_named():
    require_live()
    name = unique_lab_name("nd")
    # A PATH with every tool but dockerd.
    bindir = f"/tmp/{name}-bin"
    os.makedirs(bindir)
    try:
        for tool in ("ip", "nsenter", "unshare", "docker", "busybox"):
            os.symlink(subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip(),
                       f"{bindir}/{tool}")
        res = cli("lab", "up", "--name", name, env={**os.environ, "PATH": bindir})
        one_line_error(res, "missing dockerd")
        assert "swarmlab check" in res.stderr
    finally:
        subprocess.run(["rm", "-rf", bindir])
    assert leftovers(name) == []


def test_shell_is_a_shell_in_the_node():
    require_live()
    name = unique_lab_name("sh")
    try:
        assert cli("lab", "up", "--name", name).returncode == 0
        shell = subprocess.run([*SWARMLAB, "lab", "shell", "--name", name, "node2"], input="hostname; exit 4\n",
                               capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert shell.returncode == 4 and "node2" in shell.stdout
    finally:
        cli("lab", "down", "--name", name)
    assert leftovers(name) == []


def run_in_a_terminal(argv, timeout=60) -> tuple[int, str]:
    """Run argv with a real terminal as its stdin/stdout/stderr; (exit code, what it printed)."""
    import pty
    import select
    main_fd, sub_fd = pty.openpty()
    proc = subprocess.Popen(argv, stdin=sub_fd, stdout=sub_fd, stderr=sub_fd, cwd=ROOT, start_new_session=True)
    os.close(sub_fd)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main_fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(main_fd)
    return proc.wait(timeout=10), out.decode(errors="replace")


def test_exec_passes_stdin_a_tty_and_shell_exit_codes():
    require_live()
    name = unique_lab_name("ex")
    exec_ = [*SWARMLAB, "lab", "exec", "--name", name]
    try:
        assert cli("lab", "up", "--name", name).returncode == 0
        piped = subprocess.run([*exec_, "node1", "--", "cat"], input="through stdin\n",
                               capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert (piped.returncode, piped.stdout) == (0, "through stdin\n"), piped.stderr
        # `cat file | swarmlab lab exec L node2 -- docker load` loads the image
        cli("lab", "exec", "--name", name, "node1", "--", "docker", "tag", "busybox:latest", "piped/img:1")
        saved = subprocess.run([*exec_, "node1", "--", "docker", "save", "piped/img:1"], capture_output=True,
                               cwd=ROOT, timeout=60)
        assert saved.returncode == 0 and len(saved.stdout) > 100_000, saved.stderr
        loaded = subprocess.run([*exec_, "node2", "--", "docker", "load"], input=saved.stdout,
                                capture_output=True, cwd=ROOT, timeout=60)
        assert loaded.returncode == 0 and b"piped/img:1" in loaded.stdout, loaded.stderr
        assert cli("lab", "exec", "--name", name, "node2", "--", "docker", "image", "inspect",
                   "piped/img:1").returncode == 0
        # no terminal: none in the node; a terminal (or -t): one in the node
        assert cli("lab", "exec", "--name", name, "node1", "--", "tty").stdout.strip() == "not a tty"
        rc, out = run_in_a_terminal([*exec_, "node1", "--", "tty"])
        assert rc == 0 and "/dev/pts/" in out, out
        tty_asked = subprocess.run([*exec_, "-t", "node1", "--", "tty"], capture_output=True, text=True,
                                   stdin=subprocess.DEVNULL, cwd=ROOT, timeout=30)
        assert tty_asked.returncode == 0 and "/dev/pts/" in tty_asked.stdout, tty_asked
        # and the end of a pipe reaches the command as the terminal's end of file, as ^D typed
        for sent in ("hi\n", "no newline"):
            ended = subprocess.run([*exec_, "-t", "node1", "--", "cat"], input=sent, capture_output=True,
                                   text=True, cwd=ROOT, timeout=30)
            assert ended.returncode == 0 and sent.strip() in ended.stdout, ended
        # a question that reads its answer from stdin gets it
        asked = subprocess.run([*exec_, "node1", "--", "sh", "-c", "read a; echo got $a"], input="y\n",
                               capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert asked.stdout == "got y\n"
        # exit codes as a shell reports them: 128 + the signal that killed the command
        shell = subprocess.run(["bash", "-c", f"{' '.join(exec_)} node1 -- sh -c 'kill -9 $$'; echo rc=$?"],
                               capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert "rc=137" in shell.stdout, shell
        term = subprocess.run(["bash", "-c", f"{' '.join(exec_)} node1 -- sh -c 'kill -TERM $$'; echo rc=$?"],
                              capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert "rc=143" in term.stdout, term
    finally:
        cli("lab", "down", "--name", name)
    assert leftovers(name) == []


def test_errors_a_user_can_meet_are_one_line():
    require_live()
    name = unique_lab_name("err")
    small = cli("lab", "up", "--name", name, "--subnet", "10.7.7.0/30", "--nodes", "2")
    one_line_error(small, "no address left")
    assert "bringing up" not in small.stderr  # refused before anything was built
    assert leftovers(name) == []
    never = cli("lab", "down", "--name", name)
    assert never.returncode == 0 and "no lab named" in never.stderr, never.stderr
    try:
        assert cli("lab", "up", "--name", name, "--nodes", "1").returncode == 0
        one_line_error(cli("lab", "down", "--name", name, user=65534), "needs root")
        assert cli("lab", "exec", "--name", name, "node1", "--", "true").returncode == 0  # still up
    finally:
        cli("lab", "down", "--name", name)
    one_line_error(cli("lab", "up", "--name", name, "--nodes", "1000", "--subnet", "10.99.0.0/16"),
                   "MemAvailable")


def test_sigterm_during_up_rolls_back_like_ctrl_c():
    import signal
    require_live()
    name = unique_lab_name("term")
    up = subprocess.Popen([*SWARMLAB, "lab", "up", "--name", name, "--nodes", "3"], stderr=subprocess.PIPE,
                          stdout=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        line = ""
        while not line.endswith(" s  namespaces\n"):
            line = up.stderr.readline()
            assert line, "up ended before its namespaces were built"
        up.send_signal(signal.SIGTERM)
        err = up.communicate(timeout=60)[1]
        assert up.returncode == 143, err
        assert "terminated" in err and "Traceback" not in err, err
        assert leftovers(name) == []
    finally:
        if up.poll() is None:
            up.kill()
        cli("lab", "down", "--name", name)


def test_up_works_under_any_umask():
    require_live()
    name = unique_lab_name("um")
    try:
        for umask in (0o000, 0o002):
            res = subprocess.run([*SWARMLAB, "lab", "up", "--name", name, "--nodes", "1"], capture_output=True,
                                 text=True, cwd=ROOT, timeout=120, preexec_fn=lambda: os.umask(umask))
            assert res.returncode == 0, res.stderr
            assert cli("lab", "down", "--name", name).returncode == 0
    finally:
        cli("lab", "down", "--name", name)
    assert leftovers(name) == []


def test_two_ups_of_one_name_at_once_one_wins_the_other_says_why():
    require_live()
    name = unique_lab_name("two")
    try:
        ups = [subprocess.Popen([*SWARMLAB, "lab", "up", "--name", name, "--nodes", "1"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(3)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in ups]
        assert sorted(rc for rc, _ in results) == [0, 1, 1], results
        for rc, err in results:
            assert "Traceback" not in err
            if rc:
                assert err.strip().splitlines()[-1].startswith("swarmlab: ") and "already exists" in err, err
        assert cli("lab", "exec", "--name", name, "node1", "--", "hostname").stdout == "node1\n"
    finally:
        cli("lab", "down", "--name", name)
    assert leftovers(name) == []


def test_a_lab_left_frozen_by_a_killed_down_answers_and_goes_down():
    """kill -9 of `lab down` between freezing the lab's cgroup and thawing it leaves the lab
    frozen: `lab status` says so in one line instead of waiting for ever, and `lab down` finishes."""
    from swarmlab.lab.namespaces.cgroup import CGROUP_ROOT, LabCgroup
    require_live()
    name = unique_lab_name("fz")
    try:
        assert cli("lab", "up", "--name", name).returncode == 0
        state = CGROUP_ROOT / "freezer" / LabCgroup(name).rel / "freezer.state"
        assert state.exists(), "this test needs cgroup v1's freezer (as this machine kind has)"
        state.write_text("FROZEN")  # where the killed down stopped
        one_line_error(cli("lab", "status", "--name", name), "is frozen")
    finally:
        down = cli("lab", "down", "--name", name)
    assert down.returncode == 0, down.stderr
    assert leftovers(name) == []
