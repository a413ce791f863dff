"""`lab down` leaves no cgroup that a container's --cgroup-parent made, and keeps one it did not make."""
from __future__ import annotations

import uuid

from conftest import require_live, unique_lab_name
from swarmlab.lab import Lab, leftovers, teardown
from swarmlab.lab.namespaces.cgroup import hierarchies


def test_down_removes_the_parents_a_containers_cgroup_parent_made_and_keeps_older_ones():
    require_live()
    name, tag = unique_lab_name("tok"), uuid.uuid4().hex[:6]
    made, older = f"tokesc-{tag}", f"tokkeep-{tag}"
    kept = hierarchies()[0] / older  # there before the lab: not the lab's, though its container uses it
    kept.mkdir()
    try:
        node = Lab(name=name).up().node("node1")
        for parent in (f"/{made}/deeper", f"/{older}"):
            node.run(f"docker run -d --cgroup-parent={parent} busybox:latest sleep infinity").check()
        assert all((top / made / "deeper").is_dir() for top in hierarchies())  # made by the container
        teardown(name)
        assert [top for top in hierarchies() if (top / made).exists()] == []
        assert kept.is_dir() and not any((top / older).exists() for top in hierarchies()[1:])
        assert leftovers(name) == []
    finally:
        teardown(name)
        for top in hierarchies():
            for folder in (top / made / "deeper", top / made, top / older):
                if folder.is_dir():
                    folder.rmdir()
