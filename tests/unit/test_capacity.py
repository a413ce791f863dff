"""The node limit comes from /proc/meminfo and the memory a node takes."""
import pytest

from swarmlab.errors import LabError
from swarmlab.lab.capacity import NODE_MEMORY_MB, check_capacity, max_nodes

# Captured on this project's 24 GB test machine (first lines of /proc/meminfo).
MEMINFO = """MemTotal:       24684092 kB
MemFree:        22123456 kB
MemAvailable:   23835340 kB
Buffers:          123456 kB
"""


def test_limit_is_free_memory_less_a_reserve_over_a_nodes_share():
    limit, available, reserve = max_nodes(MEMINFO)
    assert available == 23835340 // 1024 and reserve == int(24684092 // 1024 * 0.10)
    assert limit == (available - reserve) // NODE_MEMORY_MB
    assert 300 < limit < 400


def test_too_many_nodes_are_refused_with_the_limit_and_why():
    check_capacity(100, MEMINFO)
    with pytest.raises(LabError) as err:
        check_capacity(1000, MEMINFO)
    message = str(err.value)
    limit = max_nodes(MEMINFO)[0]
    assert f"at most {limit} nodes" in message and "MemAvailable" in message and "\n" not in message


def test_a_machine_with_little_memory_left_gets_no_lab():
    tight = "MemTotal: 4000000 kB\nMemAvailable: 300000 kB\n"
    assert max_nodes(tight)[0] == 0
    with pytest.raises(LabError, match="at most 0 nodes"):
        check_capacity(1, tight)
