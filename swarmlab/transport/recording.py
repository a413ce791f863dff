"""A recorded session: its file format, masking its secrets, and the transport that records.

swarmlab.record's Recorder writes recordings through RecordingTransport;
swarmlab.transport.replay reads them back (load_recording) and answers from them.

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

import json
import re
from pathlib import Path

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
    except ValueError as exc:
        raise RecordingError(f"recording {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordingError(f"{path} is not a swarmlab recording (no \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise RecordingError(f"recording {path} has version {data.get('version')!r}; this swarmlab reads "
                             f"version {VERSION}: update swarmlab, or record the session again")
    for key in ("nodes", "runs"):
        if not isinstance(data.get(key), list):
            raise RecordingError(f"recording {path}: `{key}` is missing or not a list")
    return data


# --- recording ---------------------------------------------------------------------------


class RecordingTransport(TransportWrapper):
    """Runs commands through `inner` and tells `recorder` (a swarmlab.record.Recorder) what ran."""

    def __init__(self, inner: Transport, recorder):
        super().__init__(inner)
        self.recorder = recorder

    def run(self, command, *, input=None, timeout=120) -> Result:
        seq, started = self.recorder._start()
        result = self.inner.run(command, input=input, timeout=timeout)
        self.recorder._finish(seq, started, result)
        return result
