"""The lessons in another language, built from the English ones: code from English, prose translated.

A translated edition is one text file per lesson, notebooks/LANG/NN-topic.md: the lesson's markdown
cells, each under a line that names the English cell it translates and a short hash of that cell's
text when it was translated:

    <!-- cell 99e3a5bf en 3f2a9c1e -->
    # 第 0 课：从这里开始
    ...

`build` takes the English notebook and puts the translation in place of each markdown cell; every
code cell (and its id, tags and metadata) is the English one, so the two cannot drift apart. What
no longer matches is listed by `problems`: an English markdown cell with no translation, one whose
text changed since it was translated (stale), a translation of a cell that is gone. The built
notebooks are written beside their sources (`swarmlab lessons build --lang zh`), with the folder
marker that makes a kernel started there speak the language (swarmlab.i18n).
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import EditionError
from .i18n import FOLDER_MARKER, LANGUAGES

# nbformat is imported by the functions that read notebooks: with jsonschema's format checks it
# takes seconds, and a command such as `swarmlab lab exec` never reads one.

NOTEBOOKS = Path(__file__).resolve().parent / "data" / "notebooks"
EDITIONS = tuple(lang for lang in LANGUAGES if lang != "en")
HEADER = re.compile(r"^<!-- cell (\S+) en (\S+) -->$", re.M)


@dataclass(frozen=True)
class Entry:
    cell_id: str
    en_hash: str
    source: str


def text_hash(text: str) -> str:
    """A short hash of an English cell's text: what a translation says it translated."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def folder(lang: str, directory: Path = NOTEBOOKS) -> Path:
    if lang not in EDITIONS:
        raise EditionError(f"no {lang!r} edition of the lessons: there are {', '.join(EDITIONS)}")
    return Path(directory) / lang


def source_path(english: Path, lang: str) -> Path:
    return folder(lang, Path(english).parent) / Path(english).with_suffix(".md").name


def read_translation(path: Path) -> dict[str, Entry]:
    """cell id -> Entry, from a translation file (see the module's docstring)."""
    if not Path(path).exists():
        raise EditionError(f"no translation {path}: write one (a `<!-- cell ID en HASH -->` line per markdown cell)")
    text = Path(path).read_text()
    heads = list(HEADER.finditer(text))
    if not heads or text[:heads[0].start()].strip():
        raise EditionError(f"{path}: each translated cell starts with a line `<!-- cell ID en HASH -->`")
    entries = {}
    for head, after in zip(heads, heads[1:] + [None]):
        body = text[head.end():after.start() if after else len(text)].strip("\n")
        entries[head.group(1)] = Entry(head.group(1), head.group(2), body)
    return entries


def problems(english: Path, lang: str) -> list[str]:
    """What keeps the edition from matching the English lesson, one line each (empty: it matches)."""
    import nbformat
    nb = nbformat.read(english, as_version=4)
    path = source_path(english, lang)
    entries = read_translation(path)
    found = []
    markdown = {c.id: c for c in nb.cells if c.cell_type == "markdown"}
    for cell_id, cell in markdown.items():
        entry = entries.get(cell_id)
        if entry is None:
            found.append(f"{path.name}: English markdown cell {cell_id} has no translation")
        elif entry.en_hash != text_hash(cell.source):
            found.append(f"{path.name}: cell {cell_id} is stale: its English text changed "
                         f"(translated {entry.en_hash}, now {text_hash(cell.source)})")
    found += [f"{path.name}: cell {cell_id} is translated but the English lesson has no such markdown cell"
              for cell_id in entries if cell_id not in markdown]
    return found


def build(english: Path, lang: str):
    """The lesson in `lang`: the English notebook with each markdown cell translated. A cell with no
    translation stays in English (`problems` names it)."""
    import nbformat
    nb = nbformat.read(english, as_version=4)
    entries = read_translation(source_path(english, lang))
    built = copy.deepcopy(nb)
    for cell in built.cells:
        if cell.cell_type == "markdown" and cell.id in entries:
            cell.source = entries[cell.id].source
    built.metadata["swarmlab"] = {**built.metadata.get("swarmlab", {}), "lang": lang,
                                  "built_from": Path(english).name}
    return built


def built_path(english: Path, lang: str) -> Path:
    return folder(lang, Path(english).parent) / Path(english).name


def write(lang: str, lessons: list[Path]) -> list[Path]:
    """Build the edition of each English lesson into its folder, with the folder's language marker."""
    import nbformat
    written = []
    for english in lessons:
        target = built_path(english, lang)
        nbformat.write(build(english, lang), target)
        written.append(target)
        (target.parent / FOLDER_MARKER).write_text(lang + "\n")
    return written


def stub(english: Path, lang: str) -> str:
    """A translation file for a lesson with no translation yet: each English cell under its header,
    for a translator to replace."""
    import nbformat
    nb = nbformat.read(english, as_version=4)
    return "\n\n".join(f"<!-- cell {c.id} en {text_hash(c.source)} -->\n{c.source}"
                       for c in nb.cells if c.cell_type == "markdown") + "\n"
