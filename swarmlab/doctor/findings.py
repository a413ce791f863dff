"""A finding, and the findings as text.

A finding has a severity (error / warning / info), the node, the check, the evidence
(the command and the lines that prove it), the cause in plain words, a fix (a command),
and a link to Docker's documentation (one of the DOC_ pages). The doctor's findings are a
DataFrame with these columns, worst first; `report` writes every one for a terminal, and
`overview` what `swarmlab doctor` prints: a screen for a healthy swarm.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import pandas as pd

from ..i18n import joint, language, translate

# Docker's pages a finding links to.
DOC_OVERLAY = "https://docs.docker.com/engine/network/drivers/overlay/"
DOC_SWARM_NETWORKING = "https://docs.docker.com/engine/swarm/networking/"
DOC_DAEMON_CONFIG = "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file"
DOC_PORTS = "https://docs.docker.com/engine/swarm/swarm-tutorial/#open-protocols-and-ports-between-the-hosts"
DOC_FIREWALL = "https://docs.docker.com/engine/network/packet-filtering-firewalls/"
DOC_SERVICES = "https://docs.docker.com/engine/swarm/how-swarm-mode-works/services/"

SEVERITIES = ("error", "warning", "info")  # worst first
COLUMNS = ["severity", "node", "check", "evidence", "cause", "fix", "doc"]


@dataclass
class Finding:
    """One thing the doctor found: a row of the findings (COLUMNS)."""

    severity: str
    node: str
    check: str
    evidence: str
    cause: str
    fix: str = ""
    doc: str = ""


def in_language(findings: pd.DataFrame, lang: str | None = None) -> pd.DataFrame:
    """The findings with their cause and fix said in `lang` (default: swarmlab.i18n.language()), from
    the doctor catalog; severity, node, check and evidence (what Docker printed) as they were."""
    lang = lang or language()
    if lang == "en" or findings.empty:
        return findings
    said = findings.copy()
    for column in ("cause", "fix"):
        said[column] = [translate(text, "doctor", lang) if text else text for text in said[column]]
    return said


def _say(text: str) -> str:
    """A word of the report's own (its labels), in the language swarmlab speaks."""
    return translate(text, "doctor")


def worst(findings: pd.DataFrame) -> str:
    """'error', 'warning' or 'info' (or '' when there are no findings)."""
    for severity in SEVERITIES:
        if (findings["severity"] == severity).any():
            return severity
    return ""


def report(findings: pd.DataFrame, min_severity: str = "info") -> str:
    """The findings as text for a terminal, each in full."""
    keep = SEVERITIES[:SEVERITIES.index(min_severity) + 1]
    blocks = [_block(f) for _, f in findings[findings["severity"].isin(keep)].iterrows()]
    return "\n\n".join(blocks + [_counts(findings)])


# Problems of one severity and check that `overview` shows in full; the others it names in a line.
PER_CHECK = 3
WIDTH = 100  # the overview's own lines are wrapped at this width (a finding's are not: fixes are commands)


def overview(findings: pd.DataFrame, settling=None) -> str:
    """What `swarmlab doctor` prints: the errors and warnings in full (PER_CHECK of each severity
    and check, the others named in a line), what is still settling after recent joins instead of
    its warnings (`settling`: joining.Settling), the infos in one line, and the counts."""
    left_out = settling.left_out(findings) if settling else pd.Series(False, index=findings.index)
    blocks, more = [], {}
    for _, f in findings[(findings["severity"] != "info") & ~left_out].iterrows():
        kind = (f["severity"], f["check"])
        more.setdefault(kind, [])
        if len(more[kind]) < PER_CHECK:
            blocks.append(_block(f))
        more[kind].append(f["node"])
    lines = [_more(severity, check, nodes) for (severity, check), nodes in more.items() if len(nodes) > PER_CHECK]
    if left_out.any():
        lines.append(settling.say(findings))
    infos = findings[findings["severity"] == "info"]
    if len(infos):
        groups = joint("; ").join(f"{', '.join(sorted(checks))} ({where})" for where, checks in _where(infos).items())
        lines.append(_say(f"infos: {groups}. --all prints them"))
    left = int(left_out.sum())
    counts = _counts(findings) + (_say(f" ({left} left out: still settling)") if left else "")
    text = [_wrap(line) for line in lines + [counts]]
    return "\n\n".join(blocks + ["\n".join(text)])


def _more(severity: str, check: str, nodes: list[str]) -> str:
    """The line naming the problems of one severity and check that the overview leaves out."""
    n, names = len(nodes) - PER_CHECK, some_names(nodes[PER_CHECK:])
    if severity == "error":
        return _say(f"... and {n} more {check} errors ({names}): --all prints them")
    return _say(f"... and {n} more {check} warnings ({names}): --all prints them")


def _wrap(line: str) -> str:
    """A line of the overview wrapped at WIDTH, a `command` in it kept on one line."""
    kept = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", NBSP), line)
    return textwrap.fill(kept, WIDTH, subsequent_indent="  ", break_on_hyphens=False,
                         break_long_words=False).replace(NBSP, " ")


NBSP = "\u00a0"  # textwrap breaks lines at ASCII whitespace only


def _block(f) -> str:
    block = [f"{f['severity'].upper():<7} {f['node']}: {f['check']}",
             *("    " + line for line in f["evidence"].splitlines()),
             _say("  cause: ") + f["cause"]]
    if f["fix"]:
        block.append(_say("  fix:   ") + f["fix"])
    if f["doc"]:
        block.append(_say("  docs:  ") + f["doc"])
    return "\n".join(block)


def _counts(findings: pd.DataFrame) -> str:
    counts = findings["severity"].value_counts()
    return joint(", ").join(counted(int(counts.get(s, 0)), s) for s in SEVERITIES)


def counted(n: int, severity: str, check: str = "") -> str:
    """'1 error', '29 docker_gwbridge warnings': findings of one severity (about one check) counted,
    in the language swarmlab speaks (each form a sentence of the doctor catalog)."""
    one = n == 1
    if check:
        said = {"error": _say(f"{n} {check} error" if one else f"{n} {check} errors"),
                "warning": _say(f"{n} {check} warning" if one else f"{n} {check} warnings"),
                "info": _say(f"{n} {check} info" if one else f"{n} {check} infos")}
    else:
        said = {"error": _say(f"{n} error" if one else f"{n} errors"),
                "warning": _say(f"{n} warning" if one else f"{n} warnings"),
                "info": _say(f"{n} info" if one else f"{n} infos")}
    return said[severity]


def _where(findings: pd.DataFrame) -> dict[str, list[str]]:
    """Where each check found what it found: 'all nodes' (a check of the whole swarm), one node's
    name, or how many nodes -> the checks, in the order first found."""
    where: dict[str, list[str]] = {}
    for check, rows in findings.groupby("check", sort=False):
        nodes = {name for node in rows["node"] for name in node.split(", ")}
        label = (_say("all nodes") if nodes == {"all"} else next(iter(nodes)) if len(nodes) == 1
                 else _say(f"{len(nodes)} nodes"))
        where.setdefault(label, []).append(check)
    return where


def some_names(nodes: list[str], most: int = 5) -> str:
    """The first `most` names, then '...' when there are more."""
    return ", ".join(nodes[:most]) + (", ..." if len(nodes) > most else "")
