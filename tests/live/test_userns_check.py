"""`swarmlab check` on what a lab inside a plain user's own user namespaces needs, run as real
plain users of this machine (made for the test, removed after): one with subordinate id ranges,
whose probe really makes a user namespace with its ids mapped, and one without, who is told
the one-time step an administrator takes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, as_user, plain_user, require_live
from swarmlab.userns_check import subordinate_range


@pytest.fixture(scope="module")
def users():
    """Two plain users: (name, uid) with a range of 65536 subordinate ids, and one with none."""
    require_live()
    with plain_user("snsok", subids=True) as (ok, ok_uid, _), plain_user("snsno", subids=False) as (no, no_uid, _):
        yield [(ok, ok_uid), (no, no_uid)]
    for kind in ("subuid", "subgid"):
        assert all(not line.startswith((ok, no)) for line in Path(f"/etc/{kind}").read_text().splitlines())


def check_as(uid: int, *args: str) -> dict[str, str]:
    """`swarmlab check` as `uid`: {check name: its line (and its fix)}."""
    out = subprocess.run([*as_user(uid), sys.executable, "-m", "swarmlab.cli", "check", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    lines, found = out.stdout.splitlines(), {}
    for i, line in enumerate(lines):
        if line[:3] in ("ok ", "NO ", "-- ") and line[4:].startswith("userns "):
            fix = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith("    -> ") else ""
            found[line[4:].split("  ")[0].strip()] = f"{line[:2]} {line[4:]} {fix}".strip()
    return found


def test_a_user_with_subordinate_ids_really_makes_a_user_namespace(users):
    (name, uid), _ = users
    assert subordinate_range(name, "subuid")[1] == 65536
    found = check_as(uid)
    assert found["userns subuid"].startswith("ok") and f"{name}: 3" in found["userns subuid"]
    assert found["userns probe"].startswith("ok"), found["userns probe"]
    assert found["userns newuidmap"].startswith("ok") and "(setuid)" in found["userns newuidmap"]


def test_a_user_without_them_is_told_the_administrator_s_step(users):
    _, (name, uid) = users
    found = check_as(uid)
    for kind, option in (("subuid", "--add-subuids"), ("subgid", "--add-subgids")):
        assert found[f"userns {kind}"].startswith("NO") and f"{name} has no range in /etc/{kind}" in \
            found[f"userns {kind}"]
        assert f"-> usermod {option} 100000-165535 {name}" in found[f"userns {kind}"]
    # No probe where a line above says NO: it would only repeat that line.
    assert "userns probe" not in found


def test_root_checks_a_student_by_name(users):
    _, (name, _) = users
    found = check_as(0, "--user", name)
    assert found["userns subuid"].startswith("NO") and name in found["userns subuid"]
    assert "userns probe" not in found  # root cannot try it for another user
