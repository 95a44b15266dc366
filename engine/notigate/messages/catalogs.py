"""The gettext catalogs of the template folders, merged per locale.

Each templates folder may hold ``locale/<tag>/LC_MESSAGES/notigate.po`` (source) and
its compiled ``.mo`` (written by the engine's build hook, or by ``pybabel compile``).
A ``.mo`` that is missing or older than its ``.po`` is replaced by the ``.po`` compiled
in memory, so a checkout never speaks a stale catalog.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Sequence
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from notigate.messages.formatting import parse_locale

DOMAIN = "notigate"


def merged_catalog(folders: Sequence[Path], locale: str) -> gettext.NullTranslations:
    """The catalogs for ``locale`` of every folder, earlier folders winning; none: English."""
    merged: Translations | None = None
    for folder in reversed(folders):
        catalog = _catalog(folder / "locale", locale)
        if catalog is not None and merged is None:
            merged = catalog
        elif catalog is not None and merged is not None:
            merged.merge(catalog)
    return merged if merged is not None else gettext.NullTranslations()


def _catalog(directory: Path, locale: str) -> Translations | None:
    """The compiled catalog, or the ``.po`` compiled in memory when the ``.mo`` is missing or older."""
    parsed = parse_locale(locale)
    for tag in dict.fromkeys((str(parsed), parsed.language)):
        po, mo = (directory / tag / "LC_MESSAGES" / f"{DOMAIN}{ext}" for ext in (".po", ".mo"))
        if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
            with mo.open("rb") as file:
                return Translations(file, domain=DOMAIN)
        if po.is_file():
            buffer = io.BytesIO()
            with po.open("rb") as file:
                write_mo(buffer, read_po(file, locale=tag, domain=DOMAIN))
            buffer.seek(0)
            return Translations(buffer, domain=DOMAIN)
    return None
