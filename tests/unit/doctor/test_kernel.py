"""swarmlab/doctor/kernel.py: the kernel's evidence, ip_vs under published ports, ESP with AES-GCM
asked of the kernel itself, and the kernel table read back from the findings."""
import json

from evidence import assert_evidence_is_what_ran
from swarmlab.doctor import diagnose
from swarmlab.doctor.evidence import evidence_blocks
from swarmlab.doctor.kernel import kernel_table

from .cases import facts, healthy_with


def test_kernel_evidence_is_the_command_that_ran_and_its_output():
    gathered = facts("healthy")
    kernel = diagnose(gathered).set_index(["node", "check"]).loc[("node1", "kernel")]
    node1 = gathered.nodes["node1"]
    assert kernel["evidence"] == f"[node1]$ {node1.commands['kernel']}\n{node1.sections['kernel']}"
    assert node1.sections["kernel"].splitlines()[1:3] == ["vxlan loaded", "bridge loaded"]


def test_a_published_port_refused_without_ip_vs_is_shown_by_the_managers_probe():
    def published(nodes):
        sections = nodes["node1"]["sections"]
        sections["services"] = sections["services"].replace('"Ports":""', '"Ports":"*:8080->8080/tcp"')
        sections["pings"] += "\ntcp 172.16.155.131 8080 refused 2"
    gathered = healthy_with(published)
    findings = diagnose(gathered)
    row = findings.set_index("check").loc["kernel limits: ip_vs"]
    assert row["severity"] == "error" and "published ports 8080" in row["cause"]
    blocks = evidence_blocks(row["evidence"])
    assert [(node, lines) for node, _, lines in blocks][::2] == [
        ("node1", ["6.18.44-fc-v657", "ip_vs missing"]), ("node1", ["tcp 172.16.155.131 8080 refused 2"])]
    assert "# summary: published port 8080: connect to 172.16.155.131:8080/tcp: refused (2 tries)" in row["evidence"]
    assert_evidence_is_what_ran(gathered, findings)


def with_encrypted_overlay(kernel_lines: dict[str, str]):
    """The healthy lab plus an `--opt encrypted` overlay; node1's kernel does ESP with GCM, node2's says `kernel_lines`."""
    def edit(nodes):
        sections = nodes["node1"]["sections"]
        networks = json.loads(sections["networks"])
        networks.append({"Name": "secret", "Scope": "swarm", "Driver": "overlay", "Options": {"encrypted": ""},
                         "IPAM": {"Driver": "default", "Options": None,
                                  "Config": [{"Subnet": "10.0.9.0/24", "Gateway": "10.0.9.1"}]}})
        sections["networks"] = json.dumps(networks, indent=4)
        for name, replaced in (("node1", {"esp4": "loaded", "esp-gcm": "ok"}), ("node2", kernel_lines)):
            lines = [line for line in nodes[name]["sections"]["kernel"].splitlines()
                     if line.split(" ", 1)[0] not in replaced]
            nodes[name]["sections"]["kernel"] = "\n".join(lines + [f"{k} {v}" for k, v in replaced.items()])
    return healthy_with(edit)


def esp_findings(gathered):
    findings = diagnose(gathered)
    return findings[findings["check"] == "kernel limits: ESP"]


def test_esp_without_gcm_is_found_by_asking_the_kernel_even_with_esp4_loaded():
    answer = "missing: Error: Requested AEAD algorithm not found."
    gathered = with_encrypted_overlay({"esp4": "loaded", "esp-gcm": answer})
    found = esp_findings(gathered)
    assert list(found["node"]) == ["node2"] and list(found["severity"]) == ["error"]
    assert f"esp-gcm {answer}" in found.iloc[0]["evidence"].splitlines()
    assert "Requested AEAD algorithm not found" in found.iloc[0]["cause"] and "secret" in found.iloc[0]["cause"]
    assert_evidence_is_what_ran(gathered, diagnose(gathered))


def test_a_built_in_esp_the_kernel_accepts_is_not_called_missing():
    gathered = with_encrypted_overlay({"esp4": "missing", "esp-gcm": "ok"})
    assert esp_findings(gathered).empty
    kernel = diagnose(gathered).set_index(["node", "check"]).loc[("node2", "kernel")]
    assert "esp4" not in kernel["cause"]


def test_where_the_kernel_could_not_be_asked_the_module_list_decides():
    unknown = "unknown: no network namespace to ask the kernel in"
    assert list(esp_findings(with_encrypted_overlay({"esp4": "missing", "esp-gcm": unknown}))["node"]) == ["node2"]
    assert esp_findings(with_encrypted_overlay({"esp4": "loaded", "esp-gcm": unknown})).empty


def test_the_kernel_table_is_read_from_the_kernel_findings():
    gathered = with_encrypted_overlay({"esp4": "loaded", "esp-gcm": "missing: Error: Requested AEAD algorithm not found."})
    table = kernel_table(diagnose(gathered))
    assert list(table.index) == ["node1", "node2"]
    assert table.loc["node2", "esp-gcm"] == "missing" and table.loc["node1", "esp-gcm"] == "ok"
    assert table.loc["node2", "vxlan"] == "loaded" and table.loc["node2", "ip_vs"] == "missing"
    assert table.loc["node1", "release"] == gathered.nodes["node1"].sections["kernel"].splitlines()[0]


def kernel_limits_named(findings) -> dict[str, bool]:
    """node -> whether its `kernel` finding sends the reader to 'kernel limits'."""
    kernel = findings[findings["check"] == "kernel"]
    return {row.node: "see 'kernel limits'" in row.cause for row in kernel.itertuples()}


def nodes_under_kernel_limits(findings) -> dict[str, bool]:
    limits = findings[findings["check"].str.startswith("kernel limits")]
    named = {node.strip() for nodes in limits["node"] for node in nodes.split(",")}
    return {node: node in named for node in findings.loc[findings["check"] == "kernel", "node"]}


def test_the_kernel_finding_points_to_kernel_limits_only_when_there_is_one():
    def no_service(nodes):
        for section in ("services", "service_modes", "tasks"):
            nodes["node1"]["sections"][section] = ""
    cases = {"healthy": facts("healthy"), "no service": healthy_with(no_service),
             "encrypted, no GCM": with_encrypted_overlay({"esp4": "loaded", "esp-gcm": "missing: no AEAD"})}
    for name, gathered in cases.items():
        findings = diagnose(gathered)
        assert kernel_limits_named(findings) == nodes_under_kernel_limits(findings), name
    quiet = diagnose(cases["no service"]).set_index(["node", "check"]).loc[("node2", "kernel"), "cause"]
    assert quiet.endswith("it lacks ip_vs, esp4 (ip_vs: VIPs and published ports, none in this swarm now; "
                          "esp4: encrypted overlays, none in this swarm now)"), quiet
