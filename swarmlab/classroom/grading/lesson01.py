"""Lesson 1's grading: a worker's answer to `docker node ls`, and the swarm's own word that node2 is a worker."""
from . import Answer, Test

ANSWERS = [Answer("worker_refuses", cell="bbd27880")]
TESTS = [Test("worker_refuses_test", 1, cell="9e51e270",
              visible='assert refused.node == node2.name, "ask node2"',
              hidden='''
from swarmlab.classroom.grading.checks import look
assert "node ls" in refused.command and not refused.ok, "node2 was asked for `docker node ls` and refused"
listed = parse.docker_table(look(node1, "docker node ls").stdout)
assert (listed[~listed["self"]]["MANAGER STATUS"].fillna("") == "").all(), "the manager lists node2 as a worker"''')]
