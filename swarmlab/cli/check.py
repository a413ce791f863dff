"""`swarmlab check`: can this machine run the live lab, and what to install."""
from __future__ import annotations

import os

from ..check import OPTIONAL, can_run_lab, run_checks
from ..i18n import translate
from ..userns_check import userns_checks


def _say(text: str) -> str:
    """A line of `swarmlab check` in the language swarmlab speaks (the cli catalog); commands,
    paths, package and sysctl names stay as they are inside it."""
    return translate(text, "cli")


def add_commands(subparsers) -> None:
    c = subparsers.add_parser("check", help="can this machine run the live lab? what to install")
    c.add_argument("--user", default=None, metavar="NAME",
                   help="for the lines on a lab with no root: check this user's subordinate ids (as root)")
    c.set_defaults(func=cmd_check)


def _print(checks, optional=OPTIONAL) -> None:
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok " if c.ok else ("-- " if c.name in optional else "NO ")
        print(f"{mark} {c.name:<{width}}  {_say(c.detail)}" + (f"\n    -> {_say(c.fix)}" if c.fix else ""))


def cmd_check(args) -> int:
    checks = run_checks()
    _print(checks)
    if args.user:
        print("\n" + _say(f"What a lab inside {args.user}'s user namespaces needs (no root, no docker group; "
                          "each NO with the one-time step an administrator takes):"))
    elif os.geteuid() == 0:
        print("\n" + _say("What a lab inside a plain user's user namespaces needs (no root, no docker group; each NO "
                          "with the one-time step an administrator takes; --user NAME checks a user's ids):"))
    else:
        print("\n" + _say("What a lab inside your own user namespaces needs (no root, no docker group; each NO with "
                          "the one-time step an administrator takes):"))
    _print(userns_checks(args.user))
    ok = can_run_lab(checks)
    print("\n" + (_say("This machine can run the live lab.") if ok else
                  _say("This machine cannot run the live lab yet; fix the lines marked NO, or use replay.")))
    if any(not c.ok for c in checks if c.name in OPTIONAL):
        print(_say("Lines marked -- are optional: the lab runs without them."))
    return 0 if ok else 1
