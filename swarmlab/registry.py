"""Classes registered by name as "module:Class" and imported when first asked for: the
transports (swarmlab.transport.TRANSPORTS) and the lab drivers (swarmlab.lab.DRIVERS),
as pytest-testinfra registers its backends. A registry names what it holds; importing
the class only when asked keeps heavy imports (docker-py) out of everyone else's start."""
from __future__ import annotations

import importlib


def load(path: str) -> type:
    """The class at "module:Class", imported now."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)
