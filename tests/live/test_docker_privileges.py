"""What an engine grants node containers is found out once and remembered between processes.
Its own module: no other lab may run on the engine meanwhile (a running node would answer)."""
from __future__ import annotations

import json
import time

from swarmlab.lab.docker.engine import EXPLICIT, LABEL_ID


def test_an_engine_is_asked_about_privileges_once_then_remembered(make_docker_lab, docker_engine, tmp_path,
                                                                  monkeypatch):
    """The first lab on an engine that refuses --privileged pays one refused container; the
    answer is kept in the user's cache, so a later `lab up` (another process: the memory of
    this one is cleared here) creates only its nodes, all at once."""
    from swarmlab.lab.docker import engine as lab_engine
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # this test's cache, gone with it
    remembered = lab_engine.privileges_file()
    assert remembered == tmp_path / "swarmlab" / "engine-privileges.json"
    client = docker_engine.client()

    def creates_for(make) -> tuple[object, int]:
        lab_engine._KNOWN_PRIVILEGES.clear()
        since = int(time.time()) - 1  # the engine runs on this machine: one clock
        lab = make()
        # node containers only (the refused --privileged one included), not the throwaway that
        # lists the engine host's addresses
        events = client.events(since=since, until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "event": "create",
                                        "label": [f"{LABEL_ID}={lab.id}", lab_engine.LABEL_NODE]})
        return lab, len(list(events))
    running = client.containers.list(filters={"label": lab_engine.LABEL_PRIVILEGES})
    assert not running, f"a lab is running on the test engine, so it is not asked: {[c.name for c in running]}"
    engine = client.info()["ID"]
    first, created = creates_for(make_docker_lab)
    assert first.driver.privileges == EXPLICIT and created == 3  # the refused --privileged one, then 2 nodes
    assert json.loads(remembered.read_text())[engine] == EXPLICIT
    first.down()
    later, created = creates_for(make_docker_lab)
    assert later.driver.privileges == EXPLICIT and created == 2
