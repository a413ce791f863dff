"""The Docker engine a docker-driver benchmark runs on (imported by drivers.py and join.py)."""
from __future__ import annotations

import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from swarmlab.lab import Lab, teardown  # noqa: E402
from swarmlab.lab.docker import nodeimage  # noqa: E402
from swarmlab.lab.docker.engine import connect  # noqa: E402

# What a worker's dockerd logs while its dial of the manager's 2377 times out, the join
# waiting ~20 s (seen on Docker-in-Docker nodes, never yet on swarmlab's: README).
SLOW_JOIN = "failed to retrieve remote root CA certificate"


@contextmanager
def engine(url: str | None, subnet: str):
    """Yield the engine's URL: `url`, or else the dockerd of a one-node namespace lab on
    `subnet` (root; as in the tests), taken down afterwards. The node image is built on it
    first, and not timed."""
    engine_lab = None
    if url is None:
        engine_lab = Lab(name=f"bengine-{uuid.uuid4().hex[:6]}", nodes=1, subnet=subnet).up()
        url = engine_lab.node("node1").docker_host
    try:
        client = connect(url)
        nodeimage.ensure(client, progress=lambda line: print(line, file=sys.stderr))
        client.close()
        yield url
    finally:
        if engine_lab is not None:
            teardown(engine_lab.name)
