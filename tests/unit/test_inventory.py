"""Inventories of real hosts: good files load, bad ones say file, host and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from swarmlab.cluster import Cluster, connect
from swarmlab.errors import InventoryError
from swarmlab.inventory import Host, load_inventory
from swarmlab.transport.ssh import SSHTransport

GOOD_TOML = """
known_hosts = "known_hosts"
trust_on_first_use = false

[defaults]
user = "admin"
key = "keys/id_ed25519"
sudo = true

[hosts.node1]
address = "172.16.155.131"
role = "manager"

[hosts.node2]
address = "172.16.155.132"
port = 2222
role = "worker"
sudo = false
"""

GOOD_YAML = """
known_hosts: known_hosts
trust_on_first_use: true
defaults:
  user: admin
  key: keys/id_ed25519
hosts:
  node1:
    address: 172.16.155.131
    role: manager
  node2:
    address: 172.16.155.132
    port: 2222
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_ed25519").write_text("not read at load time\n")
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_toml_inventory_loads_with_defaults_and_relative_paths(folder):
    inv = load_inventory(write(folder, "hosts.toml", GOOD_TOML))
    key = folder / "keys" / "id_ed25519"
    assert inv.hosts == (
        Host("node1", "172.16.155.131", "admin", 22, key, "manager", True),
        Host("node2", "172.16.155.132", "admin", 2222, key, "worker", False),
    )
    assert inv.known_hosts == folder / "known_hosts"
    assert inv.trust_on_first_use is False


def test_yaml_inventory_says_the_same(folder):
    inv = load_inventory(write(folder, "hosts.yaml", GOOD_YAML))
    assert [(h.name, h.address, h.port, h.role, h.user) for h in inv.hosts] == [
        ("node1", "172.16.155.131", 22, "manager", "admin"),
        ("node2", "172.16.155.132", 2222, "", "admin"),
    ]
    assert inv.trust_on_first_use is True


def test_hosts_as_a_list_with_names(folder):
    inv = load_inventory(write(folder, "hosts.toml", """
[[hosts]]
name = "vm1.example"
address = "10.0.0.5"
[[hosts]]
name = "vm2"
address = "10.0.0.6"
"""))
    assert [h.name for h in inv.hosts] == ["vm1.example", "vm2"]
    assert inv.hosts[0].user is None and inv.hosts[0].key is None and inv.known_hosts is None


def test_cluster_from_inventory_builds_ssh_nodes_without_connecting(folder):
    cluster = connect(write(folder, "hosts.yml", GOOD_YAML))
    assert list(cluster.nodes) == ["node1", "node2"]
    assert cluster.manager.name == "node1"
    t = cluster.node("node2").transport
    assert isinstance(t, SSHTransport)
    assert (t.address, t.port, t.user, t.known_hosts, t.trust_on_first_use) == (
        "172.16.155.132", 2222, "admin", folder / "known_hosts", True)
    assert t.docker_base_url == "ssh://admin@172.16.155.132:2222"
    assert isinstance(cluster, Cluster) and "hosts.yml" in cluster.source


BAD = [
    # (file name, text, words the message must contain)
    ("a.toml", '[hosts.node1]\nrole = "manager"\n', ["a.toml", "node1", "address", "missing"]),
    ("a.yaml", "hosts:\n  node1:\n    address: 10.0.0.1\n    port: 70000\n", ["a.yaml", "node1", "port", "70000"]),
    ("a.yaml", "hosts:\n  node1:\n    address: 10.0.0.1\n    port: '22'\n", ["node1", "port", "'22'"]),
    ("a.toml", '[hosts.node1]\naddress = "10.0.0.1"\nrole = "leader"\n', ["node1", "role", "leader", "manager"]),
    ("a.toml", '[hosts.node1]\naddress = "10.0.0.1"\nadress = "x"\n', ["node1", "unknown field", "adress"]),
    ("a.toml", 'known_host = "x"\n[hosts.n]\naddress = "1.2.3.4"\n', ["top level", "known_host"]),
    ("a.toml", '[hosts.node1]\naddress = "10.0.0.1"\nkey = "nope"\n', ["node1", "key", "nope", "not found"]),
    ("a.toml", '[hosts.node1]\naddress = "10.0.0.1"\nsudo = "yes"\n', ["node1", "sudo", "true or false"]),
    ("a.toml", '[hosts.node1]\naddress = "a"\n[hosts.node1]\naddress = "b"\n', ["a.toml", "duplicate", "node1"]),
    ("a.yaml", "hosts:\n  node1: {address: a}\n  node1: {address: b}\n", ["a.yaml", "duplicate", "node1"]),
    ("a.toml", '[[hosts]]\nname = "x"\naddress = "a"\n[[hosts]]\nname = "x"\naddress = "b"\n', ["duplicate", "'x'"]),
    ("a.toml", 'trust_on_first_use = true\n', ["a.toml", "no hosts"]),
    ("a.yaml", "hosts: {}\n", ["empty"]),
    ("a.yaml", "hosts:\n  node1: [1, 2]\n", ["node1", "table of fields"]),
    ("a.yaml", "hosts:\n  - address: 1.2.3.4\n", ["#1", "name"]),
    ("a.toml", "hosts = [\n", ["a.toml", "not valid TOML"]),
    ("a.yaml", "hosts: [a, b\n", ["a.yaml", "not valid YAML"]),
    ("a.toml", 'trust_on_first_use = "no"\n[hosts.n]\naddress = "a"\n', ["trust_on_first_use", "true or false"]),
    ("a.yaml", 'hosts:\n  "node1\\n": {address: 10.0.0.1}\n', ["node1", "name"]),
]


def test_an_inventory_that_is_not_utf8_says_so_in_one_line(folder):
    path = folder / "latin1.toml"
    path.write_bytes('[hosts.n\xf6de1]\naddress = "10.0.0.1"\n'.encode("latin-1"))
    with pytest.raises(InventoryError, match=r"latin1.toml is not UTF-8 text \(byte 8\): save it as UTF-8$"):
        load_inventory(path)


@pytest.mark.parametrize("name,text,words", BAD, ids=[f"{i}-{b[2][-1]}" for i, b in enumerate(BAD)])
def test_bad_inventories_say_what_and_where(folder, name, text, words):
    with pytest.raises(InventoryError) as err:
        load_inventory(write(folder, name, text))
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in: {message}"


def test_missing_file_and_unknown_suffix(folder):
    with pytest.raises(InventoryError, match=r"nope\.toml not found"):
        load_inventory(folder / "nope.toml")
    with pytest.raises(InventoryError, match=r"unknown file type '\.ini'"):
        load_inventory(write(folder, "hosts.ini", "[x]\n"))
