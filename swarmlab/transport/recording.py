"""Recordings in one place: the file format, masking its secrets, the writer and the reader.

- `Recorder` records every command run on a Cluster or a single Transport and saves the
  session as JSON (`RecordingTransport` is what it puts around each node's transport);
- `Masker` replaces secrets by placeholders, the same way when writing and when replaying;
- `load_recording` reads a file back and checks it; swarmlab.transport.replay answers from it.

A lesson recorded once on a real lab can be replayed where no lab can run (no root, no
Linux): `Cluster.from_recording(path)` answers every command with what the recorded
session printed, in the same order.

The format (version 1)::

    {"format": "swarmlab-recording", "version": 1,
     "created": "2024-05-01T12:00:00+00:00",     # when recording started (UTC)
     "source": "lab swarmlab",                     # what was recorded
     "masked": true,                               # secrets replaced by placeholders
     "nodes": [{"name": "node1", "address": "172.16.155.131", "role": "manager"}, ...],
     "runs": [{"seq": 1, "node": "node1", "command": "docker swarm init ...",
               "stdout": "...", "stderr": "", "exit_code": 0,
               "duration": 0.41,                   # seconds
               "time": "2024-05-01T12:00:01.5+00:00"}, ...]}   # when the command started

`seq` numbers the runs in the order they started. Standard input is not recorded.

Secrets are masked unless the Recorder is given `keep_secrets=True`: swarm join tokens (SWMTKN-1-...),
swarm unlock keys (SWMKEY-1-...), private key blocks, and any value registered with
`add_secret`. The same secret always becomes the same placeholder, in commands and
outputs alike (`SWMTKN-1-masked-1`, see Masker), so a replayed `join-token` prints the
placeholder, and the `swarm join --token SWMTKN-1-masked-1` that follows finds its
recorded run. The replay side masks each incoming command the same way before it
looks it up.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import RecordingError
from ..result import Result
from .base import Transport, TransportWrapper

FORMAT = "swarmlab-recording"
VERSION = 1


# --- masking -----------------------------------------------------------------------------
# No \b before it: `token_SWMTKN-1-...` (a word character just before) is a token too.
_TOKEN = re.compile(r"(SWMTKN|SWMKEY)-1-(?!masked-)[A-Za-z0-9+/=_-]+")
# A block cut short (no END line: output truncated) is masked to the end of the text.
_PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.S)


class Masker:
    """Replaces secrets by placeholders; the same secret always gets the same placeholder.

    Swarm tokens become `SWMTKN-1-masked-1`, `SWMTKN-1-masked-2`... in the order they
    are first seen; a private key block keeps its BEGIN/END lines around
    `masked-key-1`; registered secrets become `masked-secret-1`... in the order they
    were registered (so the replay side, given the same secrets, masks them alike), or
    `masked-NAME` when registered with a name.

    Placeholders use only characters the shell leaves alone, so `shlex.join` does not
    quote them: a replayed command built from a list matches the recorded one.
    """

    def __init__(self, secrets=()):
        self._tokens: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._registered: dict[str, str] = {}
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str, name: str | None = None) -> None:
        if not isinstance(secret, str) or not secret:
            raise RecordingError(f"a secret to mask must be a non-empty string, got {secret!r}")
        if name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise RecordingError(f"bad secret name {name!r}: use letters, digits, '.', '-' or '_'")
        if secret not in self._registered:
            self._registered[secret] = f"masked-{name or f'secret-{len(self._registered) + 1}'}"

    def mask(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._registered, key=len, reverse=True):
            text = text.replace(secret, self._registered[secret])
        text = _PRIVATE_KEY.sub(self._mask_private_key, text)
        return _TOKEN.sub(self._mask_token, text)

    def _mask_token(self, match: re.Match) -> str:
        number = self._tokens.setdefault(match.group(0), str(len(self._tokens) + 1))
        return f"{match.group(1)}-1-masked-{number}"

    def _mask_private_key(self, match: re.Match) -> str:
        number = self._keys.setdefault(match.group(0), str(len(self._keys) + 1))
        kind = match.group(1)
        return f"-----BEGIN {kind}PRIVATE KEY-----\nmasked-key-{number}\n-----END {kind}PRIVATE KEY-----"


def load_recording(path: str | Path) -> dict:
    """Read a recording file and check that it is one swarmlab can replay."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordingError(f"recording {path} not found") from None
    except ValueError as exc:  # UnicodeDecodeError too
        raise RecordingError(f"recording {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordingError(f"{path} is not a swarmlab recording (no \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise RecordingError(f"recording {path} has version {data.get('version')!r}; this swarmlab reads "
                             f"version {VERSION}: update swarmlab, or record the session again")
    for key in ("nodes", "runs"):
        if not isinstance(data.get(key), list):
            raise RecordingError(f"recording {path}: `{key}` is missing or not a list")
    _check_runs(path, data["runs"])
    return data


RUN_KEYS = {"node": str, "command": str, "stdout": str, "stderr": str, "exit_code": int}


def _check_runs(path: Path, runs: list) -> None:
    """Every run has what a replay reads from it; else one line naming the run and the key."""
    for i, run in enumerate(runs):
        if not isinstance(run, dict):
            raise RecordingError(f"recording {path}: run {i} is not an object")
        for key, kind in RUN_KEYS.items():
            if not isinstance(run.get(key), kind):
                raise RecordingError(f"recording {path}: run {i} has no {kind.__name__} `{key}`; "
                                     f"record the session again")


# --- writing -----------------------------------------------------------------------------
class Recorder:
    """Records every command run through it, on a Cluster or a single Transport.

    >>> rec = Recorder(connect("swarmlab"))
    >>> rec.cluster.manager.run("docker node ls")
    >>> rec.save("session.json")

    or `with Recorder(cluster, "session.json") as rec: ...`, which saves at the end.
    A cluster is taken by what it offers (its nodes, `source`, `with_transports`), so this
    module, below swarmlab.cluster, does not import it.
    """

    def __init__(self, target, path: str | Path | None = None, *, keep_secrets: bool = False, secrets=(),
                 mode: int = 0o600):
        self.path = Path(path) if path else None
        self.mode = mode  # of the saved file: only its owner reads it, unless asked otherwise
        self.keep_secrets = keep_secrets
        self._masker_args: list[tuple[str, str | None]] = []
        for secret in secrets:
            self.add_secret(secret)
        self._runs: dict[int, dict] = {}
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self.created = _now()
        if isinstance(target, Transport):
            self.transport = RecordingTransport(target, self)
            self.cluster = None
            self.source = f"transport {target.node_name}"
            self._nodes = [{"name": target.node_name, "address": target.address, "role": ""}]
        else:
            self.transport = None
            self.cluster = self.wrap(target)
            self.source = target.source
            self._nodes = [{"name": n.name, "address": n.address, "role": n.role} for n in target]

    def wrap(self, cluster):
        """The same nodes as `cluster`, their commands recorded into this recording too
        (e.g. a second way of reaching the same nodes, such as SSH)."""
        return cluster.with_transports(lambda node: RecordingTransport(node.transport, self))

    def add_secret(self, secret: str, name: str | None = None) -> None:
        """Mask this value wherever it appears (e.g. a password passed in a command)."""
        Masker().add(secret, name)  # checks it now, not at save time
        self._masker_args.append((secret, name))

    def record(self, run: Callable[[], Result]) -> Result:
        """Call `run()` (one command on one node) and keep what it returned.

        Runs are numbered when they start, so commands run at once on several nodes
        keep the order in which they were sent, whichever ends first.
        """
        with self._lock:
            seq, started = next(self._seq), time.time()
        result = run()
        with self._lock:
            self._runs[seq] = _run_entry(seq, started, result)
        return result

    def to_dict(self) -> dict:
        """The recording in the documented format (secrets masked unless keep_secrets)."""
        with self._lock:
            runs = [dict(self._runs[seq]) for seq in sorted(self._runs)]
        if not self.keep_secrets:
            masker = Masker()
            for secret, name in self._masker_args:
                masker.add(secret, name)
            for run in runs:
                for field in ("command", "stdout", "stderr"):
                    run[field] = masker.mask(run[field])
        return {"format": FORMAT, "version": VERSION, "created": self.created, "source": self.source,
                "masked": not self.keep_secrets, "nodes": self._nodes, "runs": runs}

    def save(self, path: str | Path | None = None) -> Path:
        path = Path(path) if path else self.path
        if path is None:
            raise RecordingError("no file to save the recording to; give a path: recorder.save('session.json')")
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.mode)
        os.fchmod(fd, self.mode)  # also when the file was there before
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.path:
            self.save()


class RecordingTransport(TransportWrapper):
    """Runs commands through `inner` and gives each run to `recorder` to keep."""

    def __init__(self, inner: Transport, recorder: Recorder):
        super().__init__(inner)
        self.recorder = recorder

    def run(self, command, *, input=None, timeout=120) -> Result:
        return self.recorder.record(lambda: self.inner.run(command, input=input, timeout=timeout))

    def answered(self, command, answer) -> Result:
        return self.recorder.record(lambda: self.inner.answered(command, answer))


def _run_entry(seq: int, started: float, result: Result) -> dict:
    """One run as the format writes it (see the module's docstring)."""
    return {"seq": seq, "node": result.node, "command": result.command, "stdout": result.stdout,
            "stderr": result.stderr, "exit_code": result.exit_code, "duration": round(result.duration, 6),
            "time": _iso(started)}


def _now() -> str:
    return _iso(time.time())


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()
