"""`swarmlab run` on a recording, and `lab up --host-link` on the command line."""
from __future__ import annotations

from swarmlab.cli import _parser, main
from swarmlab.cluster import Cluster, Node
from swarmlab import Recorder
from swarmlab.result import Result
from swarmlab.transport import Transport


class Answers(Transport):
    def __init__(self, name):
        self.node_name = name

    def run(self, command, *, input=None, timeout=120):
        code = 0 if command == "hostname" else 3
        return Result(self.node_name, command, f"{self.node_name}\n" if code == 0 else "", "", code)


def test_run_on_every_node_of_a_recording(tmp_path, capsys):
    rec = Recorder(Cluster([Node(n, "", Answers(n)) for n in ("node1", "node2")], source="test"))
    for node in rec.cluster:
        node.run("hostname")
    rec.cluster.node("node2").run("false")
    path = rec.save(tmp_path / "r.json")
    assert main(["run", str(path), "--", "hostname"]) == 0
    assert capsys.readouterr().out == "[node1]$ hostname\nnode1\n[node2]$ hostname\nnode2\n"
    assert main(["run", "-n", "node2", str(path), "--", "false"]) == 3
    assert main(["run", "-n", "node1", str(path), "--", "false"]) == 1  # never recorded: an error
    assert "never recorded" in capsys.readouterr().err
    assert main(["run", str(path), "-n", "node2", "--", "false"]) == 1
    assert "options go before TARGET" in capsys.readouterr().err


def test_lab_up_has_host_link_off_unless_asked():
    assert _parser().parse_args(["lab", "up"]).host_link is False
    assert _parser().parse_args(["lab", "up", "--host-link"]).host_link is True
