"""A would-be collaborator confirming an invitation never sees a facility's menu: the keyboard is taken away
while they confirm and the collaborator's menu comes only once they are one (issue 12)."""

from tests.conftest import ChatHarness, Person, form_cb
from tests.updates.test_invites import make_invite

FACILITY_WORDS = ("📝 New need", "📋 My needs", "🏭 My facility")


def _menu_words(calls: list) -> list[str]:
    return [label for call in calls for label, data in call.buttons() if not data]


async def test_confirming_an_invitation_shows_no_facility_menu(chat: ChatHarness) -> None:
    token = await make_invite(chat)
    ctv = Person(2101, language_code="en")
    seen = await chat.send(ctv, f"/start {token}")
    seen += await chat.send(ctv, "Lê Văn Cộng")
    shared = await chat.contact(ctv, "+84987654321")
    seen += shared
    assert not any(word in _menu_words(seen) for word in FACILITY_WORDS)
    echo = next(c for c in shared if c.method == "SendMessage" and "Phone" in c.text)
    assert echo.params["reply_markup"] == {"remove_keyboard": True}  # the share keyboard goes, no menu comes
    done = await chat.press(ctv, form_cb("ok", "join", "__summary__"))
    words = _menu_words(done)
    assert "📝 File a need" in words and not any(word in words for word in FACILITY_WORDS)


async def test_cancelling_an_invitation_leaves_no_facility_menu(chat: ChatHarness) -> None:
    token = await make_invite(chat)
    ctv = Person(2102, language_code="en")
    await chat.send(ctv, f"/start {token}")
    cancelled = await chat.send(ctv, "/cancel")
    assert "Cancelled" in cancelled[-1].text
    assert cancelled[-1].params["reply_markup"] == {"remove_keyboard": True}
