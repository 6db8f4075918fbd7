"""Text helpers shared by every layer (storage included): no domain rules, no imports from the bot."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable


def fold(text: str) -> str:
    """Lower-case ASCII form for accent- and case-insensitive matching ('Mỹ Hòa Hưng' → 'my hoa hung')."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def digits_of(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


def search_matcher(q: str) -> Callable[[str, str | None], bool] | None:
    """A test of (words, phone) for what staff typed in a search box: the folded query within the folded words
    ('nuoc mam' finds 'Nước mắm'), or three digits or more of the phone as written at home (0912…) or with
    +84, spaces or not. None when there is nothing to search."""
    wanted = fold(q)
    if not wanted:
        return None
    digits = digits_of(q)

    def match(words: str, phone: str | None) -> bool:
        if wanted in fold(words):
            return True
        if len(digits) >= 3 and phone:
            national = "0" + phone[3:] if phone.startswith("+84") else digits_of(phone)
            return digits in digits_of(phone) or digits in national
        return False

    return match
