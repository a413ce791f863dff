"""swarmlab.widgets on a real lab: the panel injects the article's fault, the doctor finds it, the fix clears it."""
from __future__ import annotations

import time

from swarmlab import story, widgets
from swarmlab.cluster import Cluster
from swarmlab.lab import leftovers


def gwbridge_findings(findings, node: str):
    return findings[(findings["node"] == node) & (findings["check"] == "docker_gwbridge")]


def test_panel_injects_the_fault_the_doctor_finds_it_and_the_fix_clears_it(make_lab):
    lab = make_lab(swarm=True)
    panel = widgets.lab_panel(Cluster.from_lab(lab))
    assert list(panel.status["swarm"]) == ["active (manager)", "active"]
    assert panel.up_button.disabled and not panel.down_button.disabled and panel.reason.value == ""

    panel.fault_menu.value, panel.node_menu.value, panel.rejoin_box.value = "vpn-routes", "node2", True
    panel.inject_button.click()
    assert panel.error is None, panel.error
    assert "ip route add 172.16.0.0/12" in panel.log_html.value
    assert "joined again" in panel.last_report.note
    assert panel.activity.progress.bar_style == "success"

    panel.doctor_button.click()
    assert panel.error is None, panel.error
    assert list(gwbridge_findings(panel.findings, "node2")["severity"]) == ["error"]
    assert "docker_gwbridge" in panel.findings_html.value

    panel.fix_button.click()  # node2, like the manager
    assert panel.error is None, panel.error
    assert panel.last_report.ok and panel.last_report.node == "node2"
    assert "docker network create" in panel.log_html.value

    panel.run_doctor()
    assert "error" not in set(gwbridge_findings(panel.findings, "node2")["severity"])
    assert panel.cluster.node("node2").run("docker network inspect docker_gwbridge").ok


def test_panel_brings_the_lab_up_with_its_swarm_and_down(make_lab):
    lab = make_lab(up=False)
    panel = widgets.lab_panel(Cluster.from_lab(lab))
    assert set(panel.status["swarm"]) == {f"lab {lab.name} is down"}
    assert not panel.up_button.disabled and panel.down_button.disabled and panel.inject_button.disabled
    assert "is down: bring it up first" in panel.reason.value

    panel.swarm_box.value = True
    panel.up_button.click()
    assert panel.error is None, panel.error
    assert list(panel.status["swarm"]) == ["active (manager)", "active"]
    assert panel.activity.progress.value == panel.activity.progress.max
    assert panel.up_button.disabled and not panel.down_button.disabled and not panel.doctor_button.disabled

    panel.down_button.click()
    assert panel.error is None, panel.error
    assert leftovers(lab.name) == []
    assert set(panel.status["swarm"]) == {f"lab {lab.name} is down"}


def test_console_and_monitor_on_a_live_swarm(make_lab):
    lab = make_lab(swarm=True)
    cluster = Cluster.from_lab(lab)
    console = widgets.node_console(cluster)
    assert console.recorded_menu not in console.children
    console.run("docker node ls", node="node1")
    assert set(console.table["HOSTNAME"]) == {"node1", "node2"}
    console.run("ip -j addr", node="node2")
    assert "172.16.155.132" in set(console.table["local"])

    story.create_overlay(cluster).check()
    story.service_create(cluster).check()
    monitor = widgets.service_monitor(cluster)
    assert monitor.error is None, monitor.error
    deadline = time.monotonic() + 20
    while story.placement(monitor.tasks) != {"node1": 1, "node2": 1} and time.monotonic() < deadline:
        time.sleep(0.3)
        monitor.refresh_button.click()
    assert story.placement(monitor.tasks) == {"node1": 1, "node2": 1}
    assert "#d1e7dd" in monitor.table_html.value  # running on green
