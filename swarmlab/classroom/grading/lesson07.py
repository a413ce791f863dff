"""Lesson 7's grading: the doctor's findings about node2, on a node that is in the swarm."""
from . import Answer, Test

ANSWERS = [Answer("about_node2", cell="7d63362a")]
TESTS = [Test("about_node2_test", 1, cell="be895edb",
              visible='assert len(about_node2) > 0, "the findings that concern node2"',
              hidden='''
mine = findings[findings.node.str.split(", ").map(lambda nodes: node2.name in nodes or nodes == ["all"])]
assert sorted(about_node2.index) == sorted(mine.index), "not every finding about node2, or others too"
assert state.stdout.split()[-1:] == ["active"], "node2 answered over SSH that it is in the swarm"''')]
