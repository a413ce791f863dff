"""Docker's address-pool choice, predicted from synthetic route tables."""
from ipaddress import IPv4Network

import pytest

from swarmlab import pools
from swarmlab.errors import NoFreeSubnetError

# node2 of the article's story once a VPN client added its routes (as `ip route` prints it).
VPN_NODE = """\
172.16.0.0/12 dev ens33 proto 199 scope link
172.16.155.0/24 dev ens33 proto kernel scope link src 172.16.155.132
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown
192.168.0.0/16 dev ens33 proto 199 scope link
"""
HEALTHY_NODE = """\
default via 172.16.155.2 dev ens33
172.16.155.0/24 dev ens33 proto kernel scope link src 172.16.155.131
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown
172.18.0.0/16 dev docker_gwbridge proto kernel scope link src 172.18.0.1
"""
DOCKER_NETWORKS = [("bridge", "172.17.0.0/16"), ("docker_gwbridge", "172.18.0.0/16")]


def test_default_pools_are_docker_20_10s_31():
    subnets = pools.split_pools()
    assert len(subnets) == 31
    assert subnets[0] == IPv4Network("172.17.0.0/16")
    assert subnets[14] == IPv4Network("172.31.0.0/16")
    assert subnets[15] == IPv4Network("192.168.0.0/20")
    assert subnets[-1] == IPv4Network("192.168.240.0/20")


def test_vpn_routes_exhaust_every_pool_and_are_named():
    report = pools.pool_report(VPN_NODE, ["10.255.255.53"], [("bridge", "172.17.0.0/16")])
    assert report.exhausted
    assert report.summary() == "0 of 31 default pools free"
    covering = {str(route.dst): covered for route, covered in report.covering.items()}
    assert set(covering) == {"172.16.0.0/12", "192.168.0.0/16"}
    # 172.17 is docker0's, and the /12 covers it too: 15 pools under the /12, 16 under the /16.
    assert len(covering["172.16.0.0/12"]) == 15
    assert len(covering["192.168.0.0/16"]) == 16
    assert pools.describe_pools(covering["172.16.0.0/12"]) == "172.17.0.0/16 ... 172.31.0.0/16 (15 pools)"


def test_first_reason_follows_dockers_order_networks_first():
    table = pools.pool_report(VPN_NODE, [], [("bridge", "172.17.0.0/16")]).table()
    assert table.loc[0, "blocked by"] == "network bridge (172.17.0.0/16)"
    assert table.loc[1, "blocked by"].startswith("route 172.16.0.0/12 dev ens33")


def test_the_nodes_own_lan_route_blocks_no_pool():
    report = pools.pool_report("172.16.155.0/24 dev ens33 scope link\n", [], [])
    assert len(report.free) == 31


def test_healthy_node_has_29_free_and_the_next_is_172_19():
    report = pools.pool_report(HEALTHY_NODE, ["10.255.255.53"], DOCKER_NETWORKS)
    assert len(report.free) == 29
    assert report.free[0] == IPv4Network("172.19.0.0/16")
    assert report.covering == {}  # docker0's and docker_gwbridge's routes are their networks, not foreign


def test_default_route_never_blocks():
    report = pools.pool_report("default via 192.168.1.1 dev eth0\n", [], [])
    assert not report.blockers


def test_routes_via_a_gateway_block_too():
    report = pools.pool_report("172.20.0.0/14 via 10.8.0.1 dev tun0\n", [], [])
    blocked = [str(p) for p in report.pools if report.blockers.get(p)]
    assert blocked == ["172.20.0.0/16", "172.21.0.0/16", "172.22.0.0/16", "172.23.0.0/16"]


def test_a_host_route_blocks_the_pool_holding_it():
    report = pools.pool_report("172.25.3.4 dev tun0 scope link\n", [], [])
    assert [str(p) for p in report.pools if report.blockers.get(p)] == ["172.25.0.0/16"]


def test_nameserver_inside_a_pool_blocks_it():
    report = pools.pool_report("", ["192.168.1.1", "fe80::1"], [])
    assert report.blockers[IPv4Network("192.168.0.0/20")] == ["nameserver 192.168.1.1"]
    assert len(report.free) == 30


def test_ip_json_routes_are_read_like_text():
    ip_json = [
        {"dst": "172.16.0.0/12", "dev": "ens33", "protocol": "199", "scope": "link", "flags": []},
        {"dst": "172.16.155.0/24", "dev": "ens33", "protocol": "kernel", "scope": "link",
         "prefsrc": "172.16.155.132", "flags": []},
        {"dst": "default", "gateway": "172.16.155.2", "dev": "ens33", "flags": []},
        {"type": "blackhole", "dst": "192.168.0.0/16", "flags": []},
    ]
    routes = pools.routes_from(ip_json)
    assert str(routes[0]) == "172.16.0.0/12 dev ens33 proto 199 scope link"
    assert routes[2].dst is None and routes[2].gateway == "172.16.155.2"
    assert str(routes[3]).startswith("blackhole 192.168.0.0/16")
    assert pools.pool_report(ip_json).exhausted


def test_daemon_json_pools_replace_the_defaults():
    config = {"default-address-pools": [{"base": "10.199.0.0/16", "size": 24}]}
    custom = pools.pools_from_daemon_json(config)
    assert custom == (("10.199.0.0/16", 24),)
    report = pools.pool_report(VPN_NODE, [], [("bridge", "172.17.0.0/16")], custom)
    assert len(report.pools) == 256 and not report.exhausted  # the VPN no longer matters
    assert pools.pools_from_daemon_json({}) is None


def test_pick_prefers_the_managers_subnet_when_free():
    worker = "172.16.155.0/24 dev ens33 scope link\n172.17.0.0/16 dev docker0 scope link\n"
    subnet, why = pools.pick_free_subnet(worker, [], [("bridge", "172.17.0.0/16")], prefer="172.18.0.0/16")
    assert subnet == IPv4Network("172.18.0.0/16")
    assert "free" in why


def test_pick_moves_off_a_covered_subnet_and_says_why():
    subnet, why = pools.pick_free_subnet(VPN_NODE, [], [("bridge", "172.17.0.0/16")], prefer="172.18.0.0/16")
    assert subnet == IPv4Network(pools.FALLBACK_SUBNETS[0])
    assert "172.18.0.0/16 is not usable here" in why and "172.16.0.0/12" in why


def test_pick_avoids_overlay_subnets():
    subnet, _ = pools.pick_free_subnet(VPN_NODE, [], [], avoid=["10.199.0.0/24"])
    assert subnet == IPv4Network(pools.FALLBACK_SUBNETS[1])


def test_pick_fails_loudly_when_nothing_is_left():
    everything = "0.0.0.0/1 dev tun0\n128.0.0.0/1 dev tun0\n"
    with pytest.raises(NoFreeSubnetError, match="pass one explicitly"):
        pools.pick_free_subnet(everything)


def test_conflicts_name_routes_networks_and_nameservers():
    found = pools.conflicts("172.18.0.0/16", VPN_NODE, ["172.18.0.53"], [("web", "172.18.5.0/24")])
    assert "network web uses 172.18.5.0/24" in found
    assert "nameserver 172.18.0.53 lies in it" in found
    assert any("route `172.16.0.0/12 dev ens33" in c for c in found)


def test_blocked_by_counts_routes_apart_from_the_nodes_own_networks():
    """vpn-routes: the two routes block all 31 pools; docker0 holds one of them too (its
    route 172.17.0.0/16 is that network, not a route in the way)."""
    report = pools.pool_report(VPN_NODE, networks=[("bridge", "172.17.0.0/16")])
    assert pools.blocked_by(report) == {"free": 0, "blocked by a route": 31, "held by a network": 1,
                                        "holding a nameserver": 0}
    assert {str(r.dst): len(p) for r, p in report.covering.items()} == {"172.16.0.0/12": 15, "192.168.0.0/16": 16}


def test_blocked_by_networks_alone_when_networks_hold_every_pool():
    """pools-exhausted: one bridge network per pool, no route in the way."""
    held = [(f"proj{i}_default", str(p)) for i, p in enumerate(pools.split_pools())]
    routes = HEALTHY_NODE.replace("172.18.0.0/16 dev docker_gwbridge proto kernel scope link src 172.18.0.1\n", "")
    routes += "".join(f"{s} dev br-{i:04x} proto kernel scope link\n" for i, (_, s) in enumerate(held))
    report = pools.pool_report(routes, networks=held)
    table = pools.side_by_side({"pools-exhausted": report})
    assert table["pools-exhausted"].to_dict() == {"free": 0, "blocked by a route": 0, "held by a network": 31,
                                                  "holding a nameserver": 0}
