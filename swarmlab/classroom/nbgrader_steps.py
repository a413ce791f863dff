"""One step of nbgrader's workflow for many lessons in one process: `python -m swarmlab.classroom.nbgrader_steps JSON`.

nbgrader's own commands take seconds each just to start; a step over nine lessons (and
autograde over every student) runs here through nbgrader's Python API (NbGraderAPI, its
converters and exchange classes: the same code its commands run), in one process. course.py
starts that process: as the student's Unix user for a student's step, with the lesson's
environment (SWARMLAB_BACKEND, ...) for autograde.
"""
from __future__ import annotations

import json
import sys

from ..startup import skip_slow_iri_checker

TEACHER_STEPS = ("generate", "release", "collect", "autograde", "feedback")
STUDENT_STEPS = ("fetch", "submit", "fetch_feedback")


def run(step: str, root: str, assignments: list[str], *, course_id: str, exchange: str,
        student: str | None = None, home: str | None = None, cell_timeout: int = 600) -> list[str]:
    """Run `step` for each assignment; return what went wrong, one line per assignment (empty: all done)."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.converters import Autograde
    from nbgrader.utils import capture_log, temp_attrs
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = home or root  # a student's steps work in their home
    config.CourseDirectory.course_id = course_id
    config.Exchange.root = exchange
    if home:
        config.Exchange.cache = f"{home}/.nbgrader-cache"
    config.ExecutePreprocessor.timeout = cell_timeout
    config.ExchangeReleaseAssignment.force = True  # the abc class: every exchange's release reads it
    api = NbGraderAPI(config=config)
    exchange_app = lambda name: getattr(api.exchange, name)(coursedir=api.coursedir, authenticator=api.authenticator,
                                                            parent=api)
    failed = []
    for assignment in assignments:
        if step == "generate":
            results = [api.generate_assignment(assignment, force=True, create=True)]
        elif step == "release":
            results = [api.release_assignment(assignment)]
        elif step == "collect":
            results = [api.collect(assignment, update=True)]
        elif step == "autograde":
            with temp_attrs(api.coursedir, assignment_id=assignment, student_id="*"):
                app = Autograde(coursedir=api.coursedir, parent=api)
                app.force, app.create_student = True, True
                results = [capture_log(app)]
        elif step == "feedback":
            results = [api.generate_feedback(assignment, force=True), api.release_feedback(assignment)]
        else:
            name = {"fetch": "FetchAssignment", "submit": "Submit", "fetch_feedback": "FetchFeedback"}[step]
            with temp_attrs(api.coursedir, assignment_id=assignment, student_id=student):
                results = [capture_log(exchange_app(name))]
        for result in results:
            if not result["success"]:
                said = [line for line in (result.get("log", "") + result.get("error", "")).splitlines() if line.strip()]
                errors = [line for line in said if "[ERROR]" in line or "Error" in line]
                failed.append(f"{assignment}: {(errors or said or ['no output'])[-1].strip()}")
    return failed


def main(argv: list[str]) -> int:
    skip_slow_iri_checker()
    request = json.loads(argv[0])
    failed = run(request.pop("step"), request.pop("root"), request.pop("assignments"), **request)
    for line in failed:
        print(line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
