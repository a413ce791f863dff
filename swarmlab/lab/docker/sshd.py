"""sshd in every node container of a docker-driver lab (the shared part, keys and client files: lab/sshd.py).

The engine's exec API is the only way in: each node's files go into it as a tar on the
exec's stdin, sshd runs there as a daemon (the exec that starts it ends, tini adopts
it), and clients reach it through the engine (DockerDriver.ssh_connector).
"""
from __future__ import annotations

import io
import tarfile

from ..sshd import INSTALL, SSHD, STAGE, LabSSH, new_key_pair, node_files, write_client_files, write_info

_CONTAINER_SCRIPT = ("tar -xf - -C /run\n" + INSTALL
                     + "/usr/sbin/sshd -E /var/log/sshd.log || { tail -n 5 /var/log/sshd.log >&2; exit 1; }\n")


def start(lab, node_path: str) -> bool:
    """Give every node container of `lab` a running sshd, its files sent through the
    engine; write the client's files. False when the node image has no sshd (built from
    a host without openssh-server)."""
    files = LabSSH(lab.dir)
    first = next(iter(lab.nodes.values()))
    sshd = first.run(f"test -x {SSHD}", timeout=30).ok
    if sshd:
        client_private, client_public = new_key_pair(f"swarmlab-{lab.name}")

        def start(node) -> str:
            host_public, staged = node_files(node, client_public, node_path)
            node.run(_CONTAINER_SCRIPT, input=_tar(STAGE, staged), timeout=60).check(hint=f"starting sshd on {node.name}")
            return f"{node.address} {host_public}\n"
        known = lab.each_node(start)
        write_client_files(lab, files, client_private, client_public, "".join(known.values()),
                           reach="From this machine they answer through the engine: Cluster.from_lab(lab, via=\"ssh\").")
    write_info(files, None, None, sshd)
    return sshd


def _tar(folder: str, members: dict[str, tuple[str, int]]) -> bytes:
    """An in-memory tar of `folder`/name for each (text, mode)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(folder)
        info.type, info.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(info)
        for name, (text, mode) in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
