"""The classroom's folder (root's, 0700) and its classroom.json: the one place its settings live.

    DIR/classroom.json        settings (below), root's, 0600
    DIR/jupyterhub_config.py  reads classroom.json through hubconfig.configure
    DIR/hub/                  the hub's database, cookie secret, pid file and log
    DIR/course/               the lessons as an nbgrader course (the teacher's, 0700): source,
                              release, submitted, autograded, feedback, gradebook.db
    DIR/exchange/             nbgrader's exchange: released lessons out, submissions in (1777, as /tmp)
    DIR/jupyter/              the students' servers' own Jupyter config (nbgrader's Assignments list)
    DIR/tls/                  a self-signed certificate and its key (--tls self-signed), 0700
    DIR/passwords-*.txt       passwords of accounts setup made, 0600 (root reads them)
    SPOOL (DIR/progress/)     one folder per student, that student's, for progress records (0755)
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ClassroomError

DEFAULT_DIR = Path("/var/lib/swarmlab/classroom")
VARIABLE = "SWARMLAB_CLASSROOM"  # another folder (a second classroom, the tests)


# The ports a classroom takes, from its public port p: the proxy (p), its REST API (p+1), the
# teacher's page (p+2) and the hub itself (p+81).
API_OFFSET, TEACHER_OFFSET, HUB_OFFSET = 1, 2, 81
PORT_OFFSETS = (0, API_OFFSET, TEACHER_OFFSET, HUB_OFFSET)


def free_port(low: int = 20000, high: int = 39000, tries: int = 50) -> int:
    """A public port p in [low, high] whose classroom ports are all free on loopback now."""
    import random
    import socket
    for _ in range(tries):
        base = random.randint(low, high)
        try:
            for offset in PORT_OFFSETS:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise ClassroomError(f"no port from {low} to {high} with its classroom ports free: pass --port")


@dataclass
class Classroom:
    dir: str
    teacher: str
    students: list[str]
    created: list[str] = field(default_factory=list)  # accounts setup made (teardown removes only these)
    port: int = 8000  # the proxy's public port, on 127.0.0.1 unless `ip` says otherwise
    ip: str = "127.0.0.1"  # the listen address (--listen); plain http only on loopback or with insecure_http
    tls_cert: str = ""  # the proxy serves https with these (JupyterHub's ssl_cert and ssl_key)
    tls_key: str = ""
    insecure_http: bool = False  # the teacher asked for plain http on a network address
    hub_port: int = 8081
    api_port: int = 8001  # the proxy's REST API
    teacher_port: int = 8002  # the teacher's page (a service)
    idle_timeout: int = 3600  # seconds before an idle student's server (and lab) is culled
    limits: dict = field(default_factory=dict)  # labs, nodes, memory_mb, for every student
    proxy: str = ""  # configurable-http-proxy's path
    python: str = ""  # the interpreter (its venv has jupyterhub, jupyterlab, swarmlab)
    pythonpath: str = ""  # swarmlab's source folder when it is not installed in that venv

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def hub_dir(self) -> Path:
        return self.path / "hub"

    @property
    def course_dir(self) -> Path:
        return self.path / "course"

    @property
    def exchange_dir(self) -> Path:
        return self.path / "exchange"

    @property
    def jupyter_dir(self) -> Path:
        """JUPYTER_CONFIG_PATH of every student's server: where nbgrader's Assignments list finds the course."""
        return self.path / "jupyter"

    @property
    def spool(self) -> Path:
        return self.path / "progress"

    @property
    def url(self) -> str:
        """Where students go: the listen address, or this server's name when it listens on every address."""
        import socket
        host = socket.getfqdn() if self.ip in ("0.0.0.0", "::", "") else self.ip
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls_cert else 'http'}://{host}:{self.port}"

    @property
    def hub_api_url(self) -> str:
        """The hub itself, always on 127.0.0.1 in plain http (the CLI's way in; no certificate to trust)."""
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    @property
    def pid_file(self) -> Path:
        return self.hub_dir / "jupyterhub.pid"

    @property
    def log_file(self) -> Path:
        return self.hub_dir / "jupyterhub.log"

    @property
    def token_file(self) -> Path:
        """The API token of the `classroom` service (the CLI's and the teacher page's way into the hub)."""
        return self.hub_dir / "api_token"

    def save(self) -> None:
        path = self.path / "classroom.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(self), indent=1) + "\n")
        os.replace(tmp, path)


def classroom_dir(given: str | None = None) -> Path:
    return Path(given or os.environ.get(VARIABLE) or DEFAULT_DIR)


def load(given: str | None = None) -> Classroom:
    folder = classroom_dir(given)
    try:
        return Classroom(**json.loads((folder / "classroom.json").read_text()))
    except FileNotFoundError:
        raise ClassroomError(f"no classroom in {folder}: `swarmlab classroom setup` first") from None
