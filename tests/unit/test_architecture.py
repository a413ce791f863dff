"""The layers of docs/architecture.md hold: each module imports only its own layer and the
layers below, nothing outside a driver's folder reaches into it, and there is no import circle.

The layers are read from the table under "## Layers" in docs/architecture.md, so the
picture a newcomer reads and the rule the code keeps are one and the same.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "swarmlab"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The swarmlab modules `path` imports, wherever the import stands in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # a submodule, or a name the module itself holds
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(module, trail):
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                found.append(trail[trail.index(other):] + [other])
            elif other not in state:
                visit(other, trail + [other])
        state[module] = "done"
    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def documented_layers(text: str | None = None) -> list[tuple[str, list[str]]]:
    """(layer, its module names) from the top layer down, as docs/architecture.md's table lists
    them: `name` is a module, `name/` a package with everything in it."""
    text = text if text is not None else ARCHITECTURE.read_text()
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|--")]
    layers = []
    for row in rows[1:]:  # the first row is the heading
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        layers.append((cells[0], re.findall(r"`([\w/.]+)`", cells[1])))
    return layers


def layer_of(module: str, layers: list[tuple[str, list[str]]]) -> int | None:
    """The index of the layer that holds `module` (0 = the top), by its longest documented name."""
    best, index = -1, None
    for i, (_, names) in enumerate(layers):
        for name in names:
            dotted = "swarmlab" if name == "swarmlab" else "swarmlab." + name.rstrip("/").replace("/", ".")
            inside = module == dotted or (name.endswith("/") and module.startswith(dotted + "."))
            if inside and len(dotted) > best:
                best, index = len(dotted), i
    return index


def imports_upward(graph: dict[str, set[str]], layers) -> list[str]:
    """Every import of a module in a higher layer than the importer's."""
    return [f"{module} ({layers[layer_of(module, layers)][0]}) imports {other} "
            f"({layers[layer_of(other, layers)][0]})"
            for module, others in sorted(graph.items()) for other in sorted(others)
            if layer_of(other, layers) < layer_of(module, layers)]


# A lab driver's folder is its own: only the lab's own modules may import it (the driver
# registry loads it by name), and no driver imports another's, but the one it is built on: a
# userns node is a namespaces node entered through a user namespace too.
DRIVER_FOLDERS = ("swarmlab.lab.namespaces", "swarmlab.lab.userns", "swarmlab.lab.docker")
BUILT_ON = {"swarmlab.lab.userns": "swarmlab.lab.namespaces"}


def reaching_into_drivers(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, others in sorted(graph.items()):
        for other in sorted(others):
            folder = next((f for f in DRIVER_FOLDERS if other == f or other.startswith(f + ".")), None)
            own = folder and (module == folder or module.startswith(folder + "."))
            if folder and not own and not module.startswith("swarmlab.lab"):
                found.append(f"{module} imports {other}")
            elif folder and not own and any(module.startswith(f) for f in DRIVER_FOLDERS):
                base = next((b for d, b in BUILT_ON.items() if module.startswith(d + ".")), None)
                if folder != base:
                    found.append(f"{module} imports another driver's {other}")
    return found


def test_the_graph_sees_the_imports():
    graph = import_graph()
    assert "swarmlab.transport.base" in graph["swarmlab.transport.replay"]
    assert "swarmlab.cluster" in graph["swarmlab.doctor"]
    assert circles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]


def test_swarmlab_has_no_import_circles():
    assert circles(import_graph()) == []


def test_every_module_has_one_documented_layer():
    layers = documented_layers()
    assert [name for name, _ in layers][:1] == ["faces"] and len(layers) >= 6
    unplaced = sorted(m for m in import_graph() if layer_of(m, layers) is None)
    assert unplaced == [], "add these modules to the Layers table of docs/architecture.md"


def test_no_module_imports_a_layer_above_its_own():
    assert imports_upward(import_graph(), documented_layers()) == []


def test_the_layer_rule_finds_an_import_that_goes_up():
    layers = [("faces", ["cli/"]), ("machines", ["lab/"]), ("beneath all", ["errors"])]
    graph = {"swarmlab.errors": {"swarmlab.lab.spec"}, "swarmlab.lab.spec": {"swarmlab.errors"},
             "swarmlab.cli.lab": {"swarmlab.lab.spec"}}
    assert imports_upward(graph, layers) == ["swarmlab.errors (beneath all) imports swarmlab.lab.spec (machines)"]


def test_nothing_outside_the_lab_reaches_into_a_driver():
    assert reaching_into_drivers(import_graph()) == []


def test_the_driver_rule_finds_a_reach_inside():
    graph = {"swarmlab.cluster": {"swarmlab.lab.namespaces.network"},
             "swarmlab.lab.docker.driver": {"swarmlab.lab.namespaces.node"},
             "swarmlab.lab.lab": {"swarmlab.lab.docker.driver"}}
    assert reaching_into_drivers(graph) == [
        "swarmlab.cluster imports swarmlab.lab.namespaces.network",
        "swarmlab.lab.docker.driver imports another driver's swarmlab.lab.namespaces.node"]


@pytest.mark.parametrize("folder", DRIVER_FOLDERS)
def test_each_driver_folder_exists(folder):
    assert (ROOT / folder.replace(".", "/") / "__init__.py").is_file()
