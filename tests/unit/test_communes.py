"""Commune lookup over the current two-tier units (An Giang = 91), accent- and case-insensitive."""

from collections import Counter

import pytest

from bot.services.communes import CommuneDirectory, CommuneLookup


@pytest.fixture(scope="module")
def an_giang() -> CommuneDirectory:
    return CommuneDirectory(91)


@pytest.fixture(scope="module")
def ha_noi() -> CommuneDirectory:
    return CommuneDirectory(1)


def names(hits) -> list[str]:
    return [c.name for c in hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("long xuyen", "Phường Long Xuyên"),
        ("my hoa hung", "Xã Mỹ Hòa Hưng"),
        ("chau doc", "Phường Châu Đốc"),
        ("CHÂU ĐỐC", "Phường Châu Đốc"),
        ("Châu Đốc", "Phường Châu Đốc"),
        ("phuong long xuyen", "Phường Long Xuyên"),
        ("P. Long Xuyên", "Phường Long Xuyên"),
        ("xã mỹ hòa hưng", "Xã Mỹ Hòa Hưng"),
        ("phu quoc", "Đặc khu Phú Quốc"),
    ],
)
async def test_search_finds_one_unit(an_giang: CommuneDirectory, query: str, expected: str) -> None:
    assert names(an_giang.search(query)) == [expected]
    choices = await CommuneLookup(an_giang).search(query, {})
    assert [c.label for c in choices] == [expected]
    assert choices[0].translate is False
    assert an_giang.name(int(choices[0].value)) == expected


@pytest.mark.parametrize("query", ["xyz", "", "   ", "!!!", "phuong xyz"])
async def test_search_finds_nothing(an_giang: CommuneDirectory, query: str) -> None:
    assert an_giang.search(query) == []
    assert await CommuneLookup(an_giang).search(query, {}) == []


def test_partial_name_lists_several_with_prefix_matches_first(an_giang: CommuneDirectory) -> None:
    hits = names(an_giang.search("chau"))
    assert len(hits) > 1
    assert {"Phường Châu Đốc", "Xã Châu Phú", "Xã Châu Thành", "Phường Tân Châu"} <= set(hits)
    # Names starting with the query come before names merely containing it.
    assert hits.index("Xã Châu Phú") < hits.index("Phường Tân Châu")


def test_unit_type_word_narrows_the_search(an_giang: CommuneDirectory) -> None:
    hits = an_giang.search("xa chau")
    assert hits and all(c.name.startswith("Xã ") for c in hits)
    assert "Phường Châu Đốc" not in names(hits)


def test_an_giang_has_102_units(an_giang: CommuneDirectory) -> None:
    units = an_giang.all()
    assert len(units) == 102
    assert Counter(c.name.split()[0] for c in units) == {"Xã": 85, "Phường": 14, "Đặc": 3}
    assert len({c.code for c in units}) == 102


def test_another_province_works(ha_noi: CommuneDirectory) -> None:
    assert ha_noi.province.name == "Thành phố Hà Nội"
    assert len(ha_noi.all()) == 126
    assert names(ha_noi.search("ba dinh")) == ["Phường Ba Đình"]


def test_get_of_foreign_code_is_none(an_giang: CommuneDirectory, ha_noi: CommuneDirectory) -> None:
    ba_dinh = ha_noi.search("ba dinh")[0]
    assert an_giang.get(ba_dinh.code) is None
    assert an_giang.get(None) is None
    assert an_giang.name(ba_dinh.code) == ""
    assert ha_noi.get(ba_dinh.code) == ba_dinh


def test_get_returns_the_unit(an_giang: CommuneDirectory) -> None:
    long_xuyen = an_giang.search("long xuyen")[0]
    assert an_giang.get(long_xuyen.code) == long_xuyen
    assert (long_xuyen.folded, long_xuyen.short) == ("phuong long xuyen", "long xuyen")


async def test_lookup_get_refuses_foreign_and_malformed_values(an_giang, ha_noi) -> None:
    lookup = CommuneLookup(an_giang)
    ba_dinh = ha_noi.search("ba dinh")[0]
    assert await lookup.get(str(ba_dinh.code), {}) is None
    assert await lookup.get("abc", {}) is None
    assert await lookup.get("-1", {}) is None
    long_xuyen = an_giang.search("long xuyen")[0]
    choice = await lookup.get(str(long_xuyen.code), {})
    assert (choice.value, choice.label) == (str(long_xuyen.code), "Phường Long Xuyên")
