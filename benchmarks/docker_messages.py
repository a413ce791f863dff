"""Capture what one Docker version prints for the article's cause, for swarmlab/messages.py.

    python benchmarks/docker_messages.py                                   # namespaces lab: this machine's Docker
    python benchmarks/docker_messages.py --engine URL --docker 28          # docker driver, Docker 28 nodes

Builds a 2-node lab, gives node2 the vpn-routes fault before it joins (the article's
cause), deploys the article's service and prints, as JSON, each command run and what it
printed: the task error, `docker container start` of a Created task container (while
node2 holds uber-net, and after it let it go), the dockerd log line about the ingress
network, and `docker network create` on node1 once its pools are used up,
and `docker network rm` / `create` refused (a network missing, in use, a subnet taken). The output is
kept in tests/fixtures/docker/messages-DOCKER.json, which tests/unit/test_messages.py reads.
"""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from swarmlab import faults, story  # noqa: E402
from swarmlab.cluster import Cluster  # noqa: E402
from swarmlab.lab import Lab, teardown  # noqa: E402

FILL = ("i=0; while out=$(docker network create --label capture proj${i}_default 2>&1); do i=$((i+1)); done; "
        "echo \"$out\"")
INGRESS_LOG = story.DOCKERD_LOG + " | grep -F 'ingress' | grep -iF -e fail -e error | tail -n 3"


def shown(result) -> dict:
    return {"node": result.node, "command": result.command, "exit_code": result.exit_code,
            "stdout": result.stdout, "stderr": result.stderr}


def capture(cluster: Cluster) -> dict:
    node1, node2 = cluster.node("node1"), cluster.node("node2")
    out = {"version": shown(node2.run("docker version --format '{{.Server.Version}}'").check())}
    faults.inject(cluster, "vpn-routes", node="node2")
    story.form_swarm(cluster)
    story.create_overlay(cluster).check()
    story.service_create(cluster, restart_delay="1s").check()
    story.wait_for_failure(cluster, node="node2", timeout=30)
    out["service_ps"] = shown(story.service_ps(cluster))
    out["task_error"] = shown(cluster.manager.run(
        "docker service ps --no-trunc --filter desired-state=shutdown --format '{{.Error}}' test | head -n 1"))
    created = story.task_containers(node2)["id"].iloc[0]
    out["start_while_held"] = shown(story.container_start(node2, created))
    story.wait_for_placement(cluster, {"node1": 2}, timeout=120)
    story.wait_for_network(cluster, story.NETWORK, nodes=[node2], present=False, timeout=30)
    out["start_after_let_go"] = shown(story.container_start(node2, story.task_containers(node2)["id"].iloc[0]))
    out["ingress_log"] = shown(node2.run(INGRESS_LOG))
    out["network_create_exhausted"] = shown(node1.run(FILL, timeout=300))
    node1.run("docker network rm $(docker network ls -q --filter label=capture)")
    return out | network_answers(node1)


def network_answers(node) -> dict:
    """What `docker network rm` and `create` answer that swarmlab reads: a network that is not
    there, one a container still uses, a subnet another network holds."""
    out = {"network_rm_missing": shown(node.run("docker network rm no-such-network"))}
    node.run("docker network create --subnet 10.123.0.0/24 held && "
             "docker run -d --name holder --network held busybox:latest sleep 600").check()
    out["network_rm_in_use"] = shown(node.run("docker network rm held"))
    out["network_create_overlap"] = shown(node.run("docker network create --subnet 10.123.0.0/24 overlap"))
    node.run("docker rm -f holder; docker network rm held")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", help="a Docker engine for the docker driver (else a namespaces lab)")
    parser.add_argument("--docker", help="the nodes' Docker (20, 26, 28), with --engine")
    args = parser.parse_args()
    name = f"v28cap-{uuid.uuid4().hex[:4]}"
    options = dict(driver="docker", engine=args.engine, docker=args.docker) if args.engine else {}
    lab = Lab(name=name, **options)
    try:
        lab.up()
        print(json.dumps(capture(Cluster.from_lab(lab)), indent=1))
    finally:
        teardown(name, **({"engine": args.engine, "driver": "docker"} if args.engine else {}))


if __name__ == "__main__":
    main()
