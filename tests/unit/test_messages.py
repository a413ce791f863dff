"""The words each Docker version prints for the article's cause, held to real captures, and
every reader of them (the lessons' classifier, the pools-exhausted fault, the doctor) knowing each.

tests/fixtures/docker/messages-20.json and messages-28.json are what
`python tests/fixtures/docker/capture.py` printed on a namespaces lab (Docker 20.10.24+dfsg1)
and on a docker-driver lab with `--docker 28` (Docker 28.5.2+dfsg4): each command as it ran
and its stdout and stderr.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from swarmlab import faults, messages, story
from swarmlab.doctor.tasks import failure_mode
from swarmlab.result import Result

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "docker"
CAPTURES = {name: json.loads((FIXTURES / f"messages-{name}.json").read_text()) for name in ("20", "28")}


def first_line(capture: dict) -> str:
    return (capture["stdout"] + capture["stderr"]).splitlines()[0]


def as_result(capture: dict) -> Result:
    return Result(capture["node"], capture["command"], capture["stdout"], capture["stderr"], capture["exit_code"])


@pytest.fixture(params=sorted(CAPTURES))
def captured(request):
    """One version's capture, and the release messages.py files its words under."""
    capture = CAPTURES[request.param]
    return capture, messages.release(capture["version"]["stdout"].strip())


def test_each_capture_is_filed_under_its_own_release():
    assert {name: messages.release(c["version"]["stdout"].strip()) for name, c in CAPTURES.items()} == \
        {"20": "20.10", "28": "28"}
    assert set(messages.RELEASES) == {"20.10", "28"}


def test_the_table_holds_each_version_s_words_as_captured(captured):
    capture, release = captured
    assert first_line(capture["task_error"]) == f'"{messages.task_error(release)}"'
    assert messages.cut_short(release) in capture["service_ps"]["stdout"]
    assert first_line(capture["start_while_held"]) == messages.start_no_pool(release)
    gone = first_line(capture["start_after_let_go"])
    network = re.search(r"network (\S+) not found", gone).group(1)
    assert gone == messages.start_network_gone(release, network)
    assert first_line(capture["network_create_exhausted"]) == messages.network_create_no_pool(release)
    assert f'msg="{messages.ingress_log(release)}"' in capture["ingress_log"]["stdout"]


def test_the_two_versions_word_the_article_s_cause_differently():
    """So a reader that knows one version's words only would miss the other's."""
    assert messages.NO_POOL["20.10"] not in first_line(CAPTURES["28"]["task_error"])
    assert messages.NO_POOL["28"] not in first_line(CAPTURES["20"]["task_error"])


def test_lesson_4_s_classifier_knows_both_answers_in_each_version(captured):
    capture, _ = captured
    assert story.start_answer(as_result(capture["start_while_held"])) == story.ADDRESS_POOL
    assert story.start_answer(as_result(capture["start_after_let_go"])) == story.NETWORK_NOT_FOUND


def test_the_doctor_names_the_address_pools_for_each_version_s_task_error(captured):
    capture, _ = captured
    assert failure_mode(first_line(capture["task_error"])).title == "no address pool for docker_gwbridge"


def fault_accepts(answer: str) -> bool:
    """Run pools-exhausted's own last test (the `case` of FILL_POOLS) on `answer`, in a real shell."""
    check = "out=$1; " + faults.FILL_POOLS[faults.FILL_POOLS.index("case $out in"):]
    return subprocess.run(["sh", "-c", check, "sh", answer]).returncode == 0


def test_pools_exhausted_accepts_each_version_s_last_answer_and_nothing_else(captured):
    capture, _ = captured
    assert fault_accepts(first_line(capture["network_create_exhausted"]))
    assert not fault_accepts("Error response from daemon: network with name proj3_default already exists")


def test_a_version_not_captured_gets_the_words_of_the_newest_release_before_it():
    assert [messages.release(v) for v in ("20.10.24+dfsg1", "26.1.5+dfsg1", "28.5.2", "29.0.1", "19.03.8")] == \
        ["20.10", "20.10", "28", "28", "20.10"]


def test_the_sentence_on_the_other_version_quotes_its_capture():
    said = messages.elsewhere(messages.cut_short, "28.5.2+dfsg4")
    assert said == ("That is Docker 28.5.2+dfsg4's; Docker 20.10 prints "
                    "'\"starting container failed: er\u2026\"' instead.")
    assert messages.elsewhere(messages.cut_short, "26.1.5").startswith("That is Docker 26.1.5's; Docker 28 prints")


def test_says_matches_one_release_s_words_and_not_the_other_s():
    gone_28 = first_line(CAPTURES["28"]["start_after_let_go"])
    assert messages.says(gone_28, messages.start_network_gone, "28")
    assert not messages.says(gone_28, messages.start_network_gone, "20.10")
    assert story.START_WORDS[story.start_answer(as_result(CAPTURES["20"]["start_while_held"]))] is messages.start_no_pool


def test_network_rm_and_create_refusals_are_read_in_each_version_s_words(captured):
    """story.leave's `docker network rm docker_gwbridge` tolerates a bridge that is not there, retries
    one still in use; the gwbridge repair tries another subnet when Docker says it overlaps."""
    capture, release = captured
    missing = first_line(capture["network_rm_missing"])
    assert missing == messages.NETWORK_MISSING[release].replace("<id>", "no-such-network")
    assert messages.network_missing(missing)
    assert not messages.network_missing(first_line(capture["network_rm_in_use"]))
    assert messages.NETWORK_IN_USE in first_line(capture["network_rm_in_use"])
    assert messages.POOL_OVERLAPS in first_line(capture["network_create_overlap"])


def test_sudo_s_own_warning_before_docker_s_words_is_passed_over():
    # What an inventory host reached with `sudo = true` printed in CI (its hostname not in /etc/hosts).
    stderr = ("Could not chdir to home directory /var/lib/student: No such file or directory\n"
              "sudo: unable to resolve host node2: Temporary failure in name resolution\n"
              "Error response from daemon: error creating external connectivity network: could not find an "
              "available, non-overlapping IPv4 address pool among the defaults to assign to the network\n")
    from swarmlab import story
    assert messages.says(stderr, story.START_WORDS[story.ADDRESS_POOL], "20.10")
