"""How many students this server holds now: their labs counted as `lab up` counts them
(lab/capacity.py), then with each student's JupyterLab server and lesson kernel as well."""
from __future__ import annotations

from ..lab import capacity

# A student's JupyterLab server (with nbgrader's extensions) and lesson kernel, beside their lab:
# benchmarks/classroom.py measured 313 and 301 MB (PSS) per student with a 2-node lab formed, for 5
# and 10 students; less 2 x 64 MB of lab.
SERVER_MEMORY_MB = 185


def report(nodes: int = 2, meminfo_text: str | None = None) -> list[str]:
    fit, available, reserve = capacity.max_nodes(meminfo_text)
    per_student = nodes * capacity.NODE_MEMORY_MB + SERVER_MEMORY_MB
    return [f"{fit // nodes} students' {nodes}-node labs fit now, counted as `lab up` counts: MemAvailable "
            f"{available} MB, {reserve} MB kept for the rest of the machine, {capacity.NODE_MEMORY_MB} MB a node",
            f"{max(0, (available - reserve) // per_student)} students fit with their JupyterLab and kernel too "
            f"({per_student} MB a student: {SERVER_MEMORY_MB} MB for the server and kernel, as "
            f"benchmarks/classroom.py measured)"]
