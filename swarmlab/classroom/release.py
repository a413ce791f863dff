"""The lessons a student gets on first login: without their solutions, by `swarmlab lessons
strip`'s rule (cells tagged `solution` dropped). The nbgrader course (course.py) is its own: its
copies stop at each exercise until it is answered, so handing those out is more than this module.
"""
from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

LESSONS_FOLDER = "lessons"  # in each student's home


def release_lessons(target: Path) -> list[Path]:
    """Write the student copies of every lesson into `target`; return their paths."""
    from .. import headless
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in headless.lesson_paths():
        headless.strip_solutions(path, target / path.name)
        written.append(target / path.name)
    return written


def hand_out(release: Path, student: str) -> Path | None:
    """First login: copy the released lessons into the student's ~/lessons, theirs to change; a
    student who has the folder already keeps it as it is. Returns the folder when it was made."""
    info = pwd.getpwnam(student)
    folder = Path(info.pw_dir) / LESSONS_FOLDER
    if folder.exists() or folder.is_symlink():
        return None
    folder.mkdir(mode=0o700)
    for path in sorted(release.glob("*.ipynb")):
        shutil.copyfile(path, folder / path.name)
    for path in (folder, *folder.iterdir()):
        os.chown(path, info.pw_uid, info.pw_gid, follow_symlinks=False)
    return folder

