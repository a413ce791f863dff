"""Lesson 3's grading: the failures counted on node2, and a repair judged by behaviour (drill.check).

The repair is not in the lesson's text (lesson 5 teaches one): the graded copy adds it as an
exercise, with the prompt in the cell's comments. Any repair that makes the swarm work scores;
one that does not, or a replay, scores 0 for it.
"""
from . import Answer, Test

COUNT = "ae57caec"  # the exercise cell: how many tasks failed on node2
ANSWERS = [
    Answer("node2_failures", cell=COUNT, prompt="# Set `node2_failures` to that count.",
           source='node2_failures = int((history["state"].isin(["Failed", "Rejected"]) '
                  '& (history["node"] == node2.name)).sum())\nnode2_failures'),
    Answer("repair", after="graded-node2-failures-test",
           prompt="# Exercise (graded on a live lab): repair the swarm, so that the service `test` runs one replica\n"
                  "# on each node and its replicas reach each other over uber-net. Lesson 5 shows one way; any\n"
                  "# repair that works scores, whatever commands made it.",
           source="from swarmlab import fix\n"
                  "swarmlab.fix_gwbridge(node2, like=node1)\n"
                  "fix.recreate_service(cluster)\n"
                  "fix.verified(cluster)"),
]
TESTS = [
    Test("node2_failures_test", 1, after=COUNT,
         visible='assert isinstance(node2_failures, int), "a whole number"',
         hidden='''
seen = int((story.failed(history)["node"] == node2.name).sum())   # the tasks sampled from the swarm
assert node2_failures == seen, "not the number of tasks that failed on node2"'''),
    Test("repaired_test", 3, after="graded-repair", in_replay=False,
         visible='''
from swarmlab.classroom.grading import checks
checks.assert_repaired(cluster)   # live: the swarm works now; replay: NotGradableError (scores 0)'''),
]
