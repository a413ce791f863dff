"""What the classroom does with a student's labs, run AS that student (`python -m
swarmlab.classroom.student ACTION`), so it goes through the same doors the student has: their
own user namespaces, their own state folder. Prints one JSON document.

    labs                 every lab of theirs that is up: nodes and each node's swarm state
    down                 take every lab of theirs down
    drill-start LAB SEED start the class's drill on their lab
    drill-check LAB      the drill's check on their lab (passed, and the checks that failed)
"""
from __future__ import annotations

import json
import sys

from ..errors import SwarmlabError
from ..lab import Lab, teardown
from ..lab.driver import get_driver
from ..lab.ownership import state_root


def labs() -> list[dict]:
    found = []
    # labs_up() lists every lab of this user; the driver's own lab name does not matter to it.
    for name, nodes in sorted(get_driver("userns", "classroom").labs_up().items()):
        try:
            table = Lab.attach(name).status()
            swarm = dict(zip(table["node"], table["swarm"]))
        except SwarmlabError as exc:
            swarm = {"error": str(exc).splitlines()[0]}
        found.append({"name": name, "nodes": nodes, "swarm": swarm})
    return found


def down() -> list[str]:
    """Every lab folder of this user taken down; one that cannot be is said, and the rest still go."""
    root = state_root()
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    failed = []
    for name in names:
        try:
            teardown(name, driver="userns")
        except SwarmlabError as exc:
            failed.append(f"{name}: {str(exc).splitlines()[0]}")
    if failed:
        raise SwarmlabError("; ".join(failed))
    return names


def drill_start(lab: str, seed: int) -> dict:
    from .. import drill
    from ..cluster import connect
    with connect(lab) as cluster:
        started = drill.start(cluster, seed)
    return {"lab": lab, "seed": seed, "key": started.key}


def drill_check(lab: str) -> dict:
    from .. import drill
    from ..cluster import connect
    with connect(lab) as cluster:
        outcomes = drill.check(cluster)
    return {"lab": lab, "passed": bool(drill.passed(outcomes)),
            "failed": [row.check for row in outcomes.itertuples() if not row.passed]}


def main(argv: list[str]) -> int:
    action, args = argv[0], argv[1:]
    try:
        if action == "labs":
            answer = labs()
        elif action == "down":
            answer = down()
        elif action == "drill-start":
            answer = drill_start(args[0], int(args[1]))
        elif action == "drill-check":
            answer = drill_check(args[0])
        else:
            raise SwarmlabError(f"unknown action {action!r}")
    except SwarmlabError as exc:
        print(json.dumps({"error": str(exc).splitlines()[0]}))
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
