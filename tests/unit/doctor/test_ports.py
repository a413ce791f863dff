"""swarmlab/doctor/ports.py: TCP probes to the swarm ports and the controls their verdicts rest
on, iptables rules that drop a swarm port, and the daemons' own gossip."""
import json
from dataclasses import replace

import pytest

from swarmlab.doctor import diagnose
from swarmlab.doctor.evidence import evidence_blocks, script_line
from swarmlab.doctor.facts import Facts
from swarmlab.doctor.ports import blocking_rules

from .cases import CASES, facts, problems


def test_gossip_blocked_is_caught_by_probe_rule_and_the_daemons_own_gossip():
    findings = problems(diagnose(facts("gossip-blocked")))
    assert {"reach 7946/tcp", "firewall 7946/tcp", "firewall 7946/udp", "gossip udp/7946"} <= set(findings["check"])
    probe = findings.set_index("check").loc["reach 7946/tcp"]
    [(node, command, lines)] = evidence_blocks(probe["evidence"])
    assert (node, command) == ("node1", script_line(facts("gossip-blocked").nodes["node1"], "probes"))
    # Blamed on a filter only because the controls answered: a ping, and a reset from a closed port.
    assert lines == ["tcp 172.16.155.132 7946 timeout 2", "ctl-ping 172.16.155.132 ok", "ctl-tcp 172.16.155.132 1 refused"]
    assert "timeout (2 tries)" in probe["evidence"] and "ping: ok; closed port: refused" in probe["evidence"]
    assert "drops 7946/tcp" in probe["cause"]
    udp = findings.set_index("check").loc["gossip udp/7946"]
    assert udp["node"] == "node2" and "but other probes failed" in udp["evidence"]


def _healthy_with_node2_log(*lines: str) -> Facts:
    """The healthy swarm, node2's daemon having logged `lines` (gossip) just before the doctor asked."""
    data = json.loads((CASES / "healthy.json").read_text())
    node2 = data["nodes"]["node2"]["sections"]
    clock, *rest = node2["daemon_log"].splitlines()
    node2["daemon_log"] = "\n".join([clock, *lines, *rest])
    return Facts.from_dict(data)


def _log(time: str, message: str) -> str:
    return f'time="2026-11-28T04:27:{time}Z" level=info msg="{message}"'


def test_a_suspect_of_a_peers_earlier_incarnation_is_history():
    """A swarm left and formed again: node2 suspected node1's old memberlist name seconds ago,
    and node1 has joined since under a new one (seen here, and in a lesson on an inventory)."""
    earlier = [_log("10.1", "Node 0a0a0a0a0a0a/172.16.155.131, joined gossip cluster"),
               _log("21.0", "memberlist: Suspect 0a0a0a0a0a0a has failed, no acks received")]
    findings = diagnose(_healthy_with_node2_log(*earlier))
    assert "gossip" not in set(problems(findings)["check"])
    # The same line about node1's present name is news: a warning naming node1.
    present = _healthy_with_node2_log(_log("21.0", "memberlist: Suspect c1ebc9cbc09b has failed, no acks received"))
    gossip = problems(diagnose(present)).set_index("check").loc["gossip"]
    assert gossip["severity"] == "warning" and "no gossip acks from node1" in gossip["cause"]


def test_a_silent_port_without_controls_is_not_called_a_firewall():
    data = json.loads((CASES / "gossip-blocked.json").read_text())
    node1 = data["nodes"]["node1"]["sections"]
    node1["probes"] = "\n".join(line for line in node1["probes"].splitlines() if not line.startswith("ctl-"))
    probe = problems(diagnose(Facts.from_dict(data))).set_index("check").loc["reach 7946/tcp"]
    assert probe["severity"] == "warning" and "do not say why" in probe["cause"]
    assert "firewall" not in probe["cause"]


@pytest.mark.parametrize("rule, expected", [
    ("-A INPUT -p udp -m udp --dport 4789 -j DROP", [("udp", 4789)]),
    ("-A INPUT -p tcp -m multiport --dports 2377,7946 -j REJECT --reject-with icmp-port-unreachable",
     [("tcp", 2377), ("tcp", 7946)]),
    ("-A DOCKER-USER -p udp -m udp --dport 4000:5000 -j DROP", [("udp", 4789)]),
    ("-A INPUT -p udp -m udp --dport 4789 -j ACCEPT", []),
    ("-A INPUT -p tcp -m tcp --dport 4789 -j DROP", []),
])
def test_blocking_rules(rule, expected):
    hits = blocking_rules(f"*filter\n:INPUT ACCEPT [0:0]\n{rule}\nCOMMIT\n")
    assert [(proto, port) for _, proto, port, _ in hits] == expected


def test_probes_that_answered_show_the_lines_of_three_nodes_and_count_the_rest():
    gathered = facts("healthy")
    for name in ("node3", "node4"):  # two more nodes like node2, whose connects answered
        gathered.nodes[name] = replace(gathered.nodes["node2"], name=name)
    row = diagnose(gathered).set_index("check").loc["swarm ports"]
    assert [node for node, _, _ in evidence_blocks(row["evidence"])] == ["node1", "node2", "node3"]
    assert row["evidence"].splitlines()[-1] == ("# summary: 7 TCP connects answered (7946 on each node's 3 ring "
                                               "peers, 2377 on the managers) (1 more node answered alike, not shown)")
