"""Lesson 5's grading: the veths on node2's docker_gwbridge, against node2's `brctl show`."""
from . import Answer, Test

ANSWERS = [Answer("gwbridge_ports", cell="9b45ea56")]
TESTS = [Test("gwbridge_ports_test", 1, cell="612a6e53",
              visible='assert "interface" in ports and "peer_kind" in ports, "a table of interfaces and what they lead to"',
              hidden='''
from swarmlab.classroom.grading.checks import look
on_node2 = parse.brctl_show(look(node2, "brctl show").stdout).query("bridge == 'docker_gwbridge'")
assert sorted(ports["interface"]) == sorted(on_node2["interface"]), "not the veths on node2's docker_gwbridge"''')]
