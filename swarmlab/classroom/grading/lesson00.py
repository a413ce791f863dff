"""Lesson 0's grading: node1's bridges, checked against what `brctl show` prints on node1."""
from . import Answer, Test

ANSWERS = [Answer("bridges", cell="31dd84d0")]
TESTS = [Test("bridges_test", 1, cell="43e2c36b",
              visible='assert "bridge" in bridges, "`bridges` is the table parse.brctl_show makes of `brctl show`"',
              hidden='''
from swarmlab.classroom.grading.checks import look
on_node1 = parse.brctl_show(look(node1, "brctl show").stdout)
assert sorted(bridges["bridge"]) == sorted(on_node1["bridge"]), "these are not node1's bridges"''')]
