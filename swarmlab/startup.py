"""What swarmlab's own processes (the `swarmlab` command, its nbgrader steps, a classroom's Jupyter
servers) do first.

nbformat, nbconvert and nbgrader validate with jsonschema, and jsonschema's format module imports
rfc3987_syntax as it loads; rfc3987_syntax builds some thirty Earley parsers on import. That took
2.2 s of the 3.7 s an nbgrader step spent importing, here (`python -X importtime`), in every step of
a class's grading and every fetch at a student's login; python-jsonschema/jsonschema#1428 reports
the same. Those parsers check only the "iri" and "iri-reference" formats, which no notebook or
Jupyter schema uses. So a swarmlab process tells Python that rfc3987_syntax is not there, and
jsonschema goes on without those two checks, as it does wherever the package is not installed.
"""
from __future__ import annotations

import sys

SLOW_IRI_CHECKER = "rfc3987_syntax"


def skip_slow_iri_checker() -> None:
    """Make `import rfc3987_syntax` fail in this process, unless jsonschema was loaded already
    (then it has its checkers, and this changes nothing)."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault(SLOW_IRI_CHECKER, None)  # None in sys.modules: ImportError on import


# A classroom student's Jupyter server (the hub's Spawner.cmd, run by the students' Python):
# jupyterhub-singleuser as its own script starts it, without the slow checker. It imports no
# swarmlab, which the server does not need.
SINGLEUSER = (f"import sys; sys.modules.setdefault({SLOW_IRI_CHECKER!r}, None); "
              "from jupyterhub.singleuser import main; sys.exit(main())")
