"""The lessons a classroom hands out, through nbgrader's own course (course.py):

- `prepare` (at setup): the course in DIR/course, the teacher's (0700: it holds the solutions and
  the hidden tests); nbgrader generates the students' copies and releases them into DIR/exchange,
  run as the teacher;
- `hand_out` (at setup for every student, then before each server start): nbgrader's fetch, as the
  student, of every lesson they do not have yet, into ~/lessons/lessonNN/ (a lesson they have is
  kept as they left it);
- `jupyter_config` (at setup): DIR/jupyter, the students' servers' JUPYTER_CONFIG_PATH, where
  nbgrader's Assignments list (Nbgrader menu) finds the course: it fetches and submits from
  ~/lessons. Its teacher's parts (formgrader, create assignment, course list) are off for students.

The teacher grades with `swarmlab classroom grade` (grade below): collect, autograde and feedback,
run as the teacher, so that no student's code ever runs as root.
"""
from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
from pathlib import Path

from . import course
from ..errors import ClassroomError
from .config import Classroom
from .labs import as_student, student_env

LESSONS_FOLDER = "lessons"  # in each student's home

STUDENT_NBGRADER_CONFIG = """# Made by `swarmlab classroom setup`: nbgrader in a student's JupyterLab.
import os
c = get_config()
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
c.Exchange.assignment_dir = os.path.expanduser("~/{folder}")
"""
# What only a teacher uses, switched off in students' servers (the server side and the menu items).
TEACHER_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
TEACHER_LAB_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                       "@jupyter/nbgrader:course-list")
# And JupyterLab's offer of news from jupyter.org: a class's servers ask nothing of the internet.
OFF_IN_STUDENTS_LAB = (*TEACHER_LAB_PLUGINS, "@jupyterlab/apputils-extension:announcements")


def teacher_steps(room: Classroom) -> dict:
    """How course.py runs the teacher's steps of this classroom: as the teacher, with its Python."""
    return {"user": room.teacher, "python": room.python}


def prepare(room: Classroom, say=print) -> None:
    """The course (setup, generate, release), the teacher's; its exchange; the students' Jupyter config."""
    say(f"the lessons as an nbgrader course in {room.course_dir}, released by {room.teacher}")
    _folder_of(room.course_dir, room.teacher, 0o700)
    room.exchange_dir.mkdir(exist_ok=True)
    room.exchange_dir.chmod(0o1777)  # root's, sticky: each writes their own, as in /tmp
    # Every write in the course is the teacher's own (root writes nothing in a folder of theirs).
    argv = [room.python, "-m", "swarmlab.cli", "course", "setup", "--root", str(room.course_dir),
            "--exchange", str(room.exchange_dir)]
    done = subprocess.run(as_student(room.teacher, argv), capture_output=True, text=True, cwd="/", timeout=300,
                          env=student_env(room.teacher, room.python, room.pythonpath))
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClassroomError(f"the course could not be set up as {room.teacher}: {said}")
    steps = teacher_steps(room)
    course.generate(room.course_dir, **steps)
    course.release(room.course_dir, exchange=room.exchange_dir, **steps)
    jupyter_config(room)


def _folder_of(path: Path, user: str, mode: int) -> None:
    """`path`, a folder of `user`'s: made when missing; refused when it is anything else (a link, another's)."""
    info = pwd.getpwnam(user)
    if not path.exists() and not path.is_symlink():
        path.mkdir(mode=mode)
        os.chown(path, info.pw_uid, info.pw_gid, follow_symlinks=False)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != info.pw_uid:
        raise ClassroomError(f"{path} should be a folder of {user}'s: move it away and run setup again")


def jupyter_config(room: Classroom) -> None:
    config = room.jupyter_dir
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    for folder in (config, config / "labconfig"):
        folder.chmod(0o755)
    (config / "nbgrader_config.py").write_text(STUDENT_NBGRADER_CONFIG.format(
        course_id=course.COURSE_ID, exchange=str(room.exchange_dir), folder=LESSONS_FOLDER))
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {name: False for name in TEACHER_SERVER_EXTENSIONS}}}, indent=1))
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {name: True for name in OFF_IN_STUDENTS_LAB}}, indent=1))
    for path in config.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def hand_out_to_all(room: Classroom, students: list[str], say=print) -> None:
    """Every student's fetch at setup, four at a time: each fetch is a process that imports nbgrader
    (2.4 s of CPU, 2.5-4 s before swarmlab.startup), and ten students logging in at once would wait
    for ten of them on this 2-core machine (benchmarks/classroom.py, before swarmlab.startup: the
    10-student run's worst swarm went from 30 s to 79 s when the fetch waited for login). At login
    only a lesson released since is fetched; none: no process."""
    from concurrent.futures import ThreadPoolExecutor
    say(f"fetching the lessons into each student's ~/{LESSONS_FOLDER} (nbgrader fetch, as the student)")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda name: hand_out(room, name), students))


def hand_out(room: Classroom, student: str) -> list[Path]:
    """nbgrader's fetch, as the student, of each released lesson not yet in ~/lessons (made theirs,
    0700, when missing). Returns the lessons' folders."""
    folder = Path(pwd.getpwnam(student).pw_dir) / LESSONS_FOLDER
    if not folder.is_dir():  # made by the student, as every write in their home is (root writes nothing there)
        subprocess.run(as_student(student, ["mkdir", "-p", "-m", "700", str(folder)]), check=True, timeout=30)
    return course.fetch(room.course_dir, student, folder, exchange=room.exchange_dir, user=student,
                        python=room.python)


def grade(room: Classroom, lessons=None, backend: str = "live"):
    """collect, autograde (each submission run again as a lesson, as the teacher: on the teacher's
    own userns lab when live) and feedback; the gradebook's scores."""
    if os.geteuid() != 0:
        raise ClassroomError("grading runs nbgrader as the teacher's account: run `swarmlab classroom grade` as root")
    steps = teacher_steps(room)
    course.collect(room.course_dir, lessons, exchange=room.exchange_dir, **steps)
    course.autograde(room.course_dir, lessons, backend=backend, **steps)
    course.feedback(room.course_dir, lessons, exchange=room.exchange_dir, **steps)
    return course.scores(room.course_dir)
