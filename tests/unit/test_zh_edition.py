"""The Chinese edition of the lessons: built from the English ones, replayed with their recordings,
its claims said in Chinese, and kept in step with the English text (a change there fails here)."""
from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from lessonrun import claims_in, printed, run
from swarmlab import editions
from swarmlab.headless import lesson_paths

LESSONS = [p.name[:2] for p in lesson_paths()]
CJK = re.compile(r"[\u4e00-\u9fff]")


def english(lesson: str):
    return next(p for p in lesson_paths() if p.name.startswith(lesson))


def code_cells(nb):
    return [(c.id, c.source, c.metadata.get("tags", [])) for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(scope="module")
def replayed_zh(tmp_path_factory):
    runs = {}

    def get(lesson):
        if lesson not in runs:
            out = tmp_path_factory.mktemp(f"zh{lesson}")
            runs[lesson] = (*run(lesson, "replay", out, lang="zh"), out)
        return runs[lesson]
    return get


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_zh_lesson_replays_its_english_twins_recording_and_says_its_claims_in_chinese(lesson, replayed_zh):
    row, nb, out = replayed_zh(lesson)
    assert row["status"] == "ok", row["error"]
    assert row["backend"] == "replay"
    assert row["claims"] == claims_in(lesson) > 0
    ticks = [line for line in printed(nb).splitlines() if line.startswith("✓ ")]
    assert len(ticks) >= row["claims"]
    assert [t for t in ticks if not CJK.search(t)] == []  # every claim said in Chinese
    assert f"已核对 {row['claims']} 条陈述，全部属实" in printed(nb)
    assert code_cells(nb) == code_cells(nbformat.read(english(lesson), as_version=4))
    html = (out / "zh" / english(lesson).with_suffix(".html").name).read_text()
    assert '<html lang="zh">' in html and "本课程改编自一篇中文博客文章" in html


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_zh_lesson_translates_each_english_markdown_cell_of_today(lesson):
    assert editions.problems(english(lesson), "zh") == []
    built = editions.build(english(lesson), "zh")
    prose = [c.source for c in built.cells if c.cell_type == "markdown"]
    assert all(CJK.search(text) for text in prose)
    assert any("深入浅出 Docker" in text and "Docker Deep Dive" in text for text in prose)  # the credit


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_committed_zh_notebooks_are_the_build_output(lesson):
    committed = nbformat.read(editions.built_path(english(lesson), "zh"), as_version=4)
    assert committed == editions.build(english(lesson), "zh"), \
        "notebooks/zh is out of date: run `swarmlab lessons build --lang zh`"


@pytest.fixture
def english_copy(tmp_path):
    """Lesson 03, English and its zh translation, in a folder of their own to change."""
    (tmp_path / "zh").mkdir()
    path = shutil.copy(english("03"), tmp_path)
    shutil.copy(editions.source_path(english("03"), "zh"), tmp_path / "zh")
    return tmp_path / english("03").name


def test_an_english_code_change_the_committed_zh_lesson_does_not_follow_fails(english_copy):
    nb = nbformat.read(english_copy, as_version=4)
    next(c for c in nb.cells if c.cell_type == "code" and "service_create" in c.source).source += "  # changed"
    nbformat.write(nb, english_copy)
    committed = nbformat.read(editions.built_path(english("03"), "zh"), as_version=4)
    rebuilt = editions.build(english_copy, "zh")
    assert committed != rebuilt
    assert code_cells(rebuilt) == code_cells(nb)  # the build itself follows


def test_an_english_markdown_change_makes_its_zh_cell_stale(english_copy):
    nb = nbformat.read(english_copy, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and c.id == "eab944b4")
    cell.source += " Changed."
    nb.cells.append(nbformat.v4.new_markdown_cell("A new paragraph."))
    nbformat.write(nb, english_copy)
    found = editions.problems(english_copy, "zh")
    assert any("eab944b4 is stale" in line for line in found), found
    assert any(f"{nb.cells[-1].id} has no translation" in line for line in found), found


def test_a_translation_without_cell_headers_is_refused(tmp_path):
    (tmp_path / "x.md").write_text("# 第 0 课\n")
    with pytest.raises(editions.EditionError, match="<!-- cell ID en HASH -->"):
        editions.read_translation(tmp_path / "x.md")


DOCS = ["faults.md", "address-pools.md"]


@pytest.mark.parametrize("doc", DOCS)
def test_each_zh_doc_translates_the_english_of_today(doc):
    """docs/zh/X.md opens with the hash of the docs/X.md it translates: a change there fails here
    until the translation follows (and its hash is updated)."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    zh = (root / "docs" / "zh" / doc).read_text()
    head = re.match(r"<!-- translates docs/(\S+) en (\S+) -->\n", zh)
    assert head and head.group(1) == doc
    assert head.group(2) == editions.text_hash((root / "docs" / doc).read_text()), \
        f"docs/{doc} changed since docs/zh/{doc} translated it: translate the change, then update the hash"
    assert len(CJK.findall(zh)) > 1000


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_zh_lesson_also_replays_the_docker_20_10_recording(lesson, tmp_path, monkeypatch):
    """The article's Docker: the same recording the English twin replays with SWARMLAB_DOCKER=20."""
    monkeypatch.setenv("SWARMLAB_DOCKER", "20")
    row, nb = run(lesson, "replay", tmp_path, lang="zh")
    assert row["status"] == "ok", row["error"]
    assert row["claims"] == claims_in(lesson) > 0
    assert "节点运行的是 Docker 20.10" in printed(nb)


def test_zh_student_copies_lose_the_solution_cells_and_keep_the_chinese(tmp_path):
    from swarmlab.cli import main
    assert main(["lessons", "strip", "--lang", "zh", "--out", str(tmp_path)]) == 0
    for lesson in LESSONS:
        nb = nbformat.read(tmp_path / english(lesson).name, as_version=4)
        assert all("solution" not in c.metadata.get("tags", []) for c in nb.cells)
        assert CJK.search(nb.cells[0].source)
