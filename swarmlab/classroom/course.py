"""The lessons as an nbgrader course, and nbgrader's own workflow run on it.

    >>> course.setup(root)                    # source/lessonNN/: the lessons with solution regions and tests
    >>> course.generate(root)                 # release/: the students' copies, without solutions or hidden tests
    >>> course.release(root)                  # into the exchange, for every student
    >>> course.fetch(root, "ana", home)       # ana's copies in her home (on a hub: at her first login)
    >>> course.submit(root, "ana", home)      # her work into the exchange
    >>> course.collect(root)                  # submitted/ana/lessonNN/
    >>> course.autograde(root)                # autograded/, scores in gradebook.db (the lessons run again)
    >>> course.feedback(root)                 # feedback/ as HTML, released to the exchange
    >>> course.fetch_feedback(root, "ana", home)
    >>> course.scores(root)                   # one row per student and lesson

Every step is nbgrader's own: its Python API (the code its commands run), one process per step
for all the lessons asked (nbgrader_steps.py), as the student's Unix user for their steps. The
exchange is `root/exchange` unless one is given (a hub shares one between the teacher and the
students: it must be a folder every student can write to, sticky as /tmp is). What is graded
comes from swarmlab/classroom/grading (one sidecar per lesson); the notebooks themselves are not
changed. Autograding runs each submission as a lesson: on a live lab (root: the namespace lab; a
plain user: the userns lab) each test judges the lab, in a replay only what the recording can
answer (grading.ungraded_in_replay names the rest).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CourseError, UsageError
from ..editions import NOTEBOOKS
from . import grading
from .labs import student_env

if TYPE_CHECKING:
    import pandas as pd

COURSE_ID = "swarmlab"
LESSONS = tuple(f"{n:02d}" for n in range(9))
CELL_TIMEOUT = 600  # seconds: a live lesson's slowest cell waits for the scheduler (lesson 3: up to 90 s)
STEP_TIMEOUT = 3600
PACKAGE_HOME = Path(__file__).resolve().parents[2]  # the folder that holds this swarmlab package


def assignment(lesson_id: str) -> str:
    """The nbgrader assignment of a lesson: lessonNN."""
    return f"lesson{lesson_id}"


def lesson_notebook(lesson_id: str, notebooks: Path = NOTEBOOKS) -> Path:
    found = sorted(Path(notebooks).glob(f"{lesson_id}-*.ipynb"))
    if len(found) != 1:
        raise UsageError(f"lesson {lesson_id!r}: expected one notebook {lesson_id}-*.ipynb in {notebooks}, "
                         f"found {len(found)}")
    return found[0]


def chosen(lessons) -> tuple[str, ...]:
    """The lessons asked for (all by default), each checked: a clear error before anything is written."""
    picked = tuple(lessons or LESSONS)
    unknown = [lesson for lesson in picked if lesson not in LESSONS]
    if unknown:
        raise UsageError(f"no lesson {', '.join(map(repr, unknown))}: the lessons are {', '.join(LESSONS)}")
    return picked


def exchange_of(root: Path, exchange: Path | None = None) -> Path:
    return Path(exchange) if exchange else Path(root) / "exchange"


def setup(root, lessons=None, *, exchange=None, notebooks: Path = NOTEBOOKS, course_id: str = COURSE_ID) -> Path:
    """The course folder: nbgrader_config.py, the exchange, and source/lessonNN/ with each lesson's
    graded copy. Written afresh each time (a lesson's source is replaced, nothing else is)."""
    import nbformat  # on use, as in editions.py: it takes seconds to import
    root, picked = Path(root), chosen(lessons)
    copies = {lesson: _graded_copy(lesson, notebooks) for lesson in picked}  # all checked before writing
    root.mkdir(parents=True, exist_ok=True)
    ex = exchange_of(root, exchange)
    ex.mkdir(parents=True, exist_ok=True)
    if ex.stat().st_mode & 0o7777 != 0o1777:  # a classroom's is root's, made so already
        ex.chmod(0o1777)  # every student writes their submission there; sticky, as /tmp: none removes another's
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = {course_id!r}\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.Exchange.root = {str(ex)!r}\n")
    for lesson, (name, nb) in copies.items():
        folder = root / "source" / assignment(lesson)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / name)
    return root


def _graded_copy(lesson: str, notebooks: Path):
    import nbformat
    path = lesson_notebook(lesson, notebooks)
    return path.name, grading.graded(nbformat.read(path, as_version=4), grading.sidecar(lesson))


def generate(root, lessons=None, **who) -> None:
    """nbgrader generate_assignment: release/lessonNN/, solutions and hidden tests taken out."""
    _teacher("generate", root, lessons, **who)


def release(root, lessons=None, *, exchange=None, **who) -> None:
    """nbgrader release_assignment: the students' copies into the exchange."""
    _teacher("release", root, lessons, exchange=exchange, **who)


def fetch(root, student: str, home, lessons=None, *, exchange=None, **who) -> list[Path]:
    """nbgrader fetch_assignment, in the student's home: home/lessonNN/<notebook> (kept if already there)."""
    picked = chosen(lessons)
    new = [lesson for lesson in picked if not (Path(home) / assignment(lesson)).exists()]  # nbgrader keeps work
    if new:
        _student("fetch", root, student, home, new, exchange=exchange, **who)
    return [Path(home) / assignment(lesson) for lesson in picked]


def submit(root, student: str, home, lessons=None, *, exchange=None, **who) -> None:
    """nbgrader submit, from the student's home: their lessonNN/ into the exchange's inbound."""
    _student("submit", root, student, home, lessons, exchange=exchange, **who)


def collect(root, lessons=None, *, exchange=None, **who) -> None:
    """nbgrader collect: every student's newest submission into submitted/STUDENT/lessonNN/."""
    _teacher("collect", root, lessons, exchange=exchange, **who)


def autograde(root, lessons=None, *, backend: str | None = None, env: dict | None = None, **who) -> None:
    """nbgrader autograde: each submission runs again as a lesson (SWARMLAB_BACKEND=`backend` when
    given) and its tests are scored into gradebook.db. Students unknown to the gradebook are added."""
    extra = {**(env or {}), **({"SWARMLAB_BACKEND": backend} if backend else {})}
    _teacher("autograde", root, lessons, env=extra, **who)


def feedback(root, lessons=None, *, exchange=None, **who) -> None:
    """nbgrader generate_feedback (feedback/STUDENT/lessonNN/*.html) and release_feedback."""
    _teacher("feedback", root, lessons, exchange=exchange, **who)


def fetch_feedback(root, student: str, home, lessons=None, *, exchange=None, **who) -> None:
    """nbgrader fetch_feedback, in the student's home: home/lessonNN/feedback/<time>/<notebook>.html."""
    _student("fetch_feedback", root, student, home, lessons, exchange=exchange, **who)


def scores(root) -> pd.DataFrame:
    """One row per submission in the gradebook: student, lesson, score, max_score."""
    import pandas as pd
    from nbgrader.api import Gradebook
    database = Path(root) / "gradebook.db"
    if not database.exists():  # opening it would make an empty one
        raise CourseError(f"no gradebook in {root} yet: `swarmlab course autograde --root {root}` makes it")
    rows = []
    with Gradebook(f"sqlite:///{database}") as gradebook:
        for a in gradebook.assignments:
            for s in a.submissions:
                rows.append((s.student.id, a.name.removeprefix("lesson"), s.score, s.max_score))
    return pd.DataFrame(rows, columns=["student", "lesson", "score", "max_score"]).sort_values(
        ["student", "lesson"], ignore_index=True)


# --- running nbgrader ----------------------------------------------------------------------
# Every step takes `user` (run it as this Unix user, with a plain environment of theirs, not this
# process's) and `python` (an interpreter that user may run, with nbgrader; default: this one).
def _teacher(step: str, root, lessons, *, exchange=None, env: dict | None = None, user: str | None = None,
             python: str | None = None) -> None:
    root = Path(root)
    _run_step(step, root, lessons, cwd=root, env=env, user=user, python=python,
              exchange=str(exchange_of(root, exchange)))


def _student(step: str, root, student: str, home, lessons, *, exchange=None, user: str | None = None,
             python: str | None = None) -> None:
    """A student's step, in their home (as their Unix user when `user` is given: then the
    exchange's permissions, not this process's, decide what they may do)."""
    home = Path(home)
    if user and not home.is_dir():  # made here it would be root's, and the student could not write to it
        raise CourseError(f"{home} is not a folder: {user}'s home must exist, owned by {user}, before nbgrader's {step}")
    home.mkdir(parents=True, exist_ok=True)
    _run_step(step, Path(root), lessons, cwd=home, user=user, python=python,
              exchange=str(exchange_of(root, exchange)), student=student, home=str(home))


def _run_step(step: str, root: Path, lessons, *, cwd: Path, env: dict | None = None, user: str | None = None,
              python: str | None = None, **request) -> None:
    """One process runs the step for every lesson (nbgrader_steps: nbgrader's own API)."""
    picked = chosen(lessons)
    request = {"step": step, "root": str(root), "assignments": [assignment(lesson) for lesson in picked],
               "course_id": _config_value(root, "course_id") or COURSE_ID, "cell_timeout": CELL_TIMEOUT, **request}
    python = python or sys.executable
    # Another user's step gets their own plain environment (HOME, PATH), none of this process's:
    # a lesson autograded as the teacher makes its lab in the teacher's own folders.
    base = student_env(user, python) if user else dict(os.environ)
    # nbgrader runs `alembic` (its gradebook migrations) from PATH: this interpreter's scripts first.
    bin_dir = str(Path(python).parent)
    environment = {**base, **(env or {}), "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}",
                   # this swarmlab, in the step and in the lessons' kernels, whatever the folder they run in
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_HOME), base.get("PYTHONPATH")]))}
    argv = [python, "-m", "swarmlab.classroom.nbgrader_steps", json.dumps(request)]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    try:
        done = subprocess.run(argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CourseError(f"nbgrader's {step} of lessons {', '.join(picked)} took over {STEP_TIMEOUT} s; stopped "
                          f"(look at the lessons' labs, or run one lesson alone)") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines() or ["no output"]
        raise CourseError(f"nbgrader's {step} failed in {cwd}: {'; '.join(said[-3:]) if len(said) <= 3 else said[-1]}")


def _config_value(root: Path, name: str) -> str | None:
    config = root / "nbgrader_config.py"
    for line in config.read_text().splitlines() if config.exists() else ():
        if line.startswith(f"c.CourseDirectory.{name} = "):
            return line.split(" = ", 1)[1].strip("'\"")
    return None
