"""swarmlab.plot: the pictures carry the parts they claim to draw (Agg backend, no display)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from labreplay import replay_cluster  # noqa: E402
from swarmlab import parse, plot, views  # noqa: E402
from swarmlab.errors import UsageError  # noqa: E402

ERROR = ("starting container failed: error creating external connectivity network: could not find "
         "an available, non-overlapping IPv4 address pool among the defaults to assign to the network")


def snap(scenario: str, label: str = "") -> views.Snapshot:
    return views.snapshot(replay_cluster(scenario), service="test", label=label)


def texts(fig) -> list[str]:
    found = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        found += [t.get_text() for t in ax.texts] + [ax.get_title()]
        found += [t.get_text() for t in ax.get_yticklabels()]
        if ax.get_legend():
            found += [t.get_text() for t in ax.get_legend().get_texts()]
    return found


def parts(fig, prefix: str, ax=None) -> list:
    """Patches and lines whose gid starts with `prefix`."""
    found = []
    for a in [ax] if ax else fig.axes:
        found += [p for p in [*a.patches, *a.lines] if (p.get_gid() or "").startswith(prefix)]
    return found


def gids(fig, prefix: str) -> set[str]:
    return {p.get_gid() for p in parts(fig, prefix)}


# --- topology ----------------------------------------------------------------
def test_a_healthy_swarm_draws_two_nodes_with_their_bridges_and_no_missing_parts():
    fig = plot.topology(snap("healthy"))
    assert len(parts(fig, "node:")) == 2
    assert gids(fig, "bridge:") == {f"bridge:{n}:{b}" for n in ("node1", "node2")
                                    for b in ("docker0", "docker_gwbridge")}
    assert parts(fig, "missing:") == [] and parts(fig, "failed:") == []
    words = "\n".join(texts(fig))
    assert "node1  172.16.155.131" in words and "node2  172.16.155.132" in words
    assert "docker_gwbridge\n172.18.0.1/16" in words and "missing" not in words


def test_every_resolved_veth_is_a_line_from_its_bridge_to_its_sandbox():
    s = snap("healthy")
    fig = plot.topology(s)
    resolved = s.bridges[s.bridges["peer_kind"].isin(plot.SANDBOX_ORDER)]
    assert len(parts(fig, "veth:")) == len(resolved) == 10
    assert {f"sandbox:{r.node}:{r.peer}" for r in resolved.itertuples()} == gids(fig, "sandbox:")
    gw = resolved[resolved["bridge"] == "docker_gwbridge"].iloc[0]
    assert f"{gw.interface}\n↕ eth1" in texts(fig)


def test_overlays_on_both_nodes_are_joined_by_vxlan_with_their_vni():
    fig = plot.topology(snap("healthy"))
    assert gids(fig, "vxlan:") == {"vxlan:ingress", "vxlan:uber-net"}
    assert gids(fig, "overlay:") == {f"overlay:{n}:{o}" for n in ("node1", "node2") for o in ("ingress", "uber-net")}
    words = texts(fig)
    assert "uber-net: VXLAN VNI 4097 udp/4789" in words and "ingress: VXLAN VNI 4096 udp/4789" in words


def test_the_broken_node_shows_docker_gwbridge_missing_as_a_dashed_red_box():
    fig = plot.topology(snap("article_settled"))
    (box,) = parts(fig, "missing:node2:docker_gwbridge")
    assert box.get_linestyle() == "--" and box.get_edgecolor()[:3] == pytest.approx((0.863, 0.208, 0.271), abs=0.01)
    assert "docker_gwbridge\nmissing" in texts(fig)
    assert gids(fig, "missing:") == {"missing:node2:docker_gwbridge", "missing:node2:ingress",
                                     "missing:node2:uber-net"}
    assert gids(fig, "bridge:node2") == {"bridge:node2:docker0"}
    assert gids(fig, "vxlan:") == set()  # the overlays exist on node1 only


def test_failed_tasks_are_drawn_on_their_node_with_the_cause():
    fig = plot.topology(snap("article_settled"))
    assert gids(fig, "failed:") == {"failed:node2:test.1"}
    (label,) = [t for t in texts(fig) if "failed ×" in t]
    assert label.startswith("test.1 ✗ failed ×4") and "could not find an" in label


def test_the_articles_node1_draws_three_veths_on_docker_gwbridge_to_one_sandbox_and_two_containers():
    fig = plot.topology(snap("article_settled"))
    sandboxes = sorted(g.split(":")[2].split(".")[0] for g in gids(fig, "sandbox:node1"))
    assert sandboxes == ["ingress_sbox", "lb_k2xzqqk9v", "test", "test"]
    assert len(parts(fig, "veth:node1:docker_gwbridge:")) == 3
    assert len(parts(fig, "veth:node1:uber-net:")) == 3  # the load balancer and the two containers


def test_topology_takes_a_cluster_and_looks_now():
    fig = plot.topology(replay_cluster("article_failing"), service="test")
    assert len(parts(fig, "node:")) == 2
    assert "missing:node2:docker_gwbridge" in gids(fig, "missing:")
    assert gids(fig, "failed:") == {"failed:node2:test.1"}


def test_side_by_side_shows_the_gap_before_and_its_absence_after():
    fig = plot.topology_side_by_side(snap("article_settled", "before the fix"), snap("article_fixed", "after the fix"))
    before, after = fig.axes
    assert (before.get_title(), after.get_title()) == ("before the fix", "after the fix")
    assert len(parts(fig, "node:")) == 4
    assert [p.get_gid() for p in parts(fig, "missing:node2:docker_gwbridge", before)] == ["missing:node2:docker_gwbridge"]
    assert parts(fig, "missing:", after) == []
    assert {p.get_gid() for p in parts(fig, "bridge:node2", after)} == {"bridge:node2:docker0",
                                                                        "bridge:node2:docker_gwbridge"}
    fig.savefig(__import__("io").BytesIO(), format="png")  # it renders


# --- placement timeline ------------------------------------------------------
def article_timeline(with_ids: bool = True) -> pd.DataFrame:
    """Sampled every 0.5 s: replica 2 runs on node1; replica 1 fails 4 times on node2, then runs on node1."""
    rows = []
    for k in range(61):
        t = k * 0.5
        rows.append(dict(t=t, slot=2, id="r2", node="node1", state="Preparing" if t < 1 else "Running 3 seconds ago",
                         error=""))
        attempts = []
        for n, start in enumerate([0, 5, 10, 15]):
            if t >= start:
                failed = t >= start + 1
                attempts.append(dict(t=t, slot=1, id=f"a{n}", node="node2", state="Failed" if failed else "Preparing",
                                     error=ERROR if failed else ""))
        if t >= 20:
            attempts.append(dict(t=t, slot=1, id="r1", node="node1", state="Running" if t >= 21 else "Starting",
                                 error=""))
        rows += reversed(attempts)  # newest first, as `docker service ps` lists a replica's tasks
    table = pd.DataFrame(rows)
    return table if with_ids else table.drop(columns="id")


@pytest.mark.parametrize("with_ids", [True, False])
def test_timeline_marks_each_failed_task_once_where_it_first_failed(with_ids):
    fig = plot.placement_timeline(article_timeline(with_ids))
    (marks,) = parts(fig, "failures")
    assert list(marks.get_xdata()) == [1, 6, 11, 16]
    assert list(marks.get_ydata()) == [0, 0, 0, 0]  # all on replica 1
    words = texts(fig)
    assert "a task failed (4)" in words and {"node1", "node2", "replica 1", "replica 2"} <= set(words)
    assert any("non-overlapping IPv4 address pool" in " ".join(w.split()) for w in words)


def test_timeline_bars_show_where_each_replica_ran_in_the_end():
    fig = plot.placement_timeline(article_timeline())
    running = parts(fig, "running:")
    assert {p.get_gid() for p in running} == {"running:node1"}  # node2 never ran a task
    ends = {round(p.get_y() + p.get_height() / 2): p.get_x() + p.get_width() for p in running}
    assert ends == {0: pytest.approx(30.5), 1: pytest.approx(30.5)}
    replica1 = [p for p in running if round(p.get_y() + p.get_height() / 2) == 0]
    assert [p.get_x() for p in replica1] == [21]


def test_timeline_takes_the_story_samplers_columns():
    table = article_timeline().assign(slot=lambda t: t["slot"].astype(str))
    table.insert(3, "desired state", "Running")
    fig = plot.placement_timeline(table)
    assert len(parts(fig, "failures")[0].get_xdata()) == 4


def test_timeline_without_a_needed_column_says_which():
    with pytest.raises(UsageError, match=r"missing \['error'\]"):
        plot.placement_timeline(article_timeline().drop(columns="error"))


def test_timeline_draws_a_sample_of_the_story_samplers_real_task_list():
    import json
    from labreplay import LAB_FIXTURES
    runs = json.loads((LAB_FIXTURES / "article_settled.json").read_text())["runs"]
    (service_ps,) = [r["stdout"] for r in runs if r["command"] == views.service_ps_command("test")]
    sample = parse.tasks_from_json(service_ps).assign(t=0.0)  # what story.placement_timeline samples
    fig = plot.placement_timeline(sample)
    assert len(parts(fig, "failures")[0].get_xdata()) == 4
    assert "a task failed (4)" in texts(fig)
