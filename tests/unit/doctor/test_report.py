"""What `swarmlab doctor` prints: one screen for a healthy swarm, also right after 30 nodes joined
(what is still settling said in a paragraph, not listed as warnings), probe scripts named in one
line (quoted whole with --verbose and in --json), every finding with --all, and --wait."""
import json
import re
import sys
from contextlib import nullcontext
from types import SimpleNamespace

import pytest

import swarmlab.cli.doctor  # noqa: F401 (sys.modules)
from swarmlab.cli import main
from swarmlab.cluster import Cluster, Node
from swarmlab.doctor import diagnose
from swarmlab.doctor.facts import Facts, prompt

from .cases import facts, problems

SCREEN = 40  # lines: what a terminal shows at once
SETTLING = ["healthy-30-joining", "healthy-30-converging", "healthy-30-settled"]


def doctor_cli(monkeypatch, capsys, gathered: Facts | list[Facts], *args: str) -> tuple[int, str, str]:
    """`swarmlab doctor ARGS` on captured facts (a list: one per run, for --wait)."""
    runs = list(gathered) if isinstance(gathered, list) else [gathered]
    first = runs[0]
    cluster = Cluster([Node(name, f.address, SimpleNamespace(close=lambda: None),
                            "manager" if name == first.manager else "worker") for name, f in first.nodes.items()])

    def gather(target, timeout=20):
        return runs.pop(0) if len(runs) > 1 else runs[0]
    cli = sys.modules["swarmlab.cli.doctor"]
    monkeypatch.setattr(cli, "connect", lambda target: nullcontext(cluster))
    monkeypatch.setattr(sys.modules["swarmlab.doctor"], "gather", gather)  # what doctor() asks
    monkeypatch.setattr(cli, "gather", gather, raising=False)
    monkeypatch.setattr(cli, "time", SimpleNamespace(monotonic=lambda: 0, sleep=lambda seconds: None), raising=False)
    code = main(["doctor", "--lab", "captured", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", SETTLING)
def test_the_report_of_a_healthy_30_node_swarm_fits_on_a_screen(monkeypatch, capsys, case):
    """Right after `lab up --nodes 30 --swarm` (before: 29 warnings with their evidence, 300 lines),
    while the overlay converges, and settled: no finding in full, what settles in a paragraph."""
    code, out, _ = doctor_cli(monkeypatch, capsys, facts(case))
    assert code == 0
    assert len(out.splitlines()) <= SCREEN, out
    assert not re.search(r"^(ERROR|WARNING) ", out, re.M), out
    assert "infos: " in out and "--all prints them" in out


def test_the_report_of_the_settled_swarm_is_its_infos_in_a_line_and_the_counts(monkeypatch, capsys):
    _, out, _ = doctor_cli(monkeypatch, capsys, facts("healthy-30-settled"))
    assert out.splitlines()[-1] == "0 errors, 0 warnings, 153 infos"
    assert "address pools, docker_gwbridge, iptables chains, kernel, mtu (30 nodes)" in " ".join(out.split())
    assert "still settling" not in out


def test_right_after_the_joins_the_report_says_what_is_still_settling(monkeypatch, capsys):
    """The capture ran 1-4 s after the joins returned: 29 nodes had no docker_gwbridge yet (a
    warning each, nothing saying it failed). The report says so in one paragraph and when to look again."""
    gathered = facts("healthy-30-joining")
    assert len(problems(diagnose(gathered))) == 29  # the DataFrame keeps them, as warnings
    code, out, _ = doctor_cli(monkeypatch, capsys, gathered)
    said = " ".join(out.split())
    assert ("still settling: 30 nodes joined the swarm 1-4 s ago; 29 nodes have no docker_gwbridge yet (node2, "
            "node3, node4, node5, node6, ...): Docker makes it a moment after the join. 29 warnings about it left "
            "out (--all prints them). Run the doctor again in a minute, or `swarmlab doctor --wait`") in said
    assert out.splitlines()[-1] == "0 errors, 29 warnings, 123 infos (29 left out: still settling)"
    assert "`swarmlab doctor --wait`" in out  # a command is never cut by the wrapping


def test_while_the_overlay_converges_its_lost_pings_are_said_to_be_settling(monkeypatch, capsys):
    """8-10 s after the joins every node had both docker_gwbridge and its ingress sandbox, and 14
    pairs still lost pings over the overlay; the next gatherings found none (healthy-30-settled)."""
    _, out, _ = doctor_cli(monkeypatch, capsys, facts("healthy-30-converging"))
    said = " ".join(out.split())
    assert ("still settling: 30 nodes joined the swarm 8-10 s ago; pings over the overlay can be lost while the "
            "joins spread by gossip. 14 warnings about it left out") in said


def test_what_is_still_missing_a_minute_after_the_join_is_not_settling_any_more():
    """The same facts read ten minutes later (the nodes' clocks moved on): a node still without
    docker_gwbridge is a warning in the report again, and no paragraph says it is settling."""
    data = facts("healthy-30-joining").to_dict()
    for node in data["nodes"].values():
        clock, rest = node["sections"]["daemon_log"].split("\n", 1)
        node["sections"]["daemon_log"] = str(int(clock[:4]) + 1) + clock[4:] + "\n" + rest  # a year later
    later = Facts.from_dict(data)
    from swarmlab.doctor import overview, settling
    text = overview(diagnose(later), settling(later))
    assert "still settling" not in text
    assert len(re.findall(r"^WARNING node\d+: docker_gwbridge$", text, re.M)) == 3  # PER_CHECK in full
    assert ("... and 26 more docker_gwbridge warnings (node13, node14, node15, node16, node17, ...): --all prints "
            "them") in " ".join(text.split())


def test_a_real_fault_right_after_the_join_stays_an_error_in_the_report(monkeypatch, capsys):
    """vxlan-blocked was captured 7-8 s after the joins: its errors are shown in full, nothing left out."""
    code, out, _ = doctor_cli(monkeypatch, capsys, facts("vxlan-blocked"))
    assert code == 1
    assert "ERROR   node1, node2: overlay traffic" in out and "ERROR   node2: firewall 4789/udp" in out
    assert "still settling" not in out and "left out" not in out


def test_a_probe_is_named_in_one_line_in_the_evidence():
    """Each probe script (33 lines of bash here) is one line, `[node]$ <probe script: ...>`, above
    the lines it printed that prove the finding."""
    overlay = diagnose(facts("vxlan-blocked")).set_index("check").loc["overlay traffic"]
    assert overlay["evidence"].splitlines() == [
        "[node2]$ <probe script: pings over the ingress overlay, 33 lines; --verbose shows it>",
        "ping 10.0.0.2 56 - lost 2",
        "# summary: 10.0.0.2 is node1's ingress sandbox; ping 10.0.0.2 with 56 bytes of data: lost (2 tries)",
        "[node1]$ <probe script: pings over the ingress overlay, 33 lines; --verbose shows it>",
        "ping 10.0.0.3 56 - lost 2",
        "# summary: 10.0.0.3 is node2's ingress sandbox; ping 10.0.0.3 with 56 bytes of data: lost (2 tries)"]


def test_verbose_and_json_quote_each_probe_script_whole(monkeypatch, capsys):
    gathered = facts("vxlan-blocked")
    script = prompt("node1", gathered.nodes["node1"].commands["overlay_pings"])
    _, out, _ = doctor_cli(monkeypatch, capsys, gathered, "--verbose")
    assert "\n".join("    " + line for line in script.splitlines()) in out
    assert "<probe script:" not in out
    _, out, _ = doctor_cli(monkeypatch, capsys, gathered, "--json")
    overlay = next(f for f in json.loads(out) if f["check"] == "overlay traffic")
    assert script in overlay["evidence"]
    assert diagnose(gathered, verbose=True).set_index("check").loc["overlay traffic", "evidence"] == \
        overlay["evidence"]


def test_all_prints_every_finding_in_full(monkeypatch, capsys):
    gathered = facts("healthy-30-joining")
    _, out, _ = doctor_cli(monkeypatch, capsys, gathered, "--all")
    findings = diagnose(gathered)
    assert len(re.findall(r"^(ERROR|WARNING|INFO) ", out, re.M)) == len(findings) == 152
    assert "still settling" not in out and out.splitlines()[-1] == "0 errors, 29 warnings, 123 infos"


def test_wait_runs_the_doctor_again_until_nothing_is_settling(monkeypatch, capsys):
    runs = [facts(case) for case in SETTLING]
    code, out, err = doctor_cli(monkeypatch, capsys, runs, "--wait")
    assert code == 0
    assert err.splitlines() == ["still settling after 0 s: 29 docker_gwbridge warnings; the doctor looks again in 3 s",
                                "still settling after 0 s: 14 overlay traffic warnings; the doctor looks again in 3 s"]
    assert out.splitlines()[-1] == "0 errors, 0 warnings, 153 infos"


def test_probe_scripts_are_the_only_evidence_said_in_brief():
    """The brief evidence is the verbose one with each probe script, and nothing else, replaced by its line."""
    from swarmlab.doctor.facts import PROBE_SECTIONS
    for case in ["vxlan-blocked", "gossip-blocked", "healthy-30-converging"]:
        gathered = facts(case)
        brief, verbose = diagnose(gathered), diagnose(gathered, verbose=True)
        for short, whole in zip(brief["evidence"], verbose["evidence"]):
            for f in gathered.nodes.values():
                for section in PROBE_SECTIONS:
                    if "\n" in f.commands.get(section, ""):
                        whole = whole.replace(prompt(f.name, f.commands[section]),
                                              f"[{f.name}]$ <probe script: {PROBE_SECTIONS[section]}, "
                                              f"{len(f.commands[section].splitlines())} lines; --verbose shows it>")
            assert short == whole
