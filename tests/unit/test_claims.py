"""Claims: a lesson's sentence about an output, checked against that output."""
from __future__ import annotations

import pytest

from swarmlab.claims import Claims, claims_checked
from swarmlab.errors import ClaimError, UsageError
from swarmlab.result import Result


def test_a_true_claim_is_printed_with_a_tick_and_counted(capsys):
    claims = Claims("02", "replay")
    claims.expect("node2 does not list uber-net yet", True)
    assert capsys.readouterr().out == "✓ node2 does not list uber-net yet\n"
    assert claims.summary() == "claims checked: 1, all true"


def test_a_false_claim_fails_naming_the_lesson_the_sentence_and_what_was_seen():
    claims = Claims("04", "live")
    with pytest.raises(ClaimError) as caught:
        claims.expect("Docker answers that the network cannot be found", False,
                      seen="error creating external connectivity network")
    message = str(caught.value)
    assert message.startswith("lesson 04 (live): the text says 'Docker answers that the network cannot be found'")
    assert "it shows: error creating external connectivity network" in message
    assert claims.checked == []


def test_a_claim_error_fails_a_notebook_cell_like_an_assertion():
    assert issubclass(ClaimError, AssertionError)


def test_numpy_booleans_count_as_true_and_false():
    import numpy
    claims = Claims()
    claims.expect("a numpy true holds", numpy.bool_(True))
    with pytest.raises(ClaimError):
        claims.expect("a numpy false does not", numpy.bool_(False))


def test_a_condition_that_raises_is_a_failed_claim_not_a_crash():
    claims = Claims("02")
    with pytest.raises(ClaimError, match="KeyError"):
        claims.expect("uber-net is listed", lambda: {}["uber-net"])


def test_an_empty_claim_is_refused():
    with pytest.raises(UsageError, match="sentence"):
        Claims().expect("  ", True)


def test_output_claims_look_at_stdout_and_stderr():
    result = Result("node2", "docker container start abc", "", "Error response from daemon: network x not found\n", 1)
    claims = Claims("04")
    claims.expect_output(result, "Docker answers that the network is not found", contains="not found",
                         lacks="address pool")
    with pytest.raises(ClaimError) as caught:
        claims.expect_output(result, "Docker answers with the address-pool error", contains="address pool")
    assert "lacks 'address pool'" in str(caught.value)
    assert "`docker container start abc` on node2 printed" in str(caught.value)


def test_one_of_accepts_exactly_the_listed_outcomes():
    claims = Claims("04")
    claims.expect_one_of("the answer is one of the two seen", "network-not-found",
                         ("address-pool", "network-not-found"))
    with pytest.raises(ClaimError, match="'no-such-container', not one of"):
        claims.expect_one_of("the answer is one of the two seen", "no-such-container",
                             ("address-pool", "network-not-found"))


def test_long_outputs_are_cut_in_the_error():
    with pytest.raises(ClaimError) as caught:
        Claims().expect("short", False, seen="x" * 5000)
    assert len(str(caught.value)) < 800


def test_the_runner_reads_the_count_back_from_what_the_lesson_printed():
    claims = Claims()
    claims.expect("one", True)
    claims.expect("two", True)
    printed = "✓ one\n✓ two\n" + claims.summary() + "\nlesson 02 closed\n"
    assert claims_checked(printed) == 2
    assert claims_checked("lesson 02 closed\n") is None
