"""A student's progress through the lessons, recorded by the lessons themselves for a classroom.

Where: the folder SWARMLAB_PROGRESS_DIR names (the classroom's hub sets it for each student's
server): `<spool>/<student>/`, made by root, owned by that student, in a spool only root may
write. One file per lesson, `<lesson>.json`, rewritten as the lesson goes (opened, each claim
that held, a claim that failed, closed). Outside a classroom nothing is recorded.

Why it cannot be forged for another student: only the student may write into their own folder,
and the reader (`read_student`) believes a folder and a file only when the student's uid owns
them and neither is a link. A student can write their own record by hand; what the teacher's
page runs itself (the lab's state, the drill's check) is live, not read from here.
"""
from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

VARIABLE = "SWARMLAB_PROGRESS_DIR"


def _folder() -> Path | None:
    where = os.environ.get(VARIABLE)
    return Path(where) if where else None


def record(lesson_id: str, **fields) -> None:
    """Merge `fields` (backend, state, claims_passed, lab, failed) into this lesson's record.
    Never fails the lesson: a record that cannot be written is skipped (said on stderr)."""
    folder = _folder()
    if folder is None or not lesson_id:
        return
    path = folder / f"{lesson_id}.json"
    try:
        data = _load(path) or {"lesson": lesson_id}
        data.update(fields, updated=round(time.time(), 1))
        tmp = folder / f".{lesson_id}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, sort_keys=True) + "\n")
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except OSError as exc:
        import sys
        print(f"swarmlab: progress not recorded in {folder}: {exc.strerror or exc}", file=sys.stderr)


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def owned_by(path: Path, uid: int, kind) -> bool:
    """`path` is of `kind` (stat.S_ISDIR / S_ISREG), not a link, and owned by `uid`."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return st.st_uid == uid and kind(st.st_mode)


def read_student(spool: Path, student: str, uid: int) -> dict[str, dict]:
    """The lesson records in `spool/student` that the student's uid wrote (lesson id -> record)."""
    folder = spool / student
    if not owned_by(folder, uid, stat.S_ISDIR):
        return {}
    found = {}
    for path in sorted(folder.glob("*.json")):
        if owned_by(path, uid, stat.S_ISREG):
            data = _load(path)
            if isinstance(data, dict) and data.get("lesson") == path.stem:
                found[path.stem] = data
    return found
