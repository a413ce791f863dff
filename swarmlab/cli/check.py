"""`swarmlab check`: can this machine run the live lab, and what to install."""
from __future__ import annotations

from ..check import OPTIONAL, can_run_lab, run_checks


def add_commands(subparsers) -> None:
    c = subparsers.add_parser("check", help="can this machine run the live lab? what to install")
    c.set_defaults(func=cmd_check)


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
