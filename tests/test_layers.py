"""The layers stay layers: every import of ``tasks/`` and ``checks/`` points down (or across, within
one layer), and no module imports itself in a circle — lazy imports inside functions included.

The table is the one in docs/architecture.md; a module that is in no layer fails the test too,
so a new file has to take its place in it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# top to bottom; a prefix of the module name (a package) or a module name
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("face",
     ("tasks.dodo", "tasks.console", "tasks.graph", "tasks.actions", "tasks.context", "tasks.cli", "tasks.clean",
      "tasks.commands", "tasks.commandref")),
    ("publish", ("tasks.publish",)),
    ("modes", ("tasks.modes",)),
    ("engine", ("tasks.engine",)),
    ("report", ("tasks.report",)),
    ("checks", ("checks",)),
    ("repo", ("tasks.repo",)),
    ("core", ("tasks.core",)),
    ("infra", ("tasks.assets", "tasks.config", "tasks.configkeys", "tasks.fields", "tasks.workspace", "tasks.errors",
               "tasks.exitcodes", "tasks.proc", "tasks.redact",
               "tasks.globs", "tasks.strictyaml", "tasks.faults", "tasks.doitstate", "tasks.refnames",
               "tasks.nodeversions", "tasks.hashing", "tasks.progress", "tasks")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    for rank, (_, names) in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names if n != "tasks") or module in names:
            return rank
    return None


def imports(path: Path) -> set[str]:
    """Every ``tasks``/``checks`` module ``path`` imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from tasks.repo import git`
    return {m for m in found if m.split(".")[0] in ("tasks", "checks")}


def modules() -> dict[str, Path]:
    return {module_name(p): p for folder in ("tasks", "checks") for p in sorted((ROOT / folder).rglob("*.py"))}


def resolved(name: str, known: dict[str, Path]) -> str | None:
    """The module an imported name is (``tasks.repo.git``), or the package it names, or None (a symbol)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


GRAPH = {m: {r for name in imports(p) if (r := resolved(name, modules())) and r != m} for m, p in modules().items()}


def test_every_module_has_a_layer() -> None:
    assert [m for m in GRAPH if layer_of(m) is None] == []


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module: str) -> None:
    upward = sorted(dep for dep in GRAPH[module]
                    if layer_of(dep) is not None and layer_of(dep) < layer_of(module)  # type: ignore[operator]
                    and not _package_of(module, dep))
    assert upward == [], f"{module} ({LAYERS[layer_of(module)][0]}) imports a higher layer: " + ", ".join(  # type: ignore[index]
        f"{d} ({LAYERS[layer_of(d)][0]})" for d in upward)  # type: ignore[index]


def _package_of(module: str, dep: str) -> bool:
    """A package's ``__init__`` belongs to its own modules (``tasks.repo.git`` may import ``tasks.repo``)."""
    return module.startswith(dep + ".")


def test_no_import_circles() -> None:
    index, low, stack, on, circles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            packages = {c for c in comp if any(o.startswith(c + ".") for o in comp)}
            if len(comp) - len(packages) > 1:
                circles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert circles == []


def test_the_walk_sees_real_imports() -> None:
    """The test itself cannot pass by seeing nothing: known edges are there."""
    assert "tasks.repo.git" in GRAPH["tasks.engine.slices"]
    assert "tasks.core.vocabulary" in GRAPH["tasks.core.classify"]
    assert layer_of("tasks.engine.slices") < layer_of("tasks.repo.git")  # type: ignore[operator]


def test_architecture_lists_every_module_under_its_layer() -> None:
    """docs/architecture.md's Layout names each module once, in the section of the layer it is in."""
    import re

    layout = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").split("## Task graph")[0]
    placed: dict[str, str] = {}
    for section in re.split(r"^### ", layout, flags=re.M)[1:]:
        layer = section.split()[0]
        for path in re.findall(r"^\| `((?:tasks|checks)/[^`]+\.py)` \|", section, flags=re.M):
            assert path not in placed, f"{path} is listed twice in docs/architecture.md"
            placed[path] = layer
    wrong = {}
    for module, path in modules().items():
        rel = str(path.relative_to(ROOT))
        if path.name == "__init__.py" and rel not in placed:
            continue  # a package's __init__ is listed only when it holds more than the package docstring
        expected = LAYERS[layer_of(module)][0]  # type: ignore[index]
        if placed.get(rel) != expected:
            wrong[rel] = f"listed under {placed.get(rel)!r}, in layer {expected!r}"
    assert wrong == {}
    assert len(placed) > 80  # the parse found the tables
