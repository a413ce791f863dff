"""The lab driver registry, the bases every driver implements, and the one default rule."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from swarmlab.errors import LabError
from swarmlab.lab import DRIVERS, Driver, LabNode, default_driver, driver_class, get_driver
from swarmlab.lab.driver import Usability
from swarmlab.transport import TRANSPORTS

# What each driver must declare, with the type of its value.
CAPABILITIES = {"name": str, "transport": str, "local_needs_root": bool, "sshd": bool, "runs_here": bool,
                "on_engine": bool, "switch_in_reach": bool, "no_sshd_hint": str}


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_a_registered_driver_implements_every_method_of_the_bases(name):
    cls = driver_class(name)
    assert issubclass(cls, Driver) and cls.name == name
    assert issubclass(cls.node_class, LabNode) and cls.node_class is not LabNode
    assert not cls.__abstractmethods__, f"{name} driver leaves {sorted(cls.__abstractmethods__)} open"
    assert not cls.node_class.__abstractmethods__, \
        f"{cls.node_class.__name__} leaves {sorted(cls.node_class.__abstractmethods__)} open"


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_a_registered_driver_declares_each_capability(name):
    cls = driver_class(name)
    assert {cap: type(getattr(cls, cap)) for cap in CAPABILITIES} == CAPABILITIES
    assert cls.transport in TRANSPORTS and cls.no_sshd_hint


def test_the_bases_refuse_a_driver_or_node_that_leaves_a_method_open():
    class HalfDriver(Driver):
        name = "half"

    class HalfNode(LabNode):
        pass
    with pytest.raises(TypeError, match="abstract"):
        HalfDriver("lab", None)
    with pytest.raises(TypeError, match="abstract"):
        HalfNode("lab", None)


def test_an_unknown_driver_names_the_known_ones():
    with pytest.raises(LabError, match="unknown lab driver 'vm'; use one of namespaces, userns, docker"):
        driver_class("vm")
    with pytest.raises(LabError, match="unknown lab driver 'vm'"):
        get_driver("vm", "lab1")


@pytest.mark.parametrize("euid, engine, expected", [
    (0, None, "namespaces"),                   # root, nothing but this machine
    (0, "ssh://teacher@server", "docker"),     # an engine named: its containers, even as root
    (1000, None, "docker"),                    # not root: the Docker engine
    (1000, "tcp://engine:2375", "docker"),
])
def test_the_default_driver_is_namespaces_as_root_with_no_engine_else_docker(monkeypatch, euid, engine, expected):
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    assert default_driver(engine) == expected


def test_the_namespaces_driver_takes_no_engine():
    with pytest.raises(LabError, match="engine and default_route are for the docker driver"):
        get_driver("namespaces", "lab1", "tcp://engine:2375")
    assert get_driver("namespaces", "lab1").dir.name == "lab1"


def test_a_usability_says_why_and_what_stops_a_forced_driver():
    assert Usability(True, "here").forced_error == ""
    assert Usability(False, "not here", "stop").forced_error == "stop"


def test_the_namespaces_driver_loads_no_docker_py():
    """docker-py (0.3 s of a start) is the docker driver's alone."""
    script = ("import sys, swarmlab.lab; swarmlab.lab.driver_class('namespaces'); "
              "print('docker' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr
