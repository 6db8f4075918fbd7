"""Gettext catalogs (Babel), compiled from the .po files at every start.

Nothing is written next to the catalogs: an installed wheel's site-packages may be read-only, and no .mo
can be stale when there is none (compiling both catalogs takes ~15 ms).
"""

from __future__ import annotations

import gettext as gettext_module
import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from bot.config import SUPPORTED_LOCALES

log = logging.getLogger(__name__)
DOMAIN = "messages"
# The Vietnamese catalog calls the reader "bạn"; ADDRESS_VI (e.g. "anh/chị") replaces it when compiled.
_BAN = re.compile(r"\b([Bb])ạn\b")


def address(text: str, pronoun: str) -> str:
    """`text` with "bạn" (the catalog's word for "you") replaced by `pronoun`, capitalised where it was."""
    if pronoun == "bạn":
        return text
    return _BAN.sub(lambda m: pronoun[:1].upper() + pronoun[1:] if m.group(1) == "B" else pronoun, text)


def locales_dir() -> Path:
    """The catalogs: inside the package when installed from a wheel (pyproject maps the top-level
    `locales/` to `bot/locales`), else the source checkout's `locales/` (editable installs, tests)."""
    here = Path(__file__).resolve().parent
    packaged = here / "locales"
    return packaged if packaged.is_dir() else here.parent / "locales"


LOCALES_DIR = locales_dir()


def compile_catalogs(locales_dir: Path = LOCALES_DIR, *, address_vi: str = "bạn") -> dict[str, bytes]:
    """Every `<locale>/LC_MESSAGES/messages.po`, compiled to .mo bytes in memory (fuzzy entries left out);
    the Vietnamese one addresses the reader as `address_vi`."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled = {}
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        if locale == "vi":
            for message in catalog:
                if isinstance(message.string, str):
                    message.string = address(message.string, address_vi)
                elif message.string:
                    message.string = tuple(address(form, address_vi) for form in message.string)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        compiled[locale] = buffer.getvalue()
    return compiled


class I18n:
    """The catalogs, and the reader's language for the code running now (a context variable, so
    concurrent updates of people with different languages never mix)."""

    def __init__(self, translations: dict[str, gettext_module.GNUTranslations], *, default_locale: str) -> None:
        self.locales = translations
        self.default_locale = default_locale
        self.path = LOCALES_DIR

    @property
    def available_locales(self) -> tuple[str, ...]:
        return tuple(self.locales)

    @property
    def current_locale(self) -> str:
        return _LOCALE.get() or self.default_locale

    @current_locale.setter
    def current_locale(self, value: str) -> None:
        _LOCALE.set(value)

    @contextmanager
    def use_locale(self, locale: str) -> Iterator[None]:
        token = _LOCALE.set(locale)
        try:
            yield
        finally:
            _LOCALE.reset(token)

    @contextmanager
    def context(self) -> Iterator[I18n]:
        """Make this the catalogs `gettext` below reads (one per app; tests build several)."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def gettext(self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None) -> str:
        translations = self.locales.get(locale or self.current_locale)
        if translations is None:
            return singular if n == 1 or plural is None else plural
        return translations.gettext(singular) if plural is None else translations.ngettext(singular, plural, n)


_LOCALE: ContextVar[str | None] = ContextVar("kc_locale", default=None)
_CURRENT: ContextVar[I18n | None] = ContextVar("kc_i18n", default=None)


def gettext(singular: str, plural: str | None = None, n: int = 1) -> str:
    """The text in the current reader's language (inside `I18n.context()`); the id itself outside one."""
    i18n = _CURRENT.get()
    if i18n is None:
        return singular if n == 1 or plural is None else plural
    return i18n.gettext(singular, plural, n)


def create_i18n(default_locale: str, *, address_vi: str = "anh/chị") -> I18n:
    """The catalogs compiled in memory at every start (nothing written beside them)."""
    translations = {locale: gettext_module.GNUTranslations(io.BytesIO(data))
                    for locale, data in compile_catalogs(address_vi=address_vi).items()}
    i18n = I18n(translations, default_locale=default_locale)
    missing = set(SUPPORTED_LOCALES) - set(i18n.available_locales)
    if missing:
        log.warning("no catalog for %s in %s; texts will show in English", ", ".join(sorted(missing)), LOCALES_DIR)
    return i18n
