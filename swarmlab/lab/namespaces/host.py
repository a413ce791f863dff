"""Commands run on the host itself (ip, nsenter, ...), with errors that say what failed."""
from __future__ import annotations

import subprocess

from ...errors import LabError


def host_run(args: list[str], *, input: bytes | None = None, check: bool = True,
             timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a host tool without a shell; raise LabError naming the command on failure."""
    try:
        proc = subprocess.run(args, input=input, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise LabError(f"`{args[0]}` is not installed; run `swarmlab check` to see what to install") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(args)}` did not finish within {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise LabError(f"`{' '.join(args)}` failed (exit {proc.returncode}): {err}")
    return proc
