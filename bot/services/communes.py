"""The province's communes (current two-tier units) from the vietnam-provinces package."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from vietnam_provinces import Province, ProvinceCode, Ward

from bot.services.forms import Choice
from bot.services.validation import ascii_int, fold

_TYPE_WORDS = ("xa ", "phuong ", "dac khu ")
_TYPE_TOKENS = {"xa", "phuong", "p", "dac", "khu"}


@dataclass(frozen=True)
class Commune:
    code: int
    name: str  # "Phường Long Xuyên"
    folded: str  # "phuong long xuyen"
    short: str  # "long xuyen"


class CommuneDirectory:
    """Lookup of the configured province's communes, accent- and case-insensitive."""

    def __init__(self, province_code: int) -> None:
        self.province = Province.from_code(ProvinceCode(province_code))
        self._code = ProvinceCode(province_code)

    @cached_property
    def _all(self) -> dict[int, Commune]:
        out: dict[int, Commune] = {}
        for ward in Ward.iter_by_province(self._code):
            folded = fold(ward.name)
            short = next((folded[len(w):] for w in _TYPE_WORDS if folded.startswith(w)), folded)
            out[int(ward.code)] = Commune(int(ward.code), ward.name, folded, short)
        return dict(sorted(out.items(), key=lambda kv: kv[1].short))

    def all(self) -> list[Commune]:
        return list(self._all.values())

    def get(self, code: int | None) -> Commune | None:
        return self._all.get(code) if code is not None else None

    def name(self, code: int | None) -> str:
        commune = self.get(code)
        return commune.name if commune else ""

    def search(self, query: str) -> list[Commune]:
        """Every commune whose name holds all the typed words; exact and prefix matches first."""
        q = fold(query)
        if not q:
            return []
        tokens = q.split()
        # Words like "xã"/"phường" match the unit type; the other words must be in the name itself.
        hits = [
            c for c in self._all.values()
            if all(t in (c.folded if t in _TYPE_TOKENS else c.short) for t in tokens)
        ]

        def rank(c: Commune) -> tuple[int, str]:
            if q in (c.short, c.folded):
                return (0, c.short)
            if c.short.startswith(q) or c.folded.startswith(q):
                return (1, c.short)
            return (2, c.short)

        return sorted(hits, key=rank)


class CommuneLookup:
    """LookupProvider over the directory for form fields of kind LOOKUP."""

    def __init__(self, directory: CommuneDirectory) -> None:
        self.directory = directory

    async def search(self, query: str, context: Mapping[str, Any]) -> Sequence[Choice]:
        hits = self.directory.search(query)
        # An exact name wins outright even when longer names contain it ("long xuyen" → Phường Long Xuyên).
        exact = [c for c in hits if fold(query) in (c.short, c.folded)]
        chosen = exact if len(exact) == 1 else hits
        return [Choice(str(c.code), c.name, translate=False) for c in chosen]

    async def get(self, value: str, context: Mapping[str, Any]) -> Choice | None:
        code = ascii_int(value)
        commune = self.directory.get(code) if code is not None else None
        return Choice(str(commune.code), commune.name, translate=False) if commune else None

    async def browse(self, context: Mapping[str, Any]) -> Sequence[Choice]:
        return []
