"""The doctor as a whole: every check on each captured case, the findings' shape and order,
and the nodes under the names the cluster gives them."""
import re

import pytest

from swarmlab.doctor import diagnose
from swarmlab.doctor.findings import SEVERITIES, worst

from .cases import CASE_NAMES, VM_NAMES, facts, problems, renamed


def test_healthy_lab_has_no_error_and_says_what_the_kernel_limits():
    findings = diagnose(facts("healthy"))
    assert not (findings["severity"] == "error").any(), problems(findings).to_string()
    # The article's service has a VIP, and this machine's kernel has no ip_vs: said, as a warning only.
    assert list(problems(findings)["check"]) == ["kernel limits: ip_vs"]
    ipvs = problems(findings).iloc[0]
    assert "ip_vs missing" in ipvs["evidence"].splitlines() and "VIP services test" in ipvs["cause"]
    assert "--endpoint-mode dnsrr" in ipvs["fix"] and "mode=host" in ipvs["fix"] and "tasks.SERVICE" in ipvs["fix"]
    checks = set(findings["check"])
    assert {"docker_gwbridge", "address pools", "kernel", "iptables chains", "mtu", "swarm ports", "firewall",
            "overlay traffic"} <= checks


def test_every_finding_has_evidence_cause_and_doc():
    for case in CASE_NAMES:
        findings = diagnose(facts(case))
        assert set(findings["severity"]) <= set(SEVERITIES)
        assert (findings["evidence"] != "").all() and (findings["cause"] != "").all()
        assert findings["doc"].str.startswith("https://docs.docker.com/").all()


def test_errors_come_first():
    findings = diagnose(facts("vpn-routes"))
    severities = list(findings["severity"])
    assert severities == sorted(severities, key=SEVERITIES.index)
    assert worst(findings) == "error"


def test_after_the_articles_fix_nothing_is_an_error():
    findings = diagnose(facts("vpn-routes-fixed"))
    assert worst(findings) == "warning", problems(findings).to_string()
    assert "address pools" in set(problems(findings)["check"])  # the VPN routes are still there
    log = findings.set_index(["node", "check"]).loc[("node2", "dockerd log")]
    assert log["severity"] == "info"
    assert re.match(r"happened at 20\d\d-\d\d-\d\dT[\d:.]+Z, since resolved", log["cause"]), log["cause"]
    assert "Failed creating ingress network" in log["evidence"]


@pytest.mark.parametrize("case", ["vpn-routes", "vpn-routes-moved", "gossip-blocked", "healthy"])
def test_findings_are_reported_under_the_inventory_names(case):
    by_name = diagnose(renamed(case, VM_NAMES))
    by_hostname = diagnose(facts(case))
    named = {name for node in by_name["node"] for name in node.split(", ")}
    assert named <= {"vm-a", "vm-b", "all"}, by_name[["node", "check"]].to_string()
    pairs = list(zip(by_hostname["severity"],
                     by_hostname["node"].map(lambda n: ", ".join(VM_NAMES.get(m, m) for m in n.split(", "))),
                     by_hostname["check"]))
    assert list(zip(by_name["severity"], by_name["node"], by_name["check"])) == pairs
