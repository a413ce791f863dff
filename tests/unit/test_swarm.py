"""swarmlab.swarm: the membership query, node names kept on the cluster, dockerd started or restarted."""
from __future__ import annotations

import pytest
from labreplay import scripted_cluster

from swarmlab import messages, swarm
from swarmlab.cluster import Node
from swarmlab.errors import SwarmlabError
from swarmlab.transport import TransportWrapper

BACK = "dockerd 20.10.24 is back; swarm active\n"


def test_the_swarm_state_of_each_node_and_whether_it_is_in():
    cluster = scripted_cluster({"node1": {swarm.STATE_COMMAND: "active\n"},
                                "node2": {swarm.STATE_COMMAND: "inactive\n"},
                                "node3": {swarm.STATE_COMMAND: ("Cannot connect to the Docker daemon", 1)}})
    assert [swarm.state(n) for n in cluster] == ["active", "inactive", ""]
    assert [swarm.in_swarm(n) for n in cluster] == [True, False, False]


def test_node_names_are_asked_once_and_kept_on_the_cluster():
    cluster = scripted_cluster({"node1": {swarm.HOSTNAME: "vm-a\n"}, "node2": {swarm.HOSTNAME: "vm-b\n"}})
    assert cluster.names_by_hostname is None
    assert swarm.node_names(cluster) == {"vm-a": "node1", "vm-b": "node2"}
    assert swarm.node_names(cluster) is cluster.names_by_hostname
    assert [n.transport.asked for n in cluster] == [[swarm.HOSTNAME], [swarm.HOSTNAME]]


def test_node_names_are_not_kept_while_a_node_does_not_answer():
    cluster = scripted_cluster({"node1": {swarm.HOSTNAME: "vm-a\n"}, "node2": {swarm.HOSTNAME: ("no dockerd", 1)}})
    assert swarm.node_names(cluster) == {"vm-a": "node1"}
    assert cluster.names_by_hostname is None  # asked again next time


class LabNode:
    """What a lab driver's node offers for its dockerd; remembers what it was asked."""

    def __init__(self):
        self.calls = []

    def start_docker(self):
        self.calls.append("start_docker")

    def wait_docker(self):
        self.calls.append("wait_docker")

    def restart_docker(self):
        self.calls.append("restart_docker")


class OnALabNode(TransportWrapper):
    """A transport whose node belongs to a lab (as LabTransport and DockerExecTransport declare)."""

    def __init__(self, inner, lab_node):
        super().__init__(inner)
        self.the_lab_node = lab_node

    @property
    def lab_node(self):
        return self.the_lab_node


def test_a_lab_nodes_dockerd_is_started_and_waited_for_or_restarted_by_its_driver():
    for restart, calls in ((False, ["start_docker", "wait_docker"]), (True, ["restart_docker"])):
        scripted = next(iter(scripted_cluster({"node1": {swarm.DOCKERD_BACK: BACK}})))
        lab_node = LabNode()
        node = Node("node1", "", OnALabNode(scripted.transport, lab_node))
        assert swarm.start_docker(node, restart=restart).stdout == BACK
        assert lab_node.calls == calls
        assert scripted.transport.asked == [swarm.DOCKERD_BACK]


def test_a_real_hosts_dockerd_is_started_or_restarted_by_systemd():
    node = next(iter(scripted_cluster({"vm": {"systemctl start docker": "", "systemctl restart docker": ""}})))
    assert swarm.start_docker(node).command == "systemctl start docker"
    assert swarm.restart_docker(node).command == "systemctl restart docker"


def test_a_join_that_does_not_finish_quotes_what_the_waiting_node_s_dockerd_logged():
    # The line in dockerd's own log format (logrus), as the lab nodes write /var/log/dockerd.log.
    logged = ('time="2026-12-07T16:12:31.78Z" level=error msg="error in agentInit: failed to create memberlist: '
              'Could not set up network transport: \\"listen tcp 10.0.0.2:7946: bind: address already in use\\""\n')
    cluster = scripted_cluster({"node1": {swarm.join_state_command(): "ready\n", swarm.AGENT_ERRORS_COMMAND: ""},
                                "node2": {swarm.join_state_command(): "waiting\n", swarm.AGENT_ERRORS_COMMAND: logged}})
    with pytest.raises(SwarmlabError) as raised:
        swarm.wait_for_join(cluster, timeout=0)
    said = str(raised.value)
    assert said.startswith("node2 did not finish joining within 0 s")
    assert ("node2's dockerd logged: error in agentInit: failed to create memberlist: Could not set up network "
            'transport: "listen tcp 10.0.0.2:7946: bind: address already in use"') in said
    assert "node1" not in said


def test_a_join_that_does_not_finish_with_nothing_logged_says_only_what_is_missing():
    cluster = scripted_cluster({"node1": {swarm.join_state_command(): "waiting\n", swarm.AGENT_ERRORS_COMMAND: ""}})
    with pytest.raises(SwarmlabError, match=r"in the dockerd log; `swarmlab doctor` says more$"):
        swarm.wait_for_join(cluster, timeout=0)


# `docker network rm docker_gwbridge` on a node without one (`swarmlab lab exec NAME node1 -- ...`,
# 2026-12-07), each Docker in its own words.
NETWORK_RM_MISSING = {"20.10.24": "Error: No such network: docker_gwbridge\n",
                      "26.1.5": "Error response from daemon: network docker_gwbridge not found\n",
                      "28.5.2": "Error response from daemon: network docker_gwbridge not found\n"}


@pytest.mark.parametrize("version", NETWORK_RM_MISSING)
def test_a_missing_network_is_no_error_when_missing_is_ok_in_every_docker_s_words(version):
    stderr = NETWORK_RM_MISSING[version]
    cluster = scripted_cluster({"node1": {"docker network rm docker_gwbridge": (stderr, 1)}})
    assert messages.network_missing(stderr)
    assert not swarm.remove_networks(cluster, "node1", ["docker_gwbridge"], missing_ok=True).ok  # no raise
    with pytest.raises(SwarmlabError, match="not found|No such network"):
        swarm.remove_networks(cluster, "node1", ["docker_gwbridge"])
