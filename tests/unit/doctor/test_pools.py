"""swarmlab/doctor/pools.py: pools held by networks, each named with its pool."""
from swarmlab.doctor import diagnose

from .cases import facts


def test_pools_held_by_networks_name_each_network_and_its_pool():
    findings = diagnose(facts("pools-exhausted")).set_index(["node", "check"])
    pools_finding = findings.loc[("node2", "address pools")]
    assert pools_finding["severity"] == "error"
    lines = pools_finding["evidence"].splitlines()
    assert lines[0] == "[node2]$ docker network inspect $(docker network ls -q)"
    name = lines.index('        "Name": "proj0_default",')
    assert lines[name + 1].strip() == '"Subnet": "172.18.0.0/16",' or lines[name + 1].strip() == '"Subnet": "172.18.0.0/16"'
    assert "docker network prune" in pools_finding["fix"] and "route (" not in pools_finding["cause"]
