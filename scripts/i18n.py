"""Catalog upkeep: `python scripts/i18n.py` extracts messages, updates vi/en, fills English from the ids.

English msgids are the English texts, so the en catalog is the identity; it exists so that
every locale is explicit and the completeness test can check both.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"


def main() -> int:
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run([*pybabel, "extract", "-F", "babel.cfg", "-k", "N_", "-k", "_", "--no-location",
                    "--sort-output", "--omit-header", "-o", str(LOCALES / "messages.pot"), "bot", "handlers"],
                   cwd=ROOT, check=True)
    subprocess.run([*pybabel, "update", "-i", str(LOCALES / "messages.pot"), "-d", str(LOCALES), "-D", "messages",
                    "--no-fuzzy-matching", "--omit-header", "--ignore-obsolete"], cwd=ROOT, check=True)
    en = LOCALES / "en" / "LC_MESSAGES" / "messages.po"
    with en.open("rb") as fh:
        catalog = read_po(fh, locale="en")
    for message in catalog:
        if message.id and not message.string:
            message.string = message.id
    with en.open("wb") as fh:
        write_po(fh, catalog, omit_header=True, no_location=True, sort_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
