"""The kernel: every node's has what overlays need (vxlan, bridge), and what the swarm uses
is there (ip_vs for VIPs and published ports, ESP with AES-GCM for encrypted overlays).
`kernel_table` reads the kernel findings back as one row per node.
"""
from __future__ import annotations

import pandas as pd

from .. import probes
from .evidence import evidence_blocks, probe_evidence, said
from .facts import ESP_LOG_MARK, IPVS_LOG_MARK, Facts, NodeFacts
from .findings import DOC_OVERLAY, DOC_SERVICES, Finding

REQUIRED_MODULES = ("vxlan", "bridge")


def kernel_status(f: NodeFacts) -> tuple[str, dict[str, str]]:
    lines = f.sections.get("kernel", "").splitlines()
    return (lines[0] if lines else "?"), dict(line.split(" ", 1) for line in lines[1:] if " " in line)


def kernel_table(findings: pd.DataFrame) -> pd.DataFrame:
    """What each node's kernel has of what Swarm networking uses, read from the doctor's
    `kernel` findings: one row per node, its release, then per part (vxlan, bridge, ip_vs,
    esp4: loaded, available or missing; esp-gcm, the kernel's own answer: ok, missing or
    unknown)."""
    rows = []
    for evidence in findings.loc[findings["check"] == "kernel", "evidence"]:
        for node, _, lines in evidence_blocks(evidence):
            parts = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
            rows.append({"node": node, "release": lines[0] if lines else "?",
                         **{part: said.split(":", 1)[0] for part, said in parts.items()}})
    return pd.DataFrame(rows).set_index("node") if rows else pd.DataFrame(columns=["release"])


def check_kernel(facts: Facts) -> list[Finding]:
    """Every node's kernel has VXLAN and bridge support (loaded, or available as a module)."""
    vip_services, published, encrypted = swarm_uses(facts)
    found = []
    for f in facts.up():
        release, status = kernel_status(f)
        required = {m: s for m, s in status.items() if m in REQUIRED_MODULES}
        lacking = [m for m, s in status.items() if s.startswith("missing")  # a built-in ESP the kernel confirmed is there
                   and not (m == "esp4" and status.get("esp-gcm") == "ok")]
        missing = [m for m, s in required.items() if s == "missing"]
        # 'kernel limits' is named only where check_kernel_limits reports this node (same conditions)
        parts = []
        if "ip_vs" in lacking:
            parts.append("ip_vs: VIPs and published ports, "
                         + ("see 'kernel limits'" if vip_services or published else "none in this swarm now"))
        esp = [m for m in lacking if m.startswith("esp")]
        if esp:
            parts.append(f"{', '.join(esp)}: encrypted overlays, "
                         + ("see 'kernel limits'" if encrypted and lacks_esp_gcm(status) else "none in this swarm now"))
        found.append(Finding(
            "error" if missing else "info", f.name, "kernel",
            f.shown("kernel"),
            (f"the kernel lacks {', '.join(missing)}: overlay networks cannot work" if missing else
             f"kernel {release} has VXLAN and bridge support, what every overlay needs"
             + (f"; it lacks {', '.join(lacking)} ({'; '.join(parts)})" if lacking else "")),
            "install the kernel's extra modules (e.g. linux-modules-extra-$(uname -r))" if missing else "",
            DOC_OVERLAY))
    return found


def swarm_uses(facts: Facts) -> tuple[list[str], list[int], list[str]]:
    """What the swarm uses that needs more of the kernel, from the manager: its VIP services,
    its published ports (both IPVS) and its encrypted overlays (ESP)."""
    manager = facts.manager_facts
    vip_services = [line.split()[0] for line in manager.sections.get("service_modes", "").splitlines()
                    if line.split()[1:] == ["vip"]]
    published = manager.published_ports()
    encrypted = [n["Name"] for n in manager.networks if n.get("Driver") == "overlay"
                 and "encrypted" in (n.get("Options") or {})]
    return vip_services, published, encrypted


def check_kernel_limits(facts: Facts) -> list[Finding]:
    """What the swarm uses against what the kernel can do: ip_vs for VIPs and published ports, ESP for encryption."""
    vip_services, published, encrypted = swarm_uses(facts)
    found = []
    lacking = [f for f in facts.up() if kernel_status(f)[1].get("ip_vs") == "missing"]
    if lacking and (vip_services or published):
        found.append(_ipvs_finding(facts, lacking, vip_services, published))
    for f in facts.up():
        release, status = kernel_status(f)
        esp = [line for line in f.sections.get("daemon_log", "").splitlines() if ESP_LOG_MARK in line][-2:]
        if encrypted and lacks_esp_gcm(status):
            found.append(Finding(
                "error", f.name, "kernel limits: ESP",
                "\n".join([f.shown("kernel", lambda line: line == release or line.startswith(("esp4 ", "esp-gcm ")))]
                          + ([f.shown("daemon_log", esp)] if esp else [])),
                f"the encrypted overlay(s) {', '.join(encrypted)} need IPsec ESP with AES-GCM in the kernel "
                f"(xfrm, esp4, rfc4106(gcm(aes))), and kernel {release} {_esp_gcm_answer(status)}: the daemon cannot "
                "add its security associations, so traffic between containers on different nodes is dropped",
                "use a kernel with CONFIG_INET_ESP and CONFIG_CRYPTO_GCM, or an overlay without --opt encrypted",
                DOC_OVERLAY))
    return found


def lacks_esp_gcm(status: dict[str, str]) -> bool:
    """The kernel's own answer when it was asked (esp-gcm), else the module list (esp4)."""
    asked = status.get("esp-gcm", "unknown")
    if not asked.startswith("unknown"):
        return asked.startswith("missing")
    return status.get("esp4") == "missing"


def _esp_gcm_answer(status: dict[str, str]) -> str:
    asked = status.get("esp-gcm", "unknown")
    if asked.startswith("missing"):
        return f"refuses an ESP security association with rfc4106(gcm(aes)) ({asked.split(':', 1)[-1].strip()})"
    return "has no ESP module"


def _ipvs_finding(facts: Facts, lacking: list[NodeFacts], vip_services, published) -> Finding:
    first = lacking[0]
    release = kernel_status(first)[0]
    log = [line for line in first.sections.get("daemon_log", "").splitlines() if IPVS_LOG_MARK in line][-1:]
    proof = [first.shown("kernel", lambda line: line == release or line.startswith("ip_vs "))]
    if log:
        proof.append(first.shown("daemon_log", log))
    # Only the manager probes the published ports (at its own address): its refusals are the proof.
    refused = [(f.name, "pings", [o], [f"published port {o.port}: {said(o)}"]) for f in lacking
               for o in probes.parse(f.sections.get("pings", ""))
               if o.kind == "tcp" and o.address == f.address and o.port in published and o.outcome != "open"]
    if refused:
        proof.append(probe_evidence(facts, refused[:2]))
    uses = []
    if published:
        uses.append("published ports " + ", ".join(map(str, published)) + " (the routing mesh)")
    if vip_services:
        uses.append("VIP services " + ", ".join(vip_services[:5]))
    nodes = [f.name for f in lacking]
    return Finding(
        "error" if refused else "warning", ", ".join(nodes) if len(nodes) < 4 else f"{len(nodes)} nodes",
        "kernel limits: ip_vs", "\n".join(proof),
        f"the swarm uses {' and '.join(uses)}, which Docker load-balances with IPVS, and kernel {release} has no "
        "ip_vs: a published port refuses connections and a service's name (its VIP) resolves but answers "
        "nothing, while `docker service ls` looks healthy"
        + (" - the refused connection above is that" if refused else
           "; tasks still reach each other by their own addresses"),
        "a kernel with ip_vs; or the workarounds: docker service update --publish-rm P --publish-add "
        "mode=host,target=T,published=P SERVICE (the port on the node that runs the task); docker service "
        "create --endpoint-mode dnsrr ... (DNS round robin, no VIP); or reach the tasks by name: tasks.SERVICE",
        DOC_SERVICES)
