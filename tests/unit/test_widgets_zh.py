"""swarmlab.widgets in the lessons' language: a widget built in zh shows its buttons, headings and
status lines in Chinese (the widgets catalog), one built in en in English; what Docker printed and
what the recording holds stay as they were."""
from __future__ import annotations

import re

import pytest

from swarmlab import widgets
from swarmlab.cluster import Cluster
from swarmlab.lessons import open_lesson, recording_path

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def speak(monkeypatch):
    def choose(lang: str) -> None:
        monkeypatch.setenv("SWARMLAB_LANG", lang)
    return choose


def test_the_lab_panel_built_in_zh_has_chinese_buttons_and_reasons(speak):
    speak("zh")
    panel = widgets.lab_panel(open_lesson("00", backend="replay"))
    buttons = [panel.refresh_button, panel.up_button, panel.down_button, panel.inject_button,
               panel.undo_button, panel.doctor_button, panel.fix_button]
    assert [b.description for b in buttons] == ["刷新状态", "启动实验环境", "关闭实验环境", "注入", "撤销",
                                                 "运行 doctor", "修复 docker_gwbridge"]
    assert panel.up_button.tooltip.startswith("这是录制内容的回放")
    assert "回放时，只有录制的课程里运行过 doctor 的地方" in panel.reason.value
    assert "<th>节点</th>" in panel.status_html.value and "<th>地址</th>" in panel.status_html.value
    assert list(panel.status.columns[:2]) == ["node", "address"]  # the DataFrame code reads keeps its names
    panel.up()
    assert "无法启动实验环境：这是录制内容的回放" in panel.activity.label.value


def test_the_lab_panel_built_in_en_stays_english(speak):
    speak("en")
    panel = widgets.lab_panel(open_lesson("00", backend="replay"))
    assert panel.up_button.description == "Lab up" and panel.doctor_button.description == "Run the doctor"
    assert "<th>node</th>" in panel.status_html.value
    assert not HAN.search(panel.reason.value + panel.status_html.value)


@pytest.mark.parametrize("lang, run, recorded, note", [
    ("zh", "运行", "录制的命令", "回放：这条命令录制的第 1 次运行"),
    ("en", "Run", "recorded", "replayed: recorded run 1 of"),
])
def test_the_node_console_speaks_the_lessons_language_and_keeps_dockers_output(speak, lang, run, recorded, note):
    speak(lang)
    console = widgets.node_console(Cluster.from_recording(recording_path("04")))
    assert console.run_button.description == run and console.recorded_menu.description == recorded
    result = console.run("docker network ls", "node2")
    assert note in console.note.value
    assert "docker_gwbridge" not in result.stdout or "docker_gwbridge" in console.output_html.value
    assert not HAN.search(console.output_html.value)  # what Docker printed, as it printed it


def test_the_service_monitor_in_zh_counts_replicas_in_chinese(speak):
    speak("zh")
    monitor = widgets.service_monitor(Cluster.from_recording(recording_path("03")))
    assert monitor.refresh_button.description == "刷新" and monitor.play.description == "自动刷新"
    assert re.search(r"录制的第 \d+ 个样本，共 \d+ 个（t = \+[\d.]+ 秒） — 正在运行的副本：", monitor.caption.value)
    assert "服务 test" in monitor.children[0].children[0].value


def test_a_command_the_recording_lacks_is_refused_in_chinese(speak):
    speak("zh")
    console = widgets.node_console(Cluster.from_recording(recording_path("04")))
    assert console.run("docker system df", "node2") is None
    assert "node2 上的 `docker system df` 从未被录制；录制中有 node2 的" in console.note.value
    assert "条命令，例如 `" in console.note.value


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_panel_says_why_a_replay_disables_its_controls_in_its_own_language(speak, lang):
    """What lesson 0's claim checks, in both editions (the code cell is the same)."""
    speak(lang)
    panel = widgets.lab_panel(open_lesson("00", backend="replay"))
    assert panel.replay_reason in panel.reason.value
    assert (panel.replay_reason == widgets.REPLAY_REASON) == (lang == "en")
