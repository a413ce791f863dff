"""Time every lesson headless, replayed and live.

    python benchmarks/lessons.py [--backends replay,live]

Targets: each lesson in replay under 10 s; the whole series live under 3 minutes.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from swarmlab.check import can_run_lab  # noqa: E402
from swarmlab.headless import run_lessons  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="replay,live")
    args = parser.parse_args()
    tables = []
    for backend in args.backends.split(","):
        if backend == "live" and not can_run_lab():
            print("live: this machine cannot run the lab (see `swarmlab check`); skipped in this table")
            continue
        with tempfile.TemporaryDirectory() as out:
            tables.append(run_lessons(backend, out=Path(out), progress=None))
    table = pd.concat(tables, ignore_index=True)
    print(table.drop(columns="error").to_string(index=False))
    totals = table.groupby("backend")["seconds"].agg(["sum", "max"]).rename(
        columns={"sum": "series s", "max": "slowest lesson s"})
    print("\n" + totals.to_string())


if __name__ == "__main__":
    main()
