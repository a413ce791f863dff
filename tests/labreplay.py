"""Clusters that answer from the captured lab fixtures (tests/fixtures/lab/*.json).

A deliberately small replay, independent of swarmlab.record: the k-th run of a
command on a node gets the k-th recorded answer, and a command the capture does not
hold fails the test with the command's text.
"""
from __future__ import annotations

import json
import shlex
from collections import defaultdict
from pathlib import Path

from swarmlab.cluster import Cluster, Node
from swarmlab.result import Result
from swarmlab.transport import Transport

LAB_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lab"
SCENARIOS = ["healthy", "article_failing", "article_settled", "article_fixed"]


class FixtureTransport(Transport):
    def __init__(self, node_name: str, answers: dict[str, list[dict]]):
        self.node_name = node_name
        self.answers = answers
        self.asked: list[str] = []

    def run(self, command, *, input=None, timeout=120) -> Result:
        command = command if isinstance(command, str) else shlex.join(command)  # an argv, as a shell reads it
        self.asked.append(command)
        recorded = self.answers.get(command)
        if not recorded:
            raise AssertionError(f"{self.node_name}: the fixture holds no (further) answer to {command!r}")
        run = recorded.pop(0)
        return Result(self.node_name, command, run["stdout"], run["stderr"], run["exit_code"], run["duration"])


def replay_cluster(scenario: str) -> Cluster:
    data = json.loads((LAB_FIXTURES / f"{scenario}.json").read_text())
    answers = defaultdict(lambda: defaultdict(list))
    for run in data["runs"]:
        answers[run["node"]][run["command"]].append(run)
    nodes = [Node(n["name"], n["address"], FixtureTransport(n["name"], answers[n["name"]]), n["role"])
             for n in data["nodes"]]
    return Cluster(nodes, source=f"fixture {scenario}")


def scripted_cluster(outputs: dict[str, dict[str, tuple[str, int] | str]]) -> Cluster:
    """A cluster from hand-written outputs: {node: {command: stdout or (stdout, exit_code)}}."""
    nodes = []
    for i, (name, commands) in enumerate(outputs.items()):
        answers = defaultdict(list)
        for command, out in commands.items():
            stdout, code = (out, 0) if isinstance(out, str) else out
            run = {"stdout": stdout if code == 0 else "", "stderr": "" if code == 0 else stdout,
                   "exit_code": code, "duration": 0.0}
            answers[command] = [run] * 10  # the same answer however often it is asked
        nodes.append(Node(name, f"10.0.0.{i + 1}", FixtureTransport(name, answers),
                          "manager" if i == 0 else "worker"))
    return Cluster(nodes, source="scripted")
