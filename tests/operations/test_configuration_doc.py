"""The configuration reference (docs/configuration.md) documents every key the code accepts, and no other.

The keys come from the code: ``Settings`` and every struct reachable from its fields
(``msgspec.structs.fields``, through lists, dicts and optional values), and each installed
plugin's ``config_type`` under ``[platforms.<name>]`` or ``[channels.<name>]``. In the
reference, a section is a heading holding its TOML table header in backquotes
(``### `[delivery]` ``, ``### `[[rules.send]]` ``, ``<name>`` for a table's own keys) and
each key is a table row under it whose first cell is the key in backquotes; the top-level
keys are the rows under ``## Sections``.
"""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from notigate.config.settings import Settings
from notigate.plugin.manager import load_plugins

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ROOT_HEADING = "## Sections"
_HEADER = re.compile(r"^#+ .*?`\[\[?([^\]`]+)\]\]?`")
_ROW = re.compile(r"^\| `([A-Za-z_][A-Za-z0-9_]*)` \|")


def _nested(type_: Any, through_dict: bool = False) -> list[tuple[type[msgspec.Struct], bool]]:
    """The structs inside a field's type, each with whether a dict's values hold it (keys are names)."""
    if isinstance(type_, type) and issubclass(type_, msgspec.Struct):
        return [(type_, through_dict)]
    origin, args = get_origin(type_), get_args(type_)
    if origin is Annotated:
        return _nested(args[0], through_dict)
    if origin in (list, Union, types.UnionType):
        return [found for arg in args for found in _nested(arg, through_dict)]
    if origin is dict:
        return _nested(args[1], True)
    return []


def _walk(struct: type[msgspec.Struct], path: str, out: dict[str, set[str]]) -> None:
    out[path] = set()
    for field in msgspec.structs.fields(struct):
        out[path].add(field.name)
        key = f"{path}.{field.name}" if path else field.name
        for child, through_dict in _nested(field.type):
            _walk(child, f"{key}.*" if through_dict else key, out)


def _in_code() -> dict[str, set[str]]:
    """Section path (``""`` for the top level, ``rules.send``, ``platforms.assasta.merchants.*``) → its keys."""
    out: dict[str, set[str]] = {}
    _walk(Settings, "", out)
    plugins = load_plugins([])
    assert {"arindo", "paprika", "assasta"} <= set(plugins.platforms), "the bundled platforms are installed"
    assert {"webhook", "email", "sms"} <= set(plugins.channels), "the bundled channels are installed"
    for kind, classes in (("platforms", plugins.platforms), ("channels", plugins.channels)):
        for name, cls in classes.items():
            _walk(cls.config_type, f"{kind}.{name}", out)
    return out


def _in_doc() -> dict[str, set[str]]:
    """The same mapping, read from the reference's headings and table rows."""
    out: dict[str, set[str]] = {}
    section: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            header = _HEADER.match(line)
            section = (
                "" if line.strip() == ROOT_HEADING else re.sub(r"<[^>]+>", "*", header.group(1)) if header else None
            )
            if section is not None:
                out.setdefault(section, set())
        elif section is not None and (row := _ROW.match(line)):
            out[section].add(row.group(1))
    return out


def _name(section: str, key: str = "") -> str:
    full = ".".join(p for p in (section, key) if p)
    return f"[{section}] {key}" if section and key else full


def test_every_key_the_code_accepts_is_documented() -> None:
    """Each field of the settings structs and of every installed plugin's config type has a row
    in docs/configuration.md under its section's heading."""
    documented = _in_doc()
    missing = [
        _name(section, key)
        for section, keys in _in_code().items()
        for key in sorted(keys - documented.get(section, set()))
    ]
    assert not missing, (
        f"docs/configuration.md does not document {', '.join(missing)}: add a row "
        "| `key` | type | default | meaning | under the heading of its section"
    )


def test_the_reference_documents_no_key_the_code_lacks() -> None:
    """Every section and key in docs/configuration.md exists in the code (a renamed or removed
    key is not left behind in the reference)."""
    in_code = _in_code()
    extra = [
        _name(section, key) for section, keys in _in_doc().items() for key in sorted(keys - in_code.get(section, set()))
    ]
    extra += [f"[{section}]" for section in _in_doc() if section not in in_code]
    assert not extra, f"docs/configuration.md documents {', '.join(extra)}, which the code does not accept"
