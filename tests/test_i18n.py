"""Every message has a Vietnamese and an English translation, with the same placeholders and tags."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TAG = re.compile(r"</?[a-z]+>")


def _catalog(locale: str):
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_every_message_is_translated(locale: str) -> None:
    missing = [m.id for m in _catalog(locale) if m.id and (not m.string or m.fuzzy)]
    assert missing == []


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_translations_keep_placeholders_and_tags(locale: str) -> None:
    bad = [
        m.id for m in _catalog(locale)
        if m.id and m.string and (
            sorted(PLACEHOLDER.findall(m.id)) != sorted(PLACEHOLDER.findall(m.string))
            or sorted(TAG.findall(m.id)) != sorted(TAG.findall(m.string))
        )
    ]
    assert bad == []


def test_catalogs_cover_every_string_in_the_code(tmp_path: Path) -> None:
    """Extract afresh: a string added to the code but not to the catalogs fails here."""
    pot = tmp_path / "fresh.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "N_",
                    "-k", "_", "--no-location", "-o", str(pot), "bot", "handlers"], cwd=ROOT, check=True,
                   capture_output=True)
    with pot.open("rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    assert len(wanted) > 300  # the extraction really found the product's strings
    for locale in ("vi", "en"):
        have = {m.id for m in _catalog(locale) if m.id and m.string}
        assert sorted(wanted - have) == [], locale


def test_vietnamese_has_diacritics() -> None:
    """A catalog typed without accents would be hard to read; most Vietnamese strings carry them."""
    strings = [m.string for m in _catalog("vi") if m.id and len(m.id) > 20]
    accented = [s for s in strings if re.search(r"[ạảãáàâầấậẩẫăằắặẳẵđêềếệểễôồốộổỗơờớợởỡưừứựửữ]", s.lower())]
    assert len(accented) >= 0.9 * len(strings)


# Said only where there is a button to press: Telegram's flood notice for presses and its contact button.
PRESS_ALLOWED = {
    "Please wait a moment before pressing again.",
    "Please share your phone number with the button, or type it.",
    "Or share it with the “📱 Share my phone number” button below.",  # shown only where that button is
}


def test_prompts_say_choose_or_type_never_press() -> None:
    """Zalo has no buttons: a prompt that says "press" (Vietnamese "bấm") misleads half the users."""
    def says_press(m) -> bool:
        return bool(re.search(r"\bpress", str(m.id), re.I) or "bấm" in str(m.string).lower())

    allowed = [i for i in PRESS_ALLOWED]
    pressing = [m.id for m in _catalog("vi") if m.id and says_press(m)
                and not any(str(m.id).startswith(a) for a in allowed)]
    assert pressing == []


def test_vietnamese_readers_are_addressed_as_the_centre_chooses() -> None:
    """The catalog says "bạn"; ADDRESS_VI (default "anh/chị") is put in its place, capitalised where "Bạn" was,
    and no other word is touched."""
    from bot.i18n import address, create_i18n

    assert address("Bạn có đồng ý không? Thông tin của bạn được giữ kín.", "anh/chị") == \
        "Anh/chị có đồng ý không? Thông tin của anh/chị được giữ kín."
    assert address("Tên cơ sở của bạn là gì?", "bạn") == "Tên cơ sở của bạn là gì?"
    assert address("bạnh, ban, Bản", "ông/bà") == "bạnh, ban, Bản"
    question = "What is the name of your facility? For example: Cơ sở nước mắm Hưng Thịnh."
    polite = create_i18n("vi")
    assert polite.gettext(question, locale="vi") == "Tên cơ sở của anh/chị là gì? Ví dụ: Cơ sở nước mắm Hưng Thịnh."
    plain = create_i18n("vi", address_vi="bạn")
    assert plain.gettext(question, locale="vi") == "Tên cơ sở của bạn là gì? Ví dụ: Cơ sở nước mắm Hưng Thịnh."
    assert polite.gettext(question, locale="en") == question
