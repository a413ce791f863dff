"""Every lesson, live on a real lab: it runs, checks every claim it makes, and leaves no lab."""
from __future__ import annotations

import os

import pytest

from conftest import require_live, unique_lab_name
from lessonrun import claims_in, images, printed, run, with_claim_changed
from swarmlab.headless import lesson_paths
from swarmlab.lab import leftovers
from swarmlab.lessons import lesson_lab_name

LESSONS = [p.name[:2] for p in lesson_paths()]


@pytest.fixture(scope="module")
def lesson_prefix():
    """Labs named after this run, so lessons run by others at the same time are left alone."""
    before = os.environ.get("SWARMLAB_LESSON_PREFIX")
    os.environ["SWARMLAB_LESSON_PREFIX"] = unique_lab_name("L")
    yield os.environ["SWARMLAB_LESSON_PREFIX"]
    if before is None:
        os.environ.pop("SWARMLAB_LESSON_PREFIX")
    else:
        os.environ["SWARMLAB_LESSON_PREFIX"] = before


@pytest.fixture(scope="module")
def executed(tmp_path_factory, lesson_prefix):
    """Run the whole series once, live, in order."""
    require_live()
    out = tmp_path_factory.mktemp("lessons")
    return {lesson: run(lesson, "live", out) for lesson in LESSONS}


# The Chinese edition runs live too, once, as a plain user on the userns driver
# (test_userns_lab.py): the same code cells, so a second series here would prove nothing new.
@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_live_checks_its_claims_and_leaves_no_lab(executed, lesson):
    row, nb = executed[lesson]
    assert row["status"] == "ok", row["error"]
    assert row["backend"] == "live"
    assert row["claims"] == claims_in(lesson) > 0
    assert leftovers(lesson_lab_name(lesson)) == []


def test_the_replica_on_node2_fails_like_the_articles(executed):
    text = printed(executed["03"][1])
    assert "starting container failed: er…" in text
    assert "starting container failed: error creating external connectivity network" in text
    assert "{'node1': 2}" in text  # in the end both replicas run on node1
    assert images(executed["03"][1]) == 1


def test_the_manual_start_answers_as_measured(executed):
    text = printed(executed["04"][1])
    assert "Created" in text
    assert "Error response from daemon: network " in text and " not found" in text


def test_after_the_fix_both_replicas_run_on_distinct_nodes(executed):
    text = printed(executed["05"][1])
    assert "{'node1': 1, 'node2': 1}" in text or "{'node2': 1, 'node1': 1}" in text
    assert images(executed["05"][1]) == 1


def test_a_wrong_claim_fails_the_live_lesson(tmp_path, lesson_prefix):
    require_live()
    lessons = with_claim_changed("01", 'contains="This node joined a swarm as a worker."',
                                 'contains="This node joined a swarm as a manager."', tmp_path / "lessons")
    row, executed = run("01", "live", tmp_path / "out", directory=lessons)
    assert row["status"].startswith("failed: ClaimError"), row["status"]
    assert "the text says 'node2 joined as a worker'" in printed(executed)
    assert leftovers(lesson_lab_name("01")) == []  # the runner took down the lab the failed lesson left
