"""Gathering: the script each node answers, and a lesson's recorded gathering replayed."""
import pytest

from evidence import assert_evidence_is_what_ran
from swarmlab.cluster import Cluster
from swarmlab.doctor import diagnose
from swarmlab.doctor.gathering import gather, node_script

from .cases import RECORDINGS


def test_node_script_asks_the_manager_for_tasks_and_probes_the_others():
    from swarmlab.cluster import Cluster, Node
    from swarmlab.transport import Transport

    class Silent(Transport):
        node_name = ""

        def run(self, *a, **k):
            raise AssertionError("no command should run")
    cluster = Cluster([Node("node1", "10.0.0.1", Silent(), "manager"), Node("node2", "10.0.0.2", Silent(), "worker")])
    worker = node_script(cluster, cluster.node("node2"))
    manager = node_script(cluster, cluster.node("node1"))
    assert "spawn probe_tcp 10.0.0.1 2377" in worker and "spawn probe_tcp 10.0.0.1 7946" in worker
    assert "spawn probe_tcp 10.0.0.2 7946" in manager and "probe_tcp 10.0.0.1 2377" not in manager
    assert "docker service ps" in manager and "docker service ps" not in worker


@pytest.mark.parametrize("lesson", ["04", "06", "07"])
def test_a_replayed_gathering_records_every_command_and_its_evidence_is_what_ran(lesson):
    """The doctor's first gathering in a lesson's recording, replayed: the probe scripts are
    recorded with the rest, and every finding quotes only them and what they printed."""
    gathered = gather(Cluster.from_recording(RECORDINGS / f"{lesson}.json"))
    for f in gathered.nodes.values():
        assert set(f.sections) <= set(f.commands), f"{f.name}: sections without their command"
    assert {"probes", "pings", "overlay_pings"} <= set(gathered.manager_facts.commands)
    assert_evidence_is_what_ran(gathered, diagnose(gathered))
