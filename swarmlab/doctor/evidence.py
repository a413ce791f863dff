"""Evidence: what a finding quotes from the facts, and how it is read back.

A finding's evidence is blocks of `[node]$ command` (the exact string that ran there, as
NodeFacts.shown writes it) and lines that command printed, then `# summary: ` lines. A
probe script (several lines of bash) is then named in one line, `[node]$ <probe script: ...>`
(`brief`); the verbose evidence quotes it whole. Here: line filters, the lines of one network
in `docker network inspect`, probe lines quoted under the script that printed them and said
in words, `brief`, and `evidence_blocks`, which splits an evidence text back into what ran
and what it printed.
"""
from __future__ import annotations

import re
import shlex

from .. import probes
from .facts import PROBE_SECTIONS, SUMMARY, Facts, NodeFacts, prompt


def containing(*needles: str):
    """A line filter for NodeFacts.shown: lines that contain any of `needles`."""
    return lambda line: any(needle in line for needle in needles)


def network_name_line(line: str) -> bool:
    """A network's own "Name" line in `docker network inspect` output (not an endpoint's)."""
    return line.startswith('        "Name": ')


def network_block(f: NodeFacts, name: str) -> list[str]:
    """The lines of network `name`'s object in the node's `docker network inspect` output."""
    lines = f.sections.get("networks", "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f'"Name": "{name}",'), None)
    if start is None:
        return []
    indent = len(lines[start]) - len(lines[start].lstrip()) - 4  # the object's own braces
    while start > 0 and not (lines[start].strip() == "{" and len(lines[start]) - 1 == indent):
        start -= 1
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip().startswith("}") and len(lines[i]) - len(lines[i].lstrip()) == indent),
               len(lines) - 1)
    return lines[start:end + 1]


def network_lines(f: NodeFacts, name: str, *needles: str) -> list[str]:
    """The lines of network `name` in the node's `docker network inspect` that contain any of `needles`."""
    return [line for line in network_block(f, name) if any(n in line for n in needles)]


# A probe quoted in evidence: (node, section, the outcomes whose lines to show, summary lines).
Quote = tuple[str, str, list[probes.Outcome], list[str]]


def probe_evidence(facts: Facts, quotes: list[Quote]) -> str:
    """One block per node and section: the probe script that ran there, the lines it printed
    for the quoted outcomes, then what they say (summaries), in the order quoted."""
    blocks: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for node, section, outcomes, summary in quotes:
        lines, notes = blocks.setdefault((node, section), ([], []))
        lines += [o.line for o in outcomes if o.line not in lines]
        notes += summary
    return "\n".join(facts.nodes[node].shown(section, lines, notes)
                     for (node, section), (lines, notes) in blocks.items())


def answered_evidence(facts: Facts, quotes: list[Quote], summary: str, nodes: int = 3) -> str:
    """Evidence that probes answered: the lines of the first `nodes` nodes (each block under
    the node's own probe script), then `summary` with how many nodes were left out."""
    shown = list(dict.fromkeys(node for node, *_ in quotes))[:nodes]
    left = len({node for node, *_ in quotes}) - len(shown)
    more = f" ({left} more node{'s' if left > 1 else ''} answered alike, not shown)" if left else ""
    return probe_evidence(facts, [q for q in quotes if q[0] in shown]) + f"\n{SUMMARY}{summary}{more}"


def said(o: probes.Outcome) -> str:
    """A probe line in words (for a summary)."""
    tries = f"({o.tries} {'try' if o.tries == 1 else 'tries'})"
    if o.kind == "tcp":
        return f"connect to {o.address}:{o.port}/tcp: {o.outcome} {tries}"
    df = f", don't fragment (-M do -s {o.size})" if o.df else ""
    return f"ping {o.address} with {o.size} bytes of data{df}: {o.outcome} {tries}"


def script_line(f: NodeFacts, section: str) -> str:
    """What stands for a probe script in brief evidence: what it probes and how long it is."""
    lines = len(f.command(section).splitlines())
    return f"<probe script: {PROBE_SECTIONS[section]}, {lines} lines; --verbose shows it>"


def probe_scripts(facts: Facts) -> dict[tuple[str, str], str]:
    """(node, probe script) -> the line that names it (script_line), for every script of several lines."""
    return {(f.name, f.commands[section]): script_line(f, section) for f in facts.nodes.values()
            for section in PROBE_SECTIONS if "\n" in f.commands.get(section, "")}


def brief(text: str, scripts: dict[tuple[str, str], str]) -> str:
    """Evidence with each probe script of `scripts` (probe_scripts) named in one line instead of
    quoted whole; every other line as it was."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        match = re.match(r"\[([^\]]+)\]\$ (.*)", lines[i])
        if match and scripts:
            command, j = match.group(2), i + 1
            while j < len(lines) and not _complete(command) and (lines[j] == ">" or lines[j].startswith("> ")):
                command += "\n" + lines[j][2:]
                j += 1
            if (match.group(1), command) in scripts:
                out.append(prompt(match.group(1), scripts[(match.group(1), command)]))
                i = j
                continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def evidence_blocks(text: str) -> list[tuple[str, str, list[str]]]:
    """(node, command, output lines) of each `[node]$ command` block of an evidence text;
    summary lines are left out. What tests check against what really ran."""
    blocks = []
    for line in text.splitlines():
        match = re.match(r"\[([^\]]+)\]\$ (.*)", line)
        if blocks and not blocks[-1][2] and not _complete(blocks[-1][1]) and (line == ">" or line.startswith("> ")):
            blocks[-1][1] += "\n" + line[2:]  # the command goes on: a quote is still open
        elif match:
            blocks.append([match.group(1), match.group(2), []])
        elif blocks and not line.startswith(SUMMARY):
            blocks[-1][2].append(line)
    return [tuple(block) for block in blocks]


def _complete(command: str) -> bool:
    """False while a quote of `command` is open (a shell would prompt `> ` for more)."""
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True
