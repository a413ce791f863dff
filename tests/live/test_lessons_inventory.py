"""Lessons 1-7 on an inventory: lab nodes reached only over SSH, under other names, one of
them through a non-root user with passwordless sudo. Each lesson sets up the article's
story on the hosts, checks its claims, and puts the hosts back."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from conftest import require_live
from lessonrun import claims_in, printed
from swarmlab.cluster import Cluster
from swarmlab.lab.sshd import LabSSH
from swarmlab.headless import lesson_paths, run_lessons
from swarmlab.staging import journal_path

LESSONS = [p.name[:2] for p in lesson_paths() if p.name[:2] != "00"]
STUDENT = "student"


def add_sudo_user(node) -> None:
    """A non-root login with passwordless sudo, inside the node only (its /etc is its own)."""
    from swarmlab.lab.namespaces.node import NODE_PATH
    # '*' as password: no password login, but not a locked account ('!'), which sshd refuses.
    script = (f"useradd --no-create-home --home-dir /var/lib/{STUDENT} --shell /bin/sh --password '*' {STUDENT} && "
              f"cp /etc/ssh/authorized_keys/root /etc/ssh/authorized_keys/{STUDENT} && "
              f"printf '%s\\n' '{STUDENT} ALL=(ALL) NOPASSWD: ALL' 'Defaults:{STUDENT} secure_path=\"{NODE_PATH}\"' "
              f"> /etc/sudoers.d/{STUDENT} && chmod 440 /etc/sudoers.d/{STUDENT}")
    node.run(script).check()


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    """A 2-node lab with a host link, described as an inventory: alpha (manager, root)
    and beta (worker, user student with sudo); Docker still calls them node1 and node2."""
    from swarmlab.lab import Lab, teardown
    from conftest import unique_lab_name
    require_live()
    if not shutil.which("sudo"):
        pytest.fail("this test logs in to a lab node as a user with sudo: install sudo (`make test-install`)")
    subnet = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"  # clear of other labs' host links
    lab = Lab(name=unique_lab_name("inv"), subnet=subnet, host_link=True)
    try:
        lab.up()
        cluster = Cluster.from_lab(lab)
        add_sudo_user(cluster.node("node2"))
        files = LabSSH(lab.dir)
        node1, node2 = lab.nodes["node1"], lab.nodes["node2"]
        path = tmp_path_factory.mktemp("inventory") / "hosts.toml"
        path.write_text(f'''known_hosts = "{files.known_hosts}"
[defaults]
key = "{files.client_key}"
[hosts.alpha]
address = "{node1.address}"
user = "root"
role = "manager"
[hosts.beta]
address = "{node2.address}"
user = "{STUDENT}"
sudo = true
role = "worker"
''')
        yield path, cluster
    finally:
        teardown(lab.name)


def test_the_sudo_user_is_not_root_and_sudo_works(inventory):
    path, _ = inventory
    with Cluster.from_inventory(path) as hosts:
        beta = hosts.node("beta")
        assert beta.transport.sudo
        plain = beta.transport  # the same connection, without sudo, for this one look
        plain.sudo = False
        try:
            assert plain.run("id -un").stdout.strip() == STUDENT
        finally:
            plain.sudo = True
        assert beta.run("id -un").stdout.strip() == "root"
        assert beta.run("docker info --format '{{.Name}}'").stdout.strip() == "node2"


@pytest.fixture(scope="module")
def executed(inventory, tmp_path_factory):
    path, _ = inventory
    out = tmp_path_factory.mktemp("lessons")
    table = run_lessons("inventory", out=out, only=LESSONS, inventory=path, progress=None)
    return {row["lesson"][:2]: row for row in table.to_dict("records")}, out


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_on_the_inventory_checks_its_claims_and_puts_the_hosts_back(executed, inventory, lesson):
    rows, out = executed
    path, lab_cluster = inventory
    row = rows[lesson]
    assert row["status"] == "ok", row["error"]
    assert row["backend"] == "inventory"
    assert row["claims"] == claims_in(lesson) > 0
    text = printed(_notebook(out, lesson))
    assert f"lesson {lesson} changes your hosts" in text and "your hosts are back as they were" in text
    assert not journal_path(path).exists()
    for node in lab_cluster:  # back as before: out of any swarm, no fault, no network of the lessons'
        assert node.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "inactive"
        assert "proto 199" not in node.run("ip route").stdout
        networks = set(node.run("docker network ls --format '{{.Name}}'").stdout.split())
        assert networks == {"bridge", "host", "none"}, networks


def test_the_set_up_said_what_it_changes_before_it_did(executed):
    _, out = executed
    text = printed(_notebook(out, "03"))
    said = text.index("lesson 03 changes your hosts")
    assert said < text.index("ready: ")
    for line in ("beta: ip route add 172.16.0.0/12 dev ens33 proto 199", "alpha: docker swarm init --advertise-addr",
                 "beta: docker swarm join", "alpha: docker network create -d overlay uber-net"):
        assert line in text[said:text.index("ready: ")], line


def test_a_failed_lesson_on_the_inventory_puts_the_hosts_back(inventory, tmp_path):
    from lessonrun import with_claim_changed
    path, lab_cluster = inventory
    claim = 'has("uber-net", node1) and matrix.loc["uber-net", node2.name] == views.NOT_YET'
    lessons = with_claim_changed("02", claim, 'has("uber-net", node2)', tmp_path / "lessons")
    table = run_lessons("inventory", directory=lessons, out=tmp_path / "out", only=["02"], inventory=path,
                        progress=None)
    assert table.iloc[0]["status"].startswith("failed: ClaimError"), table.iloc[0]["status"]
    assert not journal_path(path).exists()
    for node in lab_cluster:
        assert node.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "inactive"
        assert "proto 199" not in node.run("ip route").stdout


def test_a_host_already_in_a_swarm_is_refused_and_left_alone(inventory, tmp_path):
    path, lab_cluster = inventory
    node1 = lab_cluster.node("node1")
    node1.run(f"docker swarm init --advertise-addr {node1.address}").check()
    try:
        table = run_lessons("inventory", out=tmp_path, only=["02"], inventory=path, progress=None)
        assert "alpha already in a swarm" in table.iloc[0]["status"] or \
            "alpha already in a swarm" in printed(_notebook(tmp_path, "02"))
        assert node1.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "active"
        assert "proto 199" not in lab_cluster.node("node2").run("ip route").stdout
    finally:
        node1.run("docker swarm leave --force")


def _notebook(out: Path, lesson: str):
    import nbformat
    return nbformat.read(next(Path(out).glob(f"{lesson}-*.ipynb")), as_version=4)
