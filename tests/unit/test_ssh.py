"""SSHTransport pieces that need no server (the live tests use the lab nodes' sshd)."""
from __future__ import annotations

import socket

import pytest

from swarmlab.errors import SSHConnectionRefusedError, SSHError
from swarmlab.transport.ssh import SSHTransport, _short_type, _take_pid_mark


def test_remote_command_reports_the_shell_pid_then_runs_the_command():
    t = SSHTransport("10.0.0.1", user="admin")
    assert t.remote_command("docker ps") == "printf 'swarmlab-pid:%s\\n' \"$$\" >&2\ndocker ps"


def test_sudo_runs_the_whole_line_as_root():
    t = SSHTransport("10.0.0.1", user="admin", sudo=True)
    assert t.remote_command("cd /etc && cat 'a b'").endswith("\nsudo -n sh -c 'cd /etc && cat '\"'\"'a b'\"'\"''")


def test_pid_mark_is_taken_out_of_stderr():
    assert _take_pid_mark(b"swarmlab-pid:4242\nreal error\n") == (4242, b"real error\n")
    assert _take_pid_mark(b"no mark\n") == (None, b"no mark\n")
    assert _take_pid_mark(b"noise from .bashrc\nswarmlab-pid:7\nerr\n") == (7, b"noise from .bashrc\nerr\n")
    assert _take_pid_mark(b"swarmlab-pid:9") == (9, b"")


def test_where_and_docker_url():
    t = SSHTransport("10.0.0.1", user="admin", port=2222, node_name="vm1")
    assert t.where == "admin@10.0.0.1:2222" and t.docker_base_url == "ssh://admin@10.0.0.1:2222"
    assert t.node_name == "vm1"


def test_connection_refused_names_host_port_and_what_to_do():
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t = SSHTransport("127.0.0.1", user="admin", port=port, node_name="vm1", connect_timeout=2)
        with pytest.raises(SSHConnectionRefusedError) as err:
            t.run("true")
    message = str(err.value)
    assert f"vm1 (admin@127.0.0.1:{port})" in message and "connection refused" in message
    assert "sshd" in message and "\n" not in message


def test_missing_key_file(tmp_path):
    t = SSHTransport("127.0.0.1", user="admin", key=tmp_path / "nope")
    with pytest.raises(SSHError, match=r"key file .*nope not found"):
        t.run("true")


def test_key_type_names_as_ssh_keyscan_wants_them():
    assert [_short_type(n) for n in ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", "rsa-sha2-512")] == [
        "ed25519", "ecdsa", "rsa", "rsa"]
