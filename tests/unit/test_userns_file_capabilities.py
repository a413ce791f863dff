"""newuidmap/newgidmap given a file capability (as in a container image) count as able to map ids."""
from __future__ import annotations

import struct

from swarmlab import userns_check


def test_a_revision_2_capability_set_is_read():
    raw = struct.pack("<5I", 0x02000001, 1 << userns_check.CAP_SETUID, 0, 0, 0)
    assert userns_check.parse_file_capabilities(raw) == {userns_check.CAP_SETUID}


def test_high_capabilities_and_revision_3_are_read():
    raw = struct.pack("<6I", 0x03000001, 1 << userns_check.CAP_SETGID, 0, 1 << 1, 0, 0)  # + rootid
    assert userns_check.parse_file_capabilities(raw) == {userns_check.CAP_SETGID, 33}


def test_nothing_or_garbage_grants_nothing(tmp_path):
    assert userns_check.parse_file_capabilities(b"") == set()
    plain = tmp_path / "newuidmap"
    plain.write_text("")
    assert userns_check.file_capabilities(str(plain)) == set()
