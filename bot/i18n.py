"""Gettext catalogs (Babel) used through aiogram.utils.i18n, compiled from the .po files at every start.

Nothing is written next to the catalogs: an installed wheel's site-packages may be read-only, and no .mo
can be stale when there is none (compiling both catalogs takes ~15 ms).
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path

from aiogram.utils.i18n import I18n

from bot.config import SUPPORTED_LOCALES

log = logging.getLogger(__name__)
DOMAIN = "messages"


def locales_dir() -> Path:
    """The catalogs: inside the package when installed from a wheel (pyproject maps the top-level
    `locales/` to `bot/locales`), else the source checkout's `locales/` (editable installs, tests)."""
    here = Path(__file__).resolve().parent
    packaged = here / "locales"
    return packaged if packaged.is_dir() else here.parent / "locales"


LOCALES_DIR = locales_dir()


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> dict[str, bytes]:
    """Every `<locale>/LC_MESSAGES/messages.po`, compiled to .mo bytes in memory (fuzzy entries left out)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled = {}
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        compiled[locale] = buffer.getvalue()
    return compiled


def create_i18n(default_locale: str) -> I18n:
    """aiogram's I18n over the compiled catalogs. It reads .mo files from a folder once, in its constructor:
    a private temporary one, removed at once (the catalogs' own folder may be read-only)."""
    with tempfile.TemporaryDirectory(prefix="khuyencong-locales-") as tmp:
        for locale, data in compile_catalogs().items():
            folder = Path(tmp) / locale / "LC_MESSAGES"
            folder.mkdir(parents=True)
            (folder / f"{DOMAIN}.mo").write_bytes(data)
        i18n = I18n(path=tmp, default_locale=default_locale, domain=DOMAIN)
    i18n.path = LOCALES_DIR
    missing = set(SUPPORTED_LOCALES) - set(i18n.available_locales)
    if missing:
        log.warning("no catalog for %s in %s; texts will show in English", ", ".join(sorted(missing)), LOCALES_DIR)
    return i18n
