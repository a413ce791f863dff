"""What the host's root namespace looks like, to prove a lab changed none of it."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

# Counters and caches that move on their own, whatever the lab does.
_VOLATILE = ("/neigh/", "route/gc", "/stats", "base_reachable", "flow_", "hash_", "_time",
             "tcp_fastopen_key", "rt_cache", "nf_conntrack_count", "ipfrag")


# A lab's host end of `--host-link` (lab/hostlink.py): other tests' labs add and remove
# theirs meanwhile, so the snapshot leaves them out, with their per-interface sysctls
# (/proc/sys/net/ipv4/conf/swl…/), and a test checks its own lab's by name.
_HOST_LINK = re.compile(r"swl[0-9a-f]{8}")


def root_interfaces() -> set[str]:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
    return {link["ifname"] for link in json.loads(out) if not _HOST_LINK.fullmatch(link["ifname"])}


def root_iptables() -> str:
    rules = []
    for table in ("filter", "nat", "mangle", "raw"):
        proc = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True)
        rules.append(proc.stdout)
    return "".join(rules)


def root_sysctls() -> dict[str, str]:
    values = {}
    # os.walk, not Path.rglob: another lab's host link may vanish while the walk is inside its
    # folder (rglob raised FileNotFoundError on /proc/sys/net/ipv4/conf/swl...); such links are left out anyway.
    for folder, subfolders, files in os.walk("/proc/sys/net"):
        subfolders[:] = [d for d in subfolders if not _HOST_LINK.fullmatch(d)]
        for file in files:
            name = os.path.join(folder, file)
            if any(v in name for v in _VOLATILE) or not os.access(name, os.R_OK):
                continue
            try:
                values[name] = Path(name).read_text()
            except OSError:
                pass
    return values


def snapshot() -> dict:
    return {"interfaces": root_interfaces(), "iptables": root_iptables(), "sysctls": root_sysctls(),
            # other labs may come and go meanwhile; each lab's own are checked by name
            "netns": sorted(n for n in os.listdir("/run/netns") if not n.startswith("swarmlab."))
            if os.path.isdir("/run/netns") else []}


def changes(before: dict, after: dict) -> list[str]:
    """What differs between two snapshots, in words (empty when nothing did)."""
    found = []
    if before["interfaces"] != after["interfaces"]:
        found.append(f"root interfaces {sorted(before['interfaces'] ^ after['interfaces'])}")
    if before["iptables"] != after["iptables"]:
        found.append("root iptables rules changed")
    diff = {k for k in before["sysctls"].keys() | after["sysctls"].keys()
            if before["sysctls"].get(k) != after["sysctls"].get(k)}
    if diff:
        found.append(f"sysctls {sorted(diff)[:10]}")
    if before["netns"] != after["netns"]:
        found.append(f"netns {sorted(set(before['netns']) ^ set(after['netns']))}")
    return found
