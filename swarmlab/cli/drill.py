"""`swarmlab drill start|check|reveal|undo`: a fault the student is not told, judged by behaviour."""
from __future__ import annotations

import secrets
import sys

from .. import drill
from ..cluster import connect


def add_commands(sub) -> None:
    d = sub.add_parser("drill", help="break-fix drills: find and repair a fault you are not told")
    dsub = d.add_subparsers(metavar="ACTION")
    start = dsub.add_parser("start", help="break the lab's swarm with a fault chosen by the seed and the drill key")
    start.add_argument("--seed", type=int, default=None,
                       help=f"with the class key ({drill.KEY_VARIABLE}) every student given this seed gets the same "
                            "drill (default: a random seed)")
    check = dsub.add_parser("check", help="does the swarm work again? (placement, overlay traffic, large packets, "
                                          "the join port, the service test on uber-net, Docker's iptables rules)")
    reveal = dsub.add_parser("reveal", help="say what the drill broke, with the doctor's evidence")
    undo = dsub.add_parser("undo", help="take out what is left of the drill's fault and end the drill, so another "
                                        "can start")
    for parser, func in ((start, cmd_start), (check, cmd_check), (reveal, cmd_reveal), (undo, cmd_undo)):
        parser.add_argument("--lab", default="swarmlab", metavar="NAME", help="lab name (default: swarmlab)")
        parser.set_defaults(func=func)


def cmd_start(args) -> int:
    seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    with connect(args.lab) as cluster:
        started = drill.start(cluster, seed)
    secret = ("the seed alone does not name it" if started.key == "class" else
              f"practice key: anyone who reads swarmlab can tell this seed's fault; a class sets {drill.KEY_VARIABLE}")
    print(f"drill started on lab {args.lab} (seed {seed}; {secret}): something in this swarm is broken.\n"
          f"The service `test` on uber-net should run a replica on every node and its containers should talk.\n"
          f"Investigate with what lessons 1-6 taught, repair it with your own commands "
          f"(`swarmlab lab exec --name {args.lab} NODE -- CMD`), then `swarmlab drill check --lab {args.lab}`.")
    return 0


def cmd_check(args) -> int:
    with connect(args.lab) as cluster:
        outcomes = drill.check(cluster)
    for row in outcomes.itertuples():
        print(f"{'PASS' if row.passed else 'FAIL'}  {row.check}")
        if not row.passed:
            print("      " + row.evidence.replace("\n", "\n      "))
    ok = drill.passed(outcomes)
    print("the swarm works: drill repaired" if ok else "not repaired yet", file=sys.stderr)
    return 0 if ok else 1


def cmd_reveal(args) -> int:
    with connect(args.lab) as cluster:
        print(drill.reveal(cluster))
    print(f"the drill goes on until `swarmlab drill undo --lab {args.lab}`", file=sys.stderr)
    return 0


def cmd_undo(args) -> int:
    with connect(args.lab) as cluster:
        report = drill.undo(cluster)
    print(report.terminal(), end="")
    print(f"drill ended on lab {args.lab}: `swarmlab drill start` may start another", file=sys.stderr)
    return 0
