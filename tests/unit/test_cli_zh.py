"""What a student meets from the lab and `swarmlab check`, in Chinese: `lab up`'s refusals (names,
subnets, memory, the classroom limits, the userns driver) and each line of `swarmlab check` (its
detail and the administrator's step) come from the cli catalog; commands, paths, sysctl and package
names inside them stay as they are, and English stays English."""
from __future__ import annotations

import os
import re
import unittest.mock

import pytest

from swarmlab import userns_check
from swarmlab.check import APT, Check, run_checks
from swarmlab.cli import main
from swarmlab.errors import LabError
from swarmlab.i18n import translate
from swarmlab.lab import limits
from swarmlab.lab.capacity import check_capacity
from swarmlab.lab.spec import LabSpec
from swarmlab.lab.userns.driver import UsernsDriver

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def speak(monkeypatch):
    return lambda lang: monkeypatch.setenv("SWARMLAB_LANG", lang)


def refusal(make) -> str:
    with pytest.raises(LabError) as err:
        make()
    return str(err.value)


def test_lab_up_with_a_bad_name_refuses_in_one_chinese_line(speak, capsys):
    speak("zh")
    assert main(["lab", "up", "--name", "a/b"]) == 1
    err = capsys.readouterr().err
    assert err == ("swarmlab: lab 名称 'a/b' 不合法：请使用 1-32 个字母、数字、'-' 或 '_'（不能有 '/'、'.' 或空格），"
                   "并以字母或数字开头\n")
    speak("en")
    assert main(["lab", "up", "--name", "a/b"]) == 1
    assert capsys.readouterr().err.startswith("swarmlab: bad lab name 'a/b': use 1-32 letters")


@pytest.mark.parametrize("make, said", [
    (lambda: LabSpec.build(subnet="10.0.0.0/31"), "子网 10.0.0.0/31 太小，放不下一个实验环境；请使用 /30 或更大的子网（例如 /24）"),
    (lambda: LabSpec.build(node_names=["n1", "n1"]), "节点名称不能重复，收到的是 ['n1', 'n1']"),
    (lambda: LabSpec.build(nodes=5, subnet="10.0.0.0/29", first_address="10.0.0.4"),
     "从 10.0.0.4 开始，10.0.0.0/29 中放不下 5 个节点（只能放 3 个）；请使用更大的子网，或者更靠前的起始地址"),
    (lambda: check_capacity(1, "MemTotal: 4000000 kB\nMemAvailable: 300000 kB\n"),
     "这台机器的内存放不下 1 个节点：现在最多只能启动 0 个，因为 /proc/meminfo 中的 MemAvailable 是 292 MB"),
])
def test_the_refusals_of_lab_up_in_chinese(make, said):
    assert translate(refusal(make), "cli", "zh").startswith(said)


def test_the_classroom_limits_refusal_in_chinese(tmp_path):
    (tmp_path / "etc").mkdir(mode=0o755)
    path = tmp_path / "etc" / "limits.json"
    limits.write({"alice": limits.Limits(labs=1, nodes=2, memory_mb=128)}, path)
    with unittest.mock.patch("os.geteuid", return_value=1000):  # checked as the student would be
        said = translate(refusal(lambda: limits.check_lab(3, {}, "lesson01", user="alice", path=path)), "cli", "zh")
    assert said == (f"实验环境 lesson01：3 个节点超出了你的课堂限额（由老师在 {path} 中设置）：每个实验环境最多 2 个节点；"
                    "请改用 --nodes 2 或更少")


def test_the_userns_refusal_in_chinese_keeps_the_sysctl_and_the_check_names(speak, monkeypatch):
    speak("zh")
    kernel = Check("userns kernel", False, "user.max_user_namespaces is 0: no user namespaces at all",
                   "sysctl -w user.max_user_namespaces=15000 (and in /etc/sysctl.d/ to keep it)")
    monkeypatch.setattr(userns_check, "userns_checks", lambda user=None: [kernel])
    monkeypatch.setattr("shutil.which", lambda tool: f"/usr/bin/{tool}")
    with unittest.mock.patch("os.geteuid", return_value=1000):
        usable = UsernsDriver.usable_here()
    assert translate(usable.forced_error, "cli") == (
        "这台机器无法在你的用户命名空间中运行实验环境：userns kernel：user.max_user_namespaces 为 0：完全不能创建用户命名空间"
        "（管理员需要做的一次性设置：sysctl -w user.max_user_namespaces=15000（并写入 /etc/sysctl.d/，重启后仍然生效））；"
        "`swarmlab check` 会告诉你该怎么做")
    speak("en")
    with unittest.mock.patch("os.geteuid", return_value=1000):
        english = UsernsDriver.usable_here().forced_error
    assert not HAN.search(english) and "(the administrator's step: sysctl -w user.max_user_namespaces=15000" in english


def _failing_userns_checks(monkeypatch) -> list[Check]:
    """The checks that fail on a machine that forbids user namespaces (as the kernel and AppArmor say)."""
    monkeypatch.setattr(userns_check, "_read_int", lambda path: 0 if "max_user" in path else 1)
    return [userns_check._kernel_allows(), userns_check._apparmor_allows(),
            userns_check._subordinate_ids("zh2-nobody-here", "subuid")]


def test_every_check_line_a_student_meets_is_in_chinese(monkeypatch):
    checks = run_checks() + userns_check.userns_checks() + _failing_userns_checks(monkeypatch)
    for check in checks:
        detail = translate(check.detail, "cli", "zh")
        assert HAN.search(detail) or detail.startswith("/"), check.detail  # a path: which(tool) found it
        if check.fix and not check.fix.startswith(APT):
            assert HAN.search(translate(check.fix, "cli", "zh")), check.fix


def test_an_administrators_step_keeps_its_command_and_names_word_for_word(monkeypatch):
    kernel, apparmor, subuid = _failing_userns_checks(monkeypatch)
    assert translate(kernel.fix, "cli", "zh") == "sysctl -w user.max_user_namespaces=15000（并写入 /etc/sysctl.d/，重启后仍然生效）"
    assert translate(apparmor.detail, "cli", "zh").startswith("kernel.apparmor_restrict_unprivileged_userns 为 1")
    assert translate(subuid.fix, "cli", "zh") == \
        "usermod --add-subuids 100000-165535 zh2-nobody-here（以 root 身份；任何一段空闲的 65536 个 ID 都可以）"
    assert translate(subuid.detail, "cli", "zh") == "/etc/subuid 中没有 zh2-nobody-here 的 ID 范围"


def test_swarmlab_check_in_chinese_keeps_apt_get_lines_and_says_its_verdict(speak, capsys):
    speak("zh")
    code = main(["check"])
    out = capsys.readouterr().out
    assert ("这台机器可以运行实时实验环境。" if code == 0 else "这台机器还不能运行实时实验环境") in out
    assert "用户命名空间中运行实验环境需要什么" in out
    assert all(line.startswith("    -> ") for line in out.splitlines() if "->" in line)
    assert not re.search(r"-> .*apt-get install -y \S*[\u4e00-\u9fff]", out)  # a package name is never translated
    assert os.environ["SWARMLAB_LANG"] == "zh"
