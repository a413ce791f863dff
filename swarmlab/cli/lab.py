"""`swarmlab lab ...`: the lab on the command line: up, swarm, status, down, exec, shell, image,
and the faults a lab takes (inject, undo, faults) and restart-docker."""
from __future__ import annotations

import argparse
import os
import pty
import shlex
import sys

from .. import faults
from ..errors import SwarmlabError
from ..lab import DEBIAN_RELEASES, DRIVERS, NODE_IMAGE_SOURCES, node_rootfs, Lab, build_node_image, default_driver, ssh_hint, teardown


def add_commands(subparsers) -> None:
    """The `swarmlab lab` group and its actions."""
    lab = subparsers.add_parser("lab", help="the lab: real swarm nodes, as namespaces here (root) or "
                                             "containers on a Docker engine")
    labsub = lab.add_subparsers(metavar="ACTION")
    _add_up(labsub)
    _add_daily_actions(labsub)
    _add_image(labsub)
    _add_rootfs(labsub)
    _add_fault_actions(labsub)


DOCKER_HELP = ("docker driver: the Docker the nodes run, from the Debian release that ships it: "
               + ", ".join(f"{r.docker}: Debian {r.suite}'s {r.seen}" for r in DEBIAN_RELEASES.values())
               + "; built once from Debian's package registry with mmdebstrap (default: the node image's own)")


def _add_up(labsub) -> None:
    up = add_lab_command(labsub, "up", cmd_lab_up, "build the nodes and start their daemons")
    up.add_argument("--driver", choices=list(DRIVERS), default=None,
                    help="namespaces: nodes on this machine (root, Linux); docker: node containers on a "
                         "Docker engine (default: namespaces as root, docker otherwise or with --engine)")
    up.add_argument("--default-route", action="store_true",
                    help="docker driver: keep the nodes' default route (pulls from a registry then work; "
                         "without it a missing image fails at once)")
    up.add_argument("--nodes", type=int, default=2, help="number of nodes (default 2)")
    up.add_argument("--subnet", default="172.16.155.0/24", help="LAN subnet (default: the article's)")
    up.add_argument("--first-address", default=None, help="address of node1 (default .131 as in the article)")
    up.add_argument("--image", action="append", default=[], metavar="IMAGE",
                    help="also copy IMAGE into every node (repeatable), from the host's Docker "
                         "(docker driver: from the engine)")
    up.add_argument("--docker", choices=list(DEBIAN_RELEASES), default=None, help=DOCKER_HELP)
    up.add_argument("--swarm", action="store_true", help="also form the swarm (node1 manager)")
    up.add_argument("--host-link", action="store_true",
                    help="also cable this machine into the lab's LAN (a veth with the lab's last free "
                         "address), so any local user can SSH to the nodes; removed at `lab down`")


def _add_daily_actions(labsub) -> None:
    """swarm, status, down, exec, shell: what one does with a lab that is up."""
    def lab_cmd(name, func, help):
        return add_lab_command(labsub, name, func, help)

    lab_cmd("swarm", cmd_lab_swarm, "form the swarm on a lab that is up")
    lab_cmd("status", cmd_lab_status, "a table of the lab's nodes")
    down = lab_cmd("down", cmd_lab_down, "take the lab down completely (safe to repeat)")
    down.add_argument("--forget", action="store_true",
                      help="docker driver, engine gone for good: remove only this machine's record of the lab")
    down.add_argument("--force", action="store_true",
                      help="also a lab of that name another user made (on a shared engine): it is removed with "
                           "a warning naming its owner. Without it, `down` removes only a lab you made")
    ex = lab_cmd("exec", cmd_lab_exec, "run a command in a node, with this terminal's stdin, stdout and "
                                       "stderr; its exit code is passed through (128+N when killed by signal N)")
    ex.add_argument("-t", "--tty", action="store_true",
                    help="give the command a terminal even when stdin is not one (as `docker exec -t`)")
    ex.add_argument("-i", "--interactive", action="store_true",
                    help="accepted as in `docker exec -i`; stdin is always passed through")
    ex.add_argument("node")
    ex.add_argument("command", nargs=argparse.REMAINDER, help="after --")
    sh = lab_cmd("shell", cmd_lab_shell, "an interactive shell in a node")
    sh.add_argument("node")


def _add_image(labsub) -> None:
    img = labsub.add_parser("image", help="docker driver: build the node image on the engine (done on first use)")
    img.add_argument("--engine", default=None, metavar="URL", help="the Docker engine (default: as for `lab up`)")
    img.add_argument("--rebuild", action="store_true", help="build it again even if the engine has it")
    img.add_argument("--from", dest="source", choices=NODE_IMAGE_SOURCES, default="auto",
                     help="host-packages: this machine's docker.io and tools (no registry); dockerfile: "
                          "Docker Hub's debian image plus the same packages (needs a registry); debian: the --docker release's packages "
                          "(mmdebstrap); auto: the first that applies")
    img.add_argument("--docker", choices=list(DEBIAN_RELEASES), default=None, help=DOCKER_HELP)
    img.set_defaults(func=cmd_lab_image)


def _add_fault_actions(labsub) -> None:
    """inject, undo, faults and restart-docker: breaking a node on purpose, and the daemon's restart."""
    def lab_cmd(name, func, help):
        return add_lab_command(labsub, name, func, help)

    inject = lab_cmd("inject", cmd_lab_inject, "inject a fault into a node (see `swarmlab lab faults`)")
    inject.add_argument("fault", choices=list(faults.FAULTS))
    inject.add_argument("node")
    inject.add_argument("--rejoin", action="store_true",
                        help="for faults that act when a node joins (vpn-routes, pools-exhausted): leave and join again now")
    undo = lab_cmd("undo", cmd_lab_undo, "remove a fault injected into a node")
    undo.add_argument("fault", choices=list(faults.FAULTS))
    undo.add_argument("node")
    labsub.add_parser("faults", help="the faults inject knows").set_defaults(func=cmd_lab_faults)
    restart = lab_cmd("restart-docker", cmd_lab_restart_docker,
                      "restart a node's dockerd, as `systemctl restart docker` does on a host (inside a node, "
                      "`systemctl` and `service` manage the docker unit too)")
    restart.add_argument("node")



def add_lab_command(lab_subparsers, name, func, help):
    """A `swarmlab lab NAME` action, with the --name option every lab action takes."""
    sp = lab_subparsers.add_parser(name, help=help)
    sp.add_argument("--name", default="swarmlab", help="lab name (default: swarmlab)")
    sp.add_argument("--engine", default=None, metavar="URL",
                    help="docker driver: the Docker engine (default: what the lab was made on, else "
                         "DOCKER_HOST, the docker context, or the local socket); e.g. ssh://user@host")
    sp.set_defaults(func=func)
    return sp


def _progress(phase: str, seconds: float) -> None:
    print(f"  {seconds:5.2f} s  {phase}", file=sys.stderr, flush=True)


def cmd_lab_up(args) -> int:
    lab = Lab(name=args.name, nodes=args.nodes, subnet=args.subnet,
              first_address=args.first_address, images=tuple(args.image), host_link=args.host_link,
              driver=args.driver or default_driver(args.engine), engine=args.engine,
              default_route=args.default_route, docker=args.docker)
    lab.preflight()
    print(f"bringing up lab {lab.name} ({lab.describe()}): "
          + ", ".join(f"{n.name} {n.address}" for n in lab.nodes.values()), file=sys.stderr)
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
        print(ssh_hint(lab), file=sys.stderr)
    return 0


def _add_rootfs(labsub) -> None:
    fs = labsub.add_parser("rootfs", help="docker driver: download and build a --docker release's node root file "
                                          "system into the cache (no engine needed; `lab image` uses it)")
    fs.add_argument("--docker", choices=list(DEBIAN_RELEASES), required=True, help=DOCKER_HELP)
    fs.add_argument("--rebuild", action="store_true", help="build it again even if the cache has it")
    fs.set_defaults(func=cmd_lab_rootfs)


def cmd_lab_rootfs(args) -> int:
    print(node_rootfs(args.docker, rebuild=args.rebuild, progress=lambda line: print(line, file=sys.stderr, flush=True)))
    return 0


def cmd_lab_image(args) -> int:
    print(build_node_image(args.engine, rebuild=args.rebuild, source=args.source, docker=args.docker,
                           progress=lambda line: print(line, file=sys.stderr, flush=True)))
    return 0


def cmd_lab_swarm(args) -> int:
    lab = Lab.attach(args.name, engine=args.engine)
    lab.form_swarm()
    print(lab.manager.run("docker node ls").check().stdout, end="")
    return 0


def cmd_lab_status(args) -> int:
    print(Lab.attach(args.name, engine=args.engine).status().to_string(index=False))
    return 0


def cmd_lab_down(args) -> int:
    done = teardown(args.name, engine=args.engine, forget=args.forget, force=args.force)
    for owner in done.forced:
        print(f"swarmlab: warning: lab {args.name} ({done.where}) was not yours: {owner} made it; --force "
              f"removed it", file=sys.stderr)
    if done:
        print(f"lab {args.name} is {'forgotten' if args.forget else 'down'} ({done.said()})", file=sys.stderr)
    else:
        print(f"no lab named {args.name} was up ({done.driver} driver, {done.where}, made by {done.owner}); "
              f"nothing to take down", file=sys.stderr)
    return 0


def cmd_lab_exec(args) -> int:
    """Like `docker exec`: the command gets this process's stdin, stdout and stderr (a
    terminal when the caller has one), and this process becomes it, so a shell sees its
    exit status, 128+N when a signal killed it."""
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SwarmlabError("no command given; e.g. swarmlab lab exec node1 -- docker node ls")
    node = Lab.attach(args.name, engine=args.engine).node(args.node)
    text = command[0] if len(command) == 1 else shlex.join(command)
    argv = node.exec_args(["sh", "-c", text], terminal=args.tty or sys.stdin.isatty())
    sys.stdout.flush()
    sys.stderr.flush()
    if args.tty and not sys.stdin.isatty():
        return _run_in_new_terminal(argv)
    os.execvp(argv[0], argv)


END_OF_FILE = b"\x04"  # a terminal's VEOF (^D): at the start of a line, the reader's read() returns nothing


def _run_in_new_terminal(argv: list[str]) -> int:
    """Run argv on a new pseudo-terminal, relaying our stdin and stdout to it."""
    status = pty.spawn(argv, stdin_read=_stdin_then_end_of_file())
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _stdin_then_end_of_file():
    """A reader of our stdin (a pipe) for pty.spawn that, once the pipe ends, types ^D on the
    terminal, as a person would: pty.spawn alone stops reading and says nothing, and a
    command that reads the terminal to its end (`echo hi | lab exec -t node1 -- cat`) waits for ever."""
    last, ended = b"\n", False

    def read(fd: int) -> bytes:
        nonlocal last, ended
        data = os.read(fd, 1024)
        if data:
            last = data[-1:]
            return data
        if ended:
            return b""
        ended = True
        # After a partial line, the first ^D only hands that line over; the second ends the input.
        return END_OF_FILE if last == b"\n" else END_OF_FILE * 2
    return read


def cmd_lab_shell(args) -> int:
    argv = Lab.attach(args.name, engine=args.engine).node(args.node).shell_args()
    os.execvp(argv[0], argv)


def cmd_lab_inject(args) -> int:
    print(faults.inject(args.name, args.fault, args.node, rejoin=args.rejoin).terminal(), end="")
    return 0


def cmd_lab_restart_docker(args) -> int:
    node = Lab.attach(args.name, engine=getattr(args, "engine", None)).node(args.node)
    node.restart_docker()
    print(node.run("docker info --format 'dockerd {{.ServerVersion}} restarted on {{.Name}}; "
                   "swarm {{.Swarm.LocalNodeState}}'").check().stdout, end="")
    return 0


def cmd_lab_undo(args) -> int:
    print(faults.undo(args.name, args.fault, args.node).terminal(), end="")
    return 0


def cmd_lab_faults(args) -> int:
    print(faults.describe())
    return 0

