"""swarmlab.widgets without a browser: clicks run the actions, outputs update, replay explains itself.

The clusters replay the bundled lesson recordings (swarmlab/data/recordings), or are
scripted (labreplay) where a test needs a cluster that is not a replay.
"""
from __future__ import annotations

import pandas as pd
import pytest

from labreplay import scripted_cluster
from swarmlab import faults, parse, story, widgets
from swarmlab.cluster import Cluster
from swarmlab.errors import RecordingError
from swarmlab.fix import FixReport
from swarmlab.lessons import open_lesson, recording_path
from swarmlab.parse import parser_for
from swarmlab.result import Result
from swarmlab.widgets import REPLAY_REASON, STATUS_COMMAND

TASKS = story.tasks_command("test")


def replay(lesson: str) -> Cluster:
    return Cluster.from_recording(recording_path(lesson))


def lesson_at_start(lesson: str):
    """The lesson's cluster as its first cell leaves it (prepare steps replayed)."""
    return open_lesson(lesson, backend="replay")


# --- ReplayTransport.commands / recorded --------------------------------------
def test_replay_transport_lists_its_commands_and_shows_runs_without_advancing():
    node2 = replay("04").node("node2")
    commands = node2.transport.commands()
    assert "docker network ls" in commands and "brctl show" in commands
    assert len(commands) == len(set(commands))
    runs = node2.transport.recorded("docker network ls")
    assert all(isinstance(r, Result) and r.command == "docker network ls" for r in runs)
    # looking did not use up the first run: node.run still answers with it
    assert node2.run("docker network ls").extra["seq"] == runs[0].extra["seq"]
    with pytest.raises(RecordingError, match="`docker system df` on node2 was never recorded"):
        node2.transport.recorded("docker system df")


# --- which parser -----------------------------------------------------------------
@pytest.mark.parametrize("command, parser", [
    ("docker network ls", "parse.docker_table"),
    ("docker node ls", "parse.docker_table"),
    ("docker service ps test", "parse.docker_table"),
    ("docker service ps --no-trunc test", "parse.docker_table"),
    ("docker container ls -a", "parse.docker_table"),
    ("docker ps", "parse.docker_table"),
    ("docker service ps --no-trunc --format '{{json .}}' test", "parse.docker_json_lines"),
    ("brctl show", "parse.brctl_show"),
    ("ifconfig", "parse.ifconfig"),
    ("ifconfig -a", "parse.ifconfig"),
    ("ip -j addr", "parse.ip_json"),
    ("ip -j -d addr", "parse.ip_json"),
    ("ip -j route show table main", "parse.ip_json"),
    ("docker network ls -q", None),
    ("docker network ls --format '{{.Name}}'", None),
    ("docker network inspect uber-net", None),
    ("docker network ls | grep overlay", None),
    ("ip route", None),
    ("hostname", None),
    ("", None),
])
def test_parser_for_knows_the_listings(command, parser):
    found = parser_for(command)
    assert (found[0] if found else None) == parser


# --- node console -------------------------------------------------------------------
def test_console_in_replay_offers_the_recorded_commands_of_the_chosen_node():
    console = widgets.node_console(replay("04"))
    assert console.recorded_menu in console.children
    labels = dict(console.recorded_menu.options)
    assert "docker network ls" in labels.values()
    console.node_menu.value = "node1"
    assert set(dict(console.recorded_menu.options).values()) - {""} == set(
        console.cluster.node("node1").transport.commands())
    console.recorded_menu.value = "brctl show"  # picking fills the command box
    assert console.command.value == "brctl show"


def test_console_click_shows_raw_output_and_the_table():
    console = widgets.node_console(replay("04"))
    console.node_menu.value = "node2"
    console.command.value = "docker network ls"
    console.run_button.click()
    assert console.error is None
    assert "[node2]$ docker network ls" in console.output_html.value
    assert "<table" in console.table_html.value and "parse.docker_table" in console.table_html.value
    assert "NETWORK ID" in console.table.columns
    assert "docker_gwbridge" not in set(console.table["NAME"])  # the article's node2
    assert "replayed: recorded run 1 of" in console.note.value


@pytest.mark.parametrize("command, column", [("brctl show", "bridge"), ("ifconfig", "inet"),
                                             ("ip -j addr", "ifname")])
def test_console_tables_of_the_node_tools(command, column):
    console = widgets.node_console(replay("04"))
    result = console.run(command, node="node1")
    assert result is not None and result.ok
    assert column in console.table.columns and len(console.table) > 0


def test_console_says_when_a_command_was_never_recorded():
    console = widgets.node_console(replay("04"))
    assert console.run("docker system df", node="node2") is None
    assert isinstance(console.error, RecordingError)
    assert "`docker system df` on node2 was never recorded" in console.note.value
    assert console.output_html.value == "" and console.table_html.value == ""


def test_console_clicks_do_not_advance_the_replay():
    cluster = replay("04")
    console = widgets.node_console(cluster)
    first = cluster.node("node2").transport.recorded("docker network ls")[0]
    for _ in range(3):
        console.run("docker network ls", node="node2")
    assert cluster.node("node2").run("docker network ls").extra["seq"] == first.extra["seq"]


def test_console_in_replay_answers_as_of_the_lessons_moment():
    """Lesson 5 fixes node2 later: the console shows node2 as the lesson has it so far."""
    cluster = lesson_at_start("05").cluster
    node2 = cluster.node("node2")
    runs = node2.transport.recorded("docker network ls")
    assert len(runs) >= 2
    console = widgets.node_console(cluster)
    console.run("docker network ls", node="node2")
    assert "docker_gwbridge" not in set(console.table["NAME"])
    assert "has not reached it yet" in console.note.value
    node2.run("docker network ls")  # the lesson's own first look
    console.run("docker network ls", node="node2")
    assert f"recorded run 1 of {len(runs)}" in console.note.value and "at this point" in console.note.value
    cluster.clock.saw({"time": runs[-1].extra["time"], "duration": runs[-1].duration})  # past the fix
    console.run("docker network ls", node="node2")
    assert f"recorded run {len(runs)} of {len(runs)}" in console.note.value
    assert "docker_gwbridge" in set(console.table["NAME"])


def test_console_live_runs_the_command_and_parses_it():
    cluster = scripted_cluster({"node1": {"brctl show": "bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"
                                                         "docker0\t\t8000.0242611d036c\tno\t\t\n"},
                                "node2": {"false": ("boom", 1)}})
    console = widgets.node_console(cluster)
    assert console.recorded_menu not in console.children  # live: no recorded list
    console.run("brctl show", node="node1")
    assert list(console.table["bridge"]) == ["docker0"]
    console.run("false", node="node2")
    assert "(exit code 1)" in console.output_html.value and console.table is None


def test_console_shows_a_parse_error_under_the_raw_output():
    cluster = scripted_cluster({"node1": {"brctl show": "this is not brctl\n"}})
    console = widgets.node_console(cluster)
    console.run("brctl show", node="node1")
    assert "this is not brctl" in console.output_html.value
    assert "parse.brctl_show could not read it" in console.table_html.value


# --- service monitor -------------------------------------------------------------------
def test_monitor_runs_at_construction_what_it_runs_live():
    """The first look is a real run (consumed), so later lesson cells keep their answers."""
    cluster = replay("03")
    runs = cluster.manager.transport.recorded(TASKS)
    monitor = widgets.service_monitor(cluster)
    assert monitor.index == 0 and len(monitor.samples) == len(runs)
    assert cluster.manager.run(TASKS).extra["seq"] == runs[1].extra["seq"]


def test_monitor_refresh_steps_through_the_recorded_samples_and_colours_states():
    monitor = widgets.service_monitor(replay("03"))
    seen_failed = False
    for i in range(1, len(monitor.samples)):
        monitor.refresh_button.click()
        assert monitor.index == i and monitor.play.value == i
        assert f"recorded sample {i + 1} of {len(monitor.samples)}" in monitor.caption.value
        if len(story.failed(monitor.tasks)):
            seen_failed = True
            assert "#f8d7da" in monitor.table_html.value  # failed on red
    assert seen_failed
    assert story.placement(monitor.tasks) == {"node1": 2}  # the recorded end: both on node1
    assert "#d1e7dd" in monitor.table_html.value  # running on green
    monitor.refresh()  # after the last, the first again
    assert monitor.index == 0


def test_monitor_play_widget_drives_the_samples():
    monitor = widgets.service_monitor(replay("03"))
    assert monitor.play.max == len(monitor.samples) - 1
    monitor.play.value = 5  # what a tick of ▶ does in the browser
    assert monitor.index == 5 and "recorded sample 6" in monitor.caption.value


def test_monitor_live_refresh_asks_again():
    healthy = "\n".join(
        '{"ID":"t%d","Name":"test.%d","Node":"node%d","DesiredState":"Running",'
        '"CurrentState":"Running 3 seconds ago","Error":""}' % (i, i, i) for i in (1, 2))
    cluster = scripted_cluster({"node1": {TASKS: healthy}, "node2": {}})
    monitor = widgets.service_monitor(cluster)
    assert monitor.refreshes == 1 and story.placement(monitor.tasks) == {"node1": 1, "node2": 1}
    monitor.play.value += 1  # an auto-refresh tick
    monitor.refresh_button.click()
    assert monitor.refreshes == 3
    assert "running replicas: node1: 1, node2: 1" in monitor.caption.value


def test_monitor_says_when_the_service_does_not_exist():
    cluster = scripted_cluster({"node1": {TASKS: ("no such service: test", 1)}})
    monitor = widgets.service_monitor(cluster)
    assert monitor.tasks is None and "no such service: test" in monitor.caption.value


def test_style_tasks_colours_each_state():
    table = pd.DataFrame([{"slot": "1", "node": "node1", "desired state": "Running", "state": "Running",
                           "current state": "Running", "error": ""},
                          {"slot": "2", "node": "node2", "desired state": "Shutdown", "state": "Failed",
                           "current state": "Failed", "error": "<boom>"}])
    html = widgets.style_tasks(table).to_html()
    assert "#d1e7dd" in html and "#f8d7da" in html and "&lt;boom&gt;" in html


# --- lab panel -----------------------------------------------------------------------
def test_panel_on_a_replayed_lesson_shows_the_status_and_disables_what_needs_a_lab():
    panel = widgets.lab_panel(lesson_at_start("00"))
    assert list(panel.status["node"]) == ["node1", "node2"]
    assert panel.status["docker"].str.match(r"\d+\.\d+").all()  # recorded: the lab's dockerd version
    for button in (panel.up_button, panel.down_button, panel.inject_button, panel.undo_button, panel.fix_button):
        assert button.disabled and button.tooltip == REPLAY_REASON
    assert REPLAY_REASON in panel.reason.value
    assert panel.doctor_button.disabled  # lesson 0 never ran the doctor
    assert "doctor answers in a replay only where" in panel.reason.value
    assert not panel.refresh_button.disabled


def test_panel_in_replay_refuses_to_act_and_says_why():
    cluster = replay("04")
    panel = widgets.lab_panel(cluster)
    assert panel.inject("vpn-routes", "node2") is None
    assert REPLAY_REASON in panel.activity.label.value and panel.activity.progress.bar_style == "danger"
    assert panel.apply_fix("node2") is None and REPLAY_REASON in str(panel.error)
    panel.up()
    assert "cannot bring the lab up" in panel.activity.label.value


def test_panel_doctor_click_fills_the_findings_in_replay():
    lesson = lesson_at_start("04")
    panel = widgets.lab_panel(lesson.cluster)
    assert not panel.doctor_button.disabled  # lesson 4's recording ran the doctor
    panel.doctor_button.click()
    assert panel.error is None, panel.error
    gw = panel.findings[(panel.findings["node"] == "node2") & (panel.findings["check"] == "docker_gwbridge")]
    assert list(gw["severity"]) == ["error"]
    assert "<table" in panel.findings_html.value and "docker_gwbridge" in panel.findings_html.value
    assert "#f8d7da" in panel.findings_html.value
    assert panel.activity.progress.bar_style == "success" and "done in" in panel.activity.label.value
    assert not panel.doctor_button.disabled  # enabled again once done


def test_panel_status_refresh_in_replay_looks_without_advancing():
    lesson = lesson_at_start("00")
    panel = widgets.lab_panel(lesson)
    first = panel.status.copy()
    panel.refresh_button.click()
    assert panel.error is None and panel.status.equals(first)


class _Called(list):
    def __call__(self, *args, **kwargs):
        self.append((args, kwargs))
        return self.answer


def test_panel_buttons_call_inject_undo_and_fix_live(monkeypatch):
    status = "20.10.24 active true"
    cluster = scripted_cluster({"node1": {STATUS_COMMAND: status}, "node2": {STATUS_COMMAND: "20.10.24 active false"}})
    panel = widgets.lab_panel(cluster)
    assert list(panel.status["swarm"]) == ["active (manager)", "active"]
    assert panel.up_button.disabled and "no local lab" in panel.reason.value  # a cluster without a Lab
    assert not panel.inject_button.disabled and not panel.fix_button.disabled

    inject = _Called()
    inject.answer = faults.FaultReport("vxlan-blocked", "node2", "inject",
                                       [Result("node2", "iptables -I ...", "", "", 0)], "note here")
    monkeypatch.setattr(faults, "inject", inject)
    panel.fault_menu.value, panel.node_menu.value = "vxlan-blocked", "node2"
    panel.inject_button.click()
    assert inject == [((cluster, "vxlan-blocked"), {"node": "node2", "rejoin": True})]
    assert "note here" in panel.log_html.value and panel.activity.progress.bar_style == "success"

    undo = _Called()
    undo.answer = faults.FaultReport("vxlan-blocked", "node2", "undo", [])
    monkeypatch.setattr(faults, "undo", undo)
    panel.undo_button.click()
    assert undo == [((cluster, "vxlan-blocked"), {"node": "node2"})]

    fix = _Called()
    fix.answer = FixReport("gwbridge", "node2", [Result("node2", "docker network create ...", "abc\n", "", 0)],
                           "the manager's subnet")
    monkeypatch.setattr(widgets.fix_module, "fix_gwbridge", fix)
    panel.fix_button.click()
    (args, kwargs), = fix
    assert args[0] is cluster.node("node2") and kwargs["like"] is cluster.manager
    assert "docker network create" in panel.log_html.value


def test_panel_shows_an_action_that_failed_instead_of_raising(monkeypatch):
    cluster = scripted_cluster({"node1": {STATUS_COMMAND: "20.10.24 active true"},
                                "node2": {STATUS_COMMAND: ("Cannot connect to the Docker daemon", 1)}})
    panel = widgets.lab_panel(cluster)
    assert panel.status.set_index("node").loc["node2", "docker"] == "not answering"

    def broken(*args, **kwargs):
        raise RuntimeError("iptables: not found")
    monkeypatch.setattr(faults, "inject", broken)
    panel.inject_button.click()
    assert isinstance(panel.error, RuntimeError)
    assert "failed: iptables: not found" in panel.activity.label.value
    assert not panel.inject_button.disabled  # usable again


def test_panel_takes_a_lesson_or_a_cluster_only():
    with pytest.raises(Exception, match="takes a lesson"):
        widgets.lab_panel("lesson00")


def test_widgets_show_text_where_no_widget_can_render():
    lesson = lesson_at_start("00")
    assert "node1" in repr(widgets.lab_panel(lesson)) and "replay" in repr(widgets.lab_panel(lesson))
    assert "recorded commands only" in repr(widgets.node_console(lesson.cluster))


def test_parsers_named_are_swarmlabs_own():
    for command in ("docker network ls", "brctl show", "ifconfig", "ip -j addr"):
        name, fn = parser_for(command)
        assert getattr(parse, name.split(".")[1]) is fn
