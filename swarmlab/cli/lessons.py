"""`swarmlab lessons run|restore|record|strip`: the lessons headless, hosts put back, recordings, student copies."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .. import staging
from ..cluster import connect
from ..errors import SwarmlabError
from ..inventory import load_inventory
from ..editions import EDITIONS, built_path
from ..i18n import normalise
from ..lessons import RECORDED_DOCKERS, choose, recorded_docker, requested_backend


def add_commands(sub) -> None:
    lessons = sub.add_parser("lessons", help="run the lessons headless, record them, make student copies")
    lsub = lessons.add_subparsers(metavar="ACTION")
    run = lsub.add_parser("run", help="execute every lesson; notebooks and HTML under build/lessons/")
    run.add_argument("--backend", default=None, choices=["auto", "live", "replay", "inventory"],
                     help="where the lessons run (default: SWARMLAB_BACKEND, else auto)")
    run.add_argument("--inventory", default=None, metavar="FILE",
                     help="your hosts, for --backend inventory (else SWARMLAB_INVENTORY); "
                          "each lesson says what it changes there, and undoes it")
    run.add_argument("--only", nargs="*", help="lesson numbers, e.g. 03 05")
    run.add_argument("--out", default=None, help="output folder (default build/lessons)")
    run.add_argument("--lang", default=None, choices=["en", *EDITIONS],
                     help="the lessons' language (default: SWARMLAB_LANG, else en); zh: the Chinese edition, "
                          "under OUT/zh/, replaying the English lessons' recordings")
    run.set_defaults(func=cmd_run)
    build = lsub.add_parser("build", help="build a translated edition of the lessons (notebooks/LANG/*.ipynb) "
                                          "and say which translated cells are missing or stale")
    build.add_argument("--lang", default=EDITIONS[0], choices=list(EDITIONS))
    build.set_defaults(func=cmd_build)
    restore = lsub.add_parser("restore", help="put an inventory's hosts back after a lesson that was stopped "
                                                "(killed) before it did")
    restore.add_argument("--inventory", default=None, metavar="FILE",
                         help="the inventory the lesson ran on (else SWARMLAB_INVENTORY)")
    restore.set_defaults(func=cmd_restore)
    rec = lsub.add_parser("record", help="run every lesson live and save its recording for replay")
    rec.add_argument("--only", nargs="*")
    rec.set_defaults(func=cmd_record)
    strip = lsub.add_parser("strip", help="student copies: the lessons without cells tagged 'solution'")
    strip.add_argument("--out", default="build/students")
    strip.add_argument("--lang", default="en", choices=["en", *EDITIONS],
                       help="the edition to copy (zh: the Chinese lessons, built from the English ones)")
    strip.set_defaults(func=cmd_strip)


def _headless():
    """swarmlab.headless, which needs the optional `lessons` extra (nbclient, nbconvert)."""
    try:
        from .. import headless
    except ImportError as exc:
        raise SwarmlabError(f"running lessons needs {exc.name}: pip install 'swarmlab[lessons]'") from None
    return headless


def cmd_run(args) -> int:
    headless = _headless()
    backend = requested_backend(args.backend)
    choice = choose(backend)
    where = f"{choice.backend} ({choice.driver} driver)" if choice.driver else choice.backend
    print(f"lessons run {where}: {choice.reason}", file=sys.stderr, flush=True)
    lang = args.lang or normalise(os.environ.get("SWARMLAB_LANG") or "en")
    table = headless.run_lessons(backend, out=Path(args.out) if args.out else headless.BUILD,
                                 only=args.only, progress=lambda line: print(line, file=sys.stderr, flush=True),
                                 inventory=args.inventory, lang=lang)
    print(table.drop(columns="error").to_string(index=False))
    for row in table[table["status"] != "ok"].to_dict("records"):  # the status keeps one line of it
        print(f"\n{row['lesson']}: {row['error']}", file=sys.stderr)
    return 0 if (table["status"] == "ok").all() else 1


def cmd_build(args) -> int:
    from .. import editions
    lessons = _headless().lesson_paths()
    written = editions.write(args.lang, lessons)
    lacking = [line for path in lessons for line in editions.problems(path, args.lang)]
    print(f"{len(written)} {args.lang} lessons built in {written[0].parent}/", file=sys.stderr)
    for line in lacking:
        print(f"  {line}", file=sys.stderr)
    return 1 if lacking else 0


def cmd_restore(args) -> int:
    path = args.inventory or os.environ.get("SWARMLAB_INVENTORY")
    if not path:
        raise SwarmlabError("which hosts? swarmlab lessons restore --inventory FILE (or SWARMLAB_INVENTORY=FILE)")
    load_inventory(path)  # a bad file stops here, with its one-line error
    journal = staging.pending(path)
    if journal is None:
        print(f"the hosts of {path} are not staged: nothing to put back", file=sys.stderr)
        return 0
    with connect(path) as cluster:
        done = staging.restore(cluster, path)
    print(f"the hosts of {path} are back as they were before lesson {journal.get('lesson', '?')}"
          + "".join(f"\n  {line}" for line in done), file=sys.stderr)
    return 0


def cmd_record(args) -> int:
    headless = _headless()
    folder = RECORDED_DOCKERS[recorded_docker("", os.environ.get("SWARMLAB_DOCKER") or "20")][1]
    folder.mkdir(parents=True, exist_ok=True)
    out = Path("build/recording-run")
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in headless.lesson_paths():
        lesson_id = path.name[:2]
        if args.only and lesson_id not in args.only:
            continue
        os.environ["SWARMLAB_RECORD"] = str(folder / f"{lesson_id}.json")
        try:
            row = headless.run_lesson(path, "live", out)
        finally:
            os.environ.pop("SWARMLAB_RECORD", None)
        failed += row["status"] != "ok"
        print(f"{row['lesson']:<28} {row['seconds']:6.1f} s  {row['status']}", file=sys.stderr)
        if row["error"]:
            print(row["error"], file=sys.stderr)
    return 1 if failed else 0


def cmd_strip(args) -> int:
    headless = _headless()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in headless.lesson_paths():
        # a translated edition: its committed notebooks, which a test holds equal to the build output
        source = path if args.lang == "en" else built_path(path, args.lang)
        headless.strip_solutions(source, out / path.name)
    print(f"student copies in {out}/", file=sys.stderr)
    return 0
