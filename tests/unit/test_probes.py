"""The probe plan, script and verdicts (the probes themselves run in tests/live/test_faults.py).

The outputs parsed here are lines printed by probes.script() on a real 3-node lab.
"""
import json
import shlex
import subprocess

from swarmlab import probes
from swarmlab.cluster import Cluster, Node
from swarmlab.doctor import Facts, ping_plan, probe_targets

from pathlib import Path

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "doctor"

# Printed on node1 of a lab where node3 advertised 10.99.0.3 (not on the LAN).
CAPTURED = """\
tcp 172.16.155.131 2377 open 1
tcp 172.16.155.132 7946 open 1
tcp 172.16.155.133 7946 open 1
ping 172.16.155.132 1472 df ok 1
ping 172.16.155.132 56 - ok 1
tcp 10.99.0.3 7946 unreachable 2
ping 172.16.155.132 1473 df toolong 1
bash: line 1: a shell complaining
"""


def test_parse_reads_every_probe_line_and_skips_the_rest():
    rows = probes.parse(CAPTURED)
    assert len(rows) == 7
    assert rows[0] == probes.Outcome("tcp", "172.16.155.131", 2377, 0, False, "open", 1)
    assert rows[3].df and rows[3].size == 1472 and rows[3].outcome == "ok"
    assert rows[5].outcome == "unreachable" and rows[5].tries == 2  # retried before it counted
    assert rows[6].outcome == "toolong"
    # Each keeps its line as printed: the doctor's evidence quotes it, not a rewording.
    assert [row.line for row in rows] == [line for line in CAPTURED.splitlines() if not line.startswith("bash:")]


def test_ring_spreads_the_work_and_covers_every_node():
    names = [f"node{i}" for i in range(1, 31)]
    assert probes.ring(names, "node1") == ["node2", "node3", "node4"]
    assert probes.ring(names, "node30") == ["node1", "node2", "node3"]
    probed = [peer for name in names for peer in probes.ring(names, name)]
    assert len(probed) == 30 * probes.RING  # grows with N, not N*N
    assert all(probed.count(name) == probes.RING for name in names)  # every node seen from RING others
    assert probes.ring(["node1", "node2"], "node1") == ["node2"]
    assert probes.ring(["node1"], "node1") == []


def test_silence_is_a_filter_only_when_the_controls_answer():
    filtered = probes.parse("tcp 10.0.0.2 7946 timeout 2\nctl-ping 10.0.0.2 ok\nctl-tcp 10.0.0.2 1 refused\n")
    assert probes.silence_verdict(filtered, "10.0.0.2") == "filtered"
    dead = probes.parse("tcp 10.0.0.2 7946 timeout 2\nctl-ping 10.0.0.2 lost\nctl-tcp 10.0.0.2 1 timeout\n")
    assert probes.silence_verdict(dead, "10.0.0.2") == "unreachable"
    busy = probes.parse("tcp 10.0.0.2 7946 timeout 2\nctl-ping 10.0.0.2 ok\nctl-tcp 10.0.0.2 1 timeout\n")
    assert probes.silence_verdict(busy, "10.0.0.2") == "unknown"
    assert probes.silence_verdict(probes.parse("tcp 10.0.0.2 7946 timeout 2\n"), "10.0.0.2") == "unknown"
    # The controls are retried too, and say how many tries they took (older recordings: no count, 1 try).
    retried = probes.parse("tcp 10.0.0.2 7946 timeout 2\nctl-ping 10.0.0.2 ok 2\nctl-tcp 10.0.0.2 1 refused 1\n")
    assert [(o.kind, o.outcome, o.tries) for o in retried[1:]] == [("ctl-ping", "ok", 2), ("ctl-tcp", "refused", 1)]
    assert probes.silence_verdict(retried, "10.0.0.2") == "filtered"
    assert [o.tries for o in filtered[1:]] == [1, 1]


def test_the_script_is_valid_bash_and_bounds_its_work():
    ps = [probes.Probe("tcp", "10.0.0.2", 7946), probes.Probe("ping", "10.0.0.2", size=1472, df=True)]
    text = probes.script(ps, prefix="nsenter --net=/x")
    assert text.startswith("bash -c ")
    body = shlex.split(text)[2]
    # bash -n parses without running: the quoting survived.
    check = subprocess.run(["bash", "-n"], input=body, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "spawn probe_tcp 10.0.0.2 7946" in body and "spawn probe_ping 10.0.0.2 1472 df nsenter --net=/x" in body
    assert f"{probes.PARALLEL} {probes.CLOSED_PORT}" in text and "wait -n" in body
    assert probes.script([]) == ""


def test_the_script_runs_and_reports_a_refused_port_after_a_retry():
    # Loopback only: port 1 is closed there, so the probe is refused, retried, and says so.
    result = subprocess.run(["sh", "-c", probes.script([probes.Probe("tcp", "127.0.0.1", 1)])],
                            capture_output=True, text=True, timeout=20)
    assert probes.parse(result.stdout) == [probes.Outcome("tcp", "127.0.0.1", 1, 0, False, "refused", 2)]


def test_every_node_probes_its_ring_and_the_managers_2377():
    class Silent:
        node_name = ""

        def run(self, *a, **k):
            raise AssertionError("no command should run")
    nodes = [Node(f"node{i}", f"10.0.0.{i}", Silent(), "manager" if i == 1 else "worker") for i in range(1, 11)]
    cluster = Cluster(nodes)
    targets = probe_targets(cluster, cluster.node("node5"))
    assert [(t.address, t.port) for t in targets] == [("10.0.0.6", 7946), ("10.0.0.7", 7946), ("10.0.0.8", 7946),
                                                       ("10.0.0.1", 2377)]
    assert all(t.port != 2377 for t in probe_targets(cluster, cluster.node("node1")))


def test_ping_plan_uses_the_mtus_and_sandboxes_the_nodes_reported():
    facts = Facts.from_dict(json.loads((CASES / "healthy.json").read_text()))

    class Silent:
        node_name = ""
    cluster = Cluster([Node(name, f.address, Silent(), "manager" if name == facts.manager else "worker")
                       for name, f in facts.nodes.items()])
    plan = ping_plan(cluster, facts)
    underlay, overlay = plan["node1"]
    node2 = facts.nodes["node2"]
    assert probes.Probe("ping", node2.address, size=1500 - 28, df=True) in underlay
    assert probes.Probe("ping", node2.ingress_address, size=1450 - 28, df=True) in overlay
    assert node2.ingress_address.startswith("10.0.0.")


# overlay_forwarding_command's output on the two nodes of a lab where node2's pings to node1's task
# were lost for 40 s after the service was re-created (node2's task was 10.0.1.10, node1's 10.0.1.11).
DARK_NODE1 = """# fdb
02:42:0a:00:01:0a dev vxlan0 master br0 
9a:98:48:58:c7:4a dev vxlan0 master br0 permanent
02:42:0a:00:01:0a dev vxlan0 dst 172.16.155.132 link-netnsid 0 self 
# neigh
"""
DARK_NODE2 = """# fdb
02:42:0a:00:01:0b dev vxlan0 master br0 
82:6a:22:92:db:ec dev vxlan0 master br0 permanent
02:42:0a:00:01:0b dev vxlan0 dst 172.16.155.131 link-netnsid 0 self permanent
02:42:0a:00:01:06 dev vxlan0 dst 172.16.155.131 link-netnsid 0 self permanent
# neigh
10.0.1.11 dev vxlan0 lladdr 02:42:0a:00:01:0b PERMANENT 
10.0.1.6 dev vxlan0 lladdr 02:42:0a:00:01:06 PERMANENT 
"""


# The same command where node2's pings to node1's task 10.0.1.10 were lost the other way round:
# node2, the side that pings, never programmed node1's task (node1 had node2's entries).
MIRRORED_NODE2 = """# fdb
6e:9c:a0:36:2a:38 dev vxlan0 master br0 permanent
# neigh
"""
MIRRORED_NODE1 = """# fdb
da:87:a1:fe:3d:1f dev vxlan0 master br0 permanent
02:42:0a:00:01:0b dev vxlan0 dst 172.16.155.132 link-netnsid 0 self permanent
02:42:0a:00:01:0d dev vxlan0 dst 172.16.155.132 link-netnsid 0 self permanent
# neigh
10.0.1.11 dev vxlan0 lladdr 02:42:0a:00:01:0b PERMANENT 
10.0.1.13 dev vxlan0 lladdr 02:42:0a:00:01:0d PERMANENT 
"""


def test_a_lost_ping_names_the_side_that_never_programmed_the_others_task():
    from swarmlab.fix import lacking_neighbour
    assert lacking_neighbour("node2", "node1", {"node2": "10.0.1.10", "node1": "10.0.1.11"},
                             {"node1": DARK_NODE1, "node2": DARK_NODE2}) == \
        "node1 has no neighbour entry for node2's task 10.0.1.10, so it cannot answer it"
    # node1 holds both of node2's overlay entries (its task and its load balancer's; which is which
    # the capture does not say), so either is node2's task here.
    for node2_task in ("10.0.1.11", "10.0.1.13"):
        assert lacking_neighbour("node2", "node1", {"node2": node2_task, "node1": "10.0.1.10"},
                                 {"node1": MIRRORED_NODE1, "node2": MIRRORED_NODE2}) == \
            "node2 has no neighbour entry for node1's task 10.0.1.10, so it cannot reach it"
    assert lacking_neighbour("node2", "node1", {"node2": "10.0.1.11", "node1": "10.0.1.10"},
                             {"node1": MIRRORED_NODE1, "node2": "nsenter: cannot open"}) == ""  # could not look


def test_the_neighbour_table_says_which_node_lacks_the_other_task():
    from swarmlab.fix import has_neighbour
    assert has_neighbour(DARK_NODE1, "10.0.1.10") is False  # node1 never programmed node2's task
    assert has_neighbour(DARK_NODE2, "10.0.1.11") is True
    assert has_neighbour(DARK_NODE2, "10.0.1.1") is False  # a prefix of 10.0.1.11 is not a match
    assert has_neighbour("nsenter: cannot open /var/run/docker/netns/1-: No such file", "10.0.1.10") is None
