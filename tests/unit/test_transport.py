"""The transport registry and the capabilities every transport declares (callers ask, never probe)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from swarmlab.errors import SwarmlabError
from swarmlab.lab import DRIVERS, driver_class
from swarmlab.transport import TRANSPORTS, Transport, TransportWrapper, get_transport, transport_class
from swarmlab.transport.replay import ReplayTransport

CAPABILITIES = ("stream", "replays", "address", "lab_node", "docker_base_url", "docker_client", "docker_connector",
                "answered", "close")
LAB_NODE = SimpleNamespace(name="node1", address="10.0.0.1", docker_host="unix:///run/node1.sock")

# kind -> (what builds one without reaching anything, what it declares)
KINDS = {
    "lab": ((LAB_NODE,), dict(replays=False, address="10.0.0.1", lab_node=LAB_NODE,
                              docker_base_url="unix:///run/node1.sock")),
    "docker-exec": ((LAB_NODE,), dict(replays=False, address="10.0.0.1", lab_node=LAB_NODE,
                                      docker_base_url=None)),
    "ssh": (("10.0.0.5",), dict(replays=False, address="10.0.0.5", lab_node=None,
                                docker_base_url="ssh://admin@10.0.0.5:22")),
    "replay": (("node1", []), dict(replays=True, address="", lab_node=None, docker_base_url=None)),
}


def test_every_kind_is_tested_here():
    assert sorted(KINDS) == sorted(TRANSPORTS)


@pytest.mark.parametrize("kind", sorted(TRANSPORTS))
def test_a_registered_kind_is_a_transport_declaring_every_capability(kind):
    cls = transport_class(kind)
    assert issubclass(cls, Transport) and cls.kind == kind
    assert all(hasattr(cls, name) for name in CAPABILITIES)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_get_transport_builds_one_that_answers_its_capabilities(kind):
    args, declared = KINDS[kind]
    extra = {"user": "admin"} if kind == "ssh" else {}
    transport = get_transport(kind, *args, **extra)
    assert {name: getattr(transport, name) for name in declared} == declared
    assert transport.node_name


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(SwarmlabError, match="no transport 'telnet'; swarmlab has lab, ssh"):
        transport_class("telnet")


def test_the_base_declares_defaults():
    base = Transport()
    assert (base.kind, base.replays, base.address, base.lab_node, base.docker_base_url) == ("", False, "", None, None)
    assert base.close() is None
    with pytest.raises(SwarmlabError, match="offers no Docker API"):
        base.docker_client()
    with pytest.raises(NotImplementedError):
        base.run("true")


@pytest.mark.parametrize("inner", [get_transport("lab", LAB_NODE), ReplayTransport("node1", [])])
def test_a_wrapper_offers_what_the_inner_transport_offers(inner):
    wrapper = TransportWrapper(inner)
    assert all(getattr(wrapper, name) == getattr(inner, name)
               for name in ("node_name", "replays", "address", "lab_node", "docker_base_url"))


@pytest.mark.parametrize("driver", [driver_class(name) for name in DRIVERS])
def test_a_lab_driver_names_its_transport_and_declares_how_its_nodes_are_reached(driver):
    assert driver.name in DRIVERS and driver.transport in TRANSPORTS
    assert isinstance(driver.local_needs_root, bool) and isinstance(driver.sshd, bool)
