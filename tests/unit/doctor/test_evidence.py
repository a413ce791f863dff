"""Evidence is what ran: every `[node]$ command` a finding quotes ran on that node, and every
line under it is a line that command printed."""
import json

import pytest

from evidence import assert_evidence_is_what_ran
from swarmlab.doctor import diagnose
from swarmlab.doctor.facts import Facts
from swarmlab.errors import EvidenceError

from .cases import CASE_NAMES, CASES, facts


@pytest.mark.parametrize("case", CASE_NAMES)
def test_every_evidence_is_a_command_that_ran_and_lines_it_printed(case):
    gathered = facts(case)
    assert gathered.manager_facts.commands, "facts captured before commands were recorded: run capture.py"
    assert_evidence_is_what_ran(gathered, diagnose(gathered))
    verbose = diagnose(gathered, verbose=True)  # each probe script quoted whole, as it ran
    assert_evidence_is_what_ran(gathered, verbose)
    assert not verbose["evidence"].str.contains("<probe script: ").any()


def test_evidence_needs_the_command_that_ran():
    data = json.loads((CASES / "gossip-blocked.json").read_text())
    del data["nodes"]["node1"]["commands"]["probes"]  # as facts saved before the probe scripts were recorded
    with pytest.raises(EvidenceError, match="no command recorded for the probes section of node1"):
        diagnose(Facts.from_dict(data))


def test_evidence_refuses_a_line_its_command_did_not_print():
    node1 = facts("healthy").nodes["node1"]
    with pytest.raises(EvidenceError, match="not in the output of `cat /etc/resolv.conf` on node1"):
        node1.shown("resolv", ["nameserver 192.0.2.99 (never printed)"])
