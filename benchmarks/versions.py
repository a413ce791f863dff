"""Every lesson live on the docker driver, once per Docker the nodes run: 20.10 (the default node
image, this machine's packages), 26.1 (Debian trixie's) and 28.5 (sid's).

    python benchmarks/versions.py [--dockers 20,26,28] [--engine URL]

Prints each lesson's status and seconds per Docker, and the series' total. The root file systems
of 26 and 28 come from the cache (`swarmlab lab rootfs --docker 26`, done once beforehand: a
benchmark reaches nothing outside this machine). Target: every lesson ok on every Docker.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from swarmlab.headless import run_lessons  # noqa: E402
from swarmlab.lab.docker import debian  # noqa: E402
from _engine import engine  # noqa: E402


def lessons_on(docker: str, url: str) -> pd.DataFrame:
    """The series live with the nodes on `docker` ("20": the default node image)."""
    env = {"SWARMLAB_DRIVER": "docker", "DOCKER_HOST": url, "SWARMLAB_LESSON_PREFIX": f"bv{uuid.uuid4().hex[:4]}"}
    if docker != "20":
        if not debian.rootfs_path(debian.release(docker)).exists():
            raise SystemExit(f"no cached root file system for Docker {docker}: "
                             f"run `swarmlab lab rootfs --docker {docker}` first")
        env["SWARMLAB_DOCKER"] = docker
    saved = {k: os.environ.get(k) for k in [*env, "SWARMLAB_DOCKER"]}
    os.environ.pop("SWARMLAB_DOCKER", None)
    os.environ.update(env)
    try:
        with tempfile.TemporaryDirectory() as out:
            table = run_lessons("live", out=Path(out), progress=None)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    return table.assign(docker=debian.release(docker).seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockers", default="20,26,28")
    parser.add_argument("--engine", default=None, help="a Docker engine URL (default: a one-node namespace lab's)")
    args = parser.parse_args()
    with engine(args.engine, subnet="10.218.0.0/24") as url:
        table = pd.concat([lessons_on(d, url) for d in args.dockers.split(",")], ignore_index=True)
    wide = table.pivot(index="lesson", columns="docker", values=["status", "seconds"])
    print(wide.to_string())
    print("\nseries s: " + ", ".join(f"Docker {d} {s:.0f}" for d, s in table.groupby("docker")["seconds"].sum().items()))
    failed = table[table["status"] != "ok"]
    print("every lesson ok on every Docker" if failed.empty else f"{len(failed)} lesson run(s) failed")
    return 0 if failed.empty else 1


if __name__ == "__main__":
    sys.exit(main())
