"""Lesson 4's grading: the doctor's fix for node2, and node2's bridges that call for it."""
from . import Answer, Test

ANSWERS = [Answer("fix_command", cell="903c3048")]
TESTS = [Test("fix_command_test", 1, cell="a8a1a535",
              visible='assert isinstance(fix_command, str), "the fix is a command line"',
              hidden='''
from swarmlab.classroom.grading.checks import look
assert "docker_gwbridge" not in set(parse.brctl_show(look(node2, "brctl show").stdout)["bridge"]), "node2 lacks the bridge"
assert fix_command == gwbridge.iloc[0]["fix"], "not the fix the doctor gives for node2's docker_gwbridge"''')]
