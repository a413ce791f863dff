"""Can this machine run the live lab? Each check says what to install or why not."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


APT = "apt-get install -y"
_TOOLS = [  # (command, what it is for, Debian package)
    ("dockerd", "the Docker daemon each node runs", "docker.io"),
    ("containerd", "the container runtime each node's dockerd starts", "docker.io"),
    ("runc", "runs containers", "runc"),
    ("docker", "the docker CLI", "docker.io"),
    ("ip", "namespaces, veth pairs, bridges", "iproute2"),
    ("nsenter", "entering a node", "util-linux"),
    ("unshare", "a node's own mount and UTS namespaces", "util-linux"),
    ("brctl", "`brctl show`, as in the article", "bridge-utils"),
    ("ifconfig", "`ifconfig`, as in the article", "net-tools"),
    ("busybox", "the image the lab's services run", "busybox-static"),
    ("iptables", "Docker's rules inside each node", "iptables"),
    ("ping", "the doctor's pings between nodes, full-size with don't-fragment (iputils ping -M do)", "iputils-ping"),
    ("sshd", "reaching lab nodes over SSH", "openssh-server"),
]


def run_checks() -> list[Check]:
    if platform.system() != "Linux":
        return [Check("operating system", False, f"{platform.system()} cannot run the local lab: it needs "
                      "Linux namespaces", "use replay (the bundled recording) or point swarmlab at real "
                      "hosts with an inventory; or run a Linux VM")]
    checks = [Check("root", os.geteuid() == 0, "running as root" if os.geteuid() == 0 else "not root",
                    "" if os.geteuid() == 0 else "run the lab as root (sudo); replay and SSH need no root")]
    for tool, purpose, package in _TOOLS:
        path = shutil.which(tool)
        checks.append(Check(tool, bool(path), path or f"missing: {purpose}", "" if path else f"{APT} {package}"))
    checks += [_kernel_netns(), *(_kernel_feature(name, purpose) for name, purpose in _KERNEL_FEATURES),
               _kernel_esp_gcm(), _cgroups()]
    return checks


_KERNEL_FEATURES = [  # (module, what it is for)
    ("vxlan", "overlay networks between nodes"),
    ("overlay", "Docker's overlay2 storage"),
    ("bridge", "docker0 and docker_gwbridge"),
    ("ip_vs", "service VIPs and the routing mesh; without it tasks still run and reach each other by address, "
              "as every lesson does"),
]


def _kernel_netns() -> Check:
    ok = Path("/proc/self/ns/net").exists() and Path("/proc/self/ns/mnt").exists()
    return Check("namespaces", ok, "network, mount and UTS namespaces" if ok else "no namespace support",
                 "" if ok else "a kernel built with CONFIG_NET_NS and CONFIG_UTS_NS")


def _kernel_feature(name: str, purpose: str) -> Check:
    """A module is usable when it is built in, loaded, or loadable."""
    builtin = Path(f"/sys/module/{name}").exists() or name in Path("/proc/filesystems").read_text()
    loadable = False
    if not builtin and shutil.which("modprobe"):
        loadable = subprocess.run(["modprobe", "-n", name], capture_output=True).returncode == 0
    ok = builtin or loadable
    detail = (f"{name}: available ({purpose})" if builtin else f"{name}: loadable module ({purpose})" if loadable
              else f"{name}: missing ({purpose})")
    return Check(f"kernel {name}", ok, detail, "" if ok else f"a kernel with {name} support (modprobe {name})")


# A throwaway security association in a network namespace that dies with the command: the
# kernel answers whether it can do what an `--opt encrypted` overlay asks (ESP, AES-GCM).
ESP_GCM_PROBE = ["unshare", "--net", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2",
                 "proto", "esp", "spi", "0x100", "mode", "transport", "aead", "rfc4106(gcm(aes))",
                 "0x" + "11" * 20, "128"]


def _kernel_esp_gcm() -> Check:
    purpose = "encrypted overlays (--opt encrypted): IPsec ESP with AES-GCM"
    if not shutil.which("unshare") or not shutil.which("ip") or os.geteuid() != 0:
        return Check("kernel esp/gcm", False, f"not checked (needs root, ip and unshare) ({purpose})",
                     "run `swarmlab check` as root")
    proc = subprocess.run(ESP_GCM_PROBE, capture_output=True, text=True)
    if proc.returncode == 0:
        return Check("kernel esp/gcm", True, f"esp, rfc4106(gcm(aes)): available ({purpose})")
    answer = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no answer"]
    return Check("kernel esp/gcm", False, f"missing: `ip xfrm state add ... proto esp ... rfc4106(gcm(aes))` "
                 f"answers \"{answer[0]}\" ({purpose}; unencrypted overlays work)",
                 "a kernel with CONFIG_INET_ESP, CONFIG_XFRM_USER and CONFIG_CRYPTO_GCM")


def _cgroups() -> Check:
    root = Path("/sys/fs/cgroup")
    ok = (root / "cgroup.controllers").exists() or (root / "freezer").is_dir()
    return Check("cgroups", ok, "cgroup v2 or a v1 freezer hierarchy" if ok else "no usable cgroup mount",
                 "" if ok else "mount cgroup v2 on /sys/fs/cgroup (teardown kills a node's processes through it)")


# Good to have, not needed: SSH to lab nodes, load balancing through service VIPs, encrypted overlays.
OPTIONAL = {"sshd", "kernel ip_vs", "kernel esp/gcm"}


def can_run_lab(checks: list[Check] | None = None) -> bool:
    """True when every check passes that the lab cannot do without."""
    checks = checks if checks is not None else run_checks()
    return all(c.ok for c in checks if c.name not in OPTIONAL)
