"""swarmlab.i18n: the language chosen, the gettext catalogs complete, and sentences made from
f-strings translated with their values kept."""
from __future__ import annotations

import re

import pytest

from swarmlab import i18n
from swarmlab.cli import main
from swarmlab.doctor.findings import in_language
from swarmlab.errors import UsageError
from swarmlab.i18n import extract

EDITIONS = [lang for lang in i18n.LANGUAGES if lang != "en"]


@pytest.mark.parametrize("lang", EDITIONS)
@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_every_message_has_a_translation_and_the_catalog_nothing_else(domain, lang):
    assert extract.msgids(domain), f"no {domain} messages found in the sources"
    assert extract.untranslated(domain, lang) == [], \
        f"translate them in {i18n.po_path(domain, lang)} (python -m swarmlab.i18n.extract adds new ones)"
    assert extract.obsolete(domain, lang) == []


@pytest.mark.parametrize("lang", EDITIONS)
@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_a_translation_uses_only_its_sentences_placeholders(domain, lang):
    for message in extract.read_catalog(domain, lang):
        if message.id:
            names = lambda text: {m.group(1) for m in i18n.PLACEHOLDER.finditer(text) if m.group(1)}
            assert names(message.string) <= names(message.id), message.id


def test_the_language_is_swarmlab_lang_then_the_folder_then_the_locale(monkeypatch, tmp_path):
    for name in ("SWARMLAB_LANG", *i18n.LOCALE_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert i18n.language() == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.language() == "zh"
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert i18n.language() == "en"
    (tmp_path / i18n.FOLDER_MARKER).write_text("zh\n")
    assert i18n.language() == "zh"
    monkeypatch.setenv("SWARMLAB_LANG", "en")
    assert i18n.language() == "en"
    monkeypatch.setenv("SWARMLAB_LANG", "fr")
    with pytest.raises(UsageError, match="SWARMLAB_LANG='fr': swarmlab speaks en and zh"):
        i18n.language()


def test_a_claim_made_from_an_fstring_keeps_its_values():
    said = i18n.translate("uber-net's subnet 10.0.1.0/24 lies in 10.0.0.0/8", "claims", "zh")
    assert said == "uber-net 的子网 10.0.1.0/24 位于 10.0.0.0/8 之内"
    assert i18n.translate("a sentence no catalog has", "claims", "zh") == "a sentence no catalog has"
    assert i18n.translate("node2 joined as a worker", "claims", "en") == "node2 joined as a worker"


def test_a_cause_made_of_two_sentences_is_translated_piece_by_piece():
    cause = ("node2 is in the swarm but has no docker_gwbridge. Docker creates it when a node joins; without it no "
             "task container on this node gets its gateway, so every task there fails with 'error creating external "
             "connectivity network' and its containers stay Created; nothing says its creation failed: if the node "
             "joined a second ago, Docker may still be creating it - run the doctor again")
    said = i18n.translate(cause, "doctor", "zh")
    assert said.startswith("node2 在集群中，却没有 docker_gwbridge。")
    assert said.endswith("；没有任何迹象表明它创建失败：如果节点刚刚加入，Docker 可能还在创建它——请再运行一次 doctor")


def test_a_sentence_put_into_another_is_translated_too():
    cause = ("every one of Docker's default pools overlaps a route (172.16.0.0/12, 192.168.0.0/16), a nameserver or "
             "a network, so Docker cannot create a bridge network without an explicit subnet")
    assert i18n.translate(cause, "doctor", "zh") == (
        "Docker 的默认地址池中的每一个都与某条路由（172.16.0.0/12, 192.168.0.0/16）、某个 DNS 服务器或某个网络重叠，"
        "因此不显式指定子网时，Docker 无法创建网桥网络")


def test_the_doctors_findings_in_chinese_keep_their_evidence():
    import pandas as pd
    findings = pd.DataFrame([{"severity": "info", "node": "node1", "check": "kernel",
                              "evidence": "$ uname -r\n6.1.0", "cause": "kernel 6.1.0 has VXLAN and bridge support, "
                              "what every overlay needs", "fix": "", "doc": ""}])
    said = in_language(findings, "zh").iloc[0]
    assert said["cause"] == "内核 6.1.0 支持 VXLAN 和网桥，每个覆盖网络需要的都有了"
    assert said["evidence"] == "$ uname -r\n6.1.0" and said["check"] == "kernel"


def test_the_cli_says_its_one_line_error_in_chinese(capsys, monkeypatch):
    monkeypatch.delenv("SWARMLAB_LANG", raising=False)
    assert main(["doctor", "--lang", "zh", "--lab", "/no/such/hosts.txt"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("swarmlab: '/no/such/hosts.txt'：既不是实验环境名，也不是 swarmlab 能读取的文件")
    assert err.count("\n") == 1
    monkeypatch.setenv("SWARMLAB_LANG", "en")
    assert main(["doctor", "--lab", "/no/such/hosts.txt"]) == 1
    assert "not a lab name, and not a file swarmlab reads" in capsys.readouterr().err


def test_doctor_in_chinese_on_a_recording_changes_causes_and_fixes_not_the_evidence(capsys, monkeypatch):
    """`swarmlab doctor --lang zh` on lesson 4's recording (a real run): every cause in Chinese, and
    every evidence line (the commands and what Docker printed) the same as in English."""
    from swarmlab.lessons import RECORDINGS
    monkeypatch.delenv("SWARMLAB_LANG", raising=False)
    recording = str(RECORDINGS / "04.json")
    main(["doctor", "--lang", "en", "--lab", recording])
    english = capsys.readouterr().out
    main(["doctor", "--lang", "zh", "--lab", recording])
    chinese = capsys.readouterr().out
    evidence = lambda text: [line for line in text.splitlines() if line.startswith("    ")]
    assert evidence(chinese) == evidence(english) and evidence(english)
    causes = [line for line in chinese.splitlines() if line.startswith("  原因：")]
    assert causes and all(re.search(r"[\u4e00-\u9fff]", line) for line in causes), causes
    assert "  原因：node2 在集群中，却没有 docker_gwbridge。" in chinese
