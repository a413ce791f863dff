"""The `swarmlab` command."""
from __future__ import annotations

import argparse
import signal
import sys

from . import cli_connect, cli_drill, cli_lab, cli_lessons, cli_story
from .check import OPTIONAL, can_run_lab, run_checks
from .errors import SwarmlabError


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C, so a half-built lab rolls back."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args) or 0
    except SwarmlabError as exc:
        print(f"swarmlab: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file or folder that changed under us: one line, not a traceback
        print(f"swarmlab: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("swarmlab: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("swarmlab: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swarmlab", description="Learn Docker Swarm networking by doing it for real.")
    sub = p.add_subparsers(metavar="COMMAND")

    c = sub.add_parser("check", help="can this machine run the live lab? what to install")
    c.set_defaults(func=cmd_check)

    labsub = cli_lab.add_commands(sub)
    cli_connect.add_commands(sub)
    cli_story.add_commands(sub, labsub)
    cli_lessons.add_commands(sub)
    cli_drill.add_commands(sub)
    return p


def cmd_check(args) -> int:
    checks = run_checks()
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok " if c.ok else ("-- " if c.name in OPTIONAL else "NO ")
        print(f"{mark} {c.name:<{width}}  {c.detail}" + (f"\n    -> {c.fix}" if c.fix else ""))
    ok = can_run_lab(checks)
    print("\nThis machine can run the live lab." if ok else
          "\nThis machine cannot run the live lab yet; fix the lines marked NO, or use replay.")
    if any(not c.ok for c in checks if c.name in OPTIONAL):
        print("Lines marked -- are optional: the lab runs without them.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
