"""What a doctor's evidence may show: only commands it ran, and lines they printed."""
from swarmlab.doctor import SUMMARY, Facts, evidence_blocks
from swarmlab.doctor.evidence import script_line
from swarmlab.doctor.facts import PROBE_SECTIONS


def assert_evidence_is_what_ran(gathered: Facts, findings) -> None:
    """Every `[node]$ command` in every finding is a command the doctor ran on that node, or the
    line that names one of its probe scripts (brief evidence), every line under it is a line of
    that command's output, and every other line is a summary."""
    assert len(findings), "no findings to check"
    for _, finding in findings.iterrows():
        for node, command, lines in evidence_blocks(finding["evidence"]):
            facts = gathered.nodes[node]
            ran = {facts.command(section): facts.sections.get(section, "") for section in facts.commands}
            ran |= {script_line(facts, section): facts.sections.get(section, "") for section in PROBE_SECTIONS
                    if "\n" in facts.commands.get(section, "")}
            assert command in ran, f"{finding['check']}: `{command}` is not a command the doctor ran on {node}"
            output = ran[command].splitlines()
            for line in lines:
                assert line in output, f"{finding['check']}: {line!r} is not in the output of `{command}` on {node}"
        body = [line for line in finding["evidence"].splitlines() if not line.startswith(SUMMARY)]
        assert not body or body[0].startswith("["), f"{finding['check']}: evidence starts without a command"
