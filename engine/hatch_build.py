"""Hatchling build hook: compile the message catalogs and, for wheels, ship the templates.

The ``.po`` files under the repository's top-level ``templates/locale`` are the source;
their ``.mo`` files are build output (git ignores them). The hook writes each ``.mo``
beside its ``.po`` for every build, editable installs included, so a checkout speaks
Indonesian after ``uv sync``. A regular wheel also gets the whole ``templates/`` folder
as ``notigate/_templates`` (an editable install reads the checkout's folder instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CatalogBuildHook(BuildHookInterface):  # type: ignore[misc,type-arg,unused-ignore]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        templates = Path(self.root).resolve().parent / "templates"
        if not templates.is_dir():  # e.g. building from an sdist, which cannot reach ../templates
            self.app.display_warning(f"notigate: no templates folder at {templates}; building without it")
            return
        for po in sorted(templates.glob("locale/*/LC_MESSAGES/*.po")):
            _compile(po)
        if self.target_name == "wheel" and version != "editable":
            build_data["force_include"][str(templates)] = "notigate/_templates"


def _compile(po: Path) -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name, domain=po.stem)
    with po.with_suffix(".mo").open("wb") as target:
        write_mo(target, catalog)
