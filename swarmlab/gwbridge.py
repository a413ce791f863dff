"""docker_gwbridge: the bridge's name, the options Docker gives it, and the command that creates it.

The repair (fix.fix_gwbridge) runs this command, and the doctor prints it as the fix of a
missing bridge. Both import it from here, below them both: fix reads a node's facts with
the doctor's code, so a recipe kept in fix would have the doctor and fix import each other.
"""
from __future__ import annotations

GWBRIDGE = "docker_gwbridge"
# The options Docker gives docker_gwbridge (and the article copied from the manager):
# no inter-container traffic on the bridge, and the Linux bridge's name.
GWBRIDGE_OPTIONS = {"com.docker.network.bridge.enable_icc": "false",
                    "com.docker.network.bridge.name": GWBRIDGE}


def gwbridge_create_command(subnet: str, gateway: str, options: dict[str, str] = GWBRIDGE_OPTIONS) -> str:
    """The `docker network create` of a docker_gwbridge on `subnet`, with `options`."""
    opts = " ".join(f"-o {k}={v}" for k, v in options.items())
    return f"docker network create --subnet {subnet} --gateway {gateway} {opts} {GWBRIDGE}"
