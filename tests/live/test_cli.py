"""The `swarmlab lab` command as a user types it, including each bad input."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT, require_live, unique_lab_name
from swarmlab.lab import leftovers

SWARMLAB = [sys.executable, "-m", "swarmlab.cli"]


def cli(*args, env=None, user=None):
    cmd = [*SWARMLAB, *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
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
    res = cli("lab", "up", "--name", name, "--driver", "namespaces", user=65534)
    one_line_error(res, "needs root")
    assert leftovers(name) == []
    # Without --driver a user who is not root gets the docker driver; this machine has no engine.
    res = cli("lab", "up", "--name", name, user=65534)
    one_line_error(res, "cannot reach the Docker engine at unix:///var/run/docker.sock")
    assert leftovers(name) == []


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
