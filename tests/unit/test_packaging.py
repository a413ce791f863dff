"""What a build puts in the package: the lessons as real files, not the link to notebooks/."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SOURCES = ("pyproject.toml", "README.md", "swarmlab", "notebooks")


def build_py(tmp_path: Path) -> Path:
    """The package as setuptools' build_py lays it out (what a wheel holds), built from a
    copy of the checkout: a build writes swarmlab.egg-info next to pyproject.toml.

    setup() is called directly, without build isolation: that would download the newer
    setuptools pyproject.toml asks for, and this must work offline."""
    src, out = tmp_path / "src", tmp_path / "build"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():  # the links stay links, as in a checkout
            shutil.copytree(ROOT / name, src / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    built = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q",
                            "build_py", "--build-lib", str(out)],
                           cwd=src, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    return out / "swarmlab"


def test_a_build_ships_every_lesson_as_a_real_file(tmp_path):
    package = build_py(tmp_path)
    lessons = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert lessons
    shipped = package / "data" / "notebooks"
    assert shipped.is_dir() and not shipped.is_symlink()
    for lesson in lessons:
        copy = shipped / lesson.name
        assert copy.is_file() and not copy.is_symlink(), f"{lesson.name} is not in the built package"
        assert copy.read_bytes() == lesson.read_bytes(), f"{lesson.name} differs in the built package"


def test_a_build_ships_every_lab_driver_and_the_nodes_shims(tmp_path):
    """Each driver is a folder of lab/ (a package of its own), and the nodes' systemctl and
    service (lab/shims/, package data) are found where the drivers look for them."""
    from swarmlab.lab import DRIVERS
    from swarmlab.lab.driver import SHIMS
    package = build_py(tmp_path)
    for module in {path.split(":")[0] for path in DRIVERS.values()}:
        assert (package.parent / (module.replace(".", "/") + ".py")).is_file(), f"{module} is not in the build"
    shims = package / SHIMS.relative_to(ROOT / "swarmlab")
    assert sorted(p.name for p in shims.iterdir()) == ["service", "systemctl"]


def test_a_build_ships_the_zh_edition_and_the_message_catalogs(tmp_path):
    """An installed swarmlab runs `lessons run --lang zh` and speaks Chinese: the zh lessons, their
    sources and folder marker, and every .po (compiled when first read, so no .mo is needed)."""
    from swarmlab.i18n import DOMAINS, FOLDER_MARKER
    package = build_py(tmp_path)
    zh = ROOT / "notebooks" / "zh"
    for path in [*zh.glob("*.ipynb"), *zh.glob("*.md"), zh / FOLDER_MARKER]:
        copy = package / "data" / "notebooks" / "zh" / path.name
        assert copy.is_file() and copy.read_bytes() == path.read_bytes(), f"zh/{path.name} is not in the build"
    for domain in DOMAINS:
        assert (package / "data" / "locale" / "zh" / "LC_MESSAGES" / f"{domain}.po").is_file(), domain
