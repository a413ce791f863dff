"""Real nbgrader on lesson 08: generate the student version, submit it filled in, autograde, read the score.

The course folder is temporary; the lesson runs from its recording (SWARMLAB_BACKEND=replay), so
the submission that repairs the drill as the recorded run did gets every point, and one that
names the wrong fault loses the point of the hidden test. Grading on a live lab works the same
way on a teacher's machine (the backend is then `live` or `auto`).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import ROOT

LESSON = ROOT / "notebooks" / "08-drills.ipynb"
ASSIGNMENT = "drills"
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION\n?", re.S)


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    # nbgrader runs `alembic` (its gradebook migrations) from PATH: this interpreter's scripts first.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, PATH=path, SWARMLAB_BACKEND="replay", JUPYTER_CONFIG_DIR=str(course / ".jupyter"),
               JUPYTER_DATA_DIR=str(course / ".jupyter-data"), IPYTHONDIR=str(course / ".ipython"))
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}",
                             "--ExecutePreprocessor.timeout=300"],
                            capture_output=True, text=True, cwd=course, env=env, timeout=600)
    assert result.returncode == 0, f"nbgrader {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def submit(course: Path, student: str, released, answers: dict[str, str]) -> None:
    """The released notebook with each solution cell (by grade_id) replaced by the student's code."""
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            assert "raise NotImplementedError()" in cell.source
            cell.source = answers[grade_id]
    target = course / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True)
    nbformat.write(nb, target / LESSON.name)


def score(course: Path, student: str) -> float:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return gradebook.find_submission(ASSIGNMENT, student).score


def test_nbgrader_generates_the_student_version_and_grades_lesson_08(tmp_path):
    course = tmp_path / "course"
    source = course / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    (source / LESSON.name).write_text(LESSON.read_text())
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "swarmlab"\n')

    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    released = nbformat.read(course / "release" / ASSIGNMENT / LESSON.name, as_version=4)
    text = "\n".join(c.source for c in released.cells)
    assert "### BEGIN SOLUTION" not in text and "iptables -D" not in text and 'answer = "vxlan-blocked"' not in text
    assert "HIDDEN TESTS" not in text and "assert answer == the_drill.fault" not in text
    assert text.count("raise NotImplementedError()") == 2

    teacher = nbformat.read(LESSON, as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: SOLUTION.sub(r"\1", c.source) for c in teacher.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    assert set(solutions) == {"fault_name", "repair"}
    submit(course, "good", released, solutions)
    submit(course, "wrongname", released, {**solutions, "fault_name": 'answer = "gossip-blocked"'})
    for student in ("good", "wrongname"):
        nbgrader(course, "db", "student", "add", student)
    nbgrader(course, "autograde", ASSIGNMENT, "--force")

    assert score(course, "good") == 3.0  # the fault's name (1, a hidden test) and the repair (2)
    assert score(course, "wrongname") == 2.0
