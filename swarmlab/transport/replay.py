"""ReplayTransport: a node of a recorded session answers with what it printed then.

The k-th run of a command on a node gets the k-th recorded run of it (the format is
swarmlab.transport.recording's). `AsOfNowTransport` only looks: it answers as of the replay's
current moment and never advances it (what a widget clicked later must do).
"""
from __future__ import annotations

import threading
from collections import Counter, defaultdict
from datetime import datetime

from ..errors import RecordingError
from ..result import Result
from .base import Transport, TransportWrapper, command_text
from .recording import Masker


class ReplayClock:
    """Time as the recorded session lived it: `now()` is when the last replayed command
    ended, and `sleep()` returns at once, so polling loops replay in an instant and
    still see the recorded seconds."""

    def __init__(self):
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        pass

    def saw(self, run: dict) -> None:
        if run.get("time"):
            ended = datetime.fromisoformat(run["time"]).timestamp() + run.get("duration", 0.0)
            self._now = max(self._now, ended)


class ReplayTransport(Transport):
    """Answers the k-th run of a command on a node with the k-th recorded run of it."""

    kind = "replay"
    replays = True

    def __init__(self, node_name: str, runs: list[dict], *, source: str = "a recording",
                 masker: Masker | None = None, clock: ReplayClock | None = None):
        self.clock = clock or ReplayClock()
        self.node_name = node_name
        self.source = source
        self.masker = masker  # None when the recording kept its secrets
        self._recorded: dict[str, list[dict]] = defaultdict(list)
        for run in sorted(runs, key=lambda r: r.get("seq", 0)):
            self._recorded[run["command"]].append(run)
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def run(self, command, *, input=None, timeout=120) -> Result:
        key = self._key(command)
        with self._lock:
            recorded = self._recorded.get(key, [])
            k = self._calls[key]
            if k >= len(recorded):
                raise RecordingError(self._missing(key, len(recorded), k))
            self._calls[key] += 1
        run = recorded[k]
        self.clock.saw(run)
        return Result(self.node_name, run["command"], run["stdout"], run["stderr"], run["exit_code"],
                      run.get("duration", 0.0), extra={"seq": run.get("seq"), "time": run.get("time")})

    def answered(self, command, answer) -> Result:
        return self.run(command)  # nothing is done in a replay: the recorded run answers

    def commands(self) -> list[str]:
        """The recorded command strings for this node, in the order they were first run."""
        return list(self._recorded)

    def recorded(self, command) -> list[Result]:
        """Every recorded run of `command`, in order, WITHOUT advancing the replay
        (so a look from a widget leaves the lesson's own commands their answers).
        Raises RecordingError, as run() does, when it was never recorded."""
        key = self._key(command)
        runs = self._recorded.get(key, [])
        if not runs:
            raise RecordingError(self._missing(key, 0, 0))
        return [Result(self.node_name, r["command"], r["stdout"], r["stderr"], r["exit_code"],
                       r.get("duration", 0.0), extra={"seq": r.get("seq"), "time": r.get("time")})
                for r in runs]

    def as_of_now(self, command) -> tuple[Result, str]:
        """(result, note) for `command`, without advancing the replay.

        The answer is the last recorded run the replay has reached (the state at this
        point of the lesson), or the first one when the lesson has not got there yet.
        Raises RecordingError when the command was never recorded on this node.
        """
        runs = self.recorded(command)
        now = self.clock.now()
        reached = [i for i, r in enumerate(runs) if recorded_end(r) <= now + 1e-6]
        i = reached[-1] if reached else 0
        note = (f"replayed: recorded run {i + 1} of {len(runs)} of this command (the state at this point of the lesson)"
                if reached else
                f"replayed: recorded run {i + 1} of {len(runs)} of this command (the lesson has not reached it yet)")
        return runs[i], note

    def _key(self, command) -> str:
        text = command_text(command)
        return self.masker.mask(text) if self.masker else text

    def _missing(self, command: str, times: int, k: int) -> str:
        if times:
            return (f"{self.source}: `{command}` on {self.node_name} was recorded {times} time"
                    f"{'s' if times > 1 else ''}; this is run {k + 1}. Replay runs each command as often "
                    f"as the recorded session did; record the session again to change it")
        known = list(self._recorded)
        hint = f"; it holds {len(known)} command(s) for {self.node_name}, e.g. `{known[0]}`" if known else \
            f"; it holds no command for {self.node_name}"
        return f"{self.source}: `{command}` on {self.node_name} was never recorded{hint}"


def replay_transports(data: dict, source: str, secrets=(), clock: ReplayClock | None = None) -> dict[str, ReplayTransport]:
    """One ReplayTransport per node of a loaded recording, sharing one masker and one clock."""
    clock = clock or ReplayClock()
    masker = None
    if data.get("masked", True):
        masker = Masker(secrets)
    by_node = defaultdict(list)
    for run in data["runs"]:
        by_node[run["node"]].append(run)
    names = [n["name"] for n in data["nodes"]] + [n for n in by_node if n not in {m["name"] for m in data["nodes"]}]
    return {name: ReplayTransport(name, by_node.get(name, []), source=source, masker=masker, clock=clock)
            for name in names}


def recorded_end(result: Result) -> float:
    """When a replayed run ended in the recorded session (epoch seconds; 0 when not recorded)."""
    stamp = result.extra.get("time")
    if not stamp:
        return 0.0
    return datetime.fromisoformat(stamp).timestamp() + result.duration


class AsOfNowTransport(TransportWrapper):
    """A replay transport's answers as of now; never advances the replay."""

    def __init__(self, inner: ReplayTransport):
        super().__init__(inner)

    def run(self, command, *, input=None, timeout=120) -> Result:
        return self.inner.as_of_now(command)[0]

    def answered(self, command, answer) -> Result:
        return self.run(command)
