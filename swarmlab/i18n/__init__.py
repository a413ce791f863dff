"""The language swarmlab speaks to a student, and its sentences in that language (gettext).

Five gettext domains, each a catalog per language in swarmlab/data/locale/LANG/LC_MESSAGES/DOMAIN.po:

    claims  the sentences lessons check with lesson.expect (the msgids are the English notebooks' own)
    doctor  the doctor's findings: the cause and the fix (the evidence stays as Docker printed it)
    cli     the CLI's one-line errors (swarmlab/errors.py and swarmlab/cli/)
    plot    the labels of swarmlab.plot's pictures
    widgets the lab panel's, node console's and service monitor's labels and status lines

A sentence in the English sources is often an f-string: its msgid keeps each `{expression}` as a
placeholder (literal braces doubled, as in str.format), and `translate` matches the finished English
sentence against those templates, then puts the same values into the translation. A text made of
several such sentences joined (a cause with a clause added) is translated piece by piece.
The .po files are the sources; they are compiled to gettext's binary form when first used (Babel),
so a fresh checkout and an installed package need no build step. `python -m swarmlab.i18n.extract`
lists what is missing and adds new msgids to the catalogs.

Which language: SWARMLAB_LANG (en or zh), else a folder marker (the zh lessons' folder holds a file
`swarmlab-lang` that says zh, so a kernel JupyterLab starts there speaks Chinese), else the locale
(LC_ALL, LC_MESSAGES, LANG: zh_CN.UTF-8 and the like), else English.
"""
from __future__ import annotations

import functools
import gettext
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

LANGUAGES = ("en", "zh")
DOMAINS = ("claims", "doctor", "cli", "plot", "widgets")
LOCALE_DIR = Path(__file__).resolve().parent.parent / "data" / "locale"
FOLDER_MARKER = "swarmlab-lang"  # a file in a lessons folder naming the language of the lessons there
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def normalise(name: str, where: str = "SWARMLAB_LANG") -> str:
    """'zh', 'zh_CN', 'zh-CN', 'zh_CN.UTF-8' -> 'zh'; 'en', 'en_US.UTF-8', 'C', 'POSIX' -> 'en'."""
    key = re.split(r"[_.@-]", name.strip().lower(), maxsplit=1)[0]
    if key in LANGUAGES:
        return key
    if key in ("c", "posix", ""):
        return "en"
    raise UsageError(f"{where}={name!r}: swarmlab speaks {' and '.join(LANGUAGES)}; use one of them")


def language() -> str:
    """'en' or 'zh': SWARMLAB_LANG, else the lessons folder's marker, else the locale, else 'en'."""
    asked = os.environ.get("SWARMLAB_LANG")
    if asked:
        return normalise(asked)
    marker = Path.cwd() / FOLDER_MARKER
    if marker.is_file():
        return normalise(marker.read_text(), where=str(marker))
    for variable in LOCALE_VARIABLES:
        value = os.environ.get(variable)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def po_path(domain: str, lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


@functools.cache
def translations(domain: str, lang: str) -> gettext.NullTranslations:
    """The domain's catalog for `lang`, compiled from its .po in memory (English: none needed)."""
    if domain not in DOMAINS:
        raise UsageError(f"no message domain {domain!r}: use {', '.join(DOMAINS)}")
    path = po_path(domain, lang)
    if lang == "en" or not path.exists():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    with path.open("rb") as source:
        catalog = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


# --- templates: an f-string's msgid matched against the finished sentence ------------
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")


@dataclass(frozen=True)
class Template:
    msgid: str
    msgstr: str
    pattern: re.Pattern

    def fill(self, match: re.Match, say=lambda value: value) -> str:
        """The translation with the values the English sentence had; `say` translates a value that
        is itself a sentence of the catalog (a cause put into another)."""
        found = [match.group(group) for group in range(1, len(self.names) + 1)]
        for index, joint in self.adjacent:
            found[index], found[index + 1] = _split(found[index] + joint + found[index + 1], joint, say)
        values = {}
        for name, value in zip(self.names, found):
            values.setdefault(name, say(value))
        return _substitute(self.msgstr, values)

    @property
    def adjacent(self) -> list[tuple[int, str]]:
        """Placeholders only whitespace apart ("{which} {blame}"): a match cannot tell where one ends."""
        tokens = [m for m in PLACEHOLDER.finditer(self.msgid) if m.group(1)]
        return [(i, self.msgid[a.end():b.start()]) for i, (a, b) in enumerate(zip(tokens, tokens[1:]))
                if not self.msgid[a.end():b.start()].strip()]

    @property
    def names(self) -> list[str]:
        return [m.group(1) for m in PLACEHOLDER.finditer(self.msgid) if m.group(1)]


def _split(text: str, joint: str, say) -> tuple[str, str]:
    """Two values `joint` apart, split where most of them are sentences the catalog translates
    (else at the first joint, as a lazy match does)."""
    cuts = [i for i in range(len(text)) if text.startswith(joint, i) and 0 < i < len(text) - len(joint)]
    scored = [(sum(say(part) != part for part in (text[:i], text[i + len(joint):])), -n, i) for n, i in enumerate(cuts)]
    if not scored:
        return text, ""
    _, _, cut = max(scored)
    return text[:cut], text[cut + len(joint):]


def _substitute(template: str, values: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        return values.get(m.group(1), m.group(0))
    return PLACEHOLDER.sub(one, template)


def _pattern(msgid: str) -> str:
    parts, seen, end = [], {}, 0
    for m in PLACEHOLDER.finditer(msgid):
        parts.append(re.escape(msgid[end:m.start()]))
        end = m.end()
        if m.group(0) in ("{{", "}}"):
            parts.append(re.escape(m.group(0)[0]))
        else:
            parts.append("(.+?)")
    parts.append(re.escape(msgid[end:]))
    return "".join(parts)


@functools.cache
def templates(domain: str, lang: str) -> tuple[dict[str, str], tuple[Template, ...]]:
    """The catalog as plain sentences (English text -> translation) and as templates, longest first."""
    plain, found = {}, []
    path = po_path(domain, lang)
    if lang == "en" or not path.exists():
        return plain, ()
    from babel.messages.pofile import read_po
    with path.open("rb") as source:
        catalog = read_po(source, locale=lang)
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue
        if any(m.group(1) for m in PLACEHOLDER.finditer(message.id)):
            found.append(Template(message.id, message.string, re.compile(_pattern(message.id), re.S)))
        else:
            plain[message.id] = message.string
    found.sort(key=lambda t: len(t.msgid), reverse=True)
    return plain, tuple(found)


def translate(text: str, domain: str, lang: str | None = None) -> str:
    """`text` (an English sentence swarmlab made) in `lang` (default: language()); unchanged when the
    catalog has nothing for it."""
    lang = lang or language()
    if lang == "en" or not text:
        return text
    exact = translations(domain, lang).gettext(text)
    if exact != text:
        return exact
    plain, found = templates(domain, lang)
    whole = _whole(text, plain, found)
    if whole is not None:
        return whole
    pieces = _pieces(text, plain, found)
    return pieces if pieces is not None else text


def _whole(text: str, plain: dict, found, depth: int = 0) -> str | None:
    if text in plain:
        return plain[text]
    for template in found:
        match = template.pattern.fullmatch(text)
        if match:
            return template.fill(match, lambda value: _value(value, plain, found, depth + 1))
    return None


def _value(value: str, plain: dict, found, depth: int) -> str:
    """A value put into a sentence: translated when it is a sentence of the catalog, else as it is."""
    if depth > 2 or not any(c.isalpha() for c in value):
        return value
    said = _whole(value, plain, found, depth)
    return value if said is None else said


def _pieces(text: str, plain: dict, found, depth: int = 0) -> str | None:
    """A text made of catalog sentences joined by punctuation: each translated, the joints kept."""
    if not text:
        return ""
    whole = _whole(text, plain, found)
    if whole is not None:
        return whole
    if depth > 6:
        return None
    if not text[0].isalnum() and text[0] not in "`'\"({[<":
        rest = _pieces(text[1:], plain, found, depth)
        return None if rest is None else _joint(text[0]) + rest
    for english, chinese in sorted(plain.items(), key=lambda kv: -len(kv[0])):
        if len(english) > 3 and text.startswith(english):
            rest = _pieces(text[len(english):], plain, found, depth + 1)
            if rest is not None:
                return chinese + rest
    for template in found:
        match = re.match(template.pattern.pattern + r"(?=[;:,.\s(-]|$)", text, re.S)
        if match and match.end() > 0:
            rest = _pieces(text[match.end():], plain, found, depth + 1)
            if rest is not None:
                return template.fill(match, lambda value: _value(value, plain, found, depth + 1)) + rest
    return None


JOINTS = {";": "；", ",": "，", ":": "：", ".": "。"}


def joint(mark: str, lang: str | None = None) -> str:
    """The joint between sentences or list items ('; ', ', ', '. ') in `lang` (default: language()):
    Chinese writes its full-width mark with no space after it."""
    lang = lang or language()
    return mark if lang == "en" else JOINTS.get(mark.strip(), mark)


def _joint(char: str) -> str:
    return JOINTS.get(char, char)


def gettext_for(domain: str, lang: str | None = None):
    """A `_` for one domain: `_("sentence")` in the current language."""
    return lambda text: translate(text, domain, lang)
