"""Every lesson, live on a real lab, and the facts the article tells."""
from __future__ import annotations

import pytest

from conftest import require_live
from lessonrun import images, printed, run
from swarmlab.headless import lesson_paths
from swarmlab.lab import leftovers

LESSONS = [p.name[:2] for p in lesson_paths()]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run the whole series once, live, in order."""
    require_live()
    out = tmp_path_factory.mktemp("lessons")
    return {lesson: run(lesson, "live", out) for lesson in LESSONS}


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_live_and_leaves_no_lab(executed, lesson):
    row, nb = executed[lesson]
    assert row["status"] == "ok", row["status"]
    assert row["backend"] == "live"
    assert leftovers(f"lesson{lesson}") == []


def test_the_swarm_has_the_articles_nodes(executed):
    text = printed(executed["01"][1])
    assert "node1" in text and "Leader" in text and "This node joined a swarm as a worker." in text


def test_node2_does_not_list_uber_net_before_a_task_lands(executed):
    text = printed(executed["02"][1])
    assert "uber-net" in text and "✗ missing" in text


def test_the_replica_on_node2_fails_like_the_articles(executed):
    text = printed(executed["03"][1])
    assert "starting container failed: er…" in text
    assert "starting container failed: error creating external connectivity network" in text
    assert "{'node1': 2}" in text  # in the end both replicas run on node1
    assert images(executed["03"][1]) == 1


def test_the_investigation_finds_the_missing_bridge(executed):
    text = printed(executed["04"][1])
    assert "Created" in text
    assert "docker_gwbridge" in text and "✗ missing" in text
    assert "error" in text and "address pools" in text


def test_after_the_fix_both_replicas_run_on_distinct_nodes(executed):
    text = printed(executed["05"][1])
    assert "{'node1': 1, 'node2': 1}" in text or "{'node2': 1, 'node1': 1}" in text
    assert images(executed["05"][1]) == 1
