"""Where a lesson runs, and why (swarmlab.lessons.choose), on this machine as it is."""
from __future__ import annotations


import pytest

from swarmlab.errors import SwarmlabError
from swarmlab.lessons import INVENTORY, REPLAY, Choice, choose


@pytest.fixture
def env(monkeypatch):
    for name in ("SWARMLAB_BACKEND", "SWARMLAB_DRIVER", "SWARMLAB_INVENTORY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_forced_backends_say_so(env):
    assert choose("replay") == Choice(REPLAY, "SWARMLAB_BACKEND=replay")
    env.setenv("SWARMLAB_BACKEND", "inventory")
    assert choose().backend == INVENTORY


def test_no_engine_and_no_root_lab_falls_back_to_the_recording_and_says_why(env):
    # A Docker socket that does not exist: no engine answers.
    env.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    env.setenv("SWARMLAB_DRIVER", "docker")
    choice = choose()
    assert choice.backend == REPLAY
    assert "cannot reach the Docker engine at unix:///nonexistent/docker.sock" in choice.reason
    env.setenv("SWARMLAB_INVENTORY", "hosts.toml")
    assert choose().backend == INVENTORY
    with pytest.raises(SwarmlabError, match="no live lab here"):
        choose("live")


def test_unknown_values_are_refused(env):
    with pytest.raises(SwarmlabError, match="unknown backend"):
        choose("cloud")
    env.setenv("SWARMLAB_DRIVER", "vm")
    with pytest.raises(SwarmlabError, match="SWARMLAB_DRIVER"):
        choose()


@pytest.mark.parametrize("variable", ["inventory", "replay"])
def test_lessons_run_without_backend_takes_swarmlab_backend(env, tmp_path, variable):
    """`SWARMLAB_BACKEND=inventory SWARMLAB_INVENTORY=f swarmlab lessons run` runs on the inventory."""
    import pandas as pd

    from swarmlab import headless
    from swarmlab.cli import main
    asked = []

    def run_lessons(backend, **_):
        asked.append(backend)
        return pd.DataFrame([{"lesson": "00-start-here", "backend": backend, "cells": 1, "claims": 0,
                              "seconds": 0.0, "status": "ok", "error": ""}])
    env.setattr(headless, "run_lessons", run_lessons)
    env.setenv("SWARMLAB_BACKEND", variable)
    env.setenv("SWARMLAB_INVENTORY", str(tmp_path / "hosts.toml"))
    assert main(["lessons", "run", "--only", "00", "--out", str(tmp_path)]) == 0
    assert main(["lessons", "run", "--backend", "replay", "--only", "00", "--out", str(tmp_path)]) == 0
    assert asked == [variable, "replay"]  # the flag, when given, wins over the variable


def _registry(env, **usability):
    """A registry of drivers that answer usable_here() with the given Usability, in this order."""
    from swarmlab import lessons
    from swarmlab.lab.driver import Usability

    def driver_class(name):
        return type(name, (), {"usable_here": staticmethod(lambda: Usability(*usability[name]))})
    env.setattr(lessons, "DRIVERS", dict.fromkeys(usability, "test:Fake"))
    env.setattr(lessons, "driver_class", driver_class)


def test_the_first_driver_that_runs_here_is_chosen_with_what_was_passed_over(env):
    _registry(env, namespaces=(False, "not root on Linux", "this machine cannot run the namespace lab"),
              docker=(False, "cannot reach the Docker engine at unix:///x"),
              userns=(True, "user namespaces work here: the nodes are yours"))
    choice = choose()
    assert choice == Choice("live", "not root on Linux, and cannot reach the Docker engine at unix:///x, "
                                    "and user namespaces work here: the nodes are yours", "userns")


def test_a_forced_driver_is_the_only_one_tried(env):
    _registry(env, namespaces=(True, "root on Linux: the namespace lab runs here"),
              docker=(False, "cannot reach the Docker engine at unix:///x"))
    env.setenv("SWARMLAB_DRIVER", "docker")
    assert choose() == Choice(REPLAY, "no local lab: SWARMLAB_DRIVER=docker, and cannot reach the Docker "
                                      "engine at unix:///x")
    env.setenv("SWARMLAB_DRIVER", "namespaces")
    assert choose() == Choice("live", "root on Linux: the namespace lab runs here", "namespaces")


def test_a_forced_driver_that_cannot_run_here_may_stop_the_lesson(env):
    _registry(env, namespaces=(False, "not root on Linux", "this machine cannot run the namespace lab "
                                                           "(root on Linux; see `swarmlab check`)"),
              docker=(True, "a Docker engine answers"))
    env.setenv("SWARMLAB_DRIVER", "namespaces")
    with pytest.raises(SwarmlabError, match=r"^SWARMLAB_DRIVER=namespaces, but this machine cannot run the "
                                            r"namespace lab \(root on Linux; see `swarmlab check`\)$"):
        choose()
    env.delenv("SWARMLAB_DRIVER")
    assert choose() == Choice("live", "not root on Linux, and a Docker engine answers", "docker")


def test_with_neither_driver_here_the_lesson_says_why_for_each(env):
    from swarmlab.lab.driver import Usability
    from swarmlab.lab.namespaces import driver as namespaces
    from swarmlab.lab.userns.driver import UsernsDriver
    env.setattr(namespaces, "can_run_lab", lambda: False)
    env.setattr(UsernsDriver, "usable_here", classmethod(lambda cls: Usability(False, "no subordinate ids")))
    env.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    choice = choose()
    assert choice.backend == REPLAY
    assert choice.reason.startswith("no local lab: not root on Linux, and no subordinate ids, and cannot reach the "
                                    "Docker engine at unix:///nonexistent/docker.sock: ")
    with pytest.raises(SwarmlabError, match="^no live lab here: not root on Linux, and no subordinate ids, and "
                                            "cannot reach"):
        choose("live")


def test_replay_shows_the_newest_docker_recorded_unless_swarmlab_docker_names_one(monkeypatch, tmp_path):
    from swarmlab import lessons
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    for lesson in ("01", "02"):
        (old / f"{lesson}.json").write_text("{}")
    (new / "01.json").write_text("{}")
    monkeypatch.setattr(lessons, "RECORDED_DOCKERS", {"20": ("20.10", old), "28": ("28.5", new)})
    monkeypatch.delenv("SWARMLAB_DOCKER", raising=False)
    assert lessons.recording_path("01") == new / "01.json"
    assert lessons.recording_path("02") == old / "02.json"  # not recorded on 28: the newest that is
    monkeypatch.setenv("SWARMLAB_DOCKER", "20")
    assert lessons.recording_path("01") == old / "01.json"
    monkeypatch.setenv("SWARMLAB_DOCKER", "26")
    with pytest.raises(SwarmlabError, match=r"SWARMLAB_DOCKER=26: the recordings are of Docker 20.10 and 28.5"):
        lessons.recording_path("01")


def test_the_replay_says_which_docker_the_nodes_ran(monkeypatch, capsys):
    from swarmlab.lessons import open_lesson
    monkeypatch.setenv("SWARMLAB_DOCKER", "20")
    open_lesson("00", backend="replay")
    assert "the nodes on Docker 20.10." in capsys.readouterr().out
