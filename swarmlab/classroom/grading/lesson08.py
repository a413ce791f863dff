"""Lesson 8's grading is in the notebook itself (its nbgrader metadata): the fault's name (a hidden
test) and the repair, judged by drill.check on a live lab."""

ANSWERS = []
TESTS = []
