"""`swarmlab classroom setup|start|stop|status|grade|capacity|remove`: a JupyterHub for a class on this server."""
from __future__ import annotations

import sys
from pathlib import Path

from ..classroom import config, hub, roster
from ..classroom.setup import remove, setup
from ..errors import ClassroomError
from ..lab import capacity
from ..lab.limits import Limits


def add_commands(sub) -> None:
    room = sub.add_parser("classroom", help="a JupyterHub for a class on this server: a live lab for each student, "
                                            "the teacher's page")
    rsub = room.add_subparsers(metavar="ACTION")
    s = rsub.add_parser("setup", help="install the hub's parts, the class's accounts and limits, the lessons "
                                      "students get (as root)")
    s.add_argument("--teacher", required=True, help="the teacher's account (opens the teacher's page)")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--students", help="the students' accounts, comma-separated")
    who.add_argument("--class-list", metavar="FILE", help="the students' accounts, one a line")
    s.add_argument("--create-accounts", action="store_true",
                   help="make the accounts that are missing, each with a random password, shown once and kept "
                        "in a file only root may read")
    s.add_argument("--port", type=int, default=8000, help="the port students connect to (default 8000; the "
                                                          "proxy's API, the teacher's page and the hub take "
                                                          "port+1, port+2, port+81 on 127.0.0.1)")
    s.add_argument("--listen", default="127.0.0.1", metavar="ADDR",
                   help="the address students connect to (default 127.0.0.1; 0.0.0.0 for every address): "
                        "anything but loopback needs TLS, or --insecure-http")
    s.add_argument("--tls-cert", metavar="FILE", help="the server's certificate (full chain), e.g. certbot's "
                                                      "fullchain.pem: the classroom serves https")
    s.add_argument("--tls-key", metavar="FILE", help="its private key, readable by root only")
    s.add_argument("--tls", choices=["self-signed"], help="make a self-signed certificate for this server's names "
                                                          "and addresses (students must trust it)")
    s.add_argument("--insecure-http", action="store_true",
                   help="serve plain http on a network address: passwords cross the network in the clear")
    s.add_argument("--idle-timeout", type=int, default=3600, help="seconds before an idle student's server, and "
                                                                  "their lab, is stopped (default 3600)")
    s.add_argument("--max-labs", type=int, default=1, help="labs up at once per student (default 1)")
    s.add_argument("--max-nodes", type=int, default=2, help="nodes per lab (default 2)")
    s.add_argument("--max-memory", type=int, default=None, metavar="MB",
                   help=f"lab memory per student, counted as `lab up` does ({capacity.NODE_MEMORY_MB} MB a node; "
                        f"default: max-labs x max-nodes nodes)")
    s.add_argument("--proxy-prefix", default=None, metavar="DIR",
                   help="where npm installs configurable-http-proxy (default DIR/proxy)")
    s.add_argument("--venv", default=None, metavar="DIR",
                   help="the Python environment students' servers run from, made when missing (default DIR/venv)")
    s.add_argument("--base-python", default="/usr/bin/python3",
                   help="the python3 that --venv is made on: one every student may run (default /usr/bin/python3)")
    s.set_defaults(func=cmd_setup)
    for name, func, text in (("start", cmd_start, "start the hub, its proxy and services"),
                             ("stop", cmd_stop, "stop every student's server and lab, the hub and its proxy; "
                                                "check nothing is left"),
                             ("status", cmd_status, "the hub, each student's server and labs"),
                             ("remove", cmd_remove, "stop, then remove the limits, the accounts setup made, "
                                                    "and the classroom's folder")):
        rsub.add_parser(name, help=text).set_defaults(func=func)
    grade = rsub.add_parser("grade", help="nbgrader's collect, autograde and feedback of what students submitted, "
                                          "run as the teacher; the scores")
    grade.add_argument("--lessons", nargs="+", metavar="NN", default=None,
                       help="which lessons (default: all, 00 to 08)")
    grade.add_argument("--backend", choices=("live", "replay"), default="live",
                       help="where each submission runs again (default live: on the teacher's own userns lab)")
    grade.set_defaults(func=cmd_grade)
    cap = rsub.add_parser("capacity", help="how many students' labs this server's memory holds now")
    cap.add_argument("--nodes", type=int, default=2, help="nodes per student's lab (default 2)")
    cap.set_defaults(func=cmd_capacity)
    room.add_argument("--dir", default=None, help=f"the classroom's folder (default {config.DEFAULT_DIR}, "
                                                  f"or {config.VARIABLE})")


def _dir(args) -> str | None:
    return getattr(args, "dir", None)


def cmd_setup(args) -> int:
    students = (roster.read_class_list(Path(args.class_list).read_text()) if args.class_list
                else roster.read_class_list(args.students.replace(",", "\n")))
    max_memory = args.max_memory or args.max_labs * args.max_nodes * capacity.NODE_MEMORY_MB
    room = setup(config.classroom_dir(_dir(args)), args.teacher, students, create_accounts=args.create_accounts,
                 port=args.port, idle_timeout=args.idle_timeout,
                 student_limits=Limits(args.max_labs, args.max_nodes, max_memory),
                 proxy_prefix=Path(args.proxy_prefix).absolute() if args.proxy_prefix else None,
                 venv=Path(args.venv).absolute() if args.venv else None, base_python=args.base_python,
                 listen=args.listen, tls_mode=args.tls, tls_cert=args.tls_cert, tls_key=args.tls_key,
                 insecure_http=args.insecure_http,
                 say=lambda line: print(line, file=sys.stderr))
    print(f"classroom ready in {room.dir}: {len(students)} students, teacher {room.teacher}; "
          f"`swarmlab classroom start` serves it on {room.url}", file=sys.stderr)
    return 0


def cmd_start(args) -> int:
    hub.start(config.load(_dir(args)), say=print)
    return 0


def cmd_stop(args) -> int:
    left = hub.stop(config.load(_dir(args)), say=lambda line: print(line, file=sys.stderr))
    if left:
        raise ClassroomError("the classroom stopped, but these are left: " + "; ".join(left))
    print("classroom stopped: no server, lab, proxy route or student process left", file=sys.stderr)
    return 0


def cmd_status(args) -> int:
    from ..classroom import labs
    room = config.load(_dir(args))
    pid = hub.running(room)
    print(f"hub: {'running, pid ' + str(pid) + ', ' + room.url if pid else 'stopped'}")
    servers = hub.servers(room) if pid else {}
    for name, up in labs.run_for_each(room, room.students, ["labs"]).items():
        labs_text = (", ".join(f"{lab['name']} ({lab['nodes']} nodes)" for lab in up) or "no lab") \
            if isinstance(up, list) else up.get("error")
        server = servers.get(name)
        print(f"  {name:<20} server {'ready' if server and server.get('ready') else 'stopped':<8} {labs_text}")
    return 0


def cmd_grade(args) -> int:
    from ..classroom import release
    room = config.load(_dir(args))
    scores = release.grade(room, args.lessons, backend=args.backend)
    print(scores.to_string(index=False) if len(scores) else "no submission yet")
    print("feedback released: students fetch it from the Assignments list; the teacher's page shows the scores",
          file=sys.stderr)
    return 0


def cmd_capacity(args) -> int:
    from ..classroom.capacity import report
    print("\n".join(report(args.nodes)))
    return 0


def cmd_remove(args) -> int:
    room = config.load(_dir(args))
    left = hub.stop(room, say=lambda line: print(line, file=sys.stderr))
    remove(room, say=lambda line: print(line, file=sys.stderr))
    if left:
        raise ClassroomError("removed, but these were left running: " + "; ".join(left))
    print(f"classroom {room.dir} removed", file=sys.stderr)
    return 0
