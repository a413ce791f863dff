"""The teacher's page: a JupyterHub service (HubOAuth) that only the teacher's account may open.

For each student: which lessons ran and how many of their claims passed (the records the lessons
wrote, progress.py, believed only from the student's own uid), their server, their labs (nodes and
each node's swarm state, asked live as the student), their drill's `check`, and their grades (the
course's gradebook, which `swarmlab classroom grade` fills). It refreshes on a
button, exports CSV, and starts one drill with one seed on every student's lab.

Run by the hub: `python -m swarmlab.classroom.teacher DIR/classroom.json`.
"""
from __future__ import annotations

import csv
import html
import io
import json
import os
import pwd
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import progress
from .config import Classroom
from .labs import run as run_as_student

LESSONS = ("00", "01", "02", "03", "04", "05", "06", "07", "08")


class Board:
    """What the page shows, gathered at once for every student (each student's labs asked in parallel)."""

    def __init__(self, room: Classroom, hub_api):
        self.room = room
        self.hub_api = hub_api  # callable(path) -> JSON, the hub's REST API with the service's token
        self.drills: dict[str, dict] = {}  # student -> last drill start / check answer

    def rows(self) -> list[dict]:
        try:
            servers = {u["name"]: u.get("servers", {}).get("", {}) for u in self.hub_api("/users")}
        except OSError:
            servers = {}
        with ThreadPoolExecutor(max_workers=4) as pool:
            labs = dict(zip(self.room.students, pool.map(
                lambda s: run_as_student(self.room, s, ["labs"], timeout=60), self.room.students)))
        grades = gradebook(self.room)
        return [self._row(s, servers.get(s), labs[s], grades.get(s, {})) for s in self.room.students]

    def _row(self, student: str, server, labs, grades: dict) -> dict:
        try:
            uid = pwd.getpwnam(student).pw_uid
        except KeyError:
            uid = -1
        return {"student": student, "server": _server_state(server),
                "lessons": progress.read_student(self.room.spool, student, uid),
                "labs": labs, "drill": self.drills.get(student, {}), "grades": grades}

    def start_drill(self, seed: int) -> None:
        """The same seed on every student's lab (the one lab each has up)."""
        def one(student):
            labs = run_as_student(self.room, student, ["labs"], timeout=60)
            if not isinstance(labs, list) or not labs:
                return {"error": "no lab up"}
            return run_as_student(self.room, student, ["drill-start", labs[0]["name"], str(seed)], timeout=300)
        with ThreadPoolExecutor(max_workers=4) as pool:
            for student, answer in zip(self.room.students, pool.map(one, self.room.students)):
                self.drills[student] = {"started": answer}

    def check_drills(self) -> None:
        def one(student):
            lab = self.drills.get(student, {}).get("started", {}).get("lab")
            if not lab:
                return {"error": "no drill started here"}
            return run_as_student(self.room, student, ["drill-check", lab], timeout=300)
        with ThreadPoolExecutor(max_workers=4) as pool:
            for student, answer in zip(self.room.students, pool.map(one, self.room.students)):
                self.drills.setdefault(student, {})["check"] = answer


def gradebook(room: Classroom) -> dict[str, dict[str, str]]:
    """Each student's scores from the course's gradebook (`classroom grade` fills it): lesson -> "3/4"."""
    from ..errors import CourseError
    from . import course
    try:
        table = course.scores(room.course_dir)
    except CourseError:  # nothing graded yet
        return {}
    found: dict[str, dict[str, str]] = {}
    for row in table.itertuples():
        found.setdefault(row.student, {})[row.lesson] = f"{row.score:g}/{row.max_score:g}"
    return found


def grades_cell(grades: dict) -> str:
    return ", ".join(f"{lesson}: {score}" for lesson, score in sorted(grades.items()))


def _server_state(server) -> str:
    if not server:
        return "stopped"
    return "ready" if server.get("ready") else (server.get("pending") or "starting")


def lesson_cell(record: dict | None) -> str:
    if not record:
        return ""
    text = f"{record.get('state', '?')}, {record.get('claims_passed', 0)} claims passed"
    return text + (f"; failed: {record['failed']}" if record.get("failed") else "")


def labs_cell(labs) -> str:
    if isinstance(labs, dict):
        return f"? ({labs.get('error', '')})"
    if not labs:
        return "no lab up"
    return "; ".join(f"{lab['name']}: {lab['nodes']} nodes, swarm "
                     + ", ".join(f"{node} {state}" for node, state in lab["swarm"].items()) for lab in labs)


def drill_cell(drill: dict) -> str:
    if not drill:
        return ""
    check = drill.get("check")
    started = drill.get("started", {})
    if check:
        if "error" in check:
            return f"check: {check['error']}"
        return "repaired" if check["passed"] else "not repaired: " + ", ".join(check["failed"])
    if "error" in started:
        return f"not started: {started['error']}"
    return f"started on {started.get('lab')} (seed {started.get('seed')})"


def as_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "server", *(f"lesson {n}" for n in LESSONS), "claims passed", "labs", "drill",
                     "grades"])
    for row in rows:
        lessons = row["lessons"]
        writer.writerow([row["student"], row["server"], *(lesson_cell(lessons.get(n)) for n in LESSONS),
                         sum(r.get("claims_passed", 0) for r in lessons.values()), labs_cell(row["labs"]),
                         drill_cell(row["drill"]), grades_cell(row["grades"])])
    return out.getvalue()


def as_html(rows: list[dict], prefix: str, xsrf: str, seconds: float, every: int = 0) -> str:
    """The page; with `every` (seconds), the browser reloads it by itself."""
    e = html.escape
    reload = f'<meta http-equiv="refresh" content="{every}">' if every > 0 else ""
    head = "".join(f"<th>{e(h)}</th>" for h in ["student", "server", *(f"lesson {n}" for n in LESSONS), "labs", "drill",
                                                      "grades"])
    body = "".join(
        f"<tr data-student='{e(r['student'])}'><td>{e(r['student'])}</td><td class='server'>{e(r['server'])}</td>"
        + "".join(f"<td class='lesson-{n}'>{e(lesson_cell(r['lessons'].get(n)))}</td>" for n in LESSONS)
        + f"<td class='labs'>{e(labs_cell(r['labs']))}</td><td class='drill'>{e(drill_cell(r['drill']))}</td>"
        + f"<td class='grades'>{e(grades_cell(r['grades']))}</td></tr>"
        for r in rows)
    return f"""<!doctype html><html><head><meta charset="utf-8">{reload}<title>swarmlab classroom</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}} td,th{{border:1px solid #999;padding:4px;font-size:13px}}</style>
</head><body><h1>swarmlab classroom</h1>
<p><a id="refresh" href="{e(prefix)}">refresh</a> · <a id="auto" href="{e(prefix)}?every=30">every 30 s</a>
 · <a id="csv" href="{e(prefix)}progress.csv">CSV</a>
 · gathered at {time.strftime('%H:%M:%S')} in {seconds:.1f} s</p>
<table id="students"><tr>{head}</tr>{body}</table>
<form method="post" action="{e(prefix)}drill">{xsrf}
 <label>one drill for the class, seed <input name="seed" type="number" required></label>
 <button name="action" value="start">start</button> <button name="action" value="check">check every student</button>
</form></body></html>"""


def make_app(room: Classroom):
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from jupyterhub.utils import url_path_join
    from tornado import web

    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/teacher/")
    api_url = os.environ["JUPYTERHUB_API_URL"]
    token = os.environ["JUPYTERHUB_API_TOKEN"]

    def hub_api(path):
        import urllib.request
        request = urllib.request.Request(api_url + path, headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    board = Board(room, hub_api)

    class Page(HubOAuthenticated, web.RequestHandler):
        @web.authenticated
        def get(self):
            started = time.monotonic()
            rows = board.rows()
            every = int(self.get_argument("every", "0") or 0)
            self.write(as_html(rows, prefix, self.xsrf_form_html(), time.monotonic() - started, min(max(every, 0), 3600)))

    class Csv(HubOAuthenticated, web.RequestHandler):
        @web.authenticated
        def get(self):
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", "attachment; filename=classroom-progress.csv")
            self.write(as_csv(board.rows()))

    class Drill(HubOAuthenticated, web.RequestHandler):
        @web.authenticated
        def post(self):
            if self.get_argument("action") == "start":
                board.start_drill(int(self.get_argument("seed")))
            else:
                board.check_drills()
            self.redirect(prefix)

    return web.Application([
        (prefix, Page), (url_path_join(prefix, "progress.csv"), Csv), (url_path_join(prefix, "drill"), Drill),
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32), xsrf_cookies=True)


def main(argv: list[str]) -> int:
    from tornado.ioloop import IOLoop
    from urllib.parse import urlparse
    room = Classroom(**json.loads(Path(argv[0]).read_text()))
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    make_app(room).listen(url.port, url.hostname)
    try:
        IOLoop.current().start()
    except KeyboardInterrupt:  # the hub stops its services with SIGINT
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
