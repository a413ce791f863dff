"""`swarmlab check`: can this machine run the live lab, and what to install."""
from __future__ import annotations

import os

from ..check import OPTIONAL, can_run_lab, run_checks
from ..userns_check import userns_checks


def add_commands(subparsers) -> None:
    c = subparsers.add_parser("check", help="can this machine run the live lab? what to install")
    c.add_argument("--user", default=None, metavar="NAME",
                   help="for the lines on a lab with no root: check this user's subordinate ids (as root)")
    c.set_defaults(func=cmd_check)


def _print(checks, optional=OPTIONAL) -> None:
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok " if c.ok else ("-- " if c.name in optional else "NO ")
        print(f"{mark} {c.name:<{width}}  {c.detail}" + (f"\n    -> {c.fix}" if c.fix else ""))


def cmd_check(args) -> int:
    checks = run_checks()
    _print(checks)
    whose = f"{args.user}'s" if args.user else "a plain user's" if os.geteuid() == 0 else "your own"
    print(f"\nWhat a lab inside {whose} user namespaces needs (no root, no docker group; each NO with the "
          "one-time step an administrator takes" + ("; --user NAME checks a user's ids" if whose[0] == "a" else "")
          + "):")
    _print(userns_checks(args.user))
    ok = can_run_lab(checks)
    print("\nThis machine can run the live lab." if ok else
          "\nThis machine cannot run the live lab yet; fix the lines marked NO, or use replay.")
    if any(not c.ok for c in checks if c.name in OPTIONAL):
        print("Lines marked -- are optional: the lab runs without them.")
    return 0 if ok else 1
