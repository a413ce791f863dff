"""How the CLI ends on Ctrl-C and SIGTERM: one line and the shell's exit code, also when the signal's
exception surfaced as another one (threading raises "release unlocked lock" when the signal lands
inside a lock's bookkeeping, as CI saw during `lab up`)."""
from __future__ import annotations

import argparse
import signal

import pytest

from swarmlab.cli import Terminated, _run


def command_raising(first: BaseException, then: BaseException | None = None):
    def func(_args):
        try:
            raise first
        except BaseException:
            if then is None:
                raise
            raise then  # noqa: B904 - the chain is what is under test
    return argparse.Namespace(func=func)


@pytest.mark.parametrize("first, code, said", [(Terminated(), 128 + signal.SIGTERM, "swarmlab: terminated (SIGTERM)"),
                                               (KeyboardInterrupt(), 130, "swarmlab: interrupted")])
@pytest.mark.parametrize("then", [None, RuntimeError("release unlocked lock")], ids=["itself", "behind-another"])
def test_a_signal_ends_the_command_in_one_line(first, code, said, then, capsys):
    assert _run(command_raising(first, then)) == code
    assert capsys.readouterr().err == said + "\n"


def test_any_other_error_is_not_taken_for_a_signal():
    with pytest.raises(RuntimeError, match="release unlocked lock"):
        _run(command_raising(ValueError("x"), RuntimeError("release unlocked lock")))
