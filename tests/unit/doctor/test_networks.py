"""swarmlab/doctor/networks.py: the advertise address (an IP, or a DNS name), an overlay over the
LAN, the MTU, and leftover VXLAN devices."""
import json

from evidence import assert_evidence_is_what_ran
from swarmlab.doctor import diagnose
from swarmlab.doctor.evidence import evidence_blocks
from swarmlab.doctor.facts import Facts

from .cases import CASES, VM_NAMES, healthy_with, problems_beyond_the_kernel, renamed, replanned, set_info


def test_stale_vxlan_device_is_a_warning():
    data = json.loads((CASES / "healthy.json").read_text())
    links = json.loads(data["nodes"]["node1"]["sections"]["links"])
    links.append({"ifname": "vx-001001-abcde", "mtu": 1450, "linkinfo": {"info_kind": "vxlan"}, "addr_info": []})
    data["nodes"]["node1"]["sections"]["links"] = json.dumps(links)
    findings = problems_beyond_the_kernel(diagnose(Facts.from_dict(data)))
    assert list(findings["check"]) == ["stale vxlan"]
    assert findings.iloc[0]["fix"] == "ip link del vx-001001-abcde"


def test_small_underlay_mtu_is_a_warning():
    data = json.loads((CASES / "healthy.json").read_text())
    links = json.loads(data["nodes"]["node2"]["sections"]["links"])
    for link in links:
        if link["ifname"] == "ens33":
            link["mtu"] = 1400
    data["nodes"]["node2"]["sections"]["links"] = json.dumps(links)
    findings = problems_beyond_the_kernel(diagnose(Facts.from_dict(data)))
    assert list(findings["check"]) == ["mtu"]
    assert "com.docker.network.driver.mtu=1350" in findings.iloc[0]["fix"]


def test_a_dns_name_as_address_does_not_skip_the_mtu_check():
    gathered = renamed("healthy", VM_NAMES, {"vm-b": "vm-b.lab.example"})
    mtu = diagnose(gathered).set_index(["node", "check"]).loc[("vm-b", "mtu")]
    assert mtu["severity"] == "info" and "ens33 mtu 1500" in mtu["evidence"]


def test_an_address_no_interface_holds_says_the_mtu_check_was_skipped():
    data = json.loads((CASES / "healthy.json").read_text())
    info = json.loads(data["nodes"]["node2"]["sections"]["info"])
    info["Swarm"]["NodeAddr"] = "vm-b.lab.example"
    data["nodes"]["node2"]["sections"]["info"] = json.dumps(info)
    data["nodes"]["node2"]["address"] = "vm-b.lab.example"
    mtu = diagnose(Facts.from_dict(data)).set_index(["node", "check"]).loc[("node2", "mtu")]
    assert "skipped" in mtu["cause"] and "vm-b.lab.example" in mtu["evidence"]


def test_an_unreachable_advertise_address_is_shown_by_docker_info_and_the_managers_probes():
    def advertise(nodes):
        set_info(nodes["node2"], NodeAddr="10.99.0.3")
        nodes["node1"]["sections"]["pings"] += "\nping 10.99.0.3 56 - unreachable 2\ntcp 10.99.0.3 7946 unreachable 2"
    gathered = healthy_with(advertise)
    assert "spawn probe_tcp 10.99.0.3 7946" in gathered.nodes["node1"].commands["pings"]  # the plan sends it
    findings = diagnose(gathered)
    row = findings.set_index(["node", "check"]).loc[("node2", "advertise address")]
    assert row["severity"] == "error" and "10.99.0.3, not 172.16.155.132" in row["cause"]
    blocks = evidence_blocks(row["evidence"])
    assert [(node, lines) for node, _, lines in blocks] == [
        ("node2", []), ("node1", ["ping 10.99.0.3 56 - unreachable 2", "tcp 10.99.0.3 7946 unreachable 2"])]
    assert blocks[0][1] == "docker info --format '{{json .}}'" and "Swarm.NodeAddr is 10.99.0.3" in row["evidence"]
    assert_evidence_is_what_ran(gathered, findings)


def test_an_address_that_is_a_name_is_compared_by_the_nodes_own_addresses():
    """vm-b.lab.example is a DNS name: vm-b advertising its own 172.16.155.132 is no mismatch."""
    gathered = renamed("healthy", VM_NAMES, {"vm-b": "vm-b.lab.example"})
    findings = diagnose(gathered)
    assert "advertise address" not in set(findings["check"]), findings[["node", "check", "cause"]].to_string()


def test_an_address_that_is_a_name_still_says_when_the_manager_cannot_reach_the_advertised_one():
    data = json.loads((CASES / "healthy.json").read_text())
    data["nodes"]["node2"]["address"] = "node2.lab.example"
    # The name answers (it resolves to another of node2's addresses); the address node2 advertises does not.
    data["nodes"]["node1"]["sections"]["pings"] = "\n".join([
        "ping node2.lab.example 56 - ok 1", "ping node2.lab.example 1472 df ok 1",
        "ping 172.16.155.132 56 - unreachable 2", "tcp 172.16.155.132 7946 unreachable 2"])
    gathered = replanned(data)
    findings = diagnose(gathered)
    row = findings.set_index(["node", "check"]).loc[("node2", "advertise address")]
    assert row["severity"] == "error" and "the doctor compared the node's own addresses" in row["cause"]
    assert "its own address" in row["cause"] and "172.16.155.132 is on node2's ens33" in row["evidence"]
    assert "<an IP of node2.lab.example the manager reaches>" in row["fix"]
    assert_evidence_is_what_ran(gathered, findings)


def test_an_overlay_over_the_lan_is_shown_by_its_inspect_lines_and_the_routes():
    def overlapping(nodes):
        sections = nodes["node1"]["sections"]
        networks = json.loads(sections["networks"])
        networks.append({"Name": "lan-overlap", "Scope": "swarm", "Driver": "overlay",
                         "IPAM": {"Driver": "default", "Options": None,
                                  "Config": [{"Subnet": "172.16.155.0/24", "Gateway": "172.16.155.1"}]}})
        sections["networks"] = json.dumps(networks, indent=4)
    gathered = healthy_with(overlapping)
    findings = diagnose(gathered)
    row = findings.set_index("check").loc["overlay subnet"]
    assert row["severity"] == "error" and row["node"] == "node1, node2"
    blocks = evidence_blocks(row["evidence"])
    assert blocks[0] == ("node1", "docker network inspect $(docker network ls -q)",
                         ['        "Name": "lan-overlap",', '                    "Subnet": "172.16.155.0/24",'])
    assert [node for node, _, _ in blocks[1:]] == ["node1", "node2"]
    assert "# summary: route 172.16.155.0/24 dev ens33 proto kernel scope link src 172.16.155.132 overlaps " \
           "lan-overlap (172.16.155.0/24)" in row["evidence"].splitlines()
    assert_evidence_is_what_ran(gathered, findings)
