"""A finding, and the findings as text.

A finding has a severity (error / warning / info), the node, the check, the evidence
(the command and the lines that prove it), the cause in plain words, a fix (a command),
and a link to Docker's documentation (one of the DOC_ pages). The doctor's findings are a
DataFrame with these columns, worst first; `report` writes them for a terminal.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

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


def worst(findings: pd.DataFrame) -> str:
    """'error', 'warning' or 'info' (or '' when there are no findings)."""
    for severity in SEVERITIES:
        if (findings["severity"] == severity).any():
            return severity
    return ""


def report(findings: pd.DataFrame, min_severity: str = "info") -> str:
    """The findings as text for a terminal."""
    keep = SEVERITIES[:SEVERITIES.index(min_severity) + 1]
    blocks = []
    for _, f in findings[findings["severity"].isin(keep)].iterrows():
        block = [f"{f['severity'].upper():<7} {f['node']}: {f['check']}",
                 *("    " + line for line in f["evidence"].splitlines()),
                 f"  cause: {f['cause']}"]
        if f["fix"]:
            block.append(f"  fix:   {f['fix']}")
        if f["doc"]:
            block.append(f"  docs:  {f['doc']}")
        blocks.append("\n".join(block))
    counts = findings["severity"].value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}{'s' if counts.get(s, 0) != 1 else ''}" for s in SEVERITIES)
    return "\n\n".join(blocks + [summary])
