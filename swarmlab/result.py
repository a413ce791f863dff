"""The one Result type every way of running a command returns."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import CommandError


@dataclass(frozen=True)
class Result:
    """What a command printed and how it ended, on which node."""

    node: str
    command: str
    stdout: str
    stderr: str
    exit_code: int
    duration: float = 0.0  # seconds
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self, hint: str = "") -> "Result":
        """Return self when the command succeeded, else raise CommandError."""
        if not self.ok:
            raise CommandError(self, hint)
        return self

    def __str__(self) -> str:
        return self.stdout

    def _repr_pretty_(self, printer, cycle):  # IPython shows it like a terminal
        printer.text(self.terminal())

    def terminal(self) -> str:
        """The command and its output, as a terminal shows them."""
        text = f"[{self.node}]$ {self.command}\n{self.stdout}"
        if self.stderr:
            text += self.stderr
        if not self.ok:
            text += f"(exit code {self.exit_code})\n"
        return text
