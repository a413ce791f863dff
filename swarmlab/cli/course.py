"""`swarmlab course setup|generate|release|fetch|submit|collect|autograde|feedback|scores`: the
lessons as an nbgrader course (swarmlab.classroom.course), each step the real nbgrader command."""
from __future__ import annotations

from pathlib import Path

from ..classroom import course


def add_commands(sub) -> None:
    c = sub.add_parser("course", help="grade the lessons with nbgrader: set up the course, release, collect, "
                                      "autograde, feedback")
    csub = c.add_subparsers(metavar="STEP")
    steps = {
        "setup": ("the course folder: nbgrader_config.py, the exchange, source/lessonNN/ with solutions and tests",
                  cmd_setup),
        "generate": ("nbgrader generate_assignment: the students' copies, solutions and hidden tests taken out",
                     cmd_generate),
        "release": ("nbgrader release_assignment: the copies into the exchange", cmd_release),
        "fetch": ("nbgrader fetch_assignment for one student, into their home", cmd_fetch),
        "submit": ("nbgrader submit for one student, from their home", cmd_submit),
        "collect": ("nbgrader collect: every student's newest submission", cmd_collect),
        "autograde": ("nbgrader autograde: run each submission as a lesson and score its tests", cmd_autograde),
        "feedback": ("nbgrader generate_feedback and release_feedback", cmd_feedback),
        "scores": ("the gradebook: one line per student and lesson", cmd_scores),
    }
    for name, (help_text, func) in steps.items():
        p = csub.add_parser(name, help=help_text)
        p.add_argument("--root", required=True, type=Path, metavar="DIR", help="the course folder")
        if name != "scores":
            p.add_argument("--lessons", nargs="+", metavar="NN", default=None,
                           help=f"which lessons (default: all, {course.LESSONS[0]} to {course.LESSONS[-1]})")
        if name in ("setup", "release", "fetch", "submit", "collect", "feedback"):
            p.add_argument("--exchange", type=Path, default=None, metavar="DIR",
                           help="nbgrader's exchange (default: DIR/exchange under the course folder)")
        if name in ("fetch", "submit"):
            p.add_argument("--student", required=True, help="the student's id in the gradebook")
            p.add_argument("--home", required=True, type=Path, metavar="DIR", help="the student's folder")
            p.add_argument("--user", default=None, help="run nbgrader as this Unix user (runuser)")
        if name == "autograde":
            p.add_argument("--backend", choices=("live", "replay", "inventory"), default=None,
                           help="where the submissions run (default: as a lesson chooses: live when it can)")
        p.set_defaults(func=func)


def cmd_setup(args) -> int:
    root = course.setup(args.root, args.lessons, exchange=args.exchange)
    print(f"course set up in {root}: source/ holds lessons {', '.join(course.chosen(args.lessons))}")
    return 0


def cmd_generate(args) -> int:
    course.generate(args.root, args.lessons)
    print(f"students' copies in {args.root / 'release'}")
    return 0


def cmd_release(args) -> int:
    course.release(args.root, args.lessons, exchange=args.exchange)
    print(f"released into {course.exchange_of(args.root, args.exchange)}")
    return 0


def cmd_fetch(args) -> int:
    for folder in course.fetch(args.root, args.student, args.home, args.lessons, exchange=args.exchange,
                               user=args.user):
        print(folder)
    return 0


def cmd_submit(args) -> int:
    course.submit(args.root, args.student, args.home, args.lessons, exchange=args.exchange, user=args.user)
    print(f"{args.student}: submitted")
    return 0


def cmd_collect(args) -> int:
    course.collect(args.root, args.lessons, exchange=args.exchange)
    print(f"collected into {args.root / 'submitted'}")
    return 0


def cmd_autograde(args) -> int:
    course.autograde(args.root, args.lessons, backend=args.backend)
    print(course.scores(args.root).to_string(index=False))
    return 0


def cmd_feedback(args) -> int:
    course.feedback(args.root, args.lessons, exchange=args.exchange)
    print(f"feedback in {args.root / 'feedback'}, released to the exchange")
    return 0


def cmd_scores(args) -> int:
    print(course.scores(args.root).to_string(index=False))
    return 0
