"""The msgids of each domain, read from swarmlab's own sources, and the catalogs kept in step with them.

    claims  the claim sentence of every lesson.expect / expect_output / expect_one_of in the English lessons,
            and what a lesson says about itself (lessons.py: the backend, where it starts, its close)
    doctor  every cause and fix sentence a Finding is given in swarmlab/doctor/
    plot    the labels swarmlab/plot.py says through its `_say(...)`
    widgets the labels, headings and status lines of swarmlab/widgets.py (its `_say(...)` and the
            constants its WIDGET_TABLES names), and the replay's notes the node console shows
    cli     the messages of swarmlab/errors.py's errors and the errors swarmlab/cli/ raises, and those of the modules in CLI_MODULES
            (lab up's refusals among them), and `swarmlab check`'s lines (CHECK_MODULES)

An f-string becomes a template: each `{expression}` a placeholder named by its source, literal braces
doubled. `python -m swarmlab.i18n.extract` adds new msgids to every language's catalog (an empty
translation, for a translator to fill), drops the ones the sources no longer make, and says what lacks
a translation; `--check` only says it, and exits 1 when something lacks one.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from . import DOMAINS, LANGUAGES, po_path

PACKAGE = Path(__file__).resolve().parent.parent
NOTEBOOKS = PACKAGE / "data" / "notebooks"
CLAIM_CALLS = {"expect": 0, "expect_output": 1, "expect_one_of": 0}  # method -> the claim's position


def msgid_of(node: ast.AST) -> str | None:
    """A string literal or f-string as a msgid (None for anything else)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(value.value.replace("{", "{{").replace("}", "}}"))
            else:
                parts.append("{" + ast.unparse(value.value) + "}")
        return "".join(parts)
    return None


def strings_in(node: ast.AST, helpers: dict[str, ast.FunctionDef] | None = None, names=None) -> list[str]:
    """The sentences an expression builds: its literals and f-strings joined with + or chosen with
    `if`/`or`; a call to a helper of the same module, what the helper returns; a name, what it was
    set to (`names`: name -> the expressions assigned to it)."""
    helpers, names = helpers or {}, names or {}
    text = msgid_of(node)
    if text is not None:
        # A name an f-string puts in the sentence, set to a sentence of its own nearby: that one too.
        inner = [s for value in getattr(node, "values", []) if isinstance(value, ast.FormattedValue)
                 and isinstance(value.value, ast.Name) and value.value.id in names
                 for assigned in names[value.value.id] for s in strings_in(assigned, helpers)]
        return ([text] if is_sentence(text) else []) + inner
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return strings_in(node.left, helpers, names) + strings_in(node.right, helpers, names)
    if isinstance(node, ast.IfExp):
        return strings_in(node.body, helpers, names) + strings_in(node.orelse, helpers, names)
    if isinstance(node, ast.BoolOp):
        return [s for v in node.values for s in strings_in(v, helpers, names)]
    if isinstance(node, ast.Name) and node.id in names:
        rest = {name: values for name, values in names.items() if name != node.id}  # `x = x + ...` ends here
        return [s for value in names[node.id] for s in strings_in(value, helpers, rest)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
        helper = helpers.pop(node.func.id)  # once: a helper that calls itself ends here
        local = assignments(helper)
        return [s for r in ast.walk(helper) if isinstance(r, ast.Return) and r.value is not None
                for s in strings_in(r.value, helpers, local)]
    return []


def is_sentence(msgid: str) -> bool:
    """A msgid with words of its own (three letters or more outside its placeholders)."""
    from . import PLACEHOLDER
    return sum(c.isalpha() for c in PLACEHOLDER.sub("", msgid)) >= 3


def assignments(function: ast.AST) -> dict[str, list[ast.AST]]:
    """name -> every expression assigned (=, +=, :=) to it in `function`."""
    found: dict[str, list[ast.AST]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            if isinstance(node.target, ast.Name):
                found.setdefault(node.target.id, []).append(node.value)
    return found


def _unique(items):
    return list(dict.fromkeys(items))


# --- claims ----------------------------------------------------------------------
def code_of(cell_source: str) -> str:
    """A code cell as Python: IPython's %magic and !shell lines left out."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell_source.splitlines())


def claims_in(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(code_of(source))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLAIM_CALLS
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "lesson"):
            position = CLAIM_CALLS[node.func.attr]
            claim = next((k.value for k in node.keywords if k.arg == "claim"), None)
            if claim is None and len(node.args) > position:
                claim = node.args[position]
            found += strings_in(claim) if claim is not None else []
    return found


def _said_in(path: Path) -> list[str]:
    """The sentences a module says through its `_say(...)` (claims.py: its summary and failures; plot.py: labels)."""
    return [s for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "_say"
            for s in strings_in(node.args[0])]


def claim_msgids(directory: Path = NOTEBOOKS) -> list[str]:
    import nbformat
    lessons = ast.parse((PACKAGE / "lessons.py").read_text())
    found = _said_in(PACKAGE / "claims.py") + _said_in(PACKAGE / "lessons.py") + _tables(lessons, ("STARTS_FROM",))
    for path in sorted(Path(directory).glob("[0-9][0-9]-*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                found += claims_in(cell.source)
    return _unique(found)


# --- doctor ----------------------------------------------------------------------
FINDING_FIELDS = {"cause": 4, "fix": 5}


# Sentences a check keeps in a table at module level: a port's verdicts, the task failure modes.
DOCTOR_TABLES = ("_PORT_VERDICTS", "NO_GWBRIDGE", "NO_SANDBOX")
DOCTOR_RECORDS = {"FailureMode": ("cause", "fix")}  # a record's fields that are sentences


def _tables(tree: ast.Module, tables=DOCTOR_TABLES) -> list[str]:
    """The sentences of the module-level tables named `tables`, and of the records DOCTOR_RECORDS names."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in tables for t in node.targets):
            inside = {id(part) for f in ast.walk(node.value) if isinstance(f, ast.JoinedStr)
                      for part in ast.walk(f) if part is not f}  # an f-string's pieces: not sentences of their own
            found += [s for value in ast.walk(node.value) if isinstance(value, (ast.Constant, ast.JoinedStr))
                      and id(value) not in inside for s in strings_in(value) if " " in s]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DOCTOR_RECORDS:
            fields = [a.arg for a in _record_fields(tree, node.func.id)]
            given = dict(zip(fields, node.args)) | {k.arg: k.value for k in node.keywords}
            found += [s for field in DOCTOR_RECORDS[node.func.id] if field in given for s in strings_in(given[field])]
    return found


def _record_fields(tree: ast.Module, name: str) -> list[ast.AnnAssign]:
    """The fields of a dataclass defined in the module (their order is the constructor's)."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return [type("Field", (), {"arg": s.target.id}) for s in node.body
                    if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
    return []


def doctor_msgids(directory: Path = PACKAGE / "doctor") -> list[str]:
    # the report's labels and its overview's own lines (counts, what settles), and those `swarmlab doctor` adds
    found = [s for name in ("findings.py", "joining.py", "../cli/doctor.py") for s in _said_in(Path(directory) / name)]
    for path in sorted(Path(directory).glob("*.py")):
        tree = ast.parse(path.read_text())
        found += _tables(tree)
        helpers = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
        for function in helpers.values():
            names = assignments(function)
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                        "Finding", "replace"):  # a Finding made, or one remade with dataclasses.replace
                    for field, position in FINDING_FIELDS.items():
                        value = next((k.value for k in node.keywords if k.arg == field), None)
                        if value is None and len(node.args) > position:
                            value = node.args[position]
                        if value is not None:
                            found += strings_in(value, dict(helpers), names)
    return _unique(found)


# --- cli ---------------------------------------------------------------------------
def _raised_messages(tree: ast.AST, helpers) -> list[str]:
    """The messages of the errors raised in `tree`, and in each function the sentences the names
    they put in them were set to (`where = f"your classroom limit ..."`)."""
    found = _raised_in(tree, helpers)
    for function in (f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)):
        found += _raised_in(function, helpers, assignments(function))
    return found


def _raised_in(tree: ast.AST, helpers, names=None) -> list[str]:
    found = []
    for node in ast.walk(tree):
        call = None
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"
              and isinstance(node.func.value, ast.Call)):  # super().__init__(message)
            call = node
        if call is not None and call.args:
            found += strings_in(call.args[0], dict(helpers), names)
    return found


# Beside errors.py, the modules whose errors the lesson commands, the doctor's target and `lab up` end on.
CLI_MODULES = ("errors.py", "lessons.py", "cluster.py", "editions.py", "i18n/__init__.py",
               "lab/spec.py", "lab/limits.py", "lab/capacity.py", "lab/lab.py", "lab/driver.py",
               "lab/userns/driver.py")
# `swarmlab check`'s lines: each Check's detail and fix (an administrator's step), the purposes its tables
# put into them, and (userns) why a lab in the user's namespaces cannot run.
CHECK_MODULES = ("check.py", "userns_check.py", "lab/userns/driver.py")
CHECK_RECORDS = {"Check": {"detail": 2, "fix": 3}, "Usability": {"reason": 1, "forced_error": 2}}
CHECK_TABLES = ("_TOOLS", "_KERNEL_FEATURES", "ROOTLESS_TOOLS")


def cli_msgids(package: Path = PACKAGE) -> list[str]:
    found = []
    for path in [*(package / name for name in CLI_MODULES), *sorted((package / "cli").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        helpers = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
        found += _raised_messages(tree, helpers)
    for name in CHECK_MODULES:
        found += _records(package / name) + _tables(ast.parse((package / name).read_text()), CHECK_TABLES)
    found += said_in_functions(package / "cli" / "check.py") + said_in_functions(package / "lab" / "userns" / "driver.py")
    return _unique(s for s in found if " " in s)  # a lone word is a method's or an option's name, not a sentence


def _records(path: Path) -> list[str]:
    """The sentences CHECK_RECORDS' fields are given where a module makes one (a name followed to what
    the function assigned to it)."""
    tree = ast.parse(path.read_text())
    functions = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)]
    helpers = {f.name: f for f in functions}
    found = []
    for function in functions:
        names = assignments(function)
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in CHECK_RECORDS:
                for field, position in CHECK_RECORDS[node.func.id].items():
                    value = next((k.value for k in node.keywords if k.arg == field), None)
                    if value is None and len(node.args) > position:
                        value = node.args[position]
                    if value is not None:
                        found += strings_in(value, dict(helpers), names)
    return found


def plot_msgids() -> list[str]:
    return _unique(_said_in(PACKAGE / "plot.py"))


# --- widgets -----------------------------------------------------------------------
def said_in_functions(path: Path) -> list[str]:
    """What a module says through `_say(...)`, a name given to it followed to what the function
    assigned to that name, a helper of the module to what it returns."""
    tree = ast.parse(path.read_text())
    functions = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)]  # methods of a name alike too
    helpers = {f.name: f for f in functions}
    found = []
    for function in functions:
        names = assignments(function)
        found += [s for node in ast.walk(function) if isinstance(node, ast.Call)
                  and getattr(node.func, "id", "") == "_say" for s in strings_in(node.args[0], dict(helpers), names)]
    return found


def constants_named(path: Path, table: str) -> list[str]:
    """The strings assigned (anywhere in the module) to the names its tuple `table` lists."""
    tree = ast.parse(path.read_text())
    wanted = {c.value for node in tree.body if isinstance(node, ast.Assign)
              and any(getattr(t, "id", "") == table for t in node.targets)
              for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
    return [c.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and any(getattr(t, "id", "") in wanted for t in node.targets)
            for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str)]


def widgets_msgids(package: Path = PACKAGE) -> list[str]:
    """The widgets' labels, headings and status lines, and the replay's notes the node console shows."""
    replay = ast.parse((package / "transport" / "replay.py").read_text())
    notes = [s for f in ast.walk(replay) if isinstance(f, ast.FunctionDef) and f.name == "as_of_now"
             for value in assignments(f).get("note", []) for s in strings_in(value)]
    notes += [s for f in ast.walk(replay) if isinstance(f, ast.FunctionDef) and f.name == "_missing"  # a command
              for r in ast.walk(f) if isinstance(r, ast.Return) and r.value is not None  # the recording lacks
              for s in strings_in(r.value, {}, assignments(f))]
    return _unique(constants_named(package / "widgets.py", "WIDGET_TABLES")
                   + said_in_functions(package / "widgets.py") + notes)


SOURCES = {"claims": claim_msgids, "doctor": doctor_msgids, "cli": cli_msgids, "plot": plot_msgids,
           "widgets": widgets_msgids}


def msgids(domain: str) -> list[str]:
    return SOURCES[domain]()


# --- catalogs ------------------------------------------------------------------------
def read_catalog(domain: str, lang: str):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po
    path = po_path(domain, lang)
    if not path.exists():
        return Catalog(locale=lang, domain=domain, project="swarmlab")
    with path.open("rb") as source:
        return read_po(source, locale=lang, domain=domain)


def untranslated(domain: str, lang: str) -> list[str]:
    """The domain's msgids that `lang`'s catalog lacks or leaves empty (or fuzzy)."""
    catalog = read_catalog(domain, lang)
    return [m for m in msgids(domain) if not (catalog.get(m) and catalog.get(m).string and not catalog.get(m).fuzzy)]


def obsolete(domain: str, lang: str) -> list[str]:
    """Messages `lang`'s catalog holds that the sources no longer make."""
    wanted = set(msgids(domain))
    return [m.id for m in read_catalog(domain, lang) if m.id and m.id not in wanted]


def update(domain: str, lang: str) -> list[str]:
    """Add the new msgids (empty), drop the obsolete ones, keep every translation; the untranslated."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po
    old = read_catalog(domain, lang)
    new = Catalog(locale=lang, domain=domain, project="swarmlab", fuzzy=False, copyright_holder="swarmlab",
                  header_comment=f"# swarmlab's {domain} messages in {lang} (swarmlab/i18n/extract.py keeps the msgids "
                                 "in step with the sources)", creation_date=old.creation_date)
    for msgid in msgids(domain):
        kept = old.get(msgid)
        new.add(msgid, kept.string if kept else "", auto_comments=kept.auto_comments if kept else ())
    path = po_path(domain, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as target:
        write_po(target, new, width=0, omit_header=False, no_location=True)
    return untranslated(domain, lang)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    missing = 0
    for lang in (lang for lang in LANGUAGES if lang != "en"):
        for domain in DOMAINS:
            lacking = untranslated(domain, lang) if check else update(domain, lang)
            missing += len(lacking)
            print(f"{lang}/{domain}: {len(msgids(domain))} messages, {len(lacking)} without a translation")
            for msgid in lacking:
                print(f"  {msgid}")
    return 1 if check and missing else 0


if __name__ == "__main__":
    sys.exit(main())
