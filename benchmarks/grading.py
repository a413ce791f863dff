"""Every lesson graded live by nbgrader, one by one: the solutions handed in, autograded on real
labs (namespace labs, as root), with each lesson's score and seconds.

    python benchmarks/grading.py [--lessons 00,01,...]

The tests grade lessons 3 and 8 live (tests/live/test_classroom_grading.py) and every lesson in a
replay; this is the whole series live, which takes minutes. The load average is printed beside it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "live"))
from swarmlab.classroom import course  # noqa: E402
from swarmlab.lab import leftovers, teardown  # noqa: E402
from swarmlab.lessons import lesson_lab_name  # noqa: E402
from test_classroom_grading import answer, scores_of, teacher_answers  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", default=",".join(course.LESSONS))
    lessons = parser.parse_args().lessons.split(",")
    if os.geteuid() != 0:
        raise SystemExit("the live grading runs namespace labs: run it as root")
    os.environ["SWARMLAB_LESSON_PREFIX"] = f"bg{uuid.uuid4().hex[:4]}"
    print(f"before: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root, home = Path(tmp) / "course", Path(tmp) / "home" / "solved"
        course.setup(root, lessons)
        course.generate(root, lessons)
        course.release(root, lessons)
        course.fetch(root, "solved", home, lessons)
        for lesson in lessons:
            answer(home, lesson, teacher_answers(root, lesson))
        course.submit(root, "solved", home, lessons)
        course.collect(root, lessons)
        try:
            for lesson in lessons:
                started = time.monotonic()
                course.autograde(root, [lesson], backend="live", env={"SWARMLAB_DRIVER": "namespaces"})
                seconds = time.monotonic() - started
                score, most = scores_of(root)[("solved", lesson)]
                rows.append({"lesson": lesson, "score": score, "of": most, "seconds": round(seconds, 1),
                             "lab left": bool(leftovers(lesson_lab_name(lesson)))})
        finally:
            for lesson in lessons:
                teardown(lesson_lab_name(lesson))
    print(f"after:  load average {os.getloadavg()[0]:.1f}")
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    full = (table.score == table["of"]).all() and not table["lab left"].any()
    print("every lesson full marks, no lab left" if full else "** NOT every lesson full marks, or a lab left **")
    return 0 if full else 1


if __name__ == "__main__":
    sys.exit(main())
