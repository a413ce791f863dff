"""`swarmlab doctor` and the repair it suggests, `swarmlab fix gwbridge`."""
from __future__ import annotations

import json
import sys

from ..cluster import connect
from ..doctor import doctor
from ..doctor.findings import report, worst
from ..errors import SwarmlabError
from ..fix import fix_gwbridge


def add_commands(subparsers) -> None:
    doc = subparsers.add_parser(
        "doctor", help="check a swarm's nodes and say what is wrong, with evidence and a fix",
        description="Checks docker_gwbridge, address pools, task errors, the daemon log, swarm ports, "
                    "kernel support, iptables chains, stale vxlan devices and MTU on every node. "
                    "Exits 0 when nothing is worse than a warning, 1 on an error.")
    where = doc.add_mutually_exclusive_group()
    where.add_argument("--lab", default=None, metavar="NAME", help="a local lab that is up (default: swarmlab)")
    where.add_argument("--inventory", default=None, metavar="FILE", help="real hosts (.toml/.yaml) over SSH")
    doc.add_argument("--json", action="store_true", help="the findings as JSON records (probe scripts in full)")
    doc.add_argument("--all", action="store_true", help="also print the info findings (default: warnings and worse)")
    doc.add_argument("--verbose", action="store_true",
                     help="quote each probe script whole in the evidence (default: named in one line)")
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
    with connect(target) as cluster:
        findings = doctor(cluster, verbose=args.verbose or args.json)
    if args.json:
        print(json.dumps(findings.to_dict(orient="records"), indent=2))
    else:
        print(report(findings) if args.all else default_report(findings))
    return 1 if worst(findings) == "error" else 0


def default_report(findings) -> str:
    """What `swarmlab doctor` prints without --all (benchmarks/doctor.py counts its lines)."""
    return report(findings, "warning")


def cmd_fix_gwbridge(args) -> int:
    with connect(args.lab) as cluster:
        node = cluster.node(args.node)
        if node is cluster.manager:
            raise SwarmlabError(f"{args.node} is the manager, the model to copy; name the node that lacks "
                                "docker_gwbridge (see `swarmlab doctor`)")
        print(fix_gwbridge(node, like=cluster.manager, subnet=args.subnet).terminal(), end="")
    print(f"next, as in the article: `docker service rm` and `docker service create` on {cluster.manager.name}, "
          "then `swarmlab doctor`", file=sys.stderr)
    return 0
