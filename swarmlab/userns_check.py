"""Can a plain user build a lab inside user namespaces of their own (no root, no Docker group)?

What `swarmlab check` lists under "a lab with no root": each thing such a lab needs, and the
one-time step an administrator takes where it is missing: newuidmap and newgidmap from
`uidmap`, the user's subordinate id ranges, unprivileged user namespaces allowed by the kernel
(and by AppArmor on Ubuntu 23.10 and later). The Docker binaries are checked with the others.
cgroup v1, or v2 without delegation, means the nodes' containers run without resource limits.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import struct
import subprocess
from pathlib import Path

from .check import APT, Check

# Subordinate ids a node needs: containers map ids up to 65535 (devpts' gid 5, nobody 65534).
SUBID_COUNT = 65536
# `unshare` maps root to the user and the rest from /etc/subuid through newuidmap: the real
# thing a user-namespace lab does first, in a process that exits at once.
PROBE = ["unshare", "--user", "--map-root-user", "--map-auto", "--net", "--mount", "true"]


def userns_checks(user: str | None = None) -> list[Check]:
    """Everything a user-namespace lab needs, for `user` (default: whoever runs this; root, who
    runs the namespaces lab instead, gets the machine's part only)."""
    name = user or _own_name()
    checks = [_id_mapper(tool) for tool in ("newuidmap", "newgidmap")]
    if user or os.geteuid() != 0:
        checks += [_subordinate_ids(name, kind) for kind in ("subuid", "subgid")]
    checks += [_kernel_allows(), _apparmor_allows(), _cgroup_delegation(name), *map(_tool, ROOTLESS_TOOLS)]
    # The probe only when the rest pass: it would repeat them, and an `unshare --map-auto` whose user
    # namespace the kernel refuses can wait for ever (seen where user.max_user_namespaces is 0).
    if user is None and os.geteuid() != 0 and all(c.ok for c in checks):
        checks.append(_probe())
    return checks


# What a node's dockerd needs in rootless mode, beside what `swarmlab check` lists for every lab.
ROOTLESS_TOOLS = (("rootlesskit-docker-proxy", "dockerd in rootless mode starts it for published ports", "rootlesskit"),
                  ("tini", "the first process of the lab's PID namespace, which reaps what the nodes leave",
                   "tini"))


def _tool(spec: tuple[str, str, str]) -> Check:
    tool, purpose, package = spec
    path = shutil.which(tool)
    return Check(f"userns {tool}", bool(path), path or f"missing: {purpose}", "" if path else f"{APT} {package}")


def _own_name() -> str:
    """This user's name, or its uid where no passwd entry names it (newuidmap then finds no range)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _id_mapper(tool: str) -> Check:
    path = shutil.which(tool) or (f"/usr/bin/{tool}" if Path(f"/usr/bin/{tool}").exists() else None)
    if not path:
        return Check(f"userns {tool}", False, f"missing: maps a node's ids to the user's subordinate ids",
                     f"{APT} uidmap")
    if os.stat(path).st_mode & stat.S_ISUID:
        return Check(f"userns {tool}", True, f"{path} (setuid)")
    needed = CAP_SETUID if tool == "newuidmap" else CAP_SETGID
    if needed in file_capabilities(path):  # as podman's images install it: what works in a container
        return Check(f"userns {tool}", True, f"{path} (file capability {CAPABILITY_NAMES[needed]})")
    return Check(f"userns {tool}", False, f"{path} is neither setuid nor given {CAPABILITY_NAMES[needed]}: it cannot "
                                          f"write another process's id map",
                 f"chmod u+s {path} (as Debian's uidmap package installs it)")


CAP_SETGID, CAP_SETUID = 6, 7
CAPABILITY_NAMES = {CAP_SETGID: "cap_setgid", CAP_SETUID: "cap_setuid"}


def file_capabilities(path: str) -> set[int]:
    """The capabilities a file grants when run (its security.capability attribute), as numbers;
    empty when it has none or they cannot be read."""
    try:
        raw = os.getxattr(path, "security.capability")
    except OSError:
        return set()
    return parse_file_capabilities(raw)


def parse_file_capabilities(raw: bytes) -> set[int]:
    """The permitted set of a struct vfs_cap_data (revision 1, 2 or 3): little-endian magic, then
    (permitted, inheritable) for the low 32 capabilities and, from revision 2, the high 32."""
    if len(raw) < 12:
        return set()
    words = struct.unpack(f"<{len(raw) // 4}I", raw[:len(raw) // 4 * 4])
    permitted = words[1] | ((words[3] << 32) if len(words) >= 5 else 0)
    return {bit for bit in range(64) if permitted >> bit & 1}


def subordinate_range(name: str, kind: str, path: Path | None = None) -> tuple[int, int] | None:
    """The user's first range in /etc/subuid or /etc/subgid (by name or uid): (start, count), or None."""
    path = path or Path(f"/etc/{kind}")
    try:
        uid = str(pwd.getpwnam(name).pw_uid)
    except KeyError:
        uid = None
    for line in path.read_text().splitlines() if path.exists() else []:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (name, uid) and parts[1].isdigit() and parts[2].isdigit():
            return int(parts[1]), int(parts[2])
    return None


def _subordinate_ids(name: str, kind: str) -> Check:
    found = subordinate_range(name, kind)
    option = "--add-subuids" if kind == "subuid" else "--add-subgids"
    fix = f"usermod {option} 100000-165535 {name} (as root; any free range of {SUBID_COUNT} ids)"
    if found is None:
        return Check(f"userns {kind}", False, f"{name} has no range in /etc/{kind}", fix)
    start, count = found
    if count < SUBID_COUNT:
        return Check(f"userns {kind}", False, f"{name}'s range in /etc/{kind} has {count} ids, fewer than "
                     f"{SUBID_COUNT}", fix)
    return Check(f"userns {kind}", True, f"{name}: {start}-{start + count - 1} in /etc/{kind}")


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _kernel_allows() -> Check:
    most = _read_int("/proc/sys/user/max_user_namespaces")
    clone = _read_int("/proc/sys/kernel/unprivileged_userns_clone")  # Debian's and Ubuntu's older switch
    if most == 0:
        return Check("userns kernel", False, "user.max_user_namespaces is 0: no user namespaces at all",
                     "sysctl -w user.max_user_namespaces=15000 (and in /etc/sysctl.d/ to keep it)")
    if clone == 0:
        return Check("userns kernel", False, "kernel.unprivileged_userns_clone is 0: only root may make them",
                     "sysctl -w kernel.unprivileged_userns_clone=1 (and in /etc/sysctl.d/ to keep it)")
    return Check("userns kernel", True, f"unprivileged user namespaces allowed (max {most})")


def _apparmor_allows() -> Check:
    restrict = _read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    if restrict == 1:
        return Check("userns apparmor", False, "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10 "
                     "and later): AppArmor lets only programs with a profile that allows `userns` make one",
                     "an AppArmor profile for unshare with `userns,` (see /etc/apparmor.d/), or "
                     "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    return Check("userns apparmor", True, "no AppArmor restriction on user namespaces (the setting is 0)"
                 if restrict == 0 else "no AppArmor restriction on user namespaces")


def _cgroup_delegation(name: str) -> Check:
    """cgroup v1, or v2 without a subtree the user owns: the nodes run, without resource limits."""
    if not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return Check("userns cgroups", True, "cgroup v1: a user-namespace node's containers run without "
                     "cgroup limits (dockerd in rootless mode leaves cgroups alone)")
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        uid = int(name) if name.isdigit() else -1
    slice_ = Path(f"/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service")
    if slice_.exists() and slice_.stat().st_uid == uid:
        delegated = (slice_ / "cgroup.controllers").read_text().split()
        return Check("userns cgroups", True, f"cgroup v2, delegated to {name}: {' '.join(delegated) or 'none'}")
    return Check("userns cgroups", True, f"cgroup v2 without a subtree delegated to {name}: the nodes' "
                 "containers run without cgroup limits (systemd's user@.service delegates one)")


PROBE_TIMEOUT = 30


def _probe() -> Check:
    if not shutil.which("unshare"):
        return Check("userns probe", False, "unshare is missing", f"{APT} util-linux")
    try:
        proc = subprocess.run(PROBE, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        # Seen in a container whose seccomp profile refuses unshare(CLONE_NEWUSER): unshare's helper
        # waits for a namespace that never comes.
        return Check("userns probe", False, f"`{' '.join(PROBE)}` did not finish in {PROBE_TIMEOUT} s",
                     "check that user namespaces are allowed (user.max_user_namespaces) and that newuidmap works; in a "
                     "container, run it with user namespaces allowed (docs/classroom.md, '## Past one server')")
    if proc.returncode == 0:
        return Check("userns probe", True, "made a user namespace with root mapped to you and your subordinate "
                     "ids, and its network and mount namespaces")
    said = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
    return Check("userns probe", False, f"`{' '.join(PROBE)}` failed: {said}",
                 "every line above passes, so the refusal is the kernel's or a security module's (seccomp, "
                 "AppArmor, SELinux): ask the administrator, with this line")
