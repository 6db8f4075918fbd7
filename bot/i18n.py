"""Gettext catalogs (Babel) used through aiogram.utils.i18n; compiled on start-up when stale."""

from __future__ import annotations

import logging
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.config import SUPPORTED_LOCALES

log = logging.getLogger(__name__)
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Compile every .po whose .mo is missing or older, so a fresh clone works without a build step."""
    written = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parent.parent.name)
        with mo_path.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        written.append(mo_path)
    if written:
        log.info("compiled %d message catalog(s)", len(written))
    return written


def create_i18n(default_locale: str) -> I18n:
    compile_catalogs()
    i18n = I18n(path=LOCALES_DIR, default_locale=default_locale, domain=DOMAIN)
    missing = set(SUPPORTED_LOCALES) - set(i18n.available_locales)
    if missing:
        log.warning("no compiled catalog for %s; texts will show in English", ", ".join(sorted(missing)))
    return i18n
