"""RecordingTransport: commands run through another transport, and a Recorder hears of each."""
from __future__ import annotations

from ..result import Result
from .base import Transport, TransportWrapper


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
