"""The doctor's captured cases (tests/fixtures/doctor/*.json) and ways to edit them, for the tests here.

Each case is what `doctor.gather()` collected from a 2-node lab (Docker 20.10), or from a
30-node one while its joins settled (healthy-30-*.json.xz, compressed);
tests/fixtures/doctor/capture.py captures them again and says what each one is.
"""
import json
import lzma

from conftest import FIXTURES, ROOT
from swarmlab.cluster import Cluster, Node
from swarmlab.doctor.facts import Facts
from swarmlab.doctor.gathering import ping_commands, ping_plan

CASES = FIXTURES / "doctor"
RECORDINGS = ROOT / "swarmlab" / "data" / "recordings"

CASE_NAMES = sorted([path.stem for path in CASES.glob("*.json")]
                    + [path.name.removesuffix(".json.xz") for path in CASES.glob("*.json.xz")])


def facts(name: str) -> Facts:
    path = CASES / f"{name}.json"
    if not path.exists():
        with lzma.open(CASES / f"{name}.json.xz", "rt") as compressed:
            return Facts.from_dict(json.load(compressed))
    return Facts.from_dict(json.loads(path.read_text()))


def problems(findings):
    return findings[findings["severity"] != "info"]


def problems_beyond_the_kernel(findings):
    """The fixtures come from a kernel without ip_vs and the article's service has a VIP: that warning is in
    every one of them (test_diagnose.py's test_healthy_lab_... checks it); the other tests look past it."""
    found = problems(findings)
    return found[found["check"] != "kernel limits: ip_vs"]


def renamed(case: str, names: dict[str, str], addresses: dict[str, str] | None = None) -> Facts:
    """A captured case as an inventory that names the nodes otherwise (Docker keeps its hostnames)."""
    data = json.loads((CASES / f"{case}.json").read_text())
    data["nodes"] = {names[name]: node for name, node in data["nodes"].items()}
    for name, address in (addresses or {}).items():
        data["nodes"][name]["address"] = address
    data["manager"] = names[data["manager"]]
    data["log_lines"] = {names[name]: lines for name, lines in data.get("log_lines", {}).items()}
    return Facts.from_dict(data)


VM_NAMES = {"node1": "vm-a", "node2": "vm-b"}


def replanned(data: dict) -> Facts:
    """A case's facts, edited, with each node's ping scripts as the doctor plans them for those facts."""
    gathered = Facts.from_dict(data)
    cluster = Cluster([Node(name, f.address, None, "manager" if name == gathered.manager else "worker")
                       for name, f in gathered.nodes.items()])
    for name, (underlay, overlay) in ping_plan(cluster, gathered).items():
        gathered.nodes[name].commands.update(ping_commands(underlay, overlay))
    return gathered


def healthy_with(edit) -> Facts:
    data = json.loads((CASES / "healthy.json").read_text())
    edit(data["nodes"])
    return replanned(data)


def set_info(node: dict, **swarm) -> None:
    info = json.loads(node["sections"]["info"])
    info["Swarm"].update(swarm)
    node["sections"]["info"] = json.dumps(info)
