"""The lessons' grading sidecars applied to the notebooks (swarmlab.classroom.grading), and the
course folder's set-up; nbgrader's own workflow runs in tests/live/test_classroom_grading.py."""
from __future__ import annotations

import types

import nbformat
import pytest

from swarmlab.classroom import course, grading
from swarmlab.classroom.grading import Answer, Test
from swarmlab.errors import UsageError

GRADED_IN_SIDECARS = [lesson for lesson in course.LESSONS if lesson != "08"]


def lesson(lesson_id: str):
    return nbformat.read(course.lesson_notebook(lesson_id), as_version=4)


def nbgrader_cells(nb) -> dict[str, dict]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


@pytest.mark.parametrize("lesson_id", GRADED_IN_SIDECARS)
def test_every_solution_cell_becomes_a_region_or_a_test_and_each_lesson_has_points(lesson_id):
    nb = lesson(lesson_id)
    tagged = [c.id for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    spec = grading.sidecar(lesson_id)
    graded = grading.graded(nb, spec)
    cells = nbgrader_cells(graded)
    by_id = {c.id: c for c in graded.cells}
    assert tagged and all("nbgrader" in by_id[cell].metadata for cell in tagged)
    assert all("solution" not in c.metadata.get("tags", []) for c in graded.cells)
    assert len(cells) == len(spec.ANSWERS) + len(spec.TESTS) and grading.points(spec) > 0
    for answer in spec.ANSWERS:
        cell = cells[answer.grade_id]
        assert cell.metadata["nbgrader"]["solution"] and "### BEGIN SOLUTION" in cell.source
    for test in spec.TESTS:
        cell = cells[test.grade_id]
        assert cell.metadata["nbgrader"] == {"grade_id": test.grade_id, "schema_version": 3, "solution": False,
                                             "grade": True, "locked": True, "task": False, "points": test.points}
    assert len(nb.cells) + sum(not (i.cell) for i in [*spec.ANSWERS, *spec.TESTS]) == len(graded.cells)


@pytest.mark.parametrize("lesson_id", GRADED_IN_SIDECARS)
def test_the_lesson_s_own_claim_about_the_answer_is_hidden(lesson_id):
    nb = lesson(lesson_id)
    original = {c.id: c.source.strip() for c in nb.cells}
    graded = grading.graded(nb, grading.sidecar(lesson_id))
    for test in grading.sidecar(lesson_id).TESTS:
        if test.cell:
            source = next(c.source for c in graded.cells if c.id == test.cell)
            hidden = source.split("### BEGIN HIDDEN TESTS\n", 1)[1].split("### END HIDDEN TESTS")[0]
            assert original[test.cell] in hidden and original[test.cell] not in source.split("### BEGIN HIDDEN")[0]


def test_the_notebooks_are_left_as_they_are():
    for lesson_id in GRADED_IN_SIDECARS:
        nb = lesson(lesson_id)
        before = nbformat.writes(nb)
        grading.graded(nb, grading.sidecar(lesson_id))
        assert nbformat.writes(nb) == before
        assert not nbgrader_cells(nb), "lessons 00-07 keep no nbgrader metadata: their grading is a sidecar"
    assert set(nbgrader_cells(lesson("08"))) == {"fault_name", "fault_name_test", "repair", "repaired_test"}


def test_lesson_03_adds_a_repair_judged_live_after_the_count_and_before_close():
    graded = grading.graded(lesson("03"), grading.sidecar("03"))
    ids = [c.id for c in graded.cells]
    assert ids[-5:] == ["ae57caec", "graded-node2-failures-test", "graded-repair", "graded-repaired-test", "7168958e"]
    repaired = graded.cells[ids.index("graded-repaired-test")]
    assert "checks.assert_repaired(cluster)" in repaired.source and "raises-exception" in repaired.metadata["tags"]
    assert grading.ungraded_in_replay(grading.sidecar("03")) == ["repaired_test"]


def test_a_sidecar_that_names_a_missing_cell_says_which():
    spec = types.SimpleNamespace(__name__="lessonXX", ANSWERS=[Answer("a", cell="nosuchcell")],
                                 TESTS=[Test("t", 1, "assert True", after="graded-a")])
    with pytest.raises(UsageError, match="no cell graded-a, nosuchcell in the notebook"):
        grading.graded(lesson("00"), spec)
    with pytest.raises(UsageError, match="no grading for lesson '09'"):
        grading.sidecar("09")


def test_setup_writes_the_course_and_refuses_unknown_lessons_before_writing(tmp_path):
    with pytest.raises(UsageError, match=r"no lesson '9', '10': the lessons are 00, 01"):
        course.setup(tmp_path / "c", ["03", "9", "10"])
    assert not (tmp_path / "c").exists()
    root = course.setup(tmp_path / "c", ["00", "03"])
    assert sorted(p.name for p in (root / "source").iterdir()) == ["lesson00", "lesson03"]
    assert (root / "exchange").stat().st_mode & 0o7777 == 0o1777
    config = (root / "nbgrader_config.py").read_text()
    assert f"c.Exchange.root = {str(root / 'exchange')!r}" in config and "course_id = 'swarmlab'" in config
    [source] = (root / "source" / "lesson03").glob("*.ipynb")
    assert source.name == "03-deploy-and-fail.ipynb" and "graded-repair" in source.read_text()


def test_the_cli_has_each_step():
    from swarmlab.cli import _parser
    args = _parser().parse_args(["course", "fetch", "--root", "/c", "--student", "ana", "--home", "/h",
                                 "--lessons", "01", "03"])
    assert args.func.__name__ == "cmd_fetch" and args.lessons == ["01", "03"] and args.student == "ana"
    for step in ("setup", "generate", "release", "submit", "collect", "autograde", "feedback", "scores"):
        assert _parser().parse_args(["course", step, "--root", "/c"] + (["--student", "a", "--home", "/h"]
                                    if step == "submit" else [])).func.__name__ == f"cmd_{step}"


def test_a_student_s_step_as_a_unix_user_needs_their_home_first(tmp_path):
    from swarmlab.errors import CourseError
    root = course.setup(tmp_path / "c", ["00"])
    with pytest.raises(CourseError, match=r"ana's home must exist, owned by ana, before nbgrader's fetch"):
        course.fetch(root, "ana", tmp_path / "nohome", ["00"], user="ana")
    assert not (tmp_path / "nohome").exists()



def test_scores_before_any_grading_says_what_to_run(tmp_path):
    from swarmlab.errors import CourseError
    root = course.setup(tmp_path / "c", ["00"])
    with pytest.raises(CourseError, match=r"no gradebook in .* yet: `swarmlab course autograde --root"):
        course.scores(root)
    assert not (root / "gradebook.db").exists()
