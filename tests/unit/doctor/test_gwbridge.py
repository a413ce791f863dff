"""swarmlab/doctor/gwbridge.py: the article's missing docker_gwbridge, its evidence and fix, and a
missing bridge without a reason (a node still joining)."""
import json

from swarmlab.doctor import diagnose
from swarmlab.doctor.facts import Facts

from .cases import CASES, VM_NAMES, facts, problems_beyond_the_kernel, renamed


def test_vpn_routes_missing_gwbridge_and_the_covering_routes():
    findings = problems_beyond_the_kernel(diagnose(facts("vpn-routes")))
    assert (findings["severity"] == "error").all()
    assert set(findings["node"]) == {"node2"}
    by_check = findings.set_index("check")
    gw = by_check.loc["docker_gwbridge"]
    assert "no docker_gwbridge" in gw["evidence"]
    assert gw["fix"].startswith("docker network create --subnet 10.199.0.0/16 --gateway 10.199.0.1")
    pools_finding = by_check.loc["address pools"]
    assert "172.16.0.0/12 dev ens33" in pools_finding["evidence"]
    assert "192.168.0.0/16 dev ens33" in pools_finding["evidence"]
    assert "0 of 31 default pools free" in pools_finding["evidence"]
    assert "default-address-pools" in pools_finding["fix"]
    task = by_check.loc["task errors: no address pool for docker_gwbridge"]
    assert "starting container failed: error creating external connectivity network" in task["evidence"]
    assert "Failed creating ingress network" in by_check.loc["dockerd log"]["evidence"]


def test_missing_gwbridge_without_a_reason_is_only_a_warning():
    """Right after a join Docker has not created docker_gwbridge yet: no alarm without a cause."""
    data = json.loads((CASES / "healthy.json").read_text())
    node2 = data["nodes"]["node2"]["sections"]
    networks = [n for n in json.loads(node2["networks"]) if n["Name"] != "docker_gwbridge"]
    node2["networks"] = json.dumps(networks)
    findings = diagnose(Facts.from_dict(data))
    gw = findings[(findings["check"] == "docker_gwbridge") & (findings["node"] == "node2")].iloc[0]
    assert gw["severity"] == "warning" and "run the doctor again" in gw["cause"]


def test_missing_gwbridge_evidence_is_the_inspect_that_ran_and_its_name_lines():
    gathered = facts("vpn-routes")
    gw = diagnose(gathered).set_index(["node", "check"]).loc[("node2", "docker_gwbridge")]
    lines = gw["evidence"].splitlines()
    assert lines[0] == "[node2]$ docker network inspect $(docker network ls -q)"
    names = [line for line in gathered.nodes["node2"].sections["networks"].splitlines()
             if line.startswith('        "Name": ')]
    assert lines[1:1 + len(names)] == names and '"Name": "docker_gwbridge"' not in gw["evidence"]
    assert "# summary: no docker_gwbridge among these networks" in lines


def test_the_missing_gwbridge_stays_an_error_under_other_names():
    findings = diagnose(renamed("vpn-routes-moved", VM_NAMES)).set_index(["node", "check"])
    assert findings.loc[("vm-b", "docker_gwbridge"), "severity"] == "error"
