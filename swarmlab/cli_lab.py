"""`swarmlab lab up|swarm|status|down|exec|shell`: the local lab on the command line."""
from __future__ import annotations

import argparse
import os
import sys

from . import cli_connect
from .errors import SwarmlabError
from .lab import Lab, teardown
from .lab.lab import preflight


def add_commands(subparsers):
    """The `swarmlab lab` group and its actions; returns its subparsers, for more lab actions."""
    lab = subparsers.add_parser("lab", help="the local lab: real swarm nodes on this machine (root)")
    labsub = lab.add_subparsers(metavar="ACTION")

    def lab_cmd(name, func, help):
        return add_lab_command(labsub, name, func, help)

    up = lab_cmd("up", cmd_lab_up, "build the nodes and start their daemons")
    up.add_argument("--nodes", type=int, default=2, help="number of nodes (default 2)")
    up.add_argument("--subnet", default="172.16.155.0/24", help="LAN subnet (default: the article's)")
    up.add_argument("--first-address", default=None, help="address of node1 (default .131 as in the article)")
    up.add_argument("--image", action="append", default=[], metavar="IMAGE",
                    help="also copy IMAGE from the host's Docker into every node (repeatable)")
    up.add_argument("--swarm", action="store_true", help="also form the swarm (node1 manager)")
    up.add_argument("--host-link", action="store_true",
                    help="also cable this machine into the lab's LAN (a veth with the lab's last free "
                         "address), so any local user can SSH to the nodes; removed at `lab down`")
    lab_cmd("swarm", cmd_lab_swarm, "form the swarm on a lab that is up")
    lab_cmd("status", cmd_lab_status, "a table of the lab's nodes")
    lab_cmd("down", cmd_lab_down, "take the lab down completely (safe to repeat)")
    ex = lab_cmd("exec", cmd_lab_exec, "run a command in a node; its exit code is passed through")
    ex.add_argument("node")
    ex.add_argument("command", nargs=argparse.REMAINDER, help="after --")
    sh = lab_cmd("shell", cmd_lab_shell, "an interactive shell in a node")
    sh.add_argument("node")
    return labsub


def add_lab_command(lab_subparsers, name, func, help):
    """A `swarmlab lab NAME` action, with the --name option every lab action takes."""
    sp = lab_subparsers.add_parser(name, help=help)
    sp.add_argument("--name", default="swarmlab", help="lab name (default: swarmlab)")
    sp.set_defaults(func=func)
    return sp


def _progress(phase: str, seconds: float) -> None:
    print(f"  {seconds:5.2f} s  {phase}", file=sys.stderr, flush=True)


def cmd_lab_up(args) -> int:
    lab = Lab(name=args.name, nodes=args.nodes, subnet=args.subnet,
              first_address=args.first_address, images=tuple(args.image), host_link=args.host_link)
    preflight(lab.name)
    print(f"bringing up lab {lab.name}: " + ", ".join(f"{n.name} {n.address}" for n in lab.nodes.values()),
          file=sys.stderr)
    lab.up(progress=_progress)
    if args.swarm:
        try:
            lab.form_swarm()
        except BaseException:
            lab.down()
            raise
        print("  swarm formed", file=sys.stderr)
    print(lab.status().to_string(index=False))
    print(f"\nnext: swarmlab lab exec --name {lab.name} node1 -- docker node ls   |   "
          f"swarmlab lab down --name {lab.name}", file=sys.stderr)
    if args.host_link:
        print(cli_connect.ssh_hint(lab), file=sys.stderr)
    return 0


def cmd_lab_swarm(args) -> int:
    lab = Lab.attach(args.name)
    lab.form_swarm()
    print(lab.manager.run("docker node ls").check().stdout, end="")
    return 0


def cmd_lab_status(args) -> int:
    print(Lab.attach(args.name).status().to_string(index=False))
    return 0


def cmd_lab_down(args) -> int:
    teardown(args.name)
    print(f"lab {args.name} is down", file=sys.stderr)
    return 0


def cmd_lab_exec(args) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SwarmlabError("no command given; e.g. swarmlab lab exec node1 -- docker node ls")
    node = Lab.attach(args.name).node(args.node)
    result = node.run(command[0] if len(command) == 1 else command, timeout=None)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.exit_code


def cmd_lab_shell(args) -> int:
    argv = Lab.attach(args.name).node(args.node).shell_args()
    os.execvp(argv[0], argv)
