"""Plugins, their tests and the plugin guide import only the kit: ``notigate`` and ``notigate.testing``,
so an outside author copying any of them never depends on the engine's private modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIT = {"notigate", "notigate.testing"}


def _engine_imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "notigate":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "notigate"}
    return found


def test_bundled_plugins_import_only_the_kit() -> None:
    private = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "plugins").rglob("*.py"))
        for module in _engine_imports(path.read_text(encoding="utf-8")) - KIT
    }
    assert private == set()


def test_the_guides_code_imports_only_the_kit() -> None:
    guide = (ROOT / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    assert blocks
    private = {module for block in blocks for module in _engine_imports(block) - KIT}
    assert private == set()
