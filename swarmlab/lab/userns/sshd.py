"""sshd in every node of a userns lab, as in a namespaces lab (lab/namespaces/sshd.py starts it
the same way): the lab's admin address on the holder's bridge, and SSH clients of this machine
reach a node through `nc` in the holder's network namespace (the user's own: no root needed)."""
from __future__ import annotations

import ipaddress
import socket
import subprocess
from pathlib import Path

from ...errors import LabError
from ..namespaces.sshd import start_all
from ..sshd import SSHD, LabSSH, admin_address, write_info
from . import holder as lab_holder


def start(lab) -> bool:
    """sshd in every node (when this machine has one), reached from the admin address; False without."""
    files = LabSSH(lab.dir)
    admin = admin_address(lab.spec)
    prefix = ipaddress.IPv4Network(lab.spec.subnet).prefixlen
    added = _holder(lab.dir).run(f"ip addr add {admin}/{prefix} dev {lab_holder.BRIDGE}")
    if added.returncode != 0:
        raise LabError(f"could not give the lab's switch its admin address {admin}: {added.stderr.strip()}")
    sshd = Path(SSHD).exists()
    if sshd:
        start_all(lab, files)
    write_info(files, admin, None, sshd)
    return sshd


def connector(lab_dir: Path):
    """An SSHConnector: (address, port, timeout) -> a stream to that port, carried by busybox nc
    inside the lab's switch (its holder's network namespace, entered through its user namespace)."""
    def connect(address: str, port: int, timeout: float) -> socket.socket:
        ours, theirs = socket.socketpair()
        subprocess.Popen([*_holder(lab_dir).enter("user", "net"), "busybox", "nc", address, str(port)],
                         stdin=theirs, stdout=theirs, stderr=subprocess.DEVNULL, start_new_session=True)
        theirs.close()
        ours.settimeout(timeout)
        return ours
    return connect


def _holder(lab_dir: Path) -> lab_holder.Holder:
    found = lab_holder.recorded(lab_dir)
    if found is None or not found.alive():
        raise LabError(f"the lab in {lab_dir} is not up (no user namespace holder)")
    return found
