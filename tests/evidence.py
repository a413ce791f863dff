"""What a doctor's evidence may show: only commands it ran, and lines they printed."""
from swarmlab.doctor import SUMMARY, Facts, evidence_blocks


# Checks whose evidence still names a command of its own making (the network probes, and the
# ip_vs finding that quotes them): not yet held to what ran. Every other check is.
NOT_YET_EXACT = ("reach ", "swarm ports", "underlay", "path mtu", "ping", "overlay", "kernel limits: ip_vs",
                 "advertise")


def assert_evidence_is_what_ran(gathered: Facts, findings) -> None:
    """Every `[node]$ command` in every finding (but those of NOT_YET_EXACT) is a command the
    doctor ran on that node, and every line under it is a line of that command's output."""
    assert len(findings), "no findings to check"
    for _, finding in findings[~findings["check"].str.startswith(NOT_YET_EXACT)].iterrows():
        for node, command, lines in evidence_blocks(finding["evidence"]):
            facts = gathered.nodes[node]
            ran = {facts.command(section): facts.sections.get(section, "") for section in facts.commands}
            assert command in ran, f"{finding['check']}: `{command}` is not a command the doctor ran on {node}"
            output = ran[command].splitlines()
            for line in lines:
                assert line in output, f"{finding['check']}: {line!r} is not in the output of `{command}` on {node}"
        body = [line for line in finding["evidence"].splitlines() if not line.startswith(SUMMARY)]
        assert not body or body[0].startswith("["), f"{finding['check']}: evidence starts without a command"
