"""swarmlab/doctor/daemon.py: a node out of reach, a dead daemon, unreadable iptables, and the
daemon's old log lines about the ingress network once they are history."""
import json

from swarmlab.doctor import diagnose
from swarmlab.doctor.facts import Facts
from swarmlab.doctor.findings import worst

from .cases import CASES, problems, problems_beyond_the_kernel


def test_a_node_out_of_reach_is_one_finding_and_the_others_are_still_checked():
    data = json.loads((CASES / "healthy.json").read_text())
    data["nodes"]["node2"].update(sections={}, unreachable=True,
                                  error="node node2 of lab t-1 is dead: the process that held its namespaces (pid 7) "
                                        "is gone; take the lab down with `swarmlab lab down --name t-1`, then bring "
                                        "it up again")
    findings = diagnose(Facts.from_dict(data))
    node2 = findings[findings["node"] == "node2"]
    assert list(node2["check"]) == ["reachable"] and set(node2["severity"]) == {"error"}
    assert node2.iloc[0]["fix"] == "take the lab down with `swarmlab lab down --name t-1`, then bring it up again"
    assert "pid 7" in node2.iloc[0]["evidence"]
    assert not findings[findings["node"] == "node1"].empty  # node1 was still checked


def test_a_dead_daemon_is_an_error():
    data = json.loads((CASES / "healthy.json").read_text())
    data["nodes"]["node2"]["sections"]["info"] = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    findings = problems(diagnose(Facts.from_dict(data)))
    assert ("node2", "daemon") in set(zip(findings["node"], findings["check"]))


def test_unreadable_iptables_is_said_not_guessed():
    data = json.loads((CASES / "healthy.json").read_text())
    data["nodes"]["node2"]["sections"]["iptables"] = "iptables-save v1.8.9 (nf_tables): Permission denied (you must be root)"
    findings = diagnose(Facts.from_dict(data))
    assert problems_beyond_the_kernel(findings).empty
    assert "needs root" in findings[(findings["node"] == "node2") & (findings["check"] == "iptables chains")].iloc[0]["cause"]


def test_after_the_fix_the_old_log_lines_are_history_even_before_the_ingress_sandbox_attaches():
    """docker_gwbridge made by hand, no task on node2 yet: the sandbox is missing (a warning), the log is history."""
    data = json.loads((CASES / "vpn-routes-fixed.json").read_text())
    sections = data["nodes"]["node2"]["sections"]
    networks = json.loads(sections["networks"])
    for network in networks:
        if network["Name"] == "docker_gwbridge":
            network["Containers"] = {}
    sections["networks"] = json.dumps(networks, indent=4)
    findings = diagnose(Facts.from_dict(data)).set_index(["node", "check"])
    assert findings.loc[("node2", "dockerd log"), "severity"] == "info"
    assert findings.loc[("node2", "ingress sandbox"), "severity"] == "warning"
    assert worst(findings.reset_index()) == "warning"


def flushed(iptables_save: str, table: str) -> str:
    """`iptables -t TABLE -F`: the table's rules go, its chains stay."""
    kept, current = [], ""
    for line in iptables_save.splitlines():
        current = line[1:].strip() if line.startswith("*") else current
        if not (current == table and line.startswith("-A ")):
            kept.append(line)
    return "\n".join(kept)


def test_a_flush_that_leaves_dockers_chains_empty_is_an_error():
    """`iptables -F` (or `-t nat -F`) keeps every chain: only the rules for the node's bridges tell."""
    for table, lost in (("filter", "filter: no rule for docker_gwbridge"),
                        ("nat", "nat: no MASQUERADE for docker0 in POSTROUTING")):
        data = json.loads((CASES / "healthy.json").read_text())
        sections = data["nodes"]["node2"]["sections"]
        sections["iptables"] = flushed(sections["iptables"], table)
        findings = diagnose(Facts.from_dict(data)).set_index(["node", "check"])
        finding = findings.loc[("node2", "iptables chains")]
        assert finding["severity"] == "error", table
        assert "its rules for the node's bridges are gone" in finding["cause"]
        assert f"# summary: {lost}" in finding["evidence"]
        assert findings.loc[("node1", "iptables chains"), "severity"] == "info"
