"""Text helpers shared by every layer (storage included): no domain rules, no imports from the bot."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case ASCII form for accent- and case-insensitive matching ('Mỹ Hòa Hưng' → 'my hoa hung')."""
    if text.isascii():
        return _NOT_WORD.sub(" ", text.lower()).strip()
    return _fold_letters(text)


@lru_cache(maxsize=1 << 15)
def _fold_letters(text: str) -> str:
    """fold() of a text with letters beyond ASCII, remembered: a search or a sort folds the same names (of
    facilities, owners, communes) at every request, tens of thousands of them (bench/console.py)."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return _NOT_WORD.sub(" ", text.lower()).strip()


def digits_of(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


def search_text(name: str | None, owner: str | None, phone: str | None) -> str:
    """What a facility is found by in a search, kept in facilities.search_folded: its name and owner folded,
    then its phone's digits both as stored (84912…) and as written at home (0912…)."""
    parts = [fold(name or ""), fold(owner or "")]
    if phone:
        parts += [digits_of(phone), "0" + digits_of(phone[3:]) if phone.startswith("+84") else ""]
    return " ".join(p for p in parts if p)


def search_words(q: str) -> tuple[list[str], str] | None:
    """The folded words of what staff typed ('Nước  mắm' → ['nuoc', 'mam']) and its digits (kept when three or
    more: a phone); None when there is nothing to search."""
    wanted = fold(q)
    if not wanted:
        return None
    digits = digits_of(q)
    return wanted.split(), digits if len(digits) >= 3 else ""


def search_matcher(q: str) -> Callable[[str | Sequence[str | None], str | None], bool] | None:
    """A test of (words, phone) for what staff typed in a search box: the folded query within the folded words
    ('nuoc mam' finds 'Nước mắm'), or three digits or more of the phone as written at home (0912…) or with
    +84, spaces or not. None when there is nothing to search. The words may be given as their parts (code,
    name, owner): each part is folded on its own, so the same name is folded once, not once per row."""
    wanted = fold(q)
    if not wanted:
        return None
    digits = digits_of(q)

    def match(words: str | Sequence[str | None], phone: str | None) -> bool:
        folded = fold(words) if isinstance(words, str) else " ".join(f for w in words if w and (f := fold(w)))
        if wanted in folded:
            return True
        if len(digits) >= 3 and phone:
            national = "0" + phone[3:] if phone.startswith("+84") else digits_of(phone)
            return digits in digits_of(phone) or digits in national
        return False

    return match
