"""swarmlab.views on real captures of a 2-node lab (tests/fixtures/lab), and on edge cases."""
from __future__ import annotations

import ipaddress
import re

import pandas as pd
import pytest

from labreplay import SCENARIOS, replay_cluster, scripted_cluster
from swarmlab import parse, views
from swarmlab.errors import CommandError
from swarmlab.views import MISSING, NOT_HERE, NOT_YET, PRESENT

FULL_ERROR = ("starting container failed: error creating external connectivity network: "
              "could not find an available, non-overlapping IPv4 address pool among the "
              "defaults to assign to the network")


def snap(scenario: str) -> views.Snapshot:
    return views.snapshot(replay_cluster(scenario), service="test")


def gwbridge_ports(bridges: pd.DataFrame, node: str) -> pd.DataFrame:
    return bridges[(bridges["node"] == node) & (bridges["bridge"] == "docker_gwbridge")]


def running_containers(tasks: pd.DataFrame, node: str) -> set[str]:
    """Container names of the tasks running on `node`: <service>.<slot>.<task id>."""
    live = tasks[~tasks["history"] & tasks["current state"].str.startswith("Running") & (tasks["node"] == node)]
    return {f"{t.name}.{t.id}" for t in live.itertuples()}


# --- network matrix ----------------------------------------------------------
def test_matrix_of_a_healthy_swarm_has_every_network_on_every_node():
    matrix = views.network_matrix(replay_cluster("healthy"))
    assert list(matrix.columns) == ["node1", "node2"]
    assert list(matrix.index) == ["bridge", "docker_gwbridge", "host", "ingress", "none", "uber-net"]
    assert (matrix == PRESENT).all().all()


def test_matrix_shows_node2_without_docker_gwbridge_while_its_task_fails():
    cluster = replay_cluster("article_failing")
    table = views.networks(cluster)
    # This capture caught node2 in the middle of a task's attempt: ingress listed, docker_gwbridge
    # not (views.PASSING_INGRESS_WAIT); network_matrix would ask the nodes again.
    assert views.passing_ingress(table) == ["node2"]
    matrix = views.matrix_from_networks(table, nodes=list(cluster.nodes))
    assert matrix.loc["docker_gwbridge", "node1"] == PRESENT
    assert matrix.loc["docker_gwbridge", "node2"] == MISSING
    # prod-overlay has no task anywhere: only the manager knows it, which is normal
    assert matrix.loc["prod-overlay"].tolist() == [PRESENT, NOT_YET]


def test_matrix_after_the_scheduler_gave_up_on_node2_lacks_the_overlays_there():
    matrix = views.network_matrix(replay_cluster("article_settled"))
    # What every swarm node gets as it joins is missing (the fault); the overlays with no
    # task on node2 are only not there yet (normal), and drawn apart.
    assert set(matrix.index[matrix["node2"] == MISSING]) == {"docker_gwbridge", "ingress"}
    assert set(matrix.index[matrix["node2"] == NOT_YET]) == {"prod-overlay", "uber-net"}
    assert (matrix["node1"] == PRESENT).all()


def test_matrix_tells_a_fault_from_a_normal_absence():
    table = pd.DataFrame([
        *({"node": node, "network": n, "scope": "local"} for node in ("node1", "node2")
          for n in ("bridge", "host", "none")),
        {"node": "node1", "network": "docker_gwbridge", "scope": "local"},
        {"node": "node1", "network": "ingress", "scope": "swarm"},
        {"node": "node1", "network": "uber-net", "scope": "swarm"},
        {"node": "node2", "network": "proj1_default", "scope": "local"},
    ])
    matrix = views.matrix_from_networks(table)
    assert matrix["node2"].to_dict() == {
        "bridge": PRESENT, "docker_gwbridge": MISSING, "host": PRESENT, "ingress": MISSING,
        "none": PRESENT, "proj1_default": PRESENT, "uber-net": NOT_YET}
    assert matrix.loc["proj1_default", "node1"] == NOT_HERE  # node2's own compose network
    assert len({PRESENT, MISSING, NOT_YET, NOT_HERE}) == 4 and not {NOT_YET, NOT_HERE} & {MISSING}
    # Before any node is in a swarm, no node needs docker_gwbridge
    alone = views.matrix_from_networks(table[table["scope"] == "local"])
    assert alone.loc["docker_gwbridge", "node2"] == NOT_HERE


def test_matrix_after_the_fix_has_docker_gwbridge_and_uber_net_on_both_nodes():
    matrix = views.network_matrix(replay_cluster("article_fixed"))
    assert matrix.loc[["docker_gwbridge", "uber-net", "ingress"]].eq(PRESENT).all().all()


def test_styled_matrix_paints_exactly_the_missing_cells():
    matrix = snap("article_settled").network_matrix()
    html = views.styled_network_matrix(matrix).to_html()

    def painted(colour: str) -> set:
        cells = set()
        for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", html):
            if colour in body:
                cells |= {(int(r), int(c)) for r, c in re.findall(r"row(\d+)_col(\d+)", selectors)}
        return cells

    def cells(marker: str) -> set:
        return {(r, c) for r in range(matrix.shape[0]) for c in range(matrix.shape[1]) if matrix.iat[r, c] == marker}
    assert painted("#f8d7da") == cells(MISSING) and len(cells(MISSING)) == 2
    assert painted("#6c757d") == cells(NOT_YET) and len(cells(NOT_YET)) == 2
    assert "absent: ✗ a fault, · normal" in html and "missing" not in views.styled_network_matrix(
        snap("healthy").network_matrix()).to_html()


def test_styled_matrix_takes_a_cluster_too():
    styler = views.styled_network_matrix(replay_cluster("healthy"))
    assert "#f8d7da" not in styler.to_html()


# --- bridges: what each veth on docker_gwbridge connects to ------------------
@pytest.mark.parametrize("scenario", ["healthy", "article_settled", "article_fixed"])
def test_every_veth_on_docker_gwbridge_leads_to_the_ingress_sandbox_or_a_task_container(scenario):
    s = snap(scenario)
    for node in s.nodes:
        ports = gwbridge_ports(s.bridges, node)
        if ports.empty:
            continue
        assert set(ports["interface"].str[:4]) == {"veth"}
        assert set(ports["peer_interface"]) == {"eth1"}
        assert all(ipaddress.ip_interface(a) in ipaddress.ip_network("172.18.0.0/16")
                   for a in ports["peer_address"])
        sandboxes = ports[ports["peer_kind"] == "ingress-sbox"]
        containers = ports[ports["peer_kind"] == "container"]
        assert sandboxes["peer"].tolist() == ["ingress_sbox"]
        assert set(containers["peer"]) == running_containers(s.tasks, node)
        assert len(ports) == 1 + len(containers)  # nothing else hangs off the bridge


def test_the_articles_three_veths_are_one_sandbox_and_two_containers_not_three_networks():
    s = snap("article_settled")
    overlays = s.networks[(s.networks["node"] == "node1") & (s.networks["driver"] == "overlay")]
    ports = gwbridge_ports(s.bridges, "node1")
    # the coincidence the article read as one veth per overlay network:
    assert sorted(overlays["network"]) == ["ingress", "prod-overlay", "uber-net"] and len(ports) == 3
    assert sorted(ports["peer_kind"]) == ["container", "container", "ingress-sbox"]
    # prod-overlay has no task on node1, so nothing of it exists there: no namespace, no bridge
    assert "prod-overlay" not in set(s.bridges["network"])


def test_each_overlay_has_a_br0_with_a_vxlan_port_of_the_same_vni_on_every_node():
    bridges = snap("healthy").bridges
    vxlan = bridges[bridges["peer_kind"] == "vxlan"]
    assert set(vxlan["bridge"]) == {"br0"} and set(vxlan["interface"]) == {"vxlan0"}
    vni = vxlan.groupby("network")["peer"].agg(set).to_dict()
    assert set(vni) == {"ingress", "uber-net"}
    assert all(len(v) == 1 for v in vni.values())  # one VNI per network, shared by the nodes
    assert set(vxlan.groupby("network")["node"].nunique()) == {2}
    assert set(vxlan["peer_address"]) == {"udp/4789"}


def test_overlay_bridge_ports_lead_to_eth0_of_containers_and_the_load_balancer():
    s = snap("healthy")
    uber = s.bridges[(s.bridges["network"] == "uber-net") & (s.bridges["peer_kind"] != "vxlan")]
    for node in s.nodes:
        here = uber[uber["node"] == node]
        assert set(here["peer_interface"]) == {"eth0"}
        assert set(here.loc[here["peer_kind"] == "container", "peer"]) == running_containers(s.tasks, node)
        assert here.loc[here["peer_kind"] == "load-balancer", "peer"].str.startswith("lb_").sum() == 1
        assert set(here["bridge_address"]) == {"10.0.1.1/24"}


def test_node2_without_docker_gwbridge_has_only_docker0():
    bridges = snap("article_settled").bridges
    node2 = bridges[bridges["node"] == "node2"]
    assert node2[["namespace", "bridge", "interface"]].values.tolist() == [["node", "docker0", ""]]


def test_bridges_view_runs_alone_and_nothing_stays_unresolved():
    bridges = views.bridges(replay_cluster("article_fixed"))
    assert list(bridges.columns) == views.BRIDGE_COLUMNS
    ports = bridges[bridges["interface"] != ""]
    assert not ports["peer_kind"].isin(["unresolved", "ambiguous", ""]).any()


# --- bridges: edge cases on hand-written outputs -----------------------------
BRCTL = "bridge name\tbridge id\t\tSTP enabled\tinterfaces\nbr-0123456789ab\t\t8000.0242aabbccdd\tno\t\tvethA\n"
HOST_LINKS = ('[{"ifindex":2,"ifname":"br-0123456789ab","addr_info":[{"family":"inet","local":"10.9.0.1","prefixlen":24}]},'
              '{"ifindex":5,"link_index":4,"ifname":"vethA","master":"br-0123456789ab"}]')


def sandbox_json(ifindex: int, link_index: int) -> str:
    return (f'[{{"ifindex":{ifindex},"link_index":{link_index},"ifname":"eth0",'
            '"addr_info":[{"family":"inet","local":"10.9.0.2","prefixlen":24}]}]')


def one_node(sandbox_output: str, containers: str = "") -> dict:
    return {"node1": {
        views.NETWORK_LS: "NETWORK ID     NAME      DRIVER    SCOPE\n0123456789ab   mynet     bridge    local\n",
        views.BRCTL_SHOW: BRCTL, views.IP_ADDR: HOST_LINKS,
        views.SANDBOX_LINKS: sandbox_output, views.CONTAINER_SANDBOXES: containers}}


def test_a_veth_is_resolved_only_when_both_halves_name_each_other():
    # "other" has ifindex 4 too, but its peer is not ifindex 5: an index repeats across namespaces
    out = f"netns aaa\n{sandbox_json(4, 5)}\nnetns other\n{sandbox_json(4, 9)}\n"
    row = views.bridges(scripted_cluster(one_node(out, "/web /var/run/docker/netns/aaa\n"))).iloc[0]
    assert (row["peer_kind"], row["peer"], row["peer_interface"], row["peer_address"]) == \
        ("container", "web", "eth0", "10.9.0.2/24")
    assert row["network"] == "mynet" and row["bridge_address"] == "10.9.0.1/24"


def test_two_candidates_are_reported_as_ambiguous_not_guessed():
    out = f"netns aaa\n{sandbox_json(4, 5)}\nnetns bbb\n{sandbox_json(4, 5)}\n"
    row = views.bridges(scripted_cluster(one_node(out))).iloc[0]
    assert row["peer_kind"] == "ambiguous" and row["peer"] == "aaa, bbb"


def test_a_namespace_that_cannot_be_entered_leaves_the_peer_unresolved_and_says_why():
    out = "netns aaa\nnsenter: cannot open /run/docker/netns/aaa: Permission denied\n"
    with pytest.warns(UserWarning, match=r"node1.*aaa: nsenter: cannot open.*needs root"):
        row = views.bridges(scripted_cluster(one_node(out))).iloc[0]
    assert row["peer_kind"] == "unresolved" and row["interface"] == "vethA"


def test_stale_namespace_files_are_no_reason_to_warn():
    # dockerd leaves such files while a task keeps failing; nsenter says "Invalid argument"
    stale = "netns lb_dead\nnsenter: reassociate to namespace 'ns/net' failed: Invalid argument\n"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolved = views.bridges(scripted_cluster(one_node(f"netns aaa\n{sandbox_json(4, 5)}\n" + stale)))
        unresolved = views.bridges(scripted_cluster(one_node(stale)))
    assert resolved.iloc[0]["peer_kind"] == "sandbox" and resolved.iloc[0]["peer"] == "aaa"
    assert unresolved.iloc[0]["peer_kind"] == "unresolved"


def test_a_node_whose_daemon_does_not_answer_is_named_with_a_hint():
    outputs = one_node("")
    outputs["node2"] = {views.NETWORK_LS: ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock", 1)}
    with pytest.raises(CommandError, match=r"(?s)on node2: `docker network ls` exited 1.*hint: is dockerd running"):
        views.network_matrix(scripted_cluster(outputs))


# --- tasks -------------------------------------------------------------------
def test_tasks_carry_full_errors_and_mark_earlier_attempts_as_history():
    tasks = views.tasks(replay_cluster("article_settled"), "test")
    assert list(tasks.columns) == parse.TASK_COLUMNS
    history = tasks[tasks["history"]]
    assert len(history) == 4 and set(history["node"]) == {"node2"}
    assert set(history["error"]) == {FULL_ERROR}  # unquoted, not cut
    assert set(history["desired state"]) == {"Shutdown"} and history["current state"].str.startswith("Failed").all()
    current = tasks[~tasks["history"]]
    assert sorted(current["name"]) == ["test.1", "test.2"] and set(current["node"]) == {"node1"}
    assert set(current["error"]) == {""}


def test_tasks_of_a_service_that_does_not_exist_say_what_to_try():
    cluster = scripted_cluster({"node1": {views.service_ps_command("nope"): ("no such service: nope", 1)}})
    with pytest.raises(CommandError, match=r"(?s)no such service.*docker service ls` on node1"):
        views.tasks(cluster, "nope")


def test_service_names_are_quoted_into_the_command():
    assert views.service_ps_command("a b") == "docker service ps --no-trunc --format '{{json .}}' 'a b'"


# --- interfaces and routes ---------------------------------------------------
def test_interfaces_are_per_node_with_the_articles_addresses():
    table = views.interfaces(replay_cluster("healthy"))
    assert table.columns[0] == "node"
    ens33 = table[(table["ifname"] == "ens33") & (table["family"] == "inet")]
    assert ens33.set_index("node")["local"].to_dict() == {"node1": "172.16.155.131", "node2": "172.16.155.132"}
    gw = table[(table["ifname"] == "docker_gwbridge") & (table["family"] == "inet")]
    assert gw.set_index("node")["local"].to_dict() == {"node1": "172.18.0.1", "node2": "172.18.0.1"}


def test_routes_show_the_vpn_like_routes_that_starve_docker_on_node2():
    table = views.routes(replay_cluster("article_failing"))
    node2 = set(table.loc[table["node"] == "node2", "dst"])
    assert {"172.16.0.0/12", "192.168.0.0/16"} <= node2
    assert "172.16.0.0/12" not in set(table.loc[table["node"] == "node1", "dst"])


# --- snapshot ----------------------------------------------------------------
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_snapshot_asks_each_command_once_per_node(scenario):
    cluster = replay_cluster(scenario)
    s = views.snapshot(cluster, service="test", label=scenario)
    assert s.nodes == {"node1": "172.16.155.131", "node2": "172.16.155.132"} and s.label == scenario
    for node in cluster:
        asked = node.transport.asked
        assert len(asked) == len(set(asked)), f"{node.name} asked twice: {asked}"
    assert s.network_matrix().shape[1] == 2


def test_a_snapshot_without_a_service_has_an_empty_task_table():
    s = views.snapshot(replay_cluster("healthy"))
    assert s.tasks.empty and list(s.tasks.columns) == parse.TASK_COLUMNS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_fixtures_are_recordings_that_swarmlab_replays(scenario):
    from labreplay import LAB_FIXTURES
    from swarmlab.cluster import Cluster
    cluster = Cluster.from_recording(LAB_FIXTURES / f"{scenario}.json")
    replayed, fixture = views.snapshot(cluster, service="test"), snap(scenario)
    pd.testing.assert_frame_equal(replayed.bridges, fixture.bridges)
    pd.testing.assert_frame_equal(replayed.network_matrix(), fixture.network_matrix())
