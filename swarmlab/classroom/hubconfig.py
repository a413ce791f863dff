"""What the classroom's jupyterhub_config.py does (it calls `configure(c, classroom.json)`).

- the proxy on the classroom's listen address (127.0.0.1 by default), with TLS when it has a
  certificate (tls.py); the hub on 127.0.0.1, its state in DIR/hub/;
- PAM: students log in with their Unix account's password, on the hub's own login page;
- LocalProcessSpawner with the hub as root: each student's JupyterLab runs as that student,
  in their home, with SWARMLAB_BACKEND=live (their lab: the userns driver, no root) and their
  progress folder;
- before each start: the progress folder, and the lessons not yet fetched (nbgrader's fetch, as
  the student, release.py); nbgrader's Assignments list in JupyterLab; a server that stops takes
  the student's labs down with it (this is also what the idle culler's stop does);
- services: the teacher's page (HubOAuth; only the teacher may open it), jupyterhub-idle-culler,
  and `classroom`, the token the `swarmlab classroom` command uses.
"""
from __future__ import annotations

import asyncio
import json
import os
import pwd
from pathlib import Path

from .. import startup
from .config import Classroom
from .labs import SAFE_PATH, run as run_as_student
from .release import LESSONS_FOLDER, hand_out

TEACHER_SERVICE = "teacher"
CULLER_SERVICE = "idle-culler"
CLI_SERVICE = "classroom"


def configure(c, classroom_json: str) -> None:
    room = Classroom(**json.loads(Path(classroom_json).read_text()))
    _hub(c, room)
    _spawner(c, room)
    c.JupyterHub.services = services(room)
    c.JupyterHub.load_roles = roles(room)


def _hub(c, room: Classroom) -> None:
    hub = room.hub_dir
    c.JupyterHub.ip = room.ip
    c.JupyterHub.port = room.port
    if room.tls_cert:  # the proxy serves https on the listen address (the hub and its API stay on loopback)
        c.JupyterHub.ssl_cert = room.tls_cert
        c.JupyterHub.ssl_key = room.tls_key
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = room.hub_port
    c.JupyterHub.db_url = f"sqlite:///{hub / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(hub / "cookie_secret")
    c.JupyterHub.pid_file = str(room.pid_file)
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.cleanup_proxy = True
    c.ConfigurableHTTPProxy.command = [room.proxy]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{room.api_port}"
    c.ConfigurableHTTPProxy.auth_token = (hub / "proxy_token").read_text().strip()
    c.ConfigurableHTTPProxy.pid_file = str(hub / "proxy.pid")
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False  # no systemd-logind here; the spawner sets the user itself
    c.Authenticator.allowed_users = {room.teacher, *room.students}


def _spawner(c, room: Classroom) -> None:
    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [room.python, "-c", startup.SINGLEUSER]  # jupyterhub-singleuser, 2.3 s of CPU lighter
    c.Spawner.default_url = f"/lab/tree/{LESSONS_FOLDER}"
    c.Spawner.start_timeout = 120  # a busy 2-core machine takes its time for ten JupyterLabs at once
    c.Spawner.http_timeout = 120
    c.Spawner.environment = spawner_environment(room)

    async def before_start(spawner):  # nbgrader's fetch takes seconds: the hub serves others meanwhile
        await asyncio.to_thread(ready_for_start, room, spawner.user.name)

    c.Spawner.pre_spawn_hook = before_start

    async def labs_go_with_the_server(spawner):
        await asyncio.to_thread(run_as_student, room, spawner.user.name, ["down"])

    c.Spawner.post_stop_hook = labs_go_with_the_server


def spawner_environment(room: Classroom) -> dict:
    env = {"PATH": f"{Path(room.python).parent}:{SAFE_PATH}", "SWARMLAB_BACKEND": "live",
           "SWARMLAB_PROGRESS_DIR": lambda spawner: str(room.spool / spawner.user.name),
           "JUPYTER_CONFIG_PATH": str(room.jupyter_dir)}  # nbgrader's Assignments list: release.jupyter_config
    if room.pythonpath:
        env["PYTHONPATH"] = room.pythonpath
    return env


def ready_for_start(room: Classroom, name: str) -> None:
    """Before a student's server starts (as root): their progress folder, and the lessons released
    since their last start (nbgrader's fetch, as the student: release.hand_out)."""
    info = pwd.getpwnam(name)
    folder = room.spool / name
    if not folder.is_dir() or folder.is_symlink():
        folder.mkdir(mode=0o755)
    os.chown(folder, info.pw_uid, info.pw_gid, follow_symlinks=False)
    folder.chmod(0o755)
    hand_out(room, name)


def services(room: Classroom) -> list[dict]:
    env = {"PYTHONPATH": room.pythonpath} if room.pythonpath else {}
    return [
        {"name": TEACHER_SERVICE, "url": f"http://127.0.0.1:{room.teacher_port}", "oauth_no_confirm": True,
         "command": [room.python, "-m", "swarmlab.classroom.teacher", str(room.path / "classroom.json")],
         "environment": env, "display": True},
        {"name": CULLER_SERVICE,
         "command": [room.python, "-m", "jupyterhub_idle_culler", f"--timeout={room.idle_timeout}",
                     f"--cull-every={max(5, min(300, room.idle_timeout // 2))}"]},
        {"name": CLI_SERVICE, "api_token": room.token_file.read_text().strip()},
    ]


def roles(room: Classroom) -> list[dict]:
    return [
        {"name": "idle-culler", "services": [CULLER_SERVICE],
         "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
        {"name": "teacher-page", "services": [TEACHER_SERVICE], "scopes": ["list:users", "read:users", "read:servers"]},
        # The command (root's token): stop servers; and a token for a student's own server
        # (benchmarks/classroom.py runs lesson 01 in each student's kernel with it).
        {"name": "classroom", "services": [CLI_SERVICE],
         "scopes": ["list:users", "read:users", "read:servers", "delete:servers", "tokens"]},
        {"name": "teacher", "users": [room.teacher],
         "scopes": ["self", f"access:services!service={TEACHER_SERVICE}"]},
    ]
