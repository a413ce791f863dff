"""The classroom's hub process: start it, ask its REST API, stop it leaving nothing behind."""
from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import ClassroomError
from . import labs
from .config import Classroom

START_TIMEOUT = 120.0  # a cold JupyterHub on a busy 2-core machine


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"


def recorded_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def running(room: Classroom) -> int | None:
    pid = recorded_pid(room.pid_file)
    return pid if pid_alive(pid) else None


def start(room: Classroom, say=print) -> int:
    """Start the hub (it starts its proxy and services) in a session of its own; wait until it answers."""
    if os.geteuid() != 0:
        raise ClassroomError("the hub starts each student's server as that student: start it as root")
    if running(room):
        raise ClassroomError(f"the classroom in {room.dir} is running (hub pid {running(room)}): "
                             f"`swarmlab classroom stop` first")
    env = {"PATH": f"{Path(room.python).parent}:{labs.SAFE_PATH}", "LANG": "C.UTF-8", "HOME": "/root"}
    if room.pythonpath:
        env["PYTHONPATH"] = room.pythonpath
    with open(room.log_file, "ab") as log:
        hub = subprocess.Popen([room.python, "-m", "jupyterhub", "-f", str(room.path / "jupyterhub_config.py")],
                               cwd=room.hub_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if hub.poll() is not None:
            raise ClassroomError(f"jupyterhub exited with {hub.returncode}: {_log_tail(room)}")
        try:  # the hub answers, and its proxy sends students to it (the hub adds that route last)
            if api(room, "GET", "/")["version"] and "/" in proxy_routes(room):
                break
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            _end(hub.pid, 10)
            raise ClassroomError(f"jupyterhub did not answer within {START_TIMEOUT:.0f} s: {_log_tail(room)}")
        time.sleep(0.5)
    say(f"classroom up: {room.url}/hub/login (hub pid {hub.pid}); teacher's page: "
        f"{room.url}/services/teacher/")
    return hub.pid


def api(room: Classroom, method: str, path: str, timeout: float = 10):
    """The hub's REST API with the classroom's token; the JSON answer (None when empty)."""
    token = room.token_file.read_text().strip()
    request = urllib.request.Request(room.hub_api_url + path, method=method,
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def proxy_routes(room: Classroom) -> dict:
    token = (room.hub_dir / "proxy_token").read_text().strip()
    request = urllib.request.Request(f"http://127.0.0.1:{room.api_port}/api/routes",
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def servers(room: Classroom) -> dict[str, dict]:
    """Each user the hub knows, with their default server's state ('' when none)."""
    return {u["name"]: u.get("servers", {}).get("", {}) for u in api(room, "GET", "/users")}


def stop(room: Classroom, say=print) -> list[str]:
    """Stop every student's server (their labs go with it), the hub, its proxy and services; then
    make sure: no student lab, no process of a student, no proxy route. Returns what was left."""
    hub_pid = running(room)
    if hub_pid:
        _stop_servers(room, say)
        extra = [path for path in proxy_routes(room) if path.startswith("/user/")]
        if extra:
            say(f"proxy routes to user servers still there after the servers stopped: {', '.join(extra)}")
        _end(hub_pid, 30)
        say(f"hub stopped (pid {hub_pid})")
    proxy_pid = recorded_pid(room.hub_dir / "proxy.pid")
    if pid_alive(proxy_pid) and _cmdline(proxy_pid).find("configurable-http-proxy") >= 0:
        _end(proxy_pid, 10)
    # A service the hub was still starting when it was told to stop outlives it (seen: the teacher's page)
    orphans = [(pid, line) for pid, line in _processes() if _of_this_hub(room, pid, line)]
    for pid, _ in orphans:
        _end(pid, 10)
    if orphans:
        say(f"ended {len(orphans)} process(es) the hub left: " + ", ".join(f"pid {pid}" for pid, _ in orphans))
    labs.run_for_each(room, [name for name in room.students if _exists(name)], ["down"])
    killed = kill_student_processes(room)
    if killed:
        say(f"ended {len(killed)} process(es) students left: " + ", ".join(killed))
    return leftovers(room)


def _stop_servers(room: Classroom, say) -> None:
    for name, server in servers(room).items():
        if server:
            try:
                api(room, "DELETE", f"/users/{name}/server")
            except urllib.error.HTTPError as exc:
                if exc.code != 400:  # 400: it is stopping already
                    raise
    deadline = time.monotonic() + 90
    while any(servers(room).values()):
        if time.monotonic() > deadline:
            say("servers still running after 90 s: " + ", ".join(n for n, s in servers(room).items() if s))
            return
        time.sleep(0.5)


def leftovers(room: Classroom) -> list[str]:
    """Everything of the classroom still running: hub, proxy, services, student processes, labs."""
    found = []
    if running(room):
        found.append(f"hub pid {running(room)}")
    for pid, line in _processes():
        if _of_this_hub(room, pid, line):
            found.append(f"pid {pid}: {line[:80]}")
    for name, up in labs.run_for_each(room, [n for n in room.students if _exists(n)], ["labs"]).items():
        if isinstance(up, dict):
            found.append(f"{name}'s labs unknown ({up.get('error')})")
        elif up:
            found.append(f"{name}'s labs: {', '.join(lab['name'] for lab in up)}")
    found += [f"a process of {name}" for name, _ in _student_pids(room)]
    return found


def kill_student_processes(room: Classroom) -> list[str]:
    """SIGTERM, then SIGKILL, every process a student of this classroom still runs (by uid)."""
    pids = _student_pids(room)
    for _, pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(pid_alive(pid) for _, pid in pids):
        time.sleep(0.2)
    for _, pid in pids:
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)
    return [f"{name} pid {pid}" for name, pid in pids]


def _student_pids(room: Classroom) -> list[tuple[str, int]]:
    uids = {pwd.getpwnam(n).pw_uid: n for n in room.students if _exists(n)}
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                uid = proc.stat().st_uid
            except OSError:
                continue
            if uid in uids and pid_alive(int(proc.name)):
                found.append((uids[uid], int(proc.name)))
    return found


def _processes():
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            line = _cmdline(int(proc.name))
            if line:
                yield int(proc.name), line


def _of_this_hub(room: Classroom, pid: int, line: str) -> bool:
    """The hub, its proxy, or a process it started (services, user servers, their kernels: each
    has the hub's API address in its environment)."""
    if f"jupyterhub -f {room.path / 'jupyterhub_config.py'}" in line:
        return True
    if "configurable-http-proxy" in line and f"--api-port {room.api_port}" in line:
        return True
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"JUPYTERHUB_API_URL={room.hub_api_url}".encode() in environ


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _signal(pid: int, sig) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _end(pid: int, timeout: float) -> None:
    """SIGTERM (the hub then stops its proxy and services), SIGKILL after `timeout`."""
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            _signal(pid, signal.SIGKILL)
            time.sleep(0.5)
            break
        time.sleep(0.2)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _log_tail(room: Classroom, lines: int = 8) -> str:
    try:
        return " | ".join(room.log_file.read_text().strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
