"""Errors a person can act on: what failed, where, and what to try."""


class SwarmlabError(Exception):
    """Base class: every swarmlab error says what went wrong and what to do."""


class LabError(SwarmlabError):
    """The local lab could not be built, reached or taken down."""


class CommandError(SwarmlabError):
    """A command on a node exited non-zero where success was required."""

    def __init__(self, result, hint: str = ""):
        self.result = result
        message = (
            f"on {result.node}: `{result.command}` exited {result.exit_code}"
            + (f": {result.stderr.strip()}" if result.stderr.strip() else "")
        )
        if hint:
            message += f"\n  hint: {hint}"
        super().__init__(message)
