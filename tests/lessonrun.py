"""Execute lessons headless and read what they printed."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from swarmlab.headless import lesson_paths, run_lesson


def run(lesson_prefix: str, backend: str, out: Path, directory: Path | None = None):
    paths = lesson_paths(directory) if directory else lesson_paths()
    path = next(p for p in paths if p.name.startswith(lesson_prefix))
    row = run_lesson(path, backend, out, timeout=300)
    return row, nbformat.read(out / path.name, as_version=4)


def printed(nb) -> str:
    """Everything the executed lesson showed as text (stdout, results, errors)."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
            parts.append(output.get("data", {}).get("text/html", ""))
            parts.extend(re.sub(r"\x1b\[[0-9;]*m", "", line) for line in output.get("traceback", []))
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
