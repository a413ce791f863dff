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


def test_after_the_quick_fix_the_lasting_fix_takes_another_base(monkeypatch):
    """docs/address-pools.md: the quick fix's docker_gwbridge holds 10.199.0.0/16, so the
    default-address-pools suggested on that node must not (every /24 of it would overlap)."""
    import ipaddress

    from swarmlab import fix
    gathered = facts("vpn-routes-fixed")  # node2 behind the routes, its docker_gwbridge made by hand
    node2 = gathered.nodes["node2"]
    assert ("docker_gwbridge", "10.199.0.0/16") in node2.local_subnets()
    monkeypatch.setattr(fix, "node_facts", lambda node, sections: node2)
    assert fix.suggest_address_pools(node=None) == [{"base": "10.198.0.0/16", "size": 24}]
    doctor_fix = diagnose(gathered).set_index(["node", "check"]).loc[("node2", "address pools"), "fix"]
    assert '"base": "10.198.0.0/16"' in doctor_fix
    assert not ipaddress.ip_network("10.198.0.0/16").overlaps(ipaddress.ip_network("10.199.0.0/16"))
