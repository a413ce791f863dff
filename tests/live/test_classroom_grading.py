"""nbgrader's real workflow on the lessons as a course (swarmlab.classroom.course), and real grading.

- Every lesson, in a replay (no lab: fast): setup, generate, release, fetch, submit, collect,
  autograde, feedback, fetch_feedback, for a student who answers with the solutions and one who
  hands the copies in blank. In a replay nothing a student types runs: a test that must see the
  swarm now (the repairs of lessons 3 and 8) raises NotGradableError and scores 0, and the rest is
  graded against the recording, so the full solutions score everything but those points.
- LIVE (namespace labs, as root): lesson 3, whose repair only a live lab can grade, graded twice on
  real labs: a submission that repairs the swarm (full marks) and one whose "repair" only recreates
  the service (fewer). Lesson 8's repair is judged live by drill.check (tests/live/test_drill.py);
  every lesson graded live, one by one with its seconds, is `python benchmarks/grading.py`.
"""
from __future__ import annotations

import os
import re

import nbformat
import pytest

from conftest import require_live, unique_lab_name
from swarmlab.classroom import course, grading
from swarmlab.errors import CourseError
from swarmlab.lab import leftovers, teardown
from swarmlab.lessons import lesson_lab_name

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION\n?", re.S)
# Points a replay cannot give, by lesson: lesson 8's repair (in the notebook), and the sidecars' live-only tests.
LIVE = ("03",)  # a lesson with points only a live lab gives (08 too: benchmarks/grading.py)
NOT_IN_REPLAY = {"08": 2, **{lesson: sum(t.points for t in grading.sidecar(lesson).TESTS if not t.in_replay)
                             for lesson in course.LESSONS if lesson != "08"}}


def teacher_answers(root, lesson: str) -> dict[str, str]:
    """The solution regions of the course's source copy, by grade id."""
    [path] = (root / "source" / course.assignment(lesson)).glob("*.ipynb")
    return {c.metadata["nbgrader"]["grade_id"]: SOLUTION.sub(r"\1", c.source)
            for c in nbformat.read(path, as_version=4).cells if c.metadata.get("nbgrader", {}).get("solution")}


def answer(home, lesson: str, answers: dict[str, str]) -> None:
    """Fill the fetched copy's solution cells (by grade id) with `answers`, as a student would."""
    [path] = (home / course.assignment(lesson)).glob("*.ipynb")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            assert "raise NotImplementedError()" in cell.source, grade_id
            cell.source = answers[grade_id]
    nbformat.write(nb, path)


def scores_of(root) -> dict[tuple[str, str], tuple[float, float]]:
    table = course.scores(root)
    return {(r.student, r.lesson): (r.score, r.max_score) for r in table.itertuples()}


def test_every_lesson_through_nbgrader_s_workflow_in_a_replay(tmp_path):
    root, homes = tmp_path / "course", {s: tmp_path / "home" / s for s in ("solved", "blank")}
    course.setup(root)
    course.generate(root)
    course.release(root)
    for student, home in homes.items():
        course.fetch(root, student, home)
    for lesson in course.LESSONS:
        [copy] = (homes["blank"] / course.assignment(lesson)).glob("*.ipynb")
        text = copy.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "raise NotImplementedError()" in text
        answer(homes["solved"], lesson, teacher_answers(root, lesson))
    for student, home in homes.items():
        course.submit(root, student, home)
    course.collect(root)
    course.autograde(root, backend="replay")
    course.feedback(root)
    for student, home in homes.items():
        course.fetch_feedback(root, student, home)

    got = scores_of(root)
    for lesson in course.LESSONS:
        score, most = got[("solved", lesson)]
        assert most > 0 and score == most - NOT_IN_REPLAY[lesson], (lesson, score, most)
        assert got[("blank", lesson)][0] == 0, lesson
        for home in homes.values():
            assert list((home / course.assignment(lesson) / "feedback").glob("*/*.html")), lesson
    # Lesson 3's repair in a replay: not judged, and the feedback says why.
    [graded] = (root / "autograded" / "solved" / "lesson03").glob("*.ipynb")
    [error] = [o for c in nbformat.read(graded, as_version=4).cells
               if c.metadata.get("nbgrader", {}).get("grade_id") == "repaired_test" for o in c.outputs
               if o.output_type == "error"]
    assert error.ename == "NotGradableError"
    [html] = (homes["solved"] / "lesson03" / "feedback").glob("*/*.html")
    assert "NotGradableError" in html.read_text() and "this lesson is a replay of a recorded run" in html.read_text()


def test_a_step_nbgrader_refuses_is_one_line_naming_the_step(tmp_path):
    root = course.setup(tmp_path / "c", ["00"])
    with pytest.raises(CourseError, match=r"nbgrader's release failed in .*lesson00"):
        course.release(root, ["00"])  # not generated yet: nbgrader has nothing to release


@pytest.fixture(scope="module")
def graded_live(tmp_path_factory):
    """One live autograde (namespace labs, as root): `solved` hands in lessons 3 and 8 with the solutions,
    `recreates` lesson 3 with a "repair" that only recreates the service, leaving node2 as it was."""
    require_live()
    before = os.environ.get("SWARMLAB_LESSON_PREFIX")
    os.environ["SWARMLAB_LESSON_PREFIX"] = unique_lab_name("G")  # lessons others run are left alone
    tmp = tmp_path_factory.mktemp("live")
    root = tmp / "course"
    try:
        course.setup(root)
        course.generate(root)
        course.release(root)
        for student, lessons in (("solved", LIVE), ("recreates", ["03"])):
            home = tmp / "home" / student
            course.fetch(root, student, home, lessons)
            for lesson in lessons:
                answers = teacher_answers(root, lesson)
                if student == "recreates":
                    answers["repair"] = "from swarmlab import fix\nfix.recreate_service(cluster)   # node2 left as it was"
                answer(home, lesson, answers)
            course.submit(root, student, home, lessons)
        course.collect(root)
        course.autograde(root, LIVE, backend="live", env={"SWARMLAB_DRIVER": "namespaces"})
        yield root
    finally:
        lab_names = [lesson_lab_name(lesson) for lesson in course.LESSONS]
        for name in lab_names:
            teardown(name)  # whatever a failed run left
        if before is None:
            os.environ.pop("SWARMLAB_LESSON_PREFIX")
        else:
            os.environ["SWARMLAB_LESSON_PREFIX"] = before


def test_the_solutions_score_full_marks_live_and_leave_no_lab(graded_live):
    got = scores_of(graded_live)
    for lesson in LIVE:
        score, most = got[("solved", lesson)]
        assert most > 0 and score == most, (lesson, score, most)
        assert leftovers(lesson_lab_name(lesson)) == []  # each run's lesson.close() took its lab down


def test_lesson_03_live_full_marks_for_a_repair_fewer_for_a_wrong_one(graded_live):
    got = scores_of(graded_live)
    assert got[("solved", "03")] == (4.0, 4.0)
    assert got[("recreates", "03")] == (1.0, 4.0)  # the count is right; the swarm is not repaired
    [graded] = (graded_live / "autograded" / "recreates" / "lesson03").glob("*.ipynb")
    [error] = [o for c in nbformat.read(graded, as_version=4).cells
               if c.metadata.get("nbgrader", {}).get("grade_id") == "repaired_test" for o in c.outputs
               if o.output_type == "error"]
    assert error.ename == "NotRepairedError" and "a task runs on every node" in error.evalue
