"""Text helpers shared by every layer (storage included): no domain rules, no imports from the bot."""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Lower-case ASCII form for accent- and case-insensitive matching ('Mỹ Hòa Hưng' → 'my hoa hung')."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
