"""What the autograded cells call: the lab's answer now, and whether a repair works.

`look` is how a test sees the lab: a live lab (or an inventory's hosts) runs the command again;
a replay answers with the recorded run as of this point of the lesson, without advancing the
replay, so the lesson's own later cells still get their answers. `assert_repaired` needs a swarm
that runs, as a drill's grading does: in a replay it raises NotGradableError and the cell scores 0.
"""
from __future__ import annotations

from ... import drill
from ...errors import NotGradableError
from ...result import Result

NOT_GRADED_IN_REPLAY = (
    "this lesson is a replay of a recorded run: nothing you typed ran on a swarm, so this test cannot judge it "
    "and scores nothing here. It is graded on a live lab or your own hosts (SWARMLAB_BACKEND=live or inventory)")


def look(node, command: str) -> Result:
    """What `command` prints on `node` now (a replay: as recorded at this point of the lesson)."""
    if node.transport.replays:
        result, _ = node.transport.as_of_now(command)
        return result
    return node.run(command)


def live_only(cluster) -> None:
    """Refuse to grade in a replay: the test must see the swarm as the student left it."""
    if not drill.gradable(cluster):
        raise NotGradableError(NOT_GRADED_IN_REPLAY)


def assert_repaired(cluster) -> None:
    """The swarm works (drill.check: a probe on every node talking over a fresh overlay, the
    service `test` with a replica on every node talking over uber-net, Docker's rules intact):
    any repair that works passes, whatever commands made it."""
    live_only(cluster)
    drill.assert_repaired(cluster, drill.check(cluster))
