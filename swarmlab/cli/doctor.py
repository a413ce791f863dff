"""`swarmlab doctor` and the repair it suggests, `swarmlab fix gwbridge`."""
from __future__ import annotations

import json
import sys
import time

from .. import staging
from ..cluster import connect
from ..doctor import diagnose, gather
from ..doctor.facts import Facts
from ..doctor.findings import _say, overview, report, worst
from ..doctor.joining import settling
from ..errors import SwarmlabError
from ..fix import fix_gwbridge
from ..i18n import LANGUAGES


WAIT = 120  # seconds `--wait` waits at most
WAIT_STEP = 3  # seconds between two runs while it waits


def add_commands(subparsers) -> None:
    doc = subparsers.add_parser(
        "doctor", help="check a swarm's nodes and say what is wrong, with evidence and a fix",
        description="Checks docker_gwbridge, address pools, task errors, the daemon log, swarm ports, "
                    "kernel support, iptables chains, stale vxlan devices and MTU on every node. "
                    "Exits 0 when nothing is worse than a warning, 1 on an error.")
    where = doc.add_mutually_exclusive_group()
    where.add_argument("--lab", default=None, metavar="NAME", help="a local lab that is up (default: swarmlab)")
    where.add_argument("--inventory", default=None, metavar="FILE", help="real hosts (.toml/.yaml) over SSH")
    doc.add_argument("--json", action="store_true", help="every finding as JSON records (probe scripts in full)")
    doc.add_argument("--all", action="store_true",
                     help="print every finding in full (default: the errors and warnings, what is still settling "
                          "after recent joins, the infos counted)")
    doc.add_argument("--verbose", action="store_true",
                     help="quote each probe script whole in the evidence (default: named in one line)")
    doc.add_argument("--wait", nargs="?", type=float, const=WAIT, default=0, metavar="SECONDS",
                     help="right after nodes join: run the checks again every few seconds until nothing is "
                          f"settling any more, at most SECONDS (default {WAIT:.0f})")
    doc.add_argument("--lang", default=None, choices=list(LANGUAGES),
                     help="the language of the findings' causes and fixes and of the errors (default: "
                          "SWARMLAB_LANG, else the locale); the evidence stays as Docker printed it")
    doc.set_defaults(func=cmd_doctor)

    fix = subparsers.add_parser("fix", help="repairs the doctor suggests")
    fixsub = fix.add_subparsers(metavar="WHAT")
    gw = fixsub.add_parser("gwbridge", help="create a node's missing docker_gwbridge, modelled on the manager's")
    gw.add_argument("--lab", default="swarmlab", metavar="NAME", help="lab name (default: swarmlab)")
    gw.add_argument("--subnet", default=None,
                    help="use this subnet (default: the manager's if it is free on the node, else a free one)")
    gw.add_argument("node")
    gw.set_defaults(func=cmd_fix_gwbridge)


def cmd_doctor(args) -> int:
    target = args.inventory or args.lab or "swarmlab"
    if note := staging.staged_note(target):  # a lesson killed before it put the hosts back
        print(f"swarmlab: note: {note}", file=sys.stderr)
    with connect(target) as cluster:
        facts, findings = examine(cluster, verbose=args.verbose or args.json, wait=args.wait)
    if args.json:
        print(json.dumps(findings.to_dict(orient="records"), indent=2, ensure_ascii=False))
    else:
        print(report(findings) if args.all else default_report(facts, findings))
    return 1 if worst(findings) == "error" else 0


def examine(cluster, verbose: bool = False, wait: float = 0):
    """The facts and the findings; with `wait`, the checks run again (every WAIT_STEP s, for at most
    `wait` s) while the overview would leave warnings out as still settling, each time saying so on stderr."""
    started = time.monotonic()
    while True:
        facts = gather(cluster)
        findings = diagnose(facts, verbose=verbose)
        state = settling(facts)
        waited = time.monotonic() - started
        if not wait or not state.left_out(findings).any() or waited + WAIT_STEP > wait:
            return facts, findings
        print(_say(f"still settling after {waited:.0f} s: {state.waiting_for(findings)}; "
                   f"the doctor looks again in {WAIT_STEP} s"), file=sys.stderr)
        time.sleep(WAIT_STEP)


def default_report(facts: Facts, findings) -> str:
    """What `swarmlab doctor` prints without --all (benchmarks/doctor.py counts its lines)."""
    return overview(findings, settling(facts))


def cmd_fix_gwbridge(args) -> int:
    with connect(args.lab) as cluster:
        node = cluster.node(args.node)
        if node is cluster.manager:
            raise SwarmlabError(f"{args.node} is the manager, the model to copy; name the node that lacks "
                                "docker_gwbridge (see `swarmlab doctor`)")
        print(fix_gwbridge(node, like=cluster.manager, subnet=args.subnet).terminal(), end="")
    print(_say(f"next, as in the article: `docker service rm` and `docker service create` on {cluster.manager.name}, "
               "then `swarmlab doctor`"), file=sys.stderr)
    return 0
