"""swarmlab.parse on the article's copied outputs, real captures and layouts docker prints."""

from pathlib import Path

import pandas as pd
import pytest

from swarmlab import parse
from swarmlab.errors import ParseError, SwarmlabError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LAB = "host/lab/"
DOCKER = "host/lab/docker/"
FULL_ERROR = (
    "starting container failed: error creating external connectivity network: "
    "could not find an available, non-overlapping IPv4 address pool among the "
    "defaults to assign to the network"
)


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def collapse(text: str) -> str:
    """What a web page makes of a table: runs of spaces and tabs become one space."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


# ---------------------------------------------------------------- docker tables

ARTICLE_NETWORKS = [
    ("eb2ea6efa97c", "bridge", "bridge", "local"),
    ("d7bce6256c50", "docker_gwbridge", "bridge", "local"),
    ("5c78a9e4259c", "host", "host", "local"),
    ("91qhb0sad14d", "ingress", "overlay", "swarm"),
    ("d9f858f03165", "none", "null", "local"),
    ("om9znulbmdei", "prod-overlay", "overlay", "swarm"),
    ("xe42rvru0nxn", "uber-net", "overlay", "swarm"),
]


def test_article_network_ls_collapsed_gives_every_cell():
    df = parse.docker_table(read("article/network_ls_node1.txt"))
    assert list(df.columns) == ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]
    assert list(df.itertuples(index=False, name=None)) == ARTICLE_NETWORKS
    uber = df.set_index("NAME").loc["uber-net"]
    assert (uber["NETWORK ID"], uber["SCOPE"]) == ("xe42rvru0nxn", "swarm")


@pytest.mark.parametrize("layout", ["docker19", "docker20"])
def test_aligned_network_ls_equals_the_collapsed_article_copy(layout):
    aligned = parse.docker_table(read(f"synthetic/network_ls_node1_{layout}.txt"))
    collapsed = parse.docker_table(read("article/network_ls_node1.txt"))
    pd.testing.assert_frame_equal(aligned, collapsed)


ALIGNED_TABLES = [
    DOCKER + name
    for name in [
        "network_ls.txt", "network_ls_no_trunc.txt", "network_ls_node2.txt",
        "network_ls_no_gwbridge.txt", "node_ls.txt", "service_ls.txt",
        "service_ps_running.txt", "service_ps_failed.txt",
        "service_ps_failed_no_trunc.txt", "container_ls_a.txt", "image_ls.txt",
    ]
] + [
    "synthetic/network_ls_node1_docker19.txt", "synthetic/node_ls_article.txt",
    "synthetic/node_ls_docker1.12.txt", "synthetic/service_ps_article.txt",
    "synthetic/service_ps_article_no_trunc.txt",
]


@pytest.mark.parametrize("name", ALIGNED_TABLES)
def test_collapsing_a_real_table_changes_no_cell(name):
    text = read(name)
    aligned = parse.docker_table(text)
    assert len(aligned) == len(text.strip().splitlines()) - 1
    pd.testing.assert_frame_equal(parse.docker_table(collapse(text)), aligned)


def test_network_ls_no_trunc_keeps_full_local_and_swarm_ids():
    df = parse.docker_table(read(DOCKER + "network_ls_no_trunc.txt")).set_index("NAME")
    assert df.loc["uber-net", "NETWORK ID"] == "qly90ojegfn9ur3vsqwiy44h7"
    assert df.loc["bridge", "NETWORK ID"] == (
        "6e518466e07f86729eff61d196c7ce30b00387f3bed7ddb1ff46230792a8e38d")


def test_worker_without_tasks_lists_no_overlay_of_its_own():
    df = parse.docker_table(read(DOCKER + "network_ls_node2.txt"))
    assert set(df["NAME"]) == {"bridge", "docker_gwbridge", "host", "ingress", "none"}
    assert df.loc[df["NAME"] == "ingress", "SCOPE"].item() == "swarm"


def test_service_ps_history_rows_and_truncated_error():
    df = parse.docker_table(read(DOCKER + "service_ps_failed.txt"))
    assert list(df.columns) == ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE",
                                "CURRENT STATE", "ERROR", "PORTS", "history"]
    assert df["history"].tolist() == [False] + [True] * 4 + [False] + [True] * 4
    assert df["NAME"].tolist() == ["test.1"] * 5 + ["test.2"] * 5
    first, retry = df.iloc[0], df.iloc[1]
    assert (first["ID"], first["CURRENT STATE"], first["ERROR"]) == (
        "m9mq9x91rmt8", "Preparing less than a second ago", "")
    assert (retry["ID"], retry["DESIRED STATE"], retry["CURRENT STATE"]) == (
        "onqz43lmmiw4", "Shutdown", "Failed less than a second ago")
    assert retry["ERROR"] == '"starting container failed: er…"'
    assert (df["PORTS"] == "").all()


def test_service_ps_table_agrees_with_its_json_lines():
    table = parse.docker_table(read(DOCKER + "service_ps_failed.txt"))
    lines = parse.docker_json_lines(read(DOCKER + "service_ps.jsonl"))
    assert table["ID"].tolist() == lines["ID"].tolist()
    assert table["NAME"].tolist() == lines["Name"].tolist()
    assert table["ERROR"].tolist() == lines["Error"].tolist()
    assert table["CURRENT STATE"].tolist() == lines["CurrentState"].tolist()


def test_service_ps_no_trunc_gives_the_whole_error():
    df = parse.docker_table(read(DOCKER + "service_ps_failed_no_trunc.txt"))
    failed = df[df["history"]]
    assert len(failed) == 8
    assert (failed["ERROR"] == f'"{FULL_ERROR}"').all()
    assert df.iloc[1]["ID"] == "onqz43lmmiw4s6zdvl43x4vxu"
    assert df.iloc[0]["ERROR"] == ""
    short = parse.docker_table(read(DOCKER + "service_ps_failed.txt"))
    assert df["ID"].str.slice(0, 12).tolist() == short["ID"].tolist()


def test_article_service_ps_failures_sit_on_the_node_without_gwbridge():
    short = parse.docker_table(read("synthetic/service_ps_article.txt"))
    full = parse.docker_table(read("synthetic/service_ps_article_no_trunc.txt"))
    assert short[short["history"]]["NODE"].unique().tolist() == ["docker2.localdomain"]
    assert short.loc[1, "ERROR"] == '"starting container failed: er…"'
    assert full.loc[1, "ERROR"] == f'"{FULL_ERROR}"'
    assert full.loc[0, "CURRENT STATE"] == "Running 5 seconds ago"
    assert full["ID"].str.slice(0, 12).tolist() == short["ID"].tolist()


def test_node_ls_manager_status_engine_version_and_self_marker():
    df = parse.docker_table(read(DOCKER + "node_ls.txt"))
    assert list(df.columns) == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY",
                                "MANAGER STATUS", "ENGINE VERSION", "self"]
    rows = df.set_index("HOSTNAME")
    assert rows.loc["vm", ["ID", "MANAGER STATUS", "self"]].tolist() == [
        "p1e5qh3bxzw0fv12ttl7ne0w0", "Leader", True]
    assert rows.loc["node2", ["MANAGER STATUS", "ENGINE VERSION", "self"]].tolist() == [
        "", "20.10.24+dfsg1", False]
    json_rows = parse.docker_json_lines(read(DOCKER + "node_ls.jsonl"))
    assert df["ID"].tolist() == json_rows["ID"].tolist()
    assert df["self"].tolist() == json_rows["Self"].tolist()


def test_article_node_ls_collapsed_with_empty_manager_status():
    text = collapse(read("synthetic/node_ls_article.txt"))
    assert "docker2.localdomain Ready Active 19.03.8" in text  # the empty cell is gone
    df = parse.docker_table(text)
    assert df["MANAGER STATUS"].tolist() == ["Leader", ""]
    assert df["ENGINE VERSION"].tolist() == ["19.03.8", "19.03.8"]


def test_older_docker_columns_are_taken_as_they_come():
    df = parse.docker_table(read("synthetic/node_ls_docker1.12.txt"))
    assert list(df.columns) == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY",
                                "MANAGER STATUS", "self"]
    assert df["MANAGER STATUS"].tolist() == ["Leader", "", "Unreachable"]
    assert df["AVAILABILITY"].tolist() == ["Active", "Drain", "Active"]
    assert df["STATUS"].tolist() == ["Ready", "Ready", "Down"]


def test_container_ls_cells_with_spaces_and_empty_ports():
    df = parse.docker_table(read(DOCKER + "container_ls_a.txt")).set_index("NAMES")
    assert df.loc["failed", ["COMMAND", "STATUS", "PORTS"]].tolist() == [
        "\"sh -c 'exit 3'\"", "Exited (3) 3 seconds ago", ""]
    assert df.loc["web", ["STATUS", "PORTS"]].tolist() == [
        "Up 3 seconds", "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"]
    task = df.loc["test.1.m9mq9x91rmt8y3nfgrytvgbz9"]
    assert task[["CONTAINER ID", "COMMAND", "STATUS"]].tolist() == [
        "ac7b842b3942", '"sleep infinity"', "Created"]


def test_image_ls():
    df = parse.docker_table(collapse(read(DOCKER + "image_ls.txt")))
    assert df.to_dict("records") == [{"REPOSITORY": "ubuntu", "TAG": "latest",
                                      "IMAGE ID": "5ceab0268156",
                                      "CREATED": "2 minutes ago", "SIZE": "1.98MB"}]


def test_unknown_header_falls_back_to_whitespace_split():
    df = parse.docker_table("NAME SERVICES ORCHESTRATOR\nweb 2 Swarm\n")
    assert df.to_dict("records") == [
        {"NAME": "web", "SERVICES": "2", "ORCHESTRATOR": "Swarm"}]
    with pytest.raises(ParseError, match="line 3"):
        parse.docker_table("NAME SERVICES ORCHESTRATOR\nweb 2 Swarm\nweb 2\n")


def test_unknown_aligned_column_may_be_empty():
    df = parse.docker_table("NAME      LABELS    DRIVER\nv1                  local\n")
    assert df.to_dict("records") == [{"NAME": "v1", "LABELS": "", "DRIVER": "local"}]


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_input_gives_empty_frame(text):
    df = parse.docker_table(text)
    assert df.empty and list(df.columns) == []


@pytest.mark.parametrize("header, columns", [
    ("NETWORK ID     NAME      DRIVER    SCOPE", ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]),
    ("NETWORK ID NAME DRIVER SCOPE", ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]),
    ("ID NAME IMAGE NODE DESIRED STATE CURRENT STATE ERROR PORTS",
     ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS",
      "history"]),
])
def test_header_only_gives_its_columns(header, columns):
    df = parse.docker_table(header + "\n")
    assert list(df.columns) == columns and len(df) == 0


@pytest.mark.parametrize("text, lineno, reason", [
    ("NETWORK ID     NAME      DRIVER    SCOPE\nthis is not a table at all", 2, "runs into"),
    ("NETWORK ID     NAME      DRIVER    SCOPE\ngarbage", 2, "'NAME' is empty"),
    ("NETWORK ID NAME DRIVER SCOPE\neb2ea6efa97c bridge bridge local\na b c d", 3, "fit"),
    ("NETWORK ID NAME DRIVER SCOPE\neb2ea6efa97c bridge bridge planet", 2, "fit"),
    ("NODE HOSTNAME\nonly-one", 2, "fit"),
])
def test_unreadable_docker_layout_names_line_and_text(text, lineno, reason):
    with pytest.raises(ParseError) as caught:
        parse.docker_table(text)
    bad = text.splitlines()[lineno - 1]
    assert caught.value.lineno == lineno and caught.value.line == bad
    assert f"line {lineno}" in str(caught.value) and repr(bad) in str(caught.value)
    assert reason in str(caught.value)


def test_parse_error_is_a_swarmlab_error():
    assert issubclass(ParseError, SwarmlabError)


def test_docker_json_lines_and_bad_line():
    df = parse.docker_json_lines(read(DOCKER + "network_ls.jsonl"))
    table = parse.docker_table(read(DOCKER + "network_ls.txt"))
    assert df["ID"].tolist() == table["NETWORK ID"].tolist()
    assert df["Scope"].tolist() == table["SCOPE"].tolist()
    assert parse.docker_json_lines("").empty
    with pytest.raises(ParseError, match="line 2"):
        parse.docker_json_lines('{"ID": "a"}\n[1, 2]\n')


# ---------------------------------------------------------------- network inspect


def test_network_inspect_one_row_per_network():
    df = parse.network_inspect(read(DOCKER + "network_inspect.json")).set_index("Name")
    assert df.index.tolist() == ["bridge", "docker_gwbridge", "uber-net"]
    gw = df.loc["docker_gwbridge"]
    assert (gw["Driver"], gw["Scope"], gw["Subnet"], gw["Gateway"], gw["Containers"]) == (
        "bridge", "local", "172.18.0.0/16", "172.18.0.1", 3)
    assert gw["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert gw["Options"]["com.docker.network.bridge.name"] == "docker_gwbridge"
    assert df.loc["uber-net", ["Id", "Scope", "Subnet"]].tolist() == [
        "qly90ojegfn9ur3vsqwiy44h7", "swarm", "10.0.1.0/24"]
    assert pd.isna(df.loc["bridge", "Gateway"])


def test_network_containers_one_row_per_endpoint():
    df = parse.network_containers(read(DOCKER + "network_inspect.json"))
    assert list(df.columns) == ["network", "container_id", "name", "endpoint_id", "mac", "ipv4"]
    assert df.groupby("network").size().to_dict() == {"docker_gwbridge": 3, "uber-net": 3}
    sbox = df[df["container_id"] == "ingress-sbox"].iloc[0]
    assert (sbox["name"], sbox["mac"], sbox["ipv4"]) == (
        "gateway_ingress-sbox", "02:42:ac:12:00:02", "172.18.0.2/16")
    empty = parse.network_containers(read(DOCKER + "network_inspect_uber_net_filler.json"))
    assert empty.empty and list(empty.columns) == list(df.columns)


def test_network_inspect_rejects_other_json():
    with pytest.raises(ParseError):
        parse.network_inspect('{"Name": "not in an array"}')
    with pytest.raises(ParseError, match="line 3"):
        parse.network_inspect('[\n  {"Name": "x"},\n  oops\n]')


# ---------------------------------------------------------------- brctl show

ARTICLE_BRIDGES = [
    ("docker0", "8000.0242611d036c", "no", ""),
    ("docker_gwbridge", "8000.0242158020bf", "no", "veth4e013cb"),
    ("docker_gwbridge", "8000.0242158020bf", "no", "vethe7c84dd"),
    ("docker_gwbridge", "8000.0242158020bf", "no", "vethff947fe"),
]


@pytest.mark.parametrize("name", ["article/brctl_show_node1.txt",
                                  "synthetic/brctl_show_node1_tabs.txt"])
def test_brctl_show_collapsed_and_tabbed(name):
    df = parse.brctl_show(read(name))
    assert list(df.columns) == ["bridge", "bridge_id", "stp", "interface"]
    assert list(df.itertuples(index=False, name=None)) == ARTICLE_BRIDGES


def test_brctl_show_real_capture():
    df = parse.brctl_show(read(LAB + "brctl_show.txt"))
    assert df.groupby("bridge")["interface"].apply(list).to_dict() == {
        "docker0": [""], "lab0": [""],
        "docker_gwbridge": ["veth307d996", "vethee4b843", "veth3d1f3ab"]}
    assert set(df["stp"]) == {"no"}


def test_brctl_show_spaced_id_and_yes():
    df = parse.brctl_show("br0 8000.001122334455 yes eth1\neth2\nbr1 8000.aabbccddeeffyes\n")
    assert df["interface"].tolist() == ["eth1", "eth2", ""]
    assert df["stp"].tolist() == ["yes", "yes", "yes"]


def test_brctl_show_header_only_and_errors():
    df = parse.brctl_show("bridge name\tbridge id\t\tSTP enabled\tinterfaces\n")
    assert df.empty and list(df.columns) == ["bridge", "bridge_id", "stp", "interface"]
    # an interface line cannot follow a bridge that printed none
    with pytest.raises(ParseError, match="line 2"):
        parse.brctl_show("docker0 8000.0242611d036cno\nveth4e013cb\n")
    with pytest.raises(ParseError, match="line 1"):
        parse.brctl_show("can't get info Operation not supported\n")


# ---------------------------------------------------------------- ifconfig


def test_ifconfig_article_node1_skips_elisions():
    df = parse.ifconfig(read("article/ifconfig_node1.txt")).set_index("name")
    assert df.index.tolist() == ["docker0", "docker_gwbridge", "ens33", "vethe7c84dd",
                                 "vethff947fe"]
    gw = df.loc["docker_gwbridge"]
    assert (gw["inet"], gw["netmask"], gw["broadcast"]) == (
        "172.18.0.1", "255.255.0.0", "172.18.255.255")
    assert (gw["flags"], gw["mtu"], gw["ether"], gw["inet6"]) == (
        4163, 1500, "02:42:15:80:20:bf", "fe80::42:15ff:fe80:20bf")
    assert gw["flag_names"] == ["UP", "BROADCAST", "RUNNING", "MULTICAST"]
    assert pd.isna(gw["rx_packets"])  # elided in the article
    veth = df.loc["vethe7c84dd"]
    assert veth["rx_packets"] == 0 and pd.isna(veth["tx_packets"]) and pd.isna(veth["inet"])
    assert df.loc["docker0", "flag_names"] == ["UP", "BROADCAST", "MULTICAST"]


def test_ifconfig_article_node2_has_no_gwbridge():
    df = parse.ifconfig(read("article/ifconfig_node2.txt")).set_index("name")
    assert df.index.tolist() == ["docker0", "ens33", "lo"]
    ens = df.loc["ens33"]
    assert ens[["inet", "netmask", "ether", "inet6"]].tolist() == [
        "172.16.155.132", "255.255.255.0", "00:0c:29:f5:ce:df", "fe80::2420:d07c:f270:3e77"]
    assert ens[["rx_packets", "rx_bytes", "tx_packets", "tx_bytes"]].tolist() == [
        38582, 4063671, 46242, 5289150]
    lo = df.loc["lo"]
    assert (lo["flags"], lo["mtu"], lo["inet6"]) == (73, 65536, "::1")
    assert pd.isna(lo["broadcast"]) and pd.isna(lo["ether"])


@pytest.mark.parametrize("name", ["synthetic/ifconfig_node2_nettools.txt",
                                  "synthetic/ifconfig_node2_busybox.txt"])
def test_ifconfig_layouts_of_node2_equal_the_article_copy(name):
    expected = parse.ifconfig(read("article/ifconfig_node2.txt"))
    pd.testing.assert_frame_equal(parse.ifconfig(read(name)), expected)


ADDRESSING = ["name", "flags", "flag_names", "mtu", "inet", "netmask", "broadcast",
              "inet6", "ether"]


@pytest.mark.parametrize("where", ["host/root/", LAB])
def test_ifconfig_real_nettools_and_busybox_agree(where):
    nettools = parse.ifconfig(read(where + "ifconfig_nettools.txt"))
    busybox = parse.ifconfig(read(where + "ifconfig_busybox.txt"))
    # counters moved between the two captures; addressing did not
    pd.testing.assert_frame_equal(nettools[ADDRESSING], busybox[ADDRESSING])


def test_ifconfig_busybox_real_values():
    df = parse.ifconfig(read("host/root/ifconfig_busybox.txt")).set_index("name")
    eth = df.loc["eth0"]
    assert eth[["inet", "broadcast", "netmask", "mtu", "ether"]].tolist() == [
        "192.0.2.2", "192.0.2.255", "255.255.255.0", 1400, "02:fc:00:00:00:01"]
    assert eth["inet6"] == "fe80::fc:ff:fe00:1,fd00::2"
    assert eth["flags"] == 0x1043 and df.loc["ifb0", "flags"] == 130
    lab = parse.ifconfig(read(LAB + "ifconfig_busybox.txt")).set_index("name")
    assert lab.loc["docker_gwbridge", ["tx_packets", "tx_bytes"]].tolist() == [6, 580]


def test_ifconfig_excerpt_may_start_with_an_elision():
    df = parse.ifconfig("......\n" + read("article/ifconfig_node2.txt"))
    assert df["name"].tolist() == ["docker0", "ens33", "lo"]


def test_ifconfig_empty_and_garbage():
    assert parse.ifconfig("").empty
    with pytest.raises(ParseError, match="line 1"):
        parse.ifconfig("ifconfig: command not found\n")
    with pytest.raises(ParseError, match="line 2"):
        parse.ifconfig("\ninet 172.18.0.1 netmask 255.255.0.0\n")


# ---------------------------------------------------------------- ip


def test_ip_addr_one_row_per_address_with_link_fields():
    df = parse.ip_addr(read(LAB + "ip_addr.json"))
    assert (df["ifname"] == "lo").sum() == 2
    gw = df[(df["ifname"] == "docker_gwbridge") & (df["family"] == "inet")].iloc[0]
    assert gw[["local", "prefixlen", "operstate", "mtu", "address"]].tolist() == [
        "172.18.0.1", 16, "UP", 1500, "02:42:27:08:43:9f"]
    ports = df[df["master"] == "docker_gwbridge"]
    assert sorted(ports["ifname"]) == ["veth307d996", "veth3d1f3ab", "vethee4b843"]
    assert set(ports["family"]) == {"inet6"}
    pd.testing.assert_frame_equal(parse.ip_json(read(LAB + "ip_addr.json")), df)


def test_ip_addr_keeps_links_without_addresses():
    df = parse.ip_addr(read("host/root/ip_addr.json"))
    ifb = df[df["ifname"] == "ifb0"]
    assert len(ifb) == 1 and pd.isna(ifb["local"].item()) and ifb["operstate"].item() == "DOWN"


def test_ip_link_and_route():
    links = parse.ip_link(read(LAB + "ip_link.json")).set_index("ifname")
    assert links.loc["veth307d996", "master"] == "docker_gwbridge"
    assert links.loc["veth307d996", "link_index"] == 9
    assert pd.isna(links.loc["docker0", "master"])
    routes = parse.ip_route(read("host/root/ip_route.json"))
    assert list(routes.columns[:6]) == ["dst", "dev", "gateway", "protocol", "scope", "prefsrc"]
    assert routes.iloc[0][["dst", "gateway", "dev"]].tolist() == ["default", "192.0.2.1", "eth0"]
    lab = parse.ip_json(read(LAB + "ip_route.json")).set_index("dst")
    assert lab.loc["172.18.0.0/16", ["dev", "prefsrc"]].tolist() == [
        "docker_gwbridge", "172.18.0.1"]
    assert lab.loc["172.17.0.0/16", "flags"] == ["linkdown"]


def test_ip_json_recognises_each_command():
    link_text, addr_text = read(LAB + "ip_link.json"), read(LAB + "ip_addr.json")
    pd.testing.assert_frame_equal(parse.ip_json(link_text), parse.ip_link(link_text))
    assert list(parse.ip_json(addr_text).columns) == [
        "ifname", "family", "local", "prefixlen", "scope", "broadcast",
        "ifindex", "flags", "mtu", "operstate", "address", "master"]


def test_ip_json_errors():
    assert parse.ip_json("[]").empty and parse.ip_json("").empty
    with pytest.raises(ParseError, match="line 2"):
        parse.ip_json('[{"ifname": "lo"},\n{"ifname": }]')
    with pytest.raises(ParseError, match="ifname"):
        parse.ip_addr(read("host/root/ip_route.json"))


def test_ip_brief_link_splits_peer_ifindex():
    df = parse.ip_brief_link(read(LAB + "ip_br_link.txt")).set_index("ifname")
    assert df.loc["veth307d996", ["state", "mac", "link", "peer_ifindex"]].tolist() == [
        "UP", "26:bd:1e:d8:25:16", "if9", 9]
    assert df.loc["vethee4b843", "peer_ifindex"] == 18
    assert df.loc["docker0", "flags"] == ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"]
    assert pd.isna(df.loc["docker0", "peer_ifindex"]) and df.loc["docker0", "link"] == ""


def test_ip_brief_link_named_peer_missing_mac_and_garbage():
    df = parse.ip_brief_link(
        "veth1@vpeer1     UP             26:ff:b6:db:e1:f2 <BROADCAST,MULTICAST,UP,LOWER_UP> \n"
        "wg0              UNKNOWN        <POINTOPOINT,NOARP,UP,LOWER_UP> \n")
    assert df["link"].tolist() == ["vpeer1", ""]
    assert df["peer_ifindex"].isna().all() and df.loc[1, "mac"] == ""
    with pytest.raises(ParseError, match="line 1"):
        parse.ip_brief_link("Device \"eth9\" does not exist.\n")


# --- tables pasted with a header that no longer lines up ---------------------
PASTED = "pasted/"


def test_pasted_service_ps_is_read_by_its_gaps():
    df = parse.docker_table(read(PASTED + "service_ps_forum.txt"))
    assert list(df["NAME"]) == ["test.1", "test.1", "test.1", "test.2"]
    assert list(df["history"]) == [False, True, True, False]
    assert list(df["NODE"]) == ["docker2.localdomain"] * 3 + ["docker1.localdomain"]
    assert list(df["CURRENT STATE"]) == ["Ready 2 seconds ago", "Failed 2 seconds ago", "Failed 8 seconds ago",
                                         "Running 2 minutes ago"]
    assert list(df["ERROR"]) == ["", '"starting container failed: er…"', '"starting container failed: er…"', ""]
    assert set(df["PORTS"]) == {""}


def test_pasted_node_ls_keeps_the_empty_manager_status_and_the_self_marker():
    df = parse.docker_table(read(PASTED + "node_ls_forum.txt"))
    assert df[["HOSTNAME", "MANAGER STATUS", "ENGINE VERSION", "self"]].to_dict("records") == [
        {"HOSTNAME": "node2", "MANAGER STATUS": "", "ENGINE VERSION": "20.10.24+dfsg1", "self": False},
        {"HOSTNAME": "node1", "MANAGER STATUS": "Leader", "ENGINE VERSION": "20.10.24+dfsg1", "self": True}]
    assert list(df["ID"]) == ["vhx25v6vq46guh3ogbg08ov9o", "p1e5qh3bxzw0fv12ttl7ne0w0"]


def test_pasted_container_ls_reads_the_same_as_docker_printed_it():
    pasted = parse.docker_table(read(PASTED + "container_ls_forum.txt")).set_index("NAMES")
    printed = parse.docker_table(read(DOCKER + "container_ls_a.txt")).set_index("NAMES")
    for name in ("test.2.38e5kmrfgzdsed7mjk2y9som3", "web", "failed"):
        assert pasted.loc[name].to_dict() == printed.loc[name].to_dict()


def test_pasted_table_with_an_empty_cell_of_unknown_columns_is_refused_with_the_choices():
    text = read(PASTED + "ps_format_forum.txt")
    with pytest.raises(ParseError) as caught:
        parse.docker_table(text)
    assert caught.value.lineno == 3 and caught.value.line == text.splitlines()[2]
    assert "text runs into column 'LABELS'" in str(caught.value)
    assert "ambiguous: 2 cells for 3 columns, and the empty one could be LABELS or NETWORKS" in str(caught.value)


def test_a_shifted_header_that_cuts_a_cell_at_a_space_is_read_by_the_gaps():
    # 4 spaces lost after ID: no row runs into a column, but HOSTNAME would start at the
    # manager's " *" marker and read "*   vm". The gaps give the right cells.
    rows = read(DOCKER + "node_ls.txt").splitlines()
    header = rows[0].replace("ID" + " " * 28, "ID" + " " * 24, 1)
    df = parse.docker_table("\n".join([header, *rows[1:]]))
    assert list(df["HOSTNAME"]) == ["node2", "vm"] and list(df["self"]) == [False, True]
    pd.testing.assert_frame_equal(df, parse.docker_table(read(DOCKER + "node_ls.txt")))


def test_a_pasted_row_whose_cell_holds_two_spaces_is_refused_and_says_so():
    text = "NAMES  LABELS  NETWORKS\ndb    com.example.tier=db    bridge    host\n"
    with pytest.raises(ParseError, match="4 cells for 3 columns.*two spaces in a row"):
        parse.docker_table(text)
