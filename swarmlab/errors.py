"""Errors a person can act on: what failed, where, and what to try.

Every error swarmlab raises is a SwarmlabError, named `...Error`:

    SwarmlabError
        LabError                the local lab could not be built, reached or taken down
            LabReplacedError    the lab was taken down or replaced while this `up` used it
            LabNotYoursError    a lab of that name is another user's: left alone
            NodeDeadError       a node's namespace holder is gone (or its PID is another process's)
            NodeAccessError     a node this user may not enter (root's namespaces): not a dead one
        CommandError            a command on a node failed where success was required
        InventoryError          an inventory file swarmlab cannot use
        RecordingError          a recording cannot be read, or lacks a command replayed
            NotRunInReplayError a drill's replay lacks a command the student typed (shown as one line)
        ParseError              command output whose layout could not be read
        UsageError              a value a swarmlab function cannot use (also a ValueError)
        NoFreeSubnetError       no subnet is clear of a node's routes and networks (also a ValueError)
        StagingError            a lesson cannot set up, or put back, the hosts of an inventory
        ClaimError              a lesson says something its output does not show (also an AssertionError)
        EditionError            a translated edition of the lessons that cannot be built (a missing translation)
        DrillRunningError       a drill already runs on the swarm: a second would stack its fault
        NotGradableError        a drill's repair cannot be judged here: a replay runs nothing (one line)
        NotRepairedError        a drill's check still fails (also an AssertionError; one line)
        EvidenceError           evidence that quotes lines its command did not print
        ClassroomError          a classroom (JupyterHub for a class) that cannot be set up, started or stopped
        CourseError             an nbgrader step of the course (generate, release, ..., feedback) failed
        SSHError                a host could not be reached or used over SSH
            UnknownHostKeyError, HostKeyMismatchError, SSHConnectionRefusedError,
            SSHUnreachableError, SSHAuthenticationError
"""


class SwarmlabError(Exception):
    """Base class: every swarmlab error says what went wrong and what to do."""


class LabError(SwarmlabError):
    """The local lab could not be built, reached or taken down."""


class LabReplacedError(LabError):
    """The lab an `up` built was taken down, or replaced by another lab of that name."""


class LabNotYoursError(LabError):
    """A lab of that name was made by another user (or on another machine): this command leaves it
    alone, and its message never suggests a command that would remove it."""


class NodeDeadError(LabError):
    """A lab node cannot be entered: `reason` says why, in a few words."""

    def __init__(self, node: str, lab: str, reason: str):
        self.node, self.lab, self.reason = node, lab, reason
        super().__init__(f"node {node} of lab {lab} is dead: {reason}; take the lab down with "
                         f"`swarmlab lab down --name {lab}`, then bring it up again")


class NodeAccessError(LabError):
    """This user may not enter a lab's nodes (a namespaces lab is root's): the nodes may be
    healthy, so the message never advises taking the lab down."""

    def __init__(self, lab: str, why: str):
        self.lab = lab
        super().__init__(f"lab {lab}: {why}; only root can enter its nodes: `sudo swarmlab ...`, or reach them "
                         f"over SSH from a lab brought up with --host-link (`swarmlab run {lab} -- CMD`)")


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


class InventoryError(SwarmlabError):
    """An inventory file is missing or says something swarmlab cannot use."""


class RecordingError(SwarmlabError):
    """A recording file cannot be read, or a replay asked for something it does not hold."""


class _ShownAsItsMessage:
    """Shown in a notebook as its message alone (IPython's `_render_traceback_`): what to do, not
    where in swarmlab it was raised. For errors a student meets in a graded cell."""

    def _render_traceback_(self):
        return [f"{type(self).__name__}: {self}"]


class NotRunInReplayError(_ShownAsItsMessage, RecordingError):
    """A drill's replay was asked for a command its recorded run did not type: it did not run."""


class ParseError(SwarmlabError):
    """Command output whose layout could not be read."""

    def __init__(self, what: str, lineno: int, line: str, reason: str):
        self.what, self.lineno, self.line, self.reason = what, lineno, line, reason
        super().__init__(
            f"cannot parse {what} output, line {lineno}: {reason}\n"
            f"  {line!r}\n"
            "  hint: pass the command's own stdout, unedited and complete"
        )


class UsageError(SwarmlabError, ValueError):
    """A swarmlab function was given a value it cannot use (a table without the columns it
    needs, a claim that is not a sentence). A ValueError too, as before it had its own class."""


class NoFreeSubnetError(SwarmlabError, ValueError):
    """No candidate subnet is clear of the node's routes, nameservers and networks.
    A ValueError too: callers (the doctor's rules) catch it as one."""


class StagingError(SwarmlabError):
    """A lesson cannot set up, or put back, the hosts of an inventory."""


class ClaimError(SwarmlabError, AssertionError):
    """The lesson says something its output does not show (an AssertionError, as a failed check is)."""


class EditionError(SwarmlabError):
    """A translated edition of the lessons that cannot be built as asked (a missing or unreadable translation)."""


class DrillRunningError(SwarmlabError):
    """A drill already runs on this swarm: a second one would stack its fault on the first."""


class NotGradableError(_ShownAsItsMessage, SwarmlabError):
    """A drill's repair cannot be judged here: a replay runs nothing."""


class NotRepairedError(_ShownAsItsMessage, SwarmlabError, AssertionError):
    """A drill's check still fails: the swarm is not repaired (an AssertionError, as a failed test is)."""


class ClassroomError(SwarmlabError):
    """A classroom (swarmlab/classroom/) that cannot be set up, started, reached or stopped."""


class CourseError(SwarmlabError):
    """A step of the nbgrader course failed (generate, release, fetch, submit, collect, autograde, feedback)."""


class EvidenceError(SwarmlabError):
    """Evidence was asked to quote lines that are not in its command's output (a bug in a check:
    evidence shows only what ran)."""


# --- SSH ---------------------------------------------------------------------------------
class SSHError(SwarmlabError):
    """A host could not be reached or used over SSH."""


class UnknownHostKeyError(SSHError):
    """The host's key is not in known_hosts (and trust-on-first-use was not asked for)."""


class HostKeyMismatchError(SSHError):
    """The host offered a different key than known_hosts holds for it."""


class SSHConnectionRefusedError(SSHError):
    """Nothing listens on the SSH port."""


class SSHUnreachableError(SSHError):
    """No answer from the host within the connect timeout."""


class SSHAuthenticationError(SSHError):
    """The host did not accept the user and key."""
