"""The `swarmlab` command: one module per command group, assembled here.

    lab.py      swarmlab lab up|swarm|status|down|exec|shell|image|inject|undo|faults|restart-docker
    doctor.py   swarmlab doctor, swarmlab fix gwbridge
    run.py      swarmlab run (one command on the nodes of any target)
    lessons.py  swarmlab lessons run|record|strip
    drill.py    swarmlab drill start|check|reveal
    check.py    swarmlab check
    classroom.py swarmlab classroom setup|start|stop|status|capacity|remove
    course.py   swarmlab course setup|generate|release|fetch|submit|collect|autograde|feedback|scores

Each module adds its commands with `add_commands(subparsers)`; none imports another.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from ..errors import SwarmlabError
from ..i18n import translate
from ..startup import skip_slow_iri_checker
from . import check, classroom, course, doctor, drill, lab, lessons, run

GROUPS = (check, lab, run, doctor, lessons, drill, classroom, course)  # in the order `swarmlab --help` lists them


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C, so a half-built lab rolls back."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    skip_slow_iri_checker()
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    lang_before = os.environ.get("SWARMLAB_LANG")
    if getattr(args, "lang", None):  # --lang zh: everything this command says, in that language
        os.environ["SWARMLAB_LANG"] = args.lang
    try:
        return _run(args)
    finally:
        if lang_before is None:
            os.environ.pop("SWARMLAB_LANG", None)
        else:
            os.environ["SWARMLAB_LANG"] = lang_before


def _run(args) -> int:
    """The command, and what it ends on said in one line (in the language asked for)."""
    try:
        return args.func(args) or 0
    except SwarmlabError as exc:
        print(f"swarmlab: {translate(str(exc), 'cli')}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file or folder that changed under us: one line, not a traceback
        print(f"swarmlab: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return 1
    except BaseException as exc:
        stop = _signal_behind(exc)
        if stop is None:
            raise
        if isinstance(stop, Terminated):
            print("swarmlab: terminated (SIGTERM)", file=sys.stderr)
            return 128 + signal.SIGTERM
        print("swarmlab: interrupted", file=sys.stderr)
        return 130


def _signal_behind(exc: BaseException) -> BaseException | None:
    """The Ctrl-C or SIGTERM an exception comes from, if any. Mostly it is the exception itself;
    but one raised while threading was inside a lock's bookkeeping surfaces as "RuntimeError:
    release unlocked lock" (seen in CI, SIGTERM during `lab up`), with the signal's as its context."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (KeyboardInterrupt, Terminated)):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swarmlab", description="Learn Docker Swarm networking by doing it for real.")
    sub = p.add_subparsers(metavar="COMMAND")

    for group in GROUPS:
        group.add_commands(sub)
    return p

