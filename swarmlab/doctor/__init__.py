"""The doctor: look at every node of a swarm and say what is wrong, with proof.

    >>> swarmlab.doctor(cluster)          # a DataFrame, worst first

Each finding has a severity (error / warning / info), the node, the check, the
evidence (the command and the lines that prove it; a probe script named in one line,
quoted whole with verbose=True), the cause in plain words, a fix (a command), and a link
to Docker's documentation. `report` writes them for a terminal, `overview` as
`swarmlab doctor` does: the problems, what is still settling after joins, the rest counted.

Every node answers ONE shell script, all of them at once, and nothing is changed on
any node: reachability is tested with plain TCP connects and pings, and blocked UDP
ports are found in the node's iptables rules.

The checks are functions of the gathered facts only, so they can be tested on
captured outputs without a lab (tests/unit/doctor/). Where each part lives:

    gathering.py   one script per node, run on all of them at once, then the pings (gather)
    facts.py       each section's command, and NodeFacts / Facts, which read what they printed
    evidence.py    what a finding quotes: the command that ran and lines it printed
    findings.py    Finding, the severities, the findings as text (report, overview, worst)
    joining.py     has a node finished joining the swarm, what is still settling (settling)
  the checks, one module per family:
    daemon.py      the daemon answers, swarm membership, hostnames, its log, its iptables chains
    gwbridge.py    docker_gwbridge and the ingress sandbox
    pools.py       the local address pools
    tasks.py       task errors, by Docker's own error
    ports.py       the swarm's ports: TCP probes, firewall rules, the daemons' gossip
    traffic.py     pings on the underlay and over the ingress overlay
    networks.py    advertise address, overlay subnets, MTU, leftover VXLAN devices
    kernel.py      kernel modules, and what the swarm uses that the kernel lacks

This module runs every check (CHECKS, diagnose, doctor) and hands on the names users import.
"""
from __future__ import annotations

import pandas as pd

from ..cluster import as_cluster
from .daemon import (check_daemons, check_docker_chains, check_dockerd_log, check_duplicate_hostnames,
                     check_swarm_membership)
from .evidence import brief, evidence_blocks, probe_scripts
from .facts import (DAEMON_LOG_SECTION, JOURNAL_SECTION, MANAGER_SECTIONS, NODE_SECTIONS, SUMMARY, Facts, NodeFacts,
                    prompt, split_sections)
from .findings import COLUMNS, SEVERITIES, Finding, in_language, overview, report, worst
from .gathering import gather, node_facts, node_script, ping_commands, ping_plan, probe_targets
from .gwbridge import check_gwbridge
from .joining import Settling, settling
from .kernel import check_kernel, check_kernel_limits, kernel_table
from .networks import check_advertise_address, check_mtu, check_overlay_subnets, check_stale_vxlan
from .pools import check_address_pools
from .ports import blocking_rules, check_gossip, check_swarm_ports
from .tasks import check_task_errors, failure_mode
from .traffic import check_overlay, check_probes_ran, check_underlay

CHECKS = [check_daemons, check_swarm_membership, check_gwbridge, check_address_pools, check_task_errors,
          check_dockerd_log, check_probes_ran, check_swarm_ports, check_underlay, check_overlay, check_gossip,
          check_advertise_address, check_duplicate_hostnames, check_overlay_subnets, check_kernel,
          check_kernel_limits, check_docker_chains, check_stale_vxlan, check_mtu]

# What `from swarmlab.doctor import *` gives, and what the face hands on from the modules.
__all__ = ["CHECKS", "diagnose", "doctor", "report", "overview", "worst", "settling", "Settling", "Finding",
           "SEVERITIES", "COLUMNS", "gather", "node_facts", "node_script", "ping_commands", "ping_plan",
           "probe_targets", "Facts", "NodeFacts", "NODE_SECTIONS", "MANAGER_SECTIONS", "JOURNAL_SECTION",
           "DAEMON_LOG_SECTION", "SUMMARY", "prompt", "split_sections", "evidence_blocks", "blocking_rules",
           "failure_mode", "kernel_table", *(check.__name__ for check in CHECKS)]


def diagnose(facts: Facts, verbose: bool = False) -> pd.DataFrame:
    """Run every check on gathered facts; a DataFrame of findings, worst first. Evidence names
    each probe script in one line; `verbose` quotes it whole, as it ran."""
    findings = [finding for check in CHECKS for finding in check(facts)]
    if not verbose:
        scripts = probe_scripts(facts)
        for finding in findings:
            finding.evidence = brief(finding.evidence, scripts)
    table = pd.DataFrame([vars(f) for f in findings], columns=COLUMNS)
    order = table["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    table = table.assign(_order=order).sort_values(["_order", "node"], kind="stable").drop(
        columns="_order").reset_index(drop=True)
    return in_language(table)  # cause and fix in the language swarmlab speaks (a zh lesson: Chinese)


def doctor(cluster, timeout: float = 20, verbose: bool = False) -> pd.DataFrame:
    """Check every node of a cluster (or a Lab) and return the findings, worst first
    (`verbose`: the probe scripts quoted whole in the evidence)."""
    return diagnose(gather(as_cluster(cluster), timeout=timeout), verbose=verbose)
