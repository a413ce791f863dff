"""The facts: sections split from one node's answer, a section's JSON read past what followed it,
and the log section read from the journal where there is one."""
import json
import subprocess

from swarmlab.doctor import diagnose
from swarmlab.doctor.facts import JOURNAL_SECTION, Facts, split_sections

from .cases import CASES, facts, problems

INGRESS_MARK_TEXT = "Failed creating ingress network"


def test_split_sections():
    text = "noise\n@@@ info\n{}\n@@@ routes\n[]\nline two\n@@@ empty\n"
    assert split_sections(text) == {"info": "{}", "routes": "[]\nline two", "empty": ""}


def test_a_network_that_vanished_between_ls_and_inspect_hides_none_of_the_others():
    """During the article's failure a worker creates and drops the overlay as its task retries:
    `docker network inspect $(docker network ls -q)` then prints the others' JSON and an error
    for the one gone (stderr is in the section). The doctor reads the networks it found."""
    data = json.loads((CASES / "pools-exhausted.json").read_text())
    node2 = data["nodes"]["node2"]["sections"]
    node2["networks"] += "Error: No such network: jsyo2scg27d3luvdyp5agq6uc\n"
    damaged = problems(diagnose(Facts.from_dict(data)))
    assert list(zip(damaged["node"], damaged["check"], damaged["severity"])) == \
        list(zip(*(problems(diagnose(facts("pools-exhausted")))[c] for c in ("node", "check", "severity"))))
    pools_finding = damaged.set_index(["node", "check"]).loc[("node2", "address pools")]
    assert "proj0_default" in pools_finding["evidence"] and "docker network prune" in pools_finding["fix"]


def test_the_log_section_reads_the_journal(tmp_path):
    """Runs the doctor's log command with a `journalctl` that prints a journal's lines."""
    mark = ('time="2026-11-28T03:45:28Z" level=error msg="Failed creating ingress network: error creating '
            'external connectivity network: could not find an available ..."')
    journalctl = tmp_path / "journalctl"
    journalctl.write_text(f"#!/bin/sh\n[ \"$*\" = '-u docker --no-pager -o cat -n 5000' ] || exit 1\n"
                          f"echo 'level=info msg=\"other\"'\necho '{mark}'\n")
    journalctl.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    ran = subprocess.run(["bash", "-c", JOURNAL_SECTION["log"]], capture_output=True, text=True, env=env)
    assert ran.stdout.splitlines() == [mark]
    journalctl.write_text("#!/bin/sh\nexit 1\n")  # no journal: nothing, and no error
    ran = subprocess.run(["bash", "-c", JOURNAL_SECTION["log"]], capture_output=True, text=True, env=env)
    assert all(INGRESS_MARK_TEXT in line for line in ran.stdout.splitlines())
