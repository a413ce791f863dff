"""Execute lessons headless and read what they printed."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from swarmlab.headless import lesson_paths, run_lesson


def run(lesson_prefix: str, backend: str, out: Path, directory: Path | None = None, lang: str = "en"):
    """Run one lesson (in `lang`: its edition, built from the English one, written under out/LANG/)."""
    paths = lesson_paths(directory) if directory else lesson_paths()
    path = next(p for p in paths if p.name.startswith(lesson_prefix))
    row = run_lesson(path, backend, out, timeout=300, lang=lang)
    return row, nbformat.read((out if lang == "en" else out / lang) / path.name, as_version=4)


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


def claims_in(lesson_prefix: str, directory: Path | None = None) -> int:
    """How many claim checks (lesson.expect...) the lesson's code cells make."""
    paths = lesson_paths(directory) if directory else lesson_paths()
    path = next(p for p in paths if p.name.startswith(lesson_prefix))
    nb = nbformat.read(path, as_version=4)
    return sum(c.source.count("lesson.expect") for c in nb.cells if c.cell_type == "code")


def with_claim_changed(lesson_prefix: str, old: str, new: str, target: Path) -> Path:
    """A copy of the lesson in `target` with one claim's condition changed (it must be there once)."""
    path = next(p for p in lesson_paths() if p.name.startswith(lesson_prefix))
    nb = nbformat.read(path, as_version=4)
    hits = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
    assert len(hits) == 1, f"{old!r} is in {len(hits)} cells of {path.name}"
    hits[0].source = hits[0].source.replace(old, new)
    target.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target / path.name)
    return target


def images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
