"""The doctor through the CLI on the article's swarm: before the fix, after it, and over SSH
with an inventory that names the nodes otherwise (vm-a, vm-b) and gives DNS names; and on a
swarm whose nodes have just joined: one screen, what settles said, --wait until it has."""
from __future__ import annotations

import json
import re
import subprocess
import sys

from conftest import ROOT
from evidence import assert_evidence_is_what_ran
from swarmlab import faults, story
from swarmlab.cluster import Cluster
from swarmlab.doctor import diagnose, gather
from swarmlab.fix import recreate_service
from swarmlab.lab.namespaces.network import switch_netns

SWARMLAB = [sys.executable, "-m", "swarmlab.cli"]
VM = {"node1": ("vm-a", "vm-a.lab"), "node2": ("vm-b", "vm-b.lab")}


def named(findings: list[dict]) -> set[str]:
    """Every node a finding names (one finding may name several: "vm-a, vm-b")."""
    return {name for f in findings for name in f["node"].split(", ")}


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*SWARMLAB, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def vm_inventory(lab, folder) -> str:
    """The lab's nodes as an inventory of vm-a / vm-b at DNS names, each resolving in the nodes
    (their own /etc/hosts) and, for the doctor, in a mount namespace of its own (see doctor_over_ssh)."""
    lines = [f"{address} {dns}" for address, (_, dns) in
             zip((lab.node(n).address for n in VM), VM.values())]
    (folder / "hosts").write_text("127.0.0.1 localhost\n" + "\n".join(lines) + "\n")
    for node in VM:
        lab.node(node).run(["sh", "-c", "cat >> /etc/hosts"], input="\n".join(lines) + "\n").check()
    known = (lab.dir / "ssh.known_hosts").read_text().splitlines()
    by_address = {line.split()[0]: line.split(None, 1)[1] for line in known}
    (folder / "known_hosts").write_text("".join(f"{dns} {by_address[lab.node(n).address]}\n"
                                                for n, (_, dns) in VM.items()))
    inventory = f'known_hosts = "{folder / "known_hosts"}"\n'
    for node, (name, dns) in VM.items():
        inventory += (f'[hosts.{name}]\naddress = "{dns}"\nuser = "root"\nkey = "{lab.dir / "ssh-client.key"}"\n'
                      f'role = "{"manager" if node == "node1" else "worker"}"\n')
    (folder / "hosts.toml").write_text(inventory)
    return str(folder / "hosts.toml")


def doctor_over_ssh(lab, inventory: str, folder) -> subprocess.CompletedProcess:
    """`swarmlab doctor --inventory` from the lab's switch namespace, where the names resolve
    through a private /etc/hosts (the machine's own stays untouched)."""
    script = (f"mount --bind {folder / 'hosts'} /etc/hosts && "
              f"exec {sys.executable} -m swarmlab.cli doctor --json --inventory {inventory}")
    return subprocess.run(["nsenter", f"--net=/run/netns/{switch_netns(lab.name)}", "unshare", "--mount",
                           "sh", "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_the_doctor_judges_the_present_before_and_after_the_articles_fix(make_lab, tmp_path):
    lab = make_lab()
    cluster = Cluster.from_lab(lab)
    faults.inject(cluster, "vpn-routes", node="node2")
    story.form_swarm(cluster)
    story.create_overlay(cluster).check()
    story.service_create(cluster, restart_delay="1s").check()
    story.wait_for_failure(cluster, node="node2")
    inventory = vm_inventory(lab, tmp_path)

    before = cli("doctor", "--lab", lab.name)
    assert before.returncode == 1, before.stdout + before.stderr
    assert "ERROR   node2: docker_gwbridge" in before.stdout
    over_ssh = doctor_over_ssh(lab, inventory, tmp_path)
    assert over_ssh.returncode == 1, over_ssh.stderr
    findings = json.loads(over_ssh.stdout)
    assert named(findings) <= {"vm-a", "vm-b", "all"}
    assert {(f["node"], f["severity"]) for f in findings if f["check"] == "docker_gwbridge"} >= {("vm-b", "error")}
    assert any(f["node"] == "vm-b" and f["check"] == "mtu" for f in findings)  # DNS name: not skipped

    # The article's fix, through the CLI as a user types it.
    fix = cli("fix", "gwbridge", "--lab", lab.name, "node2")
    assert fix.returncode == 0, fix.stderr
    recreate_service(cluster)
    assert set(story.placement(story.tasks(cluster))) == {"node1", "node2"}

    after = cli("doctor", "--all", "--lab", lab.name)
    assert after.returncode == 0, after.stdout
    assert "ERROR" not in after.stdout and "INFO    node2: dockerd log" in after.stdout
    assert "since resolved" in after.stdout
    after_ssh = doctor_over_ssh(lab, inventory, tmp_path)
    assert after_ssh.returncode == 0, after_ssh.stdout + after_ssh.stderr
    assert named(json.loads(after_ssh.stdout)) <= {"vm-a", "vm-b", "all"}

    gathered = gather(cluster)
    assert_evidence_is_what_ran(gathered, diagnose(gathered))


def test_right_after_the_joins_the_report_is_a_screen_and_wait_gives_the_settled_one(make_lab):
    """As the joins return Docker is still creating docker_gwbridge and the overlay converges: the
    default report leaves those warnings out and says so (a healthy swarm: no warning block);
    --wait runs the checks again until nothing is left out."""
    lab = make_lab(nodes=4, swarm=True)
    now = cli("doctor", "--lab", lab.name)
    assert not re.search(r"^WARNING ", now.stdout, re.M), now.stdout
    assert len(now.stdout.splitlines()) <= 40, now.stdout
    waited = cli("doctor", "--wait", "--lab", lab.name)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert waited.stdout.splitlines()[-1].startswith("0 errors, 0 warnings, "), waited.stdout
    assert "still settling" not in waited.stdout
