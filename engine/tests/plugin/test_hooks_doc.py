"""The hooks reference (docs/hooks.md) matches hookspecs.py exactly."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from notigate.plugin import hookspecs

DOC = Path(__file__).resolve().parents[3] / "docs" / "hooks.md"


def _hooks() -> dict[str, str]:
    return {
        name: f"{name}{inspect.signature(fn)}".replace("'", "")
        for name, fn in vars(hookspecs).items()
        if name.startswith("notigate_")
    }


def test_every_hook_is_documented_with_its_signature() -> None:
    """Each hook in the code appears in the reference with its exact signature."""
    text = DOC.read_text()
    for name, signature in _hooks().items():
        assert f"## {name}(" in text, name
        assert f"`{signature}`" in text, signature


def test_the_reference_documents_no_missing_hook() -> None:
    """Every hook named in the reference exists in the code."""
    documented = set(re.findall(r"^## (notigate_\w+)\(", DOC.read_text(), flags=re.M))
    assert documented == set(_hooks())


def test_every_hook_has_a_docstring_saying_when_it_is_called() -> None:
    """Hook docstrings say when the hook is called."""
    for name, fn in vars(hookspecs).items():
        if name.startswith("notigate_"):
            assert "Called" in (fn.__doc__ or ""), name
