"""The Recorder: what ran on which node and what it printed, saved as JSON to replay later.

A lesson recorded once on a real lab can be replayed where no lab can run (no root,
no Linux): `Cluster.from_recording(path)` answers every command with what the
recorded session printed, in the same order (swarmlab.transport.replay). The file
format and how secrets are masked in it: swarmlab.transport.recording.
"""
from __future__ import annotations

import itertools
import json
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from .errors import RecordingError
from .result import Result
from .transport import Transport
from .transport.recording import FORMAT, VERSION, Masker, RecordingTransport

# --- recording ---------------------------------------------------------------------------
class Recorder:
    """Records every command run through it, on a Cluster or a single Transport.

    >>> rec = Recorder(connect("swarmlab"))
    >>> rec.cluster.manager.run("docker node ls")
    >>> rec.save("session.json")

    or `with Recorder(cluster, "session.json") as rec: ...`, which saves at the end.
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

    def _start(self) -> tuple[int, float]:
        with self._lock:
            return next(self._seq), time.time()

    def _finish(self, seq: int, started: float, result: Result) -> None:
        run = {"seq": seq, "node": result.node, "command": result.command, "stdout": result.stdout,
               "stderr": result.stderr, "exit_code": result.exit_code, "duration": round(result.duration, 6),
               "time": _iso(started)}
        with self._lock:
            self._runs[seq] = run

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


def _now() -> str:
    return _iso(time.time())


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()
