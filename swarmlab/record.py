"""`swarmlab.record.Recorder`, where the README and docs/inventory.md import it from.

The Recorder lives with the recording format and its reader in swarmlab.transport.recording.
"""
from .transport.recording import Recorder  # noqa: F401
