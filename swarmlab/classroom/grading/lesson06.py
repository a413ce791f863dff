"""Lesson 6's grading: the routes in the way and the pools each covers, against node2's routing table as
the lesson read it from the lab in the first situation."""
from . import Answer, Test

ANSWERS = [Answer("covering", cell="4e63e55e")]
TESTS = [Test("covering_test", 2, cell="e58ce4de",
              visible='assert isinstance(covering, dict), "a dict: route -> how many pools it covers"',
              hidden='''
# `routes`: node2's routing table as the lesson read it in the first situation (the routes are gone since)
assert all(f"{route} dev" in routes.stdout for route in covering), "a route node2 did not have"
assert covering == {str(r.dst): len(c) for r, c in report.covering.items()}, "not the routes in the way, or wrong counts"''')]
