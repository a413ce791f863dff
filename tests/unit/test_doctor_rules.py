"""The doctor's checks on facts captured from real lab runs (tests/fixtures/doctor/*.json).

Each fixture is what `doctor.gather()` collected from a 2-node lab (Docker 20.10);
tests/fixtures/doctor/record.py captures them again and says what each one is.
"""
import json
import re
import subprocess
from dataclasses import replace

import pytest

# `swarmlab.doctor` is the function (swarmlab.doctor(cluster)); the module's parts come by name.
from swarmlab.cluster import Cluster, Node
from swarmlab.doctor import (JOURNAL_SECTION, SEVERITIES, Facts, blocking_rules, diagnose, evidence_blocks,
                             failure_mode, gather, kernel_table, node_script, ping_commands, ping_plan, split_sections,
                             worst)
from swarmlab.errors import EvidenceError
from swarmlab.parse import tasks_from_json
from swarmlab.story import task_history

from pathlib import Path

from evidence import assert_evidence_is_what_ran

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "doctor"
RECORDINGS = Path(__file__).resolve().parents[2] / "swarmlab" / "data" / "recordings"


INGRESS_MARK_TEXT = "Failed creating ingress network"
CASE_NAMES = sorted(path.stem for path in CASES.glob("*.json"))


def facts(name: str) -> Facts:
    return Facts.from_dict(json.loads((CASES / f"{name}.json").read_text()))


def problems(findings):
    return findings[findings["severity"] != "info"]


def problems_beyond_the_kernel(findings):
    """The fixtures come from a kernel without ip_vs and the article's service has a VIP: that warning is in
    every one of them (test_healthy_lab_... checks it); the other tests look past it."""
    found = problems(findings)
    return found[found["check"] != "kernel limits: ip_vs"]


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


def test_errors_come_first():
    findings = diagnose(facts("vpn-routes"))
    severities = list(findings["severity"])
    assert severities == sorted(severities, key=SEVERITIES.index)
    assert worst(findings) == "error"


def test_vxlan_blocked_is_caught_by_its_iptables_rule_and_by_pings_over_the_overlay():
    findings = problems(diagnose(facts("vxlan-blocked")))
    assert set(findings["check"]) == {"firewall 4789/udp", "overlay traffic", "kernel limits: ip_vs"}
    overlay = findings.set_index("check").loc["overlay traffic"]
    # Two nodes: the pings cannot tell which side drops; the rule can.
    assert overlay["node"] == "node1, node2" and "both ways" in overlay["cause"]
    # Each node's own line for its small ping into the other's sandbox, under the script that sent it there.
    blocks = {node: (command, lines) for node, command, lines in evidence_blocks(overlay["evidence"])}
    assert blocks["node1"][1] == ["ping 10.0.0.3 56 - lost 2"] and blocks["node2"][1] == ["ping 10.0.0.2 56 - lost 2"]
    assert all("nsenter --net=/var/run/docker/netns/ingress_sbox" in command for command, _ in blocks.values())
    assert "# summary: 10.0.0.3 is node2's ingress sandbox; ping 10.0.0.3 with 56 bytes of data: lost (2 tries)" \
        in overlay["evidence"].splitlines()
    row = findings.set_index("check").loc[["firewall 4789/udp"]].reset_index().iloc[0]
    assert row["node"] == "node2" and row["severity"] == "error"
    assert "--dport 4789" in row["evidence"] and "-j DROP" in row["evidence"]
    assert row["fix"].startswith("iptables -t filter -D INPUT -p udp")


def test_gossip_blocked_is_caught_by_probe_rule_and_the_daemons_own_gossip():
    findings = problems(diagnose(facts("gossip-blocked")))
    assert {"reach 7946/tcp", "firewall 7946/tcp", "firewall 7946/udp", "gossip udp/7946"} <= set(findings["check"])
    probe = findings.set_index("check").loc["reach 7946/tcp"]
    [(node, command, lines)] = evidence_blocks(probe["evidence"])
    assert (node, command) == ("node1", facts("gossip-blocked").nodes["node1"].commands["probes"])
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


def test_probes_that_could_not_run_are_a_warning_not_silence():
    """A node without bash (the docker driver's node image before it had one) printed no probe
    line: the port, underlay and overlay checks then have nothing to say about it, and the
    doctor says so instead of looking healthy."""
    assert "probes" not in set(problems(diagnose(facts("healthy")))["check"])
    data = json.loads((CASES / "healthy.json").read_text())
    node2 = data["nodes"]["node2"]["sections"]
    node2.update(probes="sh: 2: bash: not found", pings="", overlay_pings="")
    found = problems(diagnose(Facts.from_dict(data))).set_index("check").loc[["probes"]].reset_index()
    assert list(found["node"]) == ["node2"] and list(found["severity"]) == ["warning"]
    row = found.iloc[0]
    assert "TCP connects to the swarm ports: sh: 2: bash: not found" in row["cause"]
    assert "pings on the underlay: no output" in row["cause"] and row["fix"] == "on node2: install bash"
    assert "sh: 2: bash: not found" in row["evidence"].splitlines()


def test_a_silent_port_without_controls_is_not_called_a_firewall():
    data = json.loads((CASES / "gossip-blocked.json").read_text())
    node1 = data["nodes"]["node1"]["sections"]
    node1["probes"] = "\n".join(line for line in node1["probes"].splitlines() if not line.startswith("ctl-"))
    probe = problems(diagnose(Facts.from_dict(data))).set_index("check").loc["reach 7946/tcp"]
    assert probe["severity"] == "warning" and "do not say why" in probe["cause"]
    assert "firewall" not in probe["cause"]


def test_missing_gwbridge_without_a_reason_is_only_a_warning():
    """Right after a join Docker has not created docker_gwbridge yet: no alarm without a cause."""
    data = json.loads((CASES / "healthy.json").read_text())
    node2 = data["nodes"]["node2"]["sections"]
    networks = [n for n in json.loads(node2["networks"]) if n["Name"] != "docker_gwbridge"]
    node2["networks"] = json.dumps(networks)
    findings = diagnose(Facts.from_dict(data))
    gw = findings[(findings["check"] == "docker_gwbridge") & (findings["node"] == "node2")].iloc[0]
    assert gw["severity"] == "warning" and "run the doctor again" in gw["cause"]


def test_lost_overlay_pings_while_a_node_is_still_joining_are_not_yet_an_error():
    """Right after nodes join, Docker attaches each one's ingress sandbox to its docker_gwbridge
    a moment later, and the overlay works once it has: lost pings then are said as a warning
    that names the nodes still joining. The firewall rule that drops VXLAN stays an error."""
    data = json.loads((CASES / "vxlan-blocked.json").read_text())
    node2 = data["nodes"]["node2"]["sections"]
    networks = json.loads(node2["networks"])
    for network in networks:
        if network["Name"] == "docker_gwbridge":
            network["Containers"].pop("ingress-sbox")
    node2["networks"] = json.dumps(networks)
    findings = problems(diagnose(Facts.from_dict(data))).set_index("check")
    overlay = findings.loc["overlay traffic"]
    assert overlay["severity"] == "warning"
    assert "1 node(s) have not finished joining (node2: no docker_gwbridge or no ingress sandbox yet)" \
        in overlay["cause"]
    assert overlay["fix"].startswith("run the doctor again once they have joined; if it stays, allow udp/4789")
    assert findings.loc["firewall 4789/udp", "severity"] == "error"
    assert findings.loc["ingress sandbox", "node"] == "node2"
    # The same facts with the sandbox attached: the lost pings are an error (the case as captured).
    assert problems(diagnose(facts("vxlan-blocked"))).set_index("check").loc["overlay traffic", "severity"] == "error"


def test_an_overlay_loss_to_nodes_that_just_joined_says_when_they_joined():
    """The vxlan-blocked capture ran 7-8 s after the joins (each node's own 'joined gossip cluster'
    line against its clock): the error says so and to look again; ten minutes later it would not."""
    overlay = problems(diagnose(facts("vxlan-blocked"))).set_index("check").loc["overlay traffic"]
    assert "Joined the swarm moments ago: node1 8 s ago, node2 7 s ago" in overlay["cause"]
    assert overlay["severity"] == "error"
    data = json.loads((CASES / "vxlan-blocked.json").read_text())
    for node in data["nodes"].values():
        clock, rest = node["sections"]["daemon_log"].split("\n", 1)
        node["sections"]["daemon_log"] = clock.replace("04:28:", "04:38:") + "\n" + rest
    later = problems(diagnose(Facts.from_dict(data))).set_index("check").loc["overlay traffic"]
    assert "moments ago" not in later["cause"]


def test_a_network_that_vanished_between_ls_and_inspect_hides_none_of_the_others():
    """During the article's failure a worker creates and drops the overlay as its task retries:
    `docker network inspect $(docker network ls -q)` then prints the others' JSON and an error
    for the one gone (stderr is in the section). The doctor reads the networks it found."""
    data = json.loads((CASES / "pools-exhausted.json").read_text())
    node2 = data["nodes"]["node2"]["sections"]
    node2["networks"] += "Error: No such network: jsyo2scg27d3luvdyp5agq6uc\n"
    damaged = problems(diagnose(Facts.from_dict(data)))
    assert list(zip(damaged["node"], damaged["check"], damaged["severity"])) == \
        list(zip(*(problems(diagnose(facts("pools-exhausted")))[c] for c in ("node", "check", "severity"))))
    pools_finding = damaged.set_index(["node", "check"]).loc[("node2", "address pools")]
    assert "proj0_default" in pools_finding["evidence"] and "docker network prune" in pools_finding["fix"]


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


def test_unreadable_iptables_is_said_not_guessed():
    data = json.loads((CASES / "healthy.json").read_text())
    data["nodes"]["node2"]["sections"]["iptables"] = "iptables-save v1.8.9 (nf_tables): Permission denied (you must be root)"
    findings = diagnose(Facts.from_dict(data))
    assert problems_beyond_the_kernel(findings).empty
    assert "needs root" in findings[(findings["node"] == "node2") & (findings["check"] == "iptables chains")].iloc[0]["cause"]


def test_a_dead_daemon_is_an_error():
    data = json.loads((CASES / "healthy.json").read_text())
    data["nodes"]["node2"]["sections"]["info"] = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    findings = problems(diagnose(Facts.from_dict(data)))
    assert ("node2", "daemon") in set(zip(findings["node"], findings["check"]))


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


def test_split_sections():
    text = "noise\n@@@ info\n{}\n@@@ routes\n[]\nline two\n@@@ empty\n"
    assert split_sections(text) == {"info": "{}", "routes": "[]\nline two", "empty": ""}


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


def test_task_table_strips_the_quotes_and_keeps_the_full_error():
    line = json.dumps({"CurrentState": "Failed 3 seconds ago", "DesiredState": "Shutdown",
                       "Error": '"starting container failed: error creating external connectivity network: x"',
                       "ID": "abc", "Name": "test.2", "Node": "node2"})
    table = tasks_from_json(line)
    assert table.loc[0, "error"] == "starting container failed: error creating external connectivity network: x"
    assert table.loc[0, "slot"] == "2" and table.loc[0, "state"] == "Failed"


def test_task_history_takes_the_node_a_pending_task_got_later():
    import pandas as pd
    timeline = pd.DataFrame([
        {"t": 0.0, "slot": "2", "id": "a", "node": "", "desired state": "Running", "state": "Pending", "error": ""},
        {"t": 0.5, "slot": "2", "id": "a", "node": "node2", "desired state": "Shutdown", "state": "Failed", "error": "x"},
        {"t": 0.5, "slot": "2", "id": "b", "node": "node1", "desired state": "Running", "state": "Running", "error": ""},
    ])
    history = task_history(timeline)
    assert list(history["node"]) == ["node2", "node1"]
    assert list(history["state"]) == ["Failed", "Running"]


@pytest.mark.parametrize("error, title", [
    ("starting container failed: error creating external connectivity network: could not find an available, "
     "non-overlapping IPv4 address pool among the defaults to assign to the network", "no address pool for docker_gwbridge"),
    ("starting container failed: error creating external connectivity network: failed to allocate gateway",
     "docker_gwbridge could not be created"),
    ("network 6y01gnuy7r1nfzqrx1gbxvwse not found", "overlay network not on the node"),
    ("no suitable node (scheduling constraints not satisfied on 2 nodes)", "no node fits the task"),
    ("something new", "unrecognised"),
])
def test_failure_modes(error, title):
    assert failure_mode(error).title == title


# --- evidence is what ran ------------------------------------------------------
@pytest.mark.parametrize("case", CASE_NAMES)
def test_every_evidence_is_a_command_that_ran_and_lines_it_printed(case):
    gathered = facts(case)
    assert gathered.manager_facts.commands, "facts captured before commands were recorded: run capture.py"
    assert_evidence_is_what_ran(gathered, diagnose(gathered))


def test_missing_gwbridge_evidence_is_the_inspect_that_ran_and_its_name_lines():
    gathered = facts("vpn-routes")
    gw = diagnose(gathered).set_index(["node", "check"]).loc[("node2", "docker_gwbridge")]
    lines = gw["evidence"].splitlines()
    assert lines[0] == "[node2]$ docker network inspect $(docker network ls -q)"
    names = [line for line in gathered.nodes["node2"].sections["networks"].splitlines()
             if line.startswith('        "Name": ')]
    assert lines[1:1 + len(names)] == names and '"Name": "docker_gwbridge"' not in gw["evidence"]
    assert "# summary: no docker_gwbridge among these networks" in lines


def test_kernel_evidence_is_the_command_that_ran_and_its_output():
    gathered = facts("healthy")
    kernel = diagnose(gathered).set_index(["node", "check"]).loc[("node1", "kernel")]
    node1 = gathered.nodes["node1"]
    assert kernel["evidence"] == f"[node1]$ {node1.commands['kernel']}\n{node1.sections['kernel']}"
    assert node1.sections["kernel"].splitlines()[1:3] == ["vxlan loaded", "bridge loaded"]


# --- the present, not history ----------------------------------------------------
def test_after_the_articles_fix_nothing_is_an_error():
    findings = diagnose(facts("vpn-routes-fixed"))
    assert worst(findings) == "warning", problems(findings).to_string()
    assert "address pools" in set(problems(findings)["check"])  # the VPN routes are still there
    log = findings.set_index(["node", "check"]).loc[("node2", "dockerd log")]
    assert log["severity"] == "info"
    assert re.match(r"happened at 20\d\d-\d\d-\d\dT[\d:.]+Z, since resolved", log["cause"]), log["cause"]
    assert "Failed creating ingress network" in log["evidence"]


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


def test_failures_of_a_replica_that_runs_now_are_history():
    """The scheduler moved node2's replica to node1: its failures are info; the missing bridge is not."""
    findings = diagnose(facts("vpn-routes-moved")).set_index(["node", "check"])
    task = findings.loc[("node2", "task errors: no address pool for docker_gwbridge")]
    assert task["severity"] == "info" and re.search(r"since resolved: test\.[12] runs now", task["cause"])
    assert re.search(r"the last Failed \d+ seconds ago", task["cause"])
    assert findings.loc[("node2", "docker_gwbridge"), "severity"] == "error"
    assert findings.loc[("node2", "dockerd log"), "severity"] == "error"


def test_a_swarm_without_services_has_no_task_findings():
    data = json.loads((CASES / "healthy.json").read_text())
    data["nodes"]["node1"]["sections"]["tasks"] = ""
    findings = diagnose(Facts.from_dict(data))
    assert not findings["check"].str.startswith("task errors").any()


def test_failures_of_a_replica_still_retrying_are_errors():
    findings = diagnose(facts("vpn-routes")).set_index(["node", "check"])
    assert findings.loc[("node2", "task errors: no address pool for docker_gwbridge"), "severity"] == "error"


def test_pools_held_by_networks_name_each_network_and_its_pool():
    findings = diagnose(facts("pools-exhausted")).set_index(["node", "check"])
    pools_finding = findings.loc[("node2", "address pools")]
    assert pools_finding["severity"] == "error"
    lines = pools_finding["evidence"].splitlines()
    assert lines[0] == "[node2]$ docker network inspect $(docker network ls -q)"
    name = lines.index('        "Name": "proj0_default",')
    assert lines[name + 1].strip() == '"Subnet": "172.18.0.0/16",' or lines[name + 1].strip() == '"Subnet": "172.18.0.0/16"'
    assert "docker network prune" in pools_finding["fix"] and "route (" not in pools_finding["cause"]


# --- inventory names are not Docker hostnames --------------------------------------
def renamed(case: str, names: dict[str, str], addresses: dict[str, str] | None = None) -> Facts:
    """A captured case as an inventory that names the nodes otherwise (Docker keeps its hostnames)."""
    data = json.loads((CASES / f"{case}.json").read_text())
    data["nodes"] = {names[name]: node for name, node in data["nodes"].items()}
    for name, address in (addresses or {}).items():
        data["nodes"][name]["address"] = address
    data["manager"] = names[data["manager"]]
    data["log_lines"] = {names[name]: lines for name, lines in data.get("log_lines", {}).items()}
    return Facts.from_dict(data)


VM_NAMES = {"node1": "vm-a", "node2": "vm-b"}


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


def test_the_missing_gwbridge_stays_an_error_under_other_names():
    findings = diagnose(renamed("vpn-routes-moved", VM_NAMES)).set_index(["node", "check"])
    assert findings.loc[("vm-b", "docker_gwbridge"), "severity"] == "error"


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


# --- the log comes from the journal where there is one ----------------------------
def test_the_log_section_reads_the_journal(tmp_path):
    """Runs the doctor's log command with a `journalctl` that prints a journal's lines."""
    mark = ('time="2026-11-28T03:45:28Z" level=error msg="Failed creating ingress network: error creating '
            'external connectivity network: could not find an available ..."')
    journalctl = tmp_path / "journalctl"
    journalctl.write_text(f"#!/bin/sh\n[ \"$*\" = '-u docker --no-pager -o cat -n 5000' ] || exit 1\n"
                          f"echo 'level=info msg=\"other\"'\necho '{mark}'\n")
    journalctl.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    ran = subprocess.run(["bash", "-c", JOURNAL_SECTION["log"]], capture_output=True, text=True, env=env)
    assert ran.stdout.splitlines() == [mark]
    journalctl.write_text("#!/bin/sh\nexit 1\n")  # no journal: nothing, and no error
    ran = subprocess.run(["bash", "-c", JOURNAL_SECTION["log"]], capture_output=True, text=True, env=env)
    assert all(INGRESS_MARK_TEXT in line for line in ran.stdout.splitlines())


def test_evidence_needs_the_command_that_ran():
    data = json.loads((CASES / "gossip-blocked.json").read_text())
    del data["nodes"]["node1"]["commands"]["probes"]  # as facts saved before the probe scripts were recorded
    with pytest.raises(EvidenceError, match="no command recorded for the probes section of node1"):
        diagnose(Facts.from_dict(data))


def test_evidence_refuses_a_line_its_command_did_not_print():
    node1 = facts("healthy").nodes["node1"]
    with pytest.raises(EvidenceError, match="not in the output of `cat /etc/resolv.conf` on node1"):
        node1.shown("resolv", ["nameserver 192.0.2.99 (never printed)"])


# --- the probes' evidence: the script that ran, and the lines it printed --------------
def replanned(data: dict) -> Facts:
    """A case's facts, edited, with each node's ping scripts as the doctor plans them for those facts."""
    gathered = Facts.from_dict(data)
    cluster = Cluster([Node(name, f.address, None, "manager" if name == gathered.manager else "worker")
                       for name, f in gathered.nodes.items()])
    for name, (underlay, overlay) in ping_plan(cluster, gathered).items():
        gathered.nodes[name].commands.update(ping_commands(underlay, overlay))
    return gathered


def healthy_with(edit) -> Facts:
    data = json.loads((CASES / "healthy.json").read_text())
    edit(data["nodes"])
    return replanned(data)


def set_info(node: dict, **swarm) -> None:
    info = json.loads(node["sections"]["info"])
    info["Swarm"].update(swarm)
    node["sections"]["info"] = json.dumps(info)


def test_a_narrow_path_is_shown_by_the_ping_lines_that_ran():
    def narrow(nodes):
        nodes["node1"]["sections"]["pings"] = "ping 172.16.155.132 1472 df lost 2\nping 172.16.155.132 56 - ok 1"
    gathered = healthy_with(narrow)
    findings = diagnose(gathered)
    path = findings.set_index("check").loc["path mtu"]
    [(node, command, lines)] = evidence_blocks(path["evidence"])
    assert (node, command) == ("node1", gathered.nodes["node1"].commands["pings"])
    assert lines == ["ping 172.16.155.132 56 - ok 1", "ping 172.16.155.132 1472 df lost 2"]
    assert "don't fragment (-M do -s 1472): lost (2 tries)" in path["evidence"] and "1500-byte" in path["cause"]
    assert_evidence_is_what_ran(gathered, findings)


def test_a_peer_that_answers_no_ping_is_shown_by_its_ping_line():
    def silent(nodes):
        nodes["node1"]["sections"]["pings"] = "ping 172.16.155.132 56 - lost 2\nping 172.16.155.132 1472 df lost 2"
    gathered = healthy_with(silent)
    findings = diagnose(gathered)
    ping = findings.set_index("check").loc["ping"]
    assert ping["severity"] == "warning" and "ping 172.16.155.132 56 - lost 2" in ping["evidence"].splitlines()
    assert_evidence_is_what_ran(gathered, findings)


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


def test_a_published_port_refused_without_ip_vs_is_shown_by_the_managers_probe():
    def published(nodes):
        sections = nodes["node1"]["sections"]
        sections["services"] = sections["services"].replace('"Ports":""', '"Ports":"*:8080->8080/tcp"')
        sections["pings"] += "\ntcp 172.16.155.131 8080 refused 2"
    gathered = healthy_with(published)
    findings = diagnose(gathered)
    row = findings.set_index("check").loc["kernel limits: ip_vs"]
    assert row["severity"] == "error" and "published ports 8080" in row["cause"]
    blocks = evidence_blocks(row["evidence"])
    assert [(node, lines) for node, _, lines in blocks][::2] == [
        ("node1", ["6.18.44-fc-v657", "ip_vs missing"]), ("node1", ["tcp 172.16.155.131 8080 refused 2"])]
    assert "# summary: published port 8080: connect to 172.16.155.131:8080/tcp: refused (2 tries)" in row["evidence"]
    assert_evidence_is_what_ran(gathered, findings)


@pytest.mark.parametrize("lesson", ["04", "06", "07"])
def test_a_replayed_gathering_records_every_command_and_its_evidence_is_what_ran(lesson):
    """The doctor's first gathering in a lesson's recording, replayed: the probe scripts are
    recorded with the rest, and every finding quotes only them and what they printed."""
    gathered = gather(Cluster.from_recording(RECORDINGS / f"{lesson}.json"))
    for f in gathered.nodes.values():
        assert set(f.sections) <= set(f.commands), f"{f.name}: sections without their command"
    assert {"probes", "pings", "overlay_pings"} <= set(gathered.manager_facts.commands)
    assert_evidence_is_what_ran(gathered, diagnose(gathered))


def test_probes_that_answered_show_the_lines_of_three_nodes_and_count_the_rest():
    gathered = facts("healthy")
    for name in ("node3", "node4"):  # two more nodes like node2, whose connects answered
        gathered.nodes[name] = replace(gathered.nodes["node2"], name=name)
    row = diagnose(gathered).set_index("check").loc["swarm ports"]
    assert [node for node, _, _ in evidence_blocks(row["evidence"])] == ["node1", "node2", "node3"]
    assert row["evidence"].splitlines()[-1] == ("# summary: 7 TCP connects answered (7946 on each node's 3 ring "
                                               "peers, 2377 on the managers) (1 more node answered alike, not shown)")


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


def with_encrypted_overlay(kernel_lines: dict[str, str]):
    """The healthy lab plus an `--opt encrypted` overlay; node1's kernel does ESP with GCM, node2's says `kernel_lines`."""
    def edit(nodes):
        sections = nodes["node1"]["sections"]
        networks = json.loads(sections["networks"])
        networks.append({"Name": "secret", "Scope": "swarm", "Driver": "overlay", "Options": {"encrypted": ""},
                         "IPAM": {"Driver": "default", "Options": None,
                                  "Config": [{"Subnet": "10.0.9.0/24", "Gateway": "10.0.9.1"}]}})
        sections["networks"] = json.dumps(networks, indent=4)
        for name, replaced in (("node1", {"esp4": "loaded", "esp-gcm": "ok"}), ("node2", kernel_lines)):
            lines = [line for line in nodes[name]["sections"]["kernel"].splitlines()
                     if line.split(" ", 1)[0] not in replaced]
            nodes[name]["sections"]["kernel"] = "\n".join(lines + [f"{k} {v}" for k, v in replaced.items()])
    return healthy_with(edit)


def esp_findings(gathered):
    findings = diagnose(gathered)
    return findings[findings["check"] == "kernel limits: ESP"]


def test_esp_without_gcm_is_found_by_asking_the_kernel_even_with_esp4_loaded():
    answer = "missing: Error: Requested AEAD algorithm not found."
    gathered = with_encrypted_overlay({"esp4": "loaded", "esp-gcm": answer})
    found = esp_findings(gathered)
    assert list(found["node"]) == ["node2"] and list(found["severity"]) == ["error"]
    assert f"esp-gcm {answer}" in found.iloc[0]["evidence"].splitlines()
    assert "Requested AEAD algorithm not found" in found.iloc[0]["cause"] and "secret" in found.iloc[0]["cause"]
    assert_evidence_is_what_ran(gathered, diagnose(gathered))


def test_a_built_in_esp_the_kernel_accepts_is_not_called_missing():
    gathered = with_encrypted_overlay({"esp4": "missing", "esp-gcm": "ok"})
    assert esp_findings(gathered).empty
    kernel = diagnose(gathered).set_index(["node", "check"]).loc[("node2", "kernel")]
    assert "esp4" not in kernel["cause"]


def test_where_the_kernel_could_not_be_asked_the_module_list_decides():
    unknown = "unknown: no network namespace to ask the kernel in"
    assert list(esp_findings(with_encrypted_overlay({"esp4": "missing", "esp-gcm": unknown}))["node"]) == ["node2"]
    assert esp_findings(with_encrypted_overlay({"esp4": "loaded", "esp-gcm": unknown})).empty


def test_the_kernel_table_is_read_from_the_kernel_findings():
    gathered = with_encrypted_overlay({"esp4": "loaded", "esp-gcm": "missing: Error: Requested AEAD algorithm not found."})
    table = kernel_table(diagnose(gathered))
    assert list(table.index) == ["node1", "node2"]
    assert table.loc["node2", "esp-gcm"] == "missing" and table.loc["node1", "esp-gcm"] == "ok"
    assert table.loc["node2", "vxlan"] == "loaded" and table.loc["node2", "ip_vs"] == "missing"
    assert table.loc["node1", "release"] == gathered.nodes["node1"].sections["kernel"].splitlines()[0]
