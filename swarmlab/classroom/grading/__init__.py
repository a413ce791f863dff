"""What nbgrader grades in each lesson, kept beside the notebooks rather than in them.

The notebooks stay as they are (other editions are keyed by their cells); `graded(nb, spec)`
makes the teacher's copy for nbgrader's source/ folder from a lesson and its sidecar
(`lessonNN.py` here, a module with ANSWERS and TESTS):

- an Answer turns a cell tagged `solution` (or a new code cell) into a solution region: the
  student's copy has `raise NotImplementedError()` in its place;
- a Test turns the exercise's own check cell (tagged `check` and `solution`: its claim tells the
  answer) into an autograded cell, or adds one. Its visible part is what the student sees; the
  hidden part, kept out of the student's copy, checks the answer against the lab and then makes
  the lesson's own claim.

Tests judge what the lab holds or does (they run commands on the nodes again, or `drill.check`),
never only text a student could print. In a replay nothing runs: a test that re-reads the
recording still grades; one that must see the swarm now raises NotGradableError and scores 0,
and `ungraded_in_replay` names those.
"""
from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass

from ...errors import UsageError

SCHEMA = 3
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@dataclass(frozen=True)
class Answer:
    """A solution region: the cell `cell` (tagged solution), or a new code cell after `after`."""

    grade_id: str
    cell: str = ""
    after: str = ""
    source: str = ""   # replaces the cell's code (or is the new cell's); default: the cell's own
    prompt: str = ""   # comment lines above the region, which the student's copy keeps


@dataclass(frozen=True)
class Test:
    """An autograded cell: `cell` (the exercise's check cell) turned into one, or a new cell after `after`."""

    __test__ = False  # not a pytest test class

    grade_id: str
    points: int
    visible: str
    hidden: str = ""
    cell: str = ""
    after: str = ""
    in_replay: bool = True  # False: it must see the swarm now, so a replay scores it 0 (NotGradableError)


def sidecar(lesson_id: str):
    """The grading module of lesson `lesson_id` ("00".."08")."""
    try:
        return importlib.import_module(f"{__name__}.lesson{lesson_id}")
    except ModuleNotFoundError:
        raise UsageError(f"no grading for lesson {lesson_id!r}: lessons 00 to 08 have one") from None


def graded(nb, spec):
    """A copy of notebook `nb` with nbgrader's metadata, solution regions and tests from `spec`.

    A new cell goes right after the cell it names, which may be another new cell (`graded-<grade id>`).
    """
    nb = copy.deepcopy(nb)
    pending = [*spec.ANSWERS, *spec.TESTS]
    while pending:
        ids = [cell.get("id") for cell in nb.cells]
        ready = [item for item in pending if (item.cell or item.after) in ids]
        if not ready:
            coming = {new_cell_id(item.grade_id) for item in pending if not item.cell}
            missing = sorted({item.cell or item.after for item in pending} - coming)
            raise UsageError(f"grading of {spec.__name__}: no cell {', '.join(missing)} in the notebook (was it edited?)")
        for item in ready:
            ids = [cell.get("id") for cell in nb.cells]
            if item.cell:
                _make_graded(nb.cells[ids.index(item.cell)], item)
            else:
                nb.cells.insert(ids.index(item.after) + 1, _new_code_cell(item))
            pending.remove(item)
    return nb


def new_cell_id(grade_id: str) -> str:
    """The id of the cell a sidecar adds for `grade_id`."""
    return f"graded-{grade_id}".replace("_", "-")


def _new_code_cell(item):
    import nbformat
    cell = nbformat.v4.new_code_cell("")
    cell["id"] = new_cell_id(item.grade_id)
    _make_graded(cell, item)
    return cell


def _make_graded(cell, item) -> None:
    tags = set(cell.metadata.get("tags", [])) - {"solution"}  # nbgrader's metadata says it now
    if isinstance(item, Answer):
        code = (item.source or cell.source).rstrip("\n")
        prompt = f"{item.prompt.rstrip()}\n" if item.prompt else ""
        cell.source = f"{prompt}{BEGIN_SOLUTION}\n{code}\n{END_SOLUTION}"
        flags = dict(solution=True, grade=False, locked=False, task=False)
    else:
        own = cell.source.strip() if item.cell else ""  # the lesson's claim about the answer: hidden too
        hidden = "\n".join(part for part in (item.hidden.strip(), own) if part)
        cell.source = item.visible.strip() + (f"\n{BEGIN_HIDDEN}\n{hidden}\n{END_HIDDEN}" if hidden else "")
        flags = dict(solution=False, grade=True, locked=True, task=False, points=item.points)
        if not item.in_replay:
            tags.add("raises-exception")  # in a replay it raises NotGradableError, and the lesson goes on
    if tags:
        cell.metadata["tags"] = sorted(tags)
    else:
        cell.metadata.pop("tags", None)
    cell.metadata["nbgrader"] = dict(grade_id=item.grade_id, schema_version=SCHEMA, **flags)


def ungraded_in_replay(spec) -> list[str]:
    """The grade ids of tests a replay cannot grade: they must see the swarm now."""
    return [test.grade_id for test in spec.TESTS if not test.in_replay]


def points(spec) -> int:
    return sum(test.points for test in spec.TESTS)
