"""Possible duplicates among facilities: the same phone, or names whose folded forms (without a leading legal
form) reach difflib's ratio 0.9 in the same commune. The index's shortcuts must find exactly what comparing
every pair finds."""

from __future__ import annotations

import difflib
import random

from bot.services.facilities import SIMILAR, Duplicate, DuplicateIndex, index_of, name_key

WORDS = ["Nước mắm", "Hưng", "Thịnh", "Tân", "Phát", "Mỹ", "Hòa", "Lò", "bánh tráng", "Xưởng", "mộc", "An", "Phú",
         "Hung", "Thinh", "Phat", "2", "Cơ sở", "HKD", "Công ty TNHH"]


def _names(count: int, seed: int) -> list[tuple[int, str, str | None, str | None, int, str]]:
    rng = random.Random(seed)
    keys = []
    for n in range(count):
        name = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5)))
        if rng.random() < 0.2:  # a typo
            i = rng.randrange(len(name))
            name = name[:i] + rng.choice("aeiou") + name[i + 1:]
        phone = f"+8491234{rng.randrange(200):04d}" if rng.random() < 0.5 else None
        keys.append((n + 1, name, None, phone, rng.choice([1, 2, 3]), "food"))
    return keys


def test_legal_forms_and_accents_do_not_count() -> None:
    assert name_key("Cơ sở Nước mắm Hưng Thịnh") == name_key("HKD nuoc mam hung thinh") == "nuoc mam hung thinh"
    assert name_key("Công ty TNHH Tân Phát") == "tan phat"
    assert name_key("Cơ sở") == "co so"  # nothing left: the name as it is


def test_the_index_finds_exactly_the_pairs_a_full_comparison_finds() -> None:
    keys = _names(600, seed=7)
    expected: dict[int, set[int]] = {}
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            same_phone = a[3] is not None and a[3] == b[3]
            ka, kb = name_key(a[1]), name_key(b[1])
            similar = a[4] == b[4] and bool(ka) and bool(kb) and (
                difflib.SequenceMatcher(None, ka, kb, autojunk=False).ratio() >= SIMILAR)
            if same_phone or similar:
                expected.setdefault(a[0], set()).add(b[0])
                expected.setdefault(b[0], set()).add(a[0])
    assert len(expected) > 50  # the sample has duplicates to find
    found = {fid: {d.facility_id for d in dups} for fid, dups in index_of(keys).all_duplicates().items()}
    assert found == expected
    index = index_of(keys)
    for fid, name, _owner, phone, commune, _sector in keys:
        matches = index.matches(name=name, phone=phone, commune_code=commune, itself=Duplicate("", facility_id=fid))
        assert {d.facility_id for d in matches} == expected.get(fid, set()), name


def test_a_phone_match_is_said_before_a_name_match() -> None:
    index = DuplicateIndex()
    index.add(Duplicate("", facility_id=1, name="Hưng Thịnh"), name="Hưng Thịnh", phone="+84912345678",
              commune_code=1)
    [match] = index.matches(name="Hung Thinh", phone="+84912345678", commune_code=1)
    assert match.reason == "phone" and match.facility_id == 1
    assert index.matches(name="Hung Thinh", phone=None, commune_code=2) == []  # another commune
    assert index.matches(name="工厂", phone=None, commune_code=1) == []  # folds to nothing: by phone only
