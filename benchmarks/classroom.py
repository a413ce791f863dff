"""N students start lesson 01 at the same moment on this machine's classroom (a real hub).

    python benchmarks/classroom.py [--students 2,5,10] [--budget 60]

For each N: a classroom with N new student accounts; at one moment all N log in on the hub (PAM),
their JupyterLab servers start as themselves, and lesson 01 runs in each student's own kernel
(cell by cell, over the server's kernel API, as the browser sends them) up to the swarm formed
(`node ls` shows both nodes Ready: the lesson's own claim). Printed per N: seconds from login to
server ready and to swarm formed (median and worst), memory per student (PSS of every process of
the student's uid and subordinate ids: server, kernel, lab), MemAvailable's drop per student, and
whether N held (every swarm formed within --budget seconds). Then lesson.close() in every kernel,
and the classroom is removed (accounts, homes, limits).

Target: 10 students, each with a 2-node swarm formed, within 60 s of login. Needs root.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import nbformat  # noqa: E402
import requests  # noqa: E402
import websocket  # noqa: E402

from swarmlab.classroom import hub  # noqa: E402
from swarmlab.classroom.config import free_port  # noqa: E402
from swarmlab.classroom.install import shared_cache  # noqa: E402
from swarmlab.classroom.release import LESSONS_FOLDER  # noqa: E402
from swarmlab.classroom.setup import remove, setup  # noqa: E402
from swarmlab.lab.capacity import meminfo_mb  # noqa: E402
from swarmlab.lab.limits import Limits  # noqa: E402
from swarmlab.userns_check import subordinate_range  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LESSON = "01-build-the-swarm.ipynb"
FORMED_CLAIM = "node ls lists two nodes, both Ready"


class Student:
    """One student's run: log in, wait for the server, run lesson 01 in their own kernel."""

    def __init__(self, room, name: str, password: str):
        self.room, self.name, self.password = room, name, password
        self.times: dict[str, float] = {}
        self.error = ""
        self.ws = None
        self.cells: list[str] = []

    def run_until_formed(self, start: float) -> None:
        try:
            session = requests.Session()
            session.get(f"{self.room.url}/hub/login", timeout=60)
            session.post(f"{self.room.url}/hub/login", timeout=300, data={
                "username": self.name, "password": self.password, "_xsrf": session.cookies.get("_xsrf")})
            token = self._server_token()
            self._wait_ready(start)
            self.times["server ready"] = time.monotonic() - start
            self._open_kernel(token)
            notebook = nbformat.read(ROOT / "notebooks" / LESSON, as_version=4)
            self.cells = [c.source for c in notebook.cells
                          if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])]
            for source in self.cells[:-1]:  # all but lesson.close()
                printed = self.execute(source)
                if FORMED_CLAIM in printed and "formed" not in self.times:
                    self.times["formed"] = time.monotonic() - start
            if "formed" not in self.times:
                self.error = "the lesson never said the swarm was formed"
        except Exception as exc:  # one line per student in the table
            self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.execute(self.cells[-1])
            finally:
                self.ws.close()

    def _server_token(self) -> str:
        request = requests.post(f"{self.room.url}/hub/api/users/{self.name}/tokens", timeout=60, json={},
                                headers={"Authorization": f"token {self.room.token_file.read_text().strip()}"})
        request.raise_for_status()
        return request.json()["token"]

    def _wait_ready(self, start: float, timeout: float = 300) -> None:
        while not (hub.servers(self.room).get(self.name) or {}).get("ready"):
            if time.monotonic() - start > timeout:
                raise TimeoutError("server not ready")
            time.sleep(0.5)

    def _open_kernel(self, token: str) -> None:
        base = f"{self.room.url}/user/{self.name}"
        headers = {"Authorization": f"token {token}"}
        kernel = requests.post(f"{base}/api/kernels", json={"name": "python3", "path": LESSONS_FOLDER},
                               headers=headers, timeout=120)
        kernel.raise_for_status()
        url = base.replace("http", "ws", 1) + f"/api/kernels/{kernel.json()['id']}/channels"
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {token}"], timeout=300)

    def execute(self, code: str) -> str:
        """One cell in the kernel; what it printed (stream and results). Raises on an error."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({"header": {"msg_id": msg_id, "username": self.name, "session": "bench",
                                            "msg_type": "execute_request", "version": "5.3"},
                                 "parent_header": {}, "metadata": {}, "channel": "shell",
                                 "content": {"code": code, "silent": False, "store_history": True,
                                             "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        printed, replied, idle = [], False, False
        while not (replied and idle):  # the reply (shell) may come before the last output (iopub)
            message = json.loads(self.ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                printed.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                printed.append(content.get("data", {}).get("text/plain", ""))
            elif kind == "error":
                raise RuntimeError(f"{content['ename']}: {content['evalue'][:200]}")
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
        return "".join(printed)


def memory_mb(names: list[str]) -> dict[str, float]:
    """PSS in MB of every process whose uid is the student's or in the student's subordinate range."""
    import pwd
    owners = {}
    for name in names:
        start, count = subordinate_range(name, "subuid")
        owners[name] = (pwd.getpwnam(name).pw_uid, range(start, start + count))
    totals = {name: 0.0 for name in names}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            uid = proc.stat().st_uid
            rollup = (proc / "smaps_rollup").read_text()
        except OSError:
            continue
        for name, (own, subids) in owners.items():
            if uid == own or uid in subids:
                pss = next((int(l.split()[1]) for l in rollup.splitlines() if l.startswith("Pss:")), 0)
                totals[name] += pss / 1024
    return totals


def mem_available() -> int:
    return meminfo_mb(Path("/proc/meminfo").read_text())["MemAvailable"]




def one_size(n: int, budget: float) -> dict:
    tag = f"{random.randint(0, 999):03d}"
    names = [f"bch{tag}s{i:02d}" for i in range(n)]
    folder = Path(tempfile.mkdtemp(prefix="swarmlab-classroom-bench-"))
    room = setup(folder, f"bch{tag}t", names, create_accounts=True, port=free_port(), idle_timeout=3600,
                 student_limits=Limits(), proxy_prefix=shared_cache() / "chp",
                 venv=shared_cache() / "classroom-venv", say=lambda line: None)
    try:
        passwords = dict(line.split("\t") for line in next(folder.glob("passwords-*.txt")).read_text().splitlines())
        hub.start(room, say=lambda line: None)
        before = mem_available()
        students = [Student(room, name, passwords[name]) for name in names]
        start = time.monotonic()
        threads = [threading.Thread(target=s.run_until_formed, args=(start,)) for s in students]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        memory = memory_mb(names)
        drop = (before - mem_available()) / n
        for s in students:
            s.close()
        formed = [s.times["formed"] for s in students if "formed" in s.times]
        ready = [s.times["server ready"] for s in students if "server ready" in s.times]
        errors = [f"{s.name}: {s.error}" for s in students if s.error]
        return {"students": n, "server ready median s": _r(statistics.median(ready)) if ready else None,
                "server ready worst s": _r(max(ready)) if ready else None,
                "swarm formed median s": _r(statistics.median(formed)) if formed else None,
                "swarm formed worst s": _r(max(formed)) if formed else None,
                "PSS MB/student": _r(statistics.mean(memory.values())),
                "MemAvailable drop MB/student": _r(drop),
                "holds": not errors and len(formed) == n and max(formed) <= budget,
                "errors": "; ".join(errors)[:300]}
    finally:
        hub.stop(room, say=lambda line: None)
        remove(room, say=lambda line: None)


def _r(x: float) -> float:
    return round(x, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", default="2,5,10", help="class sizes, comma-separated")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds from login to every swarm formed")
    args = parser.parse_args()
    rows = []
    for n in (int(x) for x in args.students.split(",")):
        load = Path("/proc/loadavg").read_text().split()[0]
        row = one_size(n, args.budget)
        row["load before"] = load
        rows.append(row)
        print(json.dumps(row), flush=True)
    import pandas as pd
    table = pd.DataFrame(rows)
    print(table.drop(columns="errors").to_string(index=False))
    held = [r["students"] for r in rows if r["holds"]]
    print(f"\nlargest N that held (every swarm formed within {args.budget:.0f} s of login): "
          f"{max(held) if held else 'none'}")


if __name__ == "__main__":
    main()
