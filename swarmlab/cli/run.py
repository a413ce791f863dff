"""`swarmlab run`: one command on the nodes of any target (lab, inventory, recording)."""
from __future__ import annotations

import argparse
import codecs
import sys

from .. import staging
from ..cluster import connect
from ..errors import SwarmlabError
from ..transport import command_text


def add_commands(subparsers) -> None:
    run = subparsers.add_parser(
        "run", help="run a command on the nodes of a lab, an inventory of real hosts, or a recording",
        description="Run a command on every node (or one) of TARGET: a lab name, an inventory "
                    "(.toml/.yaml/.yml, real hosts over SSH) or a recording (.json, replayed). "
                    "Options go before TARGET, e.g. swarmlab run -n node1 hosts.toml -- docker node ls. "
                    "Exits with the first non-zero exit code.")
    run.add_argument("target", help="lab name, inventory file or recording file")
    run.add_argument("--node", "-n", action="append", default=[], metavar="NODE",
                     help="only this node (repeatable; default: every node)")
    run.add_argument("--via", choices=("local", "ssh"), default=None,
                     help="for a lab: through namespaces (root) or over SSH (default: local for root)")
    run.add_argument("--timeout", type=float, default=120, help="seconds per command (default 120)")
    run.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    run.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if command[:1] and command[0].startswith("-"):
        raise SwarmlabError(f"options go before TARGET: swarmlab run {command[0]} ... {args.target} -- COMMAND")
    if not command:
        raise SwarmlabError("no command given; e.g. swarmlab run hosts.toml -- docker node ls")
    text = command[0] if len(command) == 1 else command
    if note := staging.staged_note(args.target):  # a lesson killed before it put the hosts back
        print(f"swarmlab: note: {note}", file=sys.stderr)
    with connect(args.target, via=args.via) as cluster:
        nodes = [cluster.node(n) for n in args.node] or list(cluster)
        worst = 0
        for node in nodes:
            code = _run_on(node, text, args.timeout)  # every node runs, whatever the ones before did
            worst = worst or code
    return worst


def _run_on(node, command, timeout: float) -> int:
    """Run `command` on `node`, its output written here as it arrives; its exit code."""
    shown = _Terminal(sys.stdout)
    sys.stdout.write(f"[{node.name}]$ {command_text(command)}\n")
    result = node.stream(command, shown, timeout=timeout)
    shown.close(result.exit_code)
    return result.exit_code


class _Terminal:
    """One node's output laid out as Result.terminal() lays it out: stdout as it arrives,
    then stderr, then the exit code when not 0. Nothing is kept but stderr, and only up to
    HELD_STDERR bytes: past that it goes out as it comes (then mixed in with stdout), so a
    command that prints gigabytes costs no memory."""

    HELD_STDERR = 1 << 20

    def __init__(self, out):
        self.out = out
        self.decoders = {kind: codecs.getincrementaldecoder("utf-8")(errors="replace") for kind in (1, 2)}
        self.held: bytearray | None = bytearray()  # None once stderr is passed on as it comes

    def __call__(self, kind: int, data: bytes) -> None:
        if kind == 2 and self.held is not None:
            self.held += data
            if len(self.held) <= self.HELD_STDERR:
                return
            data, self.held = bytes(self.held), None
        self._write(kind, data)

    def close(self, exit_code: int) -> None:
        self._write(1, b"", final=True)
        self._write(2, bytes(self.held or b""), final=True)
        if exit_code:
            self.out.write(f"(exit code {exit_code})\n")
        self.out.flush()

    def _write(self, kind: int, data: bytes, final: bool = False) -> None:
        # Split UTF-8 sequences wait for their next chunk; bad bytes read as U+FFFD, as before.
        self.out.write(self.decoders[kind].decode(data, final))
        self.out.flush()  # now, not when a pipe's buffer fills: the reader sees lines as they come
