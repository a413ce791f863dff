"""What a lesson says it will change on an inventory's hosts (staging.plan), for every lesson."""
from __future__ import annotations

import pytest

from swarmlab import faults, lessons, staging
from swarmlab.cluster import Cluster
from swarmlab.headless import lesson_paths

RECORDING = lessons.RECORDINGS / "04.json"  # a real run whose node2 answers `ip -j addr`


@pytest.mark.parametrize("lesson", sorted(lessons.PREPARE))
def test_every_set_up_step_of_every_lesson_is_described(lesson):
    cluster = Cluster.from_recording(RECORDING)
    worker = cluster.node("node2")
    lines = staging.plan(cluster, worker, lessons.PREPARE[lesson], [])
    names = [step.__name__ for step in lessons.PREPARE[lesson]]
    routes = [line for line in lines if "ip route add" in line]
    if "_node2_fails_as_in_the_article" in names:
        assert [r.split()[4] for r in routes] == list(faults.VPN_ROUTES)
        assert all(r.startswith("node2: ") for r in routes)
    else:
        assert routes == []
    assert any("swarm init" in line for line in lines) == ("_swarm" in names)


def test_every_lesson_has_a_set_up():
    assert sorted(lessons.PREPARE) == sorted(p.name[:2] for p in lesson_paths())
