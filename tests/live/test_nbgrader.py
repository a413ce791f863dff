"""Real nbgrader on lesson 08: generate the student version, submit it filled in, autograde, read the score.

The course folder is temporary; the lesson runs from its recording (SWARMLAB_BACKEND=replay), where
nothing a student types runs: the fault's name is graded (the hidden test), the repair is not (its
cell says so and scores 0), whether the submission repairs as the recorded run did, does nothing,
or repairs another way. Grading the repair needs a live lab or an inventory's hosts (the backend is
then `live` or `auto` on a teacher's machine): tests/live/test_drill.py judges repairs there.
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
    assert "### BEGIN SOLUTION" not in text and "iptables -D" not in text and "HIDDEN TESTS" not in text
    # The answer is nowhere in the student's copy but the list of candidates.
    assert text.count("vxlan-blocked") == 1 and 'CANDIDATES = ("pools-exhausted", "vpn-routes", "vxlan-blocked")' in text
    assert text.count("raise NotImplementedError()") == 2

    teacher = nbformat.read(LESSON, as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: SOLUTION.sub(r"\1", c.source) for c in teacher.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    assert set(solutions) == {"fault_name", "repair"}
    submissions = {
        "good": solutions,
        "wrongname": {**solutions, "fault_name": 'answer = "gossip-blocked"'},
        "norepair": {**solutions, "repair": "pass"},
        "otherway": {**solutions, "repair": 'node2.run("iptables -D INPUT -p udp --dport 4789 -j DROP")'},
    }
    for student, answers in submissions.items():
        submit(course, student, released, answers)
        nbgrader(course, "db", "student", "add", student)
    nbgrader(course, "autograde", ASSIGNMENT, "--force")

    # In a replay only the name is graded (1 point, a hidden test); the repair (2) scores nothing.
    assert {student: score(course, student) for student in submissions} == \
        {"good": 1.0, "wrongname": 0.0, "norepair": 1.0, "otherway": 1.0}
    for student in submissions:
        graded = nbformat.read(course / "autograded" / student / ASSIGNMENT / LESSON.name, as_version=4)
        [error] = [o for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "repaired_test"
                   for o in c.outputs if o.output_type == "error"]
        assert error.ename == "NotGradableError" and len(error.traceback) == 1, student
