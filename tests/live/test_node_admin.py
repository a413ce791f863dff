"""A lab node answers the admin commands of a host: systemctl and service for the docker unit,
and `swarmlab lab restart-docker` from outside."""
from __future__ import annotations

import json

from swarmlab.cli import main as cli_main


def test_systemctl_and_service_manage_the_nodes_dockerd_like_a_hosts(make_lab):
    lab = make_lab(swarm=True)
    node2 = lab.node("node2")
    status = node2.run("systemctl status docker")
    assert status.exit_code == 0 and "Active: active (running)" in status.stdout

    assert node2.run("systemctl stop docker").ok
    assert node2.dockerd_pid is None and node2.run("docker info").exit_code != 0
    stopped = node2.run("systemctl status docker")
    assert stopped.exit_code == 3 and "inactive (dead)" in stopped.stdout  # as systemd says it
    assert node2.run("systemctl is-active docker").stdout.strip() == "inactive"

    # A procedure from Docker's docs, word for word: edit daemon.json, then start the service.
    node2.run("cat > /etc/docker/daemon.json", input=json.dumps({"labels": ["rack=a"]})).check()
    assert node2.run("service docker start").ok
    assert "rack=a" in node2.run("docker info --format '{{.Labels}}'").check().stdout
    assert node2.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "active"

    # Started the lab's way: in the node's cgroup, its containers under the node's parent cgroup.
    pid = node2.dockerd_pid
    assert pid
    node_cgroup = node2.run("awk -F: '$2 == \"freezer\" || $2 == \"\" {print $3; exit}' /proc/self/cgroup").stdout.strip()
    daemon_cgroup = node2.run(f"awk -F: '$2 == \"freezer\" || $2 == \"\" {{print $3; exit}}' /proc/{pid}/cgroup").stdout.strip()
    assert daemon_cgroup == node_cgroup
    assert f"--cgroup-parent={node_cgroup}/containers" in node2.run(f"tr '\\0' ' ' < /proc/{pid}/cmdline").stdout

    restarted = node2.run("systemctl restart docker")
    assert restarted.ok and node2.dockerd_pid not in (None, pid)
    other = node2.run("systemctl restart nginx")
    assert other.exit_code == 5 and "only the docker unit" in other.stderr

    # The SysV words stop it too (on a node without the shim, `service docker stop` left it running).
    assert node2.run("service docker stop").ok and node2.dockerd_pid is None
    assert node2.run("service docker status").exit_code == 3


def test_lab_restart_docker_from_the_cli(make_lab, capsys):
    lab = make_lab(swarm=True)
    before = lab.node("node2").dockerd_pid
    assert cli_main(["lab", "restart-docker", "--name", lab.name, "node2"]) == 0
    assert "restarted on node2; swarm active" in capsys.readouterr().out
    assert lab.node("node2").dockerd_pid not in (None, before)
