"""The docker_gwbridge check: every swarm node has the bridge, with Docker's options and the
ingress sandbox attached. A missing bridge's fix is the `docker network create` that makes
it on a free subnet (swarmlab.gwbridge's recipe, the one the repair runs).
"""
from __future__ import annotations

import json

from .. import pools
from ..gwbridge import GWBRIDGE, GWBRIDGE_OPTIONS, gwbridge_create_command
from .evidence import network_lines, network_name_line
from .facts import Facts, NodeFacts
from .findings import DOC_OVERLAY, DOC_SWARM_NETWORKING, Finding
from .joining import gwbridge_failed, sandbox_attached


def check_gwbridge(facts: Facts) -> list[Finding]:
    """Every swarm node has docker_gwbridge, with Docker's options and the ingress sandbox attached."""
    found = []
    reference = _gwbridge_reference(facts)
    for f in facts.swarm_nodes():
        net = f.network(GWBRIDGE)
        if net is None:
            found.append(_missing_gwbridge(f, reference, facts))
            continue
        found += _gwbridge_details(f, net)
    return found


def _gwbridge_reference(facts: Facts) -> dict | None:
    for f in [facts.manager_facts, *facts.swarm_nodes()]:
        if f.daemon_up and f.network(GWBRIDGE):
            return f.network(GWBRIDGE) | {"_node": f.name}
    return None


def _missing_gwbridge(f: NodeFacts, reference: dict | None, facts: Facts) -> Finding:
    summary = [f"no {GWBRIDGE} among these networks"]
    if reference:
        config = (reference.get("IPAM", {}).get("Config") or [{}])[0]
        summary.append(f"{reference['_node']} has {GWBRIDGE} {config.get('Subnet', '?')} "
                       "(docker network inspect there)")
    broken = gwbridge_failed(f, facts)
    cause = (f"{f.name} is in the swarm but has no {GWBRIDGE}. Docker creates it when a node joins; "
             "without it no task container on this node gets its gateway, so every task there fails "
             "with 'error creating external connectivity network' and its containers stay Created")
    if not broken:
        cause += ("; nothing says its creation failed: if the node joined a second ago, Docker may still be "
                  "creating it - run the doctor again")
    return Finding("error" if broken else "warning", f.name, GWBRIDGE,
                   f.shown("networks", network_name_line, summary), cause,
                   gwbridge_command(f, reference), DOC_SWARM_NETWORKING)


def _gwbridge_lines(f: NodeFacts, *needles: str) -> list[str]:
    return network_lines(f, GWBRIDGE, *needles)


def gwbridge_command(f: NodeFacts, reference: dict | None) -> str:
    """The `docker network create` that gives this node a docker_gwbridge on a free subnet."""
    prefer = None
    if reference:
        prefer = ((reference.get("IPAM", {}).get("Config") or [{}])[0]).get("Subnet")
    try:
        subnet, _ = pools.pick_free_subnet(f.routes, f.nameservers, f.local_subnets(), prefer=prefer)
    except ValueError:
        return f"docker network create --subnet <free subnet> ... {GWBRIDGE}"
    return gwbridge_create_command(str(subnet), str(next(subnet.hosts())))


def _gwbridge_details(f: NodeFacts, net: dict) -> list[Finding]:
    found = []
    options = net.get("Options") or {}
    wrong = {k: options.get(k) for k, v in GWBRIDGE_OPTIONS.items() if options.get(k) != v}
    config = (net.get("IPAM", {}).get("Config") or [{}])[0]
    if wrong:
        found.append(Finding(
            "warning", f.name, GWBRIDGE,
            f.shown("networks", _gwbridge_lines(f, f'"Name": "{GWBRIDGE}"', '"com.docker.network.bridge.'),
                    [f"{GWBRIDGE}'s options: {json.dumps(options)}"]),
            f"{GWBRIDGE} lacks the options Docker gives it ({', '.join(f'{k}={v}' for k, v in GWBRIDGE_OPTIONS.items())}): "
            "containers may talk to each other through it, or the bridge has another name",
            f"recreate it with the options: docker network rm {GWBRIDGE}; "
            f"docker network create --subnet {config.get('Subnet')} "
            + " ".join(f"-o {k}={v}" for k, v in GWBRIDGE_OPTIONS.items()) + f" {GWBRIDGE}",
            DOC_SWARM_NETWORKING))
    endpoints = sorted((net.get("Containers") or {}).keys())
    tasks_attached = len([e for e in endpoints if e != "ingress-sbox"])
    if not sandbox_attached(net):
        found.append(Finding(
            "warning", f.name, "ingress sandbox",
            f.shown("networks", _gwbridge_lines(f, f'"Name": "{GWBRIDGE}"', '"Name": "gateway_'),
                    [f"{GWBRIDGE} has {tasks_attached} task endpoint(s) and no ingress-sbox"]),
            "the ingress network's sandbox is not attached to docker_gwbridge on this node: the routing "
            "mesh (published ports) does not reach this node until it is; Docker attaches it when the "
            "ingress network is created (at join, or with the node's first task)",
            "run a task on the node, or restart its Docker daemon", DOC_OVERLAY))
    if not wrong and sandbox_attached(net):
        found.append(Finding(
            "info", f.name, GWBRIDGE,
            f.shown("networks", _gwbridge_lines(f, f'"Name": "{GWBRIDGE}"', '"Subnet": ', '"enable_icc"',
                                                '"Name": "gateway_ingress-sbox"'),
                    [f"ingress-sbox + {tasks_attached} task endpoint(s) attached"]),
            f"{GWBRIDGE} is present with Docker's options and the ingress sandbox attached", "", DOC_SWARM_NETWORKING))
    return found
