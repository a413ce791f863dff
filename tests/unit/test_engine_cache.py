"""The docker driver's cache of what each engine granted: a cache that cannot be written costs
nothing but a trial container next time, and leaves nothing behind."""
from __future__ import annotations

from types import SimpleNamespace

from swarmlab.lab.docker import engine


def an_engine(engine_id: str):
    return SimpleNamespace(info=lambda: {"ID": engine_id})


def test_what_an_engine_granted_is_remembered_in_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "_KNOWN_PRIVILEGES", {})
    cache = tmp_path / "swarmlab" / "engine-privileges.json"
    engine.remember_privileges(an_engine("E1"), engine.EXPLICIT, cache)
    monkeypatch.setattr(engine, "_KNOWN_PRIVILEGES", {})  # another process: only the file knows
    assert engine.known_privileges(an_engine("E1"), cache) == engine.EXPLICIT
    assert sorted(p.name for p in cache.parent.iterdir()) == ["engine-privileges.json"]


def test_a_cache_that_cannot_be_written_leaves_no_temp_file(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "_KNOWN_PRIVILEGES", {})
    cache = tmp_path / "swarmlab" / "engine-privileges.json"
    cache.mkdir(parents=True)  # the cache's name taken by a folder
    for _ in range(2):
        engine.remember_privileges(an_engine("E2"), engine.PRIVILEGED, cache)
    assert sorted(p.name for p in cache.parent.iterdir()) == ["engine-privileges.json"]
    assert engine.known_privileges(an_engine("E2"), cache) == engine.PRIVILEGED  # this process still knows
