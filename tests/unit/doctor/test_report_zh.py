"""`swarmlab doctor --lang zh`: the overview's own lines (the counts, what is still settling, the
problems left out, the infos) in Chinese, while each finding's evidence and the names of the checks
and nodes stay as Docker and the doctor print them; in English, the same lines as before."""
import re

import pytest

from swarmlab.doctor import diagnose, overview, settling
from swarmlab.doctor.facts import Facts

from .cases import facts
from .test_report import doctor_cli

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def no_language_asked(monkeypatch):
    monkeypatch.delenv("SWARMLAB_LANG", raising=False)


def test_the_counts_and_the_infos_line_in_chinese(monkeypatch, capsys):
    _, out, _ = doctor_cli(monkeypatch, capsys, facts("healthy-30-settled"), "--lang", "zh")
    assert out.splitlines()[-1] == "0 个错误，0 条警告，153 条信息"
    said = " ".join(out.split())
    assert said.startswith("信息：") and "address pools, docker_gwbridge, iptables chains, kernel, mtu (30 个节点)" in said
    assert "。--all 会全部打印出来" in said


def test_what_is_still_settling_in_chinese(monkeypatch, capsys):
    _, out, _ = doctor_cli(monkeypatch, capsys, facts("healthy-30-joining"), "--lang", "zh")
    said = "".join(out.split())  # the wrapping puts line breaks where Chinese has no spaces
    assert ("仍在稳定中：30个节点在1-4秒前加入了集群；29个节点还没有docker_gwbridge（node2,node3,node4,node5,node6,...）："
            "Docker会在节点加入后稍过片刻创建它。与此有关的29条警告未列出（--all会打印出来）。"
            "请过一分钟再运行一次doctor，或者运行`swarmlabdoctor--wait`") in said
    assert out.splitlines()[-1] == "0 个错误，29 条警告，123 条信息（其中 29 条仍在稳定中，未列出）"
    assert "`swarmlab doctor --wait`" in out


def test_the_problems_left_out_in_chinese_keep_the_check_and_node_names():
    data = facts("healthy-30-joining").to_dict()
    for node in data["nodes"].values():  # a year later: the warnings are not settling any more
        clock, rest = node["sections"]["daemon_log"].split("\n", 1)
        node["sections"]["daemon_log"] = str(int(clock[:4]) + 1) + clock[4:] + "\n" + rest
    later = Facts.from_dict(data)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("SWARMLAB_LANG", "zh")
    try:
        text = overview(diagnose(later), settling(later))
    finally:
        monkeypatch.undo()
    assert "……另有 26 条 docker_gwbridge 警告（node13, node14, node15, node16, node17, ...）：--all 会全部打印出来" \
        in " ".join(text.split())
    assert len(re.findall(r"^WARNING node\d+: docker_gwbridge$", text, re.M)) == 3  # the finding's head as it was


def test_the_wait_line_in_chinese(monkeypatch, capsys):
    runs = [facts("healthy-30-joining"), facts("healthy-30-settled")]
    code, out, err = doctor_cli(monkeypatch, capsys, runs, "--wait", "--lang", "zh")
    assert code == 0
    assert err.splitlines()[0] == "0 秒后仍在稳定中：29 条 docker_gwbridge 警告；doctor 将在 3 秒后再检查一次"
    assert out.splitlines()[-1] == "0 个错误，0 条警告，153 条信息"


@pytest.mark.parametrize("case", ["healthy-30-joining", "healthy-30-settled"])
def test_the_evidence_is_the_same_in_both_languages_and_english_has_no_chinese(monkeypatch, capsys, case):
    _, english, _ = doctor_cli(monkeypatch, capsys, facts(case), "--all", "--lang", "en")
    _, chinese, _ = doctor_cli(monkeypatch, capsys, facts(case), "--all", "--lang", "zh")
    evidence = lambda text: [line for line in text.splitlines() if line.startswith("    ")]
    assert evidence(chinese) == evidence(english) and evidence(english)
    assert not HAN.search(english)
