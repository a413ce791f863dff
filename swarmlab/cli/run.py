"""`swarmlab run`: one command on the nodes of any target (lab, inventory, recording)."""
from __future__ import annotations

import argparse
import sys

from .. import staging
from ..cluster import connect
from ..errors import SwarmlabError


def add_commands(subparsers) -> None:
    run = subparsers.add_parser(
        "run", help="run a command on the nodes of a lab, an inventory of real hosts, or a recording",
        description="Run a command on every node (or one) of TARGET: a lab name, an inventory "
                    "(.toml/.yaml/.yml, real hosts over SSH) or a recording (.json, replayed). "
                    "Options go before TARGET, e.g. swarmlab run -n node1 hosts.toml -- docker node ls. "
                    "Exits with the first non-zero exit code.")
    run.add_argument("target", help="lab name, inventory file or recording file")
    run.add_argument("--node", "-n", action="append", default=[], metavar="NODE",
                     help="only this node (repeatable; default: every node)")
    run.add_argument("--via", choices=("local", "ssh"), default=None,
                     help="for a lab: through namespaces (root) or over SSH (default: local for root)")
    run.add_argument("--timeout", type=float, default=120, help="seconds per command (default 120)")
    run.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    run.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if command[:1] and command[0].startswith("-"):
        raise SwarmlabError(f"options go before TARGET: swarmlab run {command[0]} ... {args.target} -- COMMAND")
    if not command:
        raise SwarmlabError("no command given; e.g. swarmlab run hosts.toml -- docker node ls")
    text = command[0] if len(command) == 1 else command
    if note := staging.staged_note(args.target):  # a lesson killed before it put the hosts back
        print(f"swarmlab: note: {note}", file=sys.stderr)
    with connect(args.target, via=args.via) as cluster:
        nodes = [cluster.node(n) for n in args.node] or list(cluster)
        worst = 0
        for node in nodes:
            result = node.run(text, timeout=args.timeout)
            sys.stdout.write(result.terminal())
            sys.stdout.flush()
            worst = worst or result.exit_code
    return worst
