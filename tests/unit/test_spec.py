"""Lab specs are checked before anything is built: bad input is a clear LabError."""
import pytest

from swarmlab.errors import LabError
from swarmlab.lab.spec import LabSpec


def test_default_is_the_articles_two_nodes():
    spec = LabSpec.build()
    assert [(n.name, n.address, n.nic) for n in spec.nodes] == [
        ("node1", "172.16.155.131", "ens33"), ("node2", "172.16.155.132", "ens33")]
    assert spec.nodes[0].cidr == "172.16.155.131/24"


def test_names_count_subnet_and_first_address_are_parameters():
    spec = LabSpec.build("class-a", nodes=3, subnet="10.9.0.0/24", first_address="10.9.0.10",
                         nic="eth0")
    assert [n.address for n in spec.nodes] == ["10.9.0.10", "10.9.0.11", "10.9.0.12"]
    spec = LabSpec.build("x", node_names=["mgr", "w1"])
    assert [n.name for n in spec.nodes] == ["mgr", "w1"]


def test_small_subnet_starts_at_its_first_host():
    spec = LabSpec.build("x", nodes=2, subnet="192.168.7.0/29")
    assert [n.address for n in spec.nodes] == ["192.168.7.1", "192.168.7.2"]


@pytest.mark.parametrize("kwargs, words", [
    ({"nodes": 0}, "at least 1"),
    ({"nodes": -3}, "at least 1"),
    ({"nodes": "2"}, "whole number"),
    ({"nodes": 300}, "do not fit"),
    ({"nodes": 130, "first_address": "172.16.155.131"}, "do not fit"),
    ({"subnet": "300.1.1.0/24"}, "bad subnet"),
    ({"subnet": "172.16.155.1/24"}, "host bits"),
    ({"subnet": "10.0.0.0/31"}, "too small"),
    ({"subnet": "10.7.7.0/30", "nodes": 2}, "no address left"),
    ({"nodes": 254}, "no address left"),
    ({"name": "a/b"}, "bad lab name"),
    ({"name": "has space"}, "bad lab name"),
    ({"name": "dots.not.allowed"}, "bad lab name"),
    ({"name": ""}, "bad lab name"),
    ({"name": "lab\n"}, "bad lab name"),  # `$` matches before a final newline: names are matched whole
    ({"node_names": ["n1\n"]}, "bad node name"),
    ({"nic": "ens33\n"}, "bad interface name"),
    ({"node_names": ["n1", "n1"]}, "unique"),
    ({"node_names": ["a-very-long-node-name"]}, "bad node name"),
    ({"first_address": "10.0.0.1"}, "not a host address"),
    ({"first_address": "nope"}, "bad first_address"),
])
def test_bad_input_names_what_was_wrong(kwargs, words):
    with pytest.raises(LabError) as err:
        LabSpec.build(**kwargs)
    assert words in str(err.value)
    assert "\n" not in str(err.value)  # one line
