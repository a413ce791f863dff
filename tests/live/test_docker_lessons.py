"""The lessons live on the docker driver: node containers on a real engine, as a laptop with Docker
Desktop runs them: every lesson, 07 over SSH to the node containers' sshd through the engine.
(On a machine loaded far past its cores, 04 and 05 have timed out: waiting for the scheduler to move
the replica, and a ping over uber-net right after the fix.)"""
from __future__ import annotations

import os

import pytest

from conftest import unique_lab_name
from lessonrun import claims_in, printed, run
from swarmlab.headless import lesson_paths
from swarmlab.lab.docker.engine import LABEL_LAB

LESSONS = [p.name[:2] for p in lesson_paths()]


# The nodes on Debian sid's Docker 28.5 (most students' Docker), from the root file system `make
# test-install` keeps. The same series with the default node image's 20.10, and with 26.1, is
# `python benchmarks/versions.py`; 20.10 runs every lesson live in tests/live/test_lessons.py, and the
# docker driver with the default image is tested by test_docker_driver.py and test_docker_story.py.
@pytest.fixture(scope="module", params=["28"], ids=["docker28"])
def executed(request, docker_engine, tmp_path_factory):
    """The series, in order, with SWARMLAB_DRIVER=docker, the test engine as DOCKER_HOST and the
    nodes on the Docker of the fixture's parameter."""
    saved = {k: os.environ.get(k) for k in ("SWARMLAB_DRIVER", "DOCKER_HOST", "SWARMLAB_LESSON_PREFIX",
                                            "SWARMLAB_DOCKER")}
    prefix = unique_lab_name("DL")
    os.environ.update(SWARMLAB_DRIVER="docker", DOCKER_HOST=docker_engine.url, SWARMLAB_LESSON_PREFIX=prefix)
    if request.param != "20":
        os.environ["SWARMLAB_DOCKER"] = request.param
    try:
        out = tmp_path_factory.mktemp("docker-lessons")
        yield prefix, request.param, {lesson: run(lesson, "auto", out) for lesson in LESSONS}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_on_node_containers_and_checks_its_claims(executed, lesson, docker_engine):
    prefix, docker, results = executed
    row, nb = results[lesson]
    assert row["status"] == "ok", row["error"]
    assert row["backend"] == "live"
    text = printed(nb)
    assert f"containers on the Docker engine at {docker_engine.url}" in text
    assert "why: SWARMLAB_DRIVER=docker, and a Docker engine answers" in text
    assert row["claims"] == claims_in(lesson) > 0
    assert ("nodes on Docker 28.5 (Debian sid's docker.io)" in text) == (docker == "28")  # the banner says so
    # lesson.close() took its lab down: nothing of it is left on the engine.
    assert docker_engine.objects(f"{LABEL_LAB}={prefix}{lesson}") == {"containers": [], "networks": [], "volumes": []}
