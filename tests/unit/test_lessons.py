"""The lessons: stored without outputs, and every one runs from its bundled recording."""
from __future__ import annotations

import json

import nbformat
import pytest

from conftest import ROOT
from lessonrun import claims_in, images, printed, run, with_claim_changed
from swarmlab.headless import lesson_paths, strip_solutions

LESSONS = [p.name[:2] for p in lesson_paths()]


def test_there_are_nine_lessons_in_order():
    assert LESSONS == [f"{i:02d}" for i in range(9)]


def test_the_readme_and_lesson_00_list_every_lesson():
    readme = (ROOT / "README.md").read_text()
    count = "zero one two three four five six seven eight nine ten eleven twelve".split()[len(LESSONS)]
    assert f"`notebooks/` holds {count} lessons" in readme
    start = "\n".join(c.source for c in nbformat.read(lesson_paths()[0], as_version=4).cells if c.cell_type == "markdown")
    for lesson in LESSONS:
        assert f"\n| {lesson} {nb_name(lesson)[3:].replace('-', ' ')} |" in readme, f"README lacks lesson {lesson}"
        if lesson != "00":
            assert f"\n| {int(lesson)} |" in start, f"lesson 00's table lacks lesson {lesson}"


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert dirty == [], f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: p.stem)
def test_each_lesson_credits_the_article_and_ends_with_an_exercise(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "blog post" in text and "Docker Deep Dive" in text
    if path.name[:2] != "00":
        assert "**Exercise.**" in text


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """Each lesson run once from its recording: lesson -> (row, notebook, output folder)."""
    runs = {}

    def get(lesson):
        if lesson not in runs:
            out = tmp_path_factory.mktemp(f"replay{lesson}")
            runs[lesson] = (*run(lesson, "replay", out), out)
        return runs[lesson]
    return get


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_lesson_runs_from_its_recording_and_checks_every_claim(lesson, replayed):
    row, nb, out = replayed(lesson)
    assert row["status"] == "ok", row["error"]
    assert row["backend"] == "replay"
    assert row["claims"] == claims_in(lesson) > 0
    assert "replay of a real run recorded on" in printed(nb)
    assert (out / f"{nb_name(lesson)}.html").exists()


def nb_name(lesson: str) -> str:
    return next(p.stem for p in lesson_paths() if p.name.startswith(lesson))


def test_replayed_facts_are_the_articles(replayed):
    _, three, _ = replayed("03")
    text = printed(three)
    assert "starting container failed: er…" in text  # the truncated error, as in the article
    assert "starting container failed: error creating external connectivity network" in text
    assert "{'node1': 2}" in text  # the scheduler put both replicas on node1
    assert images(three) >= 1
    _, four, _ = replayed("04")
    assert "✗ missing" in printed(four) and "docker_gwbridge" in printed(four)
    _, five, _ = replayed("05")
    text = printed(five)
    assert "{'node1': 1, 'node2': 1}" in text or "{'node2': 1, 'node1': 1}" in text


def test_a_command_missing_from_the_recording_fails_the_lesson(tmp_path):
    """A lesson that runs something its recording lacks must fail, naming the command."""
    src = next(p for p in lesson_paths() if p.name.startswith("01"))
    nb = nbformat.read(src, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('node2.run("docker system df")'))
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    nbformat.write(nb, lessons / src.name)
    row, executed = run("01", "replay", tmp_path / "out", directory=lessons)
    assert row["status"].startswith("failed")
    assert "`docker system df` on node2 was never recorded" in printed(executed)


def test_a_wrong_claim_fails_the_replayed_lesson(tmp_path):
    """Lesson 4 says that, once the replica moved, Docker answers `network ... not found`;
    claim the address-pool answer instead and the run must fail, naming the sentence."""
    lessons = with_claim_changed("04", "story.start_answer(later) == story.NETWORK_NOT_FOUND",
                                 "story.start_answer(later) == story.ADDRESS_POOL", tmp_path / "lessons")
    row, executed = run("04", "replay", tmp_path / "out", directory=lessons)
    assert row["status"].startswith("failed: ClaimError"), row["status"]
    assert "the text says 'now Docker answers that the network cannot be found'" in printed(executed)
    # The status keeps one line; the error keeps the claim's whole message, down to its last line.
    assert "\n" not in row["status"]
    assert row["error"].startswith("ClaimError: ") and row["error"].rstrip().endswith(
        "fix the lesson's text or find out why the output changed"), row["error"]


def test_every_lesson_but_the_first_checks_its_claims_in_its_exercise_solution():
    for path in lesson_paths():
        nb = nbformat.read(path, as_version=4)
        solutions = [c.source for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        assert solutions, f"{path.name}: its exercise has no solution cell"
        if path.name[:2] != "03":  # lesson 3's answer is a count the student reads
            assert any("lesson.expect" in s for s in solutions), f"{path.name}: the solution checks nothing"


def test_student_copies_lose_the_solution_cells(tmp_path):
    for path in lesson_paths():
        removed = strip_solutions(path, tmp_path / path.name)
        nb = nbformat.read(tmp_path / path.name, as_version=4)
        assert all("solution" not in c.metadata.get("tags", []) for c in nb.cells)
        tagged = sum("solution" in c.metadata.get("tags", []) for c in nbformat.read(path, as_version=4).cells)
        assert removed == tagged >= 1


def test_the_package_ships_the_checkouts_lessons():
    # swarmlab/data/notebooks links to notebooks/ (the source of truth); a build copies the files
    # into the package, so an installed swarmlab runs the same lessons.
    from swarmlab.headless import NOTEBOOKS
    assert NOTEBOOKS.resolve() == (ROOT / "notebooks").resolve()
    assert [p.name for p in lesson_paths()] == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def test_lessons_run_on_an_inventory_needs_one_and_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from swarmlab.cli import main
    monkeypatch.delenv("SWARMLAB_INVENTORY", raising=False)
    assert main(["lessons", "run", "--backend", "inventory", "--out", str(tmp_path)]) == 1
    errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("swarmlab: ")]
    assert len(errors) == 1 and errors[0].startswith("swarmlab: backend inventory needs SWARMLAB_INVENTORY")
    bad = tmp_path / "hosts.toml"
    bad.write_text('[hosts.vm-a]\nadress = "10.0.0.1"\n')
    assert main(["lessons", "run", "--backend", "inventory", "--inventory", str(bad), "--out", str(tmp_path)]) == 1
    errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("swarmlab: ")]
    assert len(errors) == 1 and "unknown field 'adress'" in errors[0]
    assert not list(tmp_path.glob("*.ipynb"))  # refused before any lesson ran


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_lesson_also_replays_the_docker_20_10_recording(lesson, tmp_path, monkeypatch):
    """Replay shows the newest Docker recorded (28.5); the article's own, 20.10, stays one
    SWARMLAB_DOCKER=20 away, and every claim holds there too."""
    monkeypatch.setenv("SWARMLAB_DOCKER", "20")
    row, nb = run(lesson, "replay", tmp_path / "out")
    assert row["status"] == "ok", row["error"]
    assert row["claims"] == claims_in(lesson) > 0
    assert "the nodes on Docker 20.10." in printed(nb)


def test_replay_defaults_to_the_newest_docker_recorded(replayed):
    _, nb, _ = replayed("00")
    assert "the nodes on Docker 28.5." in printed(nb)
