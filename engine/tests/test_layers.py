"""The engine's areas stack: a module imports only from its own area or the ones below it, and no
two modules import each other, so a reader can take the areas in order and never meet a name ahead."""

from __future__ import annotations

import ast
from pathlib import Path

import notigate

PACKAGE = Path(notigate.__file__).parent
LAYERS = [
    {"events", "errors", "masking", "money", "clock", "ids", "blips", "logs"},
    {"plugin"},
    {"config"},
    {"storage"},
    {"messages"},
    {""},  # the package itself, the plugin kit: what a plugin imports (``from notigate import hookimpl``)
    {"routing"},
    {"webhooks"},
    {"delivery"},
    {"ingest"},
    {"app"},
    {"api"},
    {"testing"},  # the plugin kit's test tools: they build whole gateways
    {"cli", "__main__"},
]
"""Lowest first. The first name after ``notigate.`` decides a module's area."""


def area(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def rank(module: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if area(module) in names)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(module: str, *, at_import_time: bool = False) -> set[str]:
    """The engine modules ``module`` imports (submodules named in ``from notigate import x`` included).

    ``at_import_time`` leaves out what only type checkers or function bodies import.
    """
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nodes: list[ast.stmt] = list(tree.body) if at_import_time else list(ast.walk(tree))  # type: ignore[arg-type]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("notigate")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "notigate":
            for a in node.names:
                child = f"{node.module}.{a.name}"
                found.add(child if child in MODULES else node.module)
    return found - {module}


def test_every_module_has_an_area() -> None:
    for module in MODULES:
        assert any(area(module) in names for names in LAYERS), f"{module} is in no area of LAYERS"


def test_no_module_imports_from_an_area_above_its_own() -> None:
    upward = sorted(f"{m} imports {i}" for m in MODULES for i in imports(m) if rank(i) > rank(m))
    assert upward == []


def test_no_import_cycles() -> None:
    graph = {m: imports(m, at_import_time=True) & set(MODULES) for m in MODULES}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt], done)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], done)
    assert cycles == []


def test_sql_lives_in_storage() -> None:
    """Statements are written in ``storage/`` and nowhere else."""
    words = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")
    with_sql = sorted(
        module
        for module, path in MODULES.items()
        if area(module) != "storage"
        and any(
            isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lstrip().startswith(words)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    )
    assert with_sql == []
