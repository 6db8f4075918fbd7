"""Free text and channel data at the edge: one-line fields cannot fake fields in the staff card, piles of
combining marks are refused, and what Telegram sends (very long names, NUL characters, 300-character
file names) is made storable on SQLite and PostgreSQL alike."""

from sqlmodel import select

from storage.models import Need, User
from tests.conftest import STAFF_ID, ChatHarness, Person, form_cb

EN = "en"
FAKE = "Cơ sở A\nĐiện thoại: 0900 000 000\nTrạng thái: Đã duyệt"
ZALGO = "C\u0335\u0321\u0353ơ\u0334\u0327 sở Z\u0337\u0322\u0355"


async def _finish_registration(chat: ChatHarness, p: Person) -> None:
    await chat.contact(p, "+84912345678")
    await chat.send(p, "long xuyen")
    await chat.press(p, form_cb("c", "register", "sector", "food"))
    await chat.send(p, "nước mắm")
    await chat.press(p, form_cb("c", "register", "consent", "yes"))
    await chat.press(p, form_cb("ok", "register", "__summary__"))


async def test_a_name_cannot_fake_fields_in_the_staff_card(chat: ChatHarness) -> None:
    owner = Person(8201, language_code=EN)
    await chat.send(owner, "/start")
    assert "Please write this on one line, without line breaks." in (await chat.send(owner, FAKE))[-1].text
    assert "too many accent marks" in (await chat.send(owner, ZALGO))[-1].text
    await chat.send(owner, "Cơ sở A")
    assert "on one line" in (await chat.send(owner, "Nguyễn Thị Lan\r\nTrạng thái: Đã duyệt"))[-1].text
    await chat.send(owner, "Nguyễn Thị Lan")
    await _finish_registration(chat, owner)
    await chat.send(owner, "/need")
    await chat.press(owner, form_cb("c", "need", "category", "training"))
    await chat.send(owner, "Cần tập huấn.\nLý do: mở rộng sản xuất")  # descriptions keep their lines
    await chat.send(owner, "5/2026")
    await chat.press(owner, form_cb("s", "need", "attachment"))
    await chat.press(owner, form_cb("ok", "need", "__summary__"))

    staff = Person(STAFF_ID, first_name="Hà", language_code=EN)
    await chat.send(staff, "/inbox")
    card = (await chat.press_button(staff, "NC-2026-0001"))[-1].text
    lines = card.split("\n")
    assert "Facility: Cơ sở A" in lines and "Owner: Nguyễn Thị Lan" in lines
    assert not [line for line in lines if line.startswith(("Điện thoại", "Trạng thái"))]
    assert "Description: Cần tập huấn.\nLý do: mở rộng sản xuất" in card


async def test_long_names_nul_and_long_file_names_from_telegram_are_stored_safely(chat: ChatHarness) -> None:
    p = Person(8202, first_name="Lan\x00" + "A" * 200, last_name="B\x00" * 100, language_code=EN)
    assert "register your facility" in (await chat.send(p, "/start"))[-1].text
    await chat.send(p, "/cancel")
    assert "Announcement topics" in (await chat.send(p, "/subscriptions"))[-1].text
    await chat.press(p, "sub.t:fair")
    assert "no longer receive announcements" in (await chat.send(p, "/stop"))[-1].text
    await chat.send(p, "/start")
    await chat.send(p, "Cơ sở nước mắm Hưng Thịnh")
    await chat.send(p, "Nguyễn Thị Lan")
    await _finish_registration(chat, p)
    assert "Welcome back, Nguyễn Thị Lan" in (await chat.send(p, "/start"))[-1].text

    await chat.send(p, "/need")
    await chat.press(p, form_cb("c", "need", "category", "training"))
    await chat.send(p, "Cần tập huấn quản lý sản xuất")
    await chat.send(p, "5/2026")
    name = "báo giá\x00\n" + "x" * 300 + ".pdf"  # Telegram's own file ids are short and plain
    summary = (await chat._feed(chat._message(p, document={"file_id": "BQACAgIAAxkBAAIB", "file_unique_id": "u1",
                                                           "file_name": name})))[-1].text
    assert "\x00" not in summary
    calls = await chat.press(p, form_cb("ok", "need", "__summary__"))
    assert "has been received with reference" in calls[-1].text

    staff = Person(STAFF_ID, first_name="Hà\x00" * 80, last_name="X" * 300, language_code=EN)
    assert "Welcome back, Hà" in (await chat.send(staff, "/start"))[-1].text
    assert "1 found" in (await chat.send(staff, "/inbox"))[-1].text
    assert (await chat.send(staff, "/export"))[-1].method == "SendDocument"

    async with chat.app.session_maker() as s:
        users = {u.external_id: u for u in (await s.exec(select(User))).all()}
        (need,) = (await s.exec(select(Need))).all()
    assert (users["8202"].full_name, users["8202"].username) == ("Nguyễn Thị Lan", None)
    assert users[str(STAFF_ID)].full_name is None  # the Telegram name is never stored
    assert len(need.attachment_name) == 255 and need.attachment_name.endswith("x.pdf")
    assert need.attachment_name.startswith("báo giá x") and "\x00" not in need.attachment_name
