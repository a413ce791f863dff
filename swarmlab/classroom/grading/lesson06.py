"""Lesson 6's grading: the routes in the way and the pools each covers, against node2's routing table."""
from . import Answer, Test

ANSWERS = [Answer("covering", cell="4e63e55e")]
TESTS = [Test("covering_test", 2, cell="e58ce4de",
              visible='assert isinstance(covering, dict), "a dict: route -> how many pools it covers"',
              hidden='''
from swarmlab.classroom.grading.checks import look
table = look(node2, "ip route").stdout
assert all(route.split("/")[0] in table for route in covering), "a route node2 does not have"
assert covering == {str(r.dst): len(c) for r, c in report.covering.items()}, "not the routes in the way, or wrong counts"''')]
