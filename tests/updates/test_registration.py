"""Facility owners: /start, registration form, commune lookup, profile."""

from sqlmodel import select

from storage.models import Conversation, Facility, User
from tests.conftest import ChatHarness, Person, form_cb, register_facility

EN = "en"


async def _facility(chat: ChatHarness, owner_tg_id: int) -> Facility | None:
    async with chat.app.session_maker() as s:
        user = (await s.exec(select(User).where(User.external_id == str(owner_tg_id)))).first()
        if user is None:
            return None
        return (await s.exec(select(Facility).where(Facility.owner_user_id == user.id))).first()


async def test_start_welcomes_and_begins_registration(chat: ChatHarness) -> None:
    calls = await chat.send(Person(1, language_code=EN), "/start")
    assert "assistant of the provincial khuyến công" in calls[-1].text
    assert "name of your facility" in calls[-1].text
    assert ("✖ Cancel", form_cb("x", "register", "facility_name")) in calls[-1].buttons()


async def test_full_registration_stores_normalised_facility(chat: ChatHarness) -> None:
    lan = Person(2, language_code=EN)
    await chat.send(lan, "/start")
    await chat.send(lan, "Cơ sở nước mắm Hưng Thịnh")
    await chat.send(lan, "Nguyễn Thị Lan")
    calls = await chat.send(lan, "0912 345 678")
    assert "commune or ward" in calls[-1].text
    await chat.send(lan, "long xuyen")
    await chat.press(lan, form_cb("c", "register", "sector", "food"))
    await chat.send(lan, "nước mắm, khô cá")
    calls = await chat.press(lan, form_cb("c", "register", "consent", "yes"))
    summary = calls[-1].text
    assert "Phường Long Xuyên" in summary and "0912 345 678" in summary and "Food processing" in summary
    calls = await chat.press(lan, form_cb("ok", "register", "__summary__"))
    assert "<b>Cơ sở nước mắm Hưng Thịnh</b> is registered" in calls[-1].text
    facility = await _facility(chat, 2)
    assert facility is not None
    assert (facility.phone, facility.commune_code, facility.sector) == ("+84912345678", 30307, "food")
    assert facility.consent_at is not None


async def test_share_contact_button_is_offered_and_accepted(chat: ChatHarness) -> None:
    p = Person(3, language_code=EN)
    await chat.send(p, "/start")
    await chat.send(p, "Cơ sở A")
    calls = await chat.send(p, "Trần Văn B")
    markup = calls[-1].params["reply_markup"]
    assert markup["keyboard"][0][0]["request_contact"] is True
    calls = await chat.contact(p, "84912345678")
    # The share-contact keyboard goes; the facility's menu comes only once the facility is registered.
    assert calls[0].params["reply_markup"] == {"remove_keyboard": True}
    assert "commune or ward" in calls[-1].text
    await chat.send(p, "long xuyen")
    await chat.press(p, form_cb("c", "register", "sector", "food"))
    await chat.send(p, "nước mắm")
    await chat.press(p, form_cb("c", "register", "consent", "yes"))
    calls = await chat.press(p, form_cb("ok", "register", "__summary__"))
    assert "is registered" in calls[-1].text
    assert calls[-1].params["reply_markup"]["keyboard"][0][0]["text"] == "📝 New need"


async def test_commune_lookup_ignores_accents_and_pages_many_matches(chat: ChatHarness) -> None:
    p = Person(4, language_code=EN)
    await chat.send(p, "/start")
    await chat.send(p, "Cơ sở A")
    await chat.send(p, "Trần Văn B")
    await chat.send(p, "0912345678")
    calls = await chat.send(p, "xa")  # every xã: many matches → paged buttons
    assert "Several matches" in calls[-1].text
    buttons = calls[-1].buttons()
    commune_buttons = [b for b in buttons if b[1].startswith("f.c:register|commune|")]
    assert len(commune_buttons) == 8
    assert any(b[0] == "▶" for b in buttons)
    next_page = next(d for t, d in buttons if t == "▶")
    calls = await chat.press(p, next_page)
    assert any(t == "◀" for t, _ in calls[-1].buttons())
    calls = await chat.send(p, "zzzz")
    assert "Nothing matches “zzzz”" in calls[-1].text
    calls = await chat.send(p, "CHÂU ĐỐC")
    assert "Which sector" in calls[-1].text


async def test_consent_refusal_saves_nothing_and_explains(chat: ChatHarness) -> None:
    p = Person(5, language_code=EN)
    await chat.send(p, "/start")
    for answer in ("Cơ sở A", "Trần Văn B", "0912345678", "chau doc"):
        await chat.send(p, answer)
    await chat.press(p, form_cb("c", "register", "sector", "food"))
    await chat.send(p, "bánh pía")
    calls = await chat.press(p, form_cb("c", "register", "consent", "no"))
    assert "only register your facility with your consent" in calls[-1].text
    assert await _facility(chat, 5) is None


async def test_back_returns_to_previous_question(chat: ChatHarness) -> None:
    p = Person(6, language_code=EN)
    await chat.send(p, "/start")
    await chat.send(p, "Cơ sở A")
    calls = await chat.press(p, form_cb("b", "register", "owner_name"))
    assert "name of your facility" in calls[-1].text
    calls = await chat.send(p, "Cơ sở B")
    assert "owner's full name" in calls[-1].text


async def test_cancel_mid_form_deletes_state(chat: ChatHarness) -> None:
    p = Person(7, language_code=EN)
    await chat.send(p, "/start")
    calls = await chat.send(p, "/cancel")
    assert "Cancelled" in calls[-1].text
    async with chat.app.session_maker() as s:
        assert (await s.exec(select(Conversation))).first() is None
    calls = await chat.send(p, "what now?")  # no dead end: a newcomer is offered registration
    assert "Would you like to register your facility?" in calls[-1].text and "didn't understand" not in calls[-1].text
    calls = await chat.send(p, "hello")  # a greeting from someone not registered starts registration again
    assert "let's register your facility" in calls[-1].text


async def test_profile_shows_and_edits(chat: ChatHarness) -> None:
    p = Person(8, language_code=EN)
    await register_facility(chat, p)
    calls = await chat.send(p, "/profile")
    assert "Cơ sở nước mắm Hưng Thịnh" in calls[-1].text and "0912 345 678" in calls[-1].text
    calls = await chat.press(p, "profile:edit")
    assert "Please check your answers" in calls[-1].text
    assert "consent" not in calls[-1].text.lower()  # given at registration: not asked nor shown again
    calls = await chat.press(p, form_cb("ed", "profile", "__summary__"))
    assert not [b for b in calls[-1].buttons() if "consent" in b[0].lower()]  # nothing to change there either
    calls = await chat.press(p, form_cb("c", "profile", "__edit__", "products"))
    assert "main products" in calls[-1].text
    calls = await chat.send(p, "mắm cá linh")
    assert "mắm cá linh" in calls[-1].text and "consent" not in calls[-1].text.lower()  # back at the summary
    calls = await chat.press(p, form_cb("ok", "profile", "__summary__"))
    assert "profile has been updated" in calls[-1].text
    facility = await _facility(chat, 8)
    assert facility is not None and facility.products == "mắm cá linh"


async def test_profile_without_registration(chat: ChatHarness) -> None:
    calls = await chat.send(Person(9, language_code=EN), "/profile")
    assert "not registered a facility yet" in calls[-1].text


async def test_returning_user_gets_welcome_back(chat: ChatHarness) -> None:
    p = Person(10, first_name="Lan", language_code=EN)
    await register_facility(chat, p)
    calls = await chat.send(p, "/start")
    assert "Welcome back, Nguyễn Thị Lan" in calls[-1].text


async def test_vietnamese_user_is_answered_in_vietnamese(chat: ChatHarness) -> None:
    calls = await chat.send(Person(11, language_code="vi"), "/start")
    assert "Khuyến công" in calls[-1].text and "Tên cơ sở của anh/chị là gì?" in calls[-1].text
    assert "Hello" not in calls[-1].text
    assert ("✖ Hủy", form_cb("x", "register", "facility_name")) in calls[-1].buttons()


async def test_only_one_user_row_per_person(chat: ChatHarness) -> None:
    p = Person(12, language_code=EN)
    for _ in range(3):
        await chat.send(p, "/help")
    async with chat.app.session_maker() as s:
        assert (await s.exec(select(User).where(User.external_id == "12"))).all() == []
    await chat.send(p, "/start")
    await chat.send(p, "/cancel")
    await chat.send(p, "/start")
    async with chat.app.session_maker() as s:
        assert len((await s.exec(select(User).where(User.external_id == "12"))).all()) == 1


async def test_menu_buttons_work_in_both_languages(chat: ChatHarness) -> None:
    en, vi = Person(20, language_code=EN), Person(21, language_code="vi")
    await register_facility(chat, en)
    await register_facility(chat, vi)
    calls = await chat.send(en, "/help")
    labels = [b["text"] for row in calls[-1].params["reply_markup"]["keyboard"] for b in row]
    assert labels == ["📝 New need", "📋 My needs", "🏭 My facility", "❓ Help"]
    assert "What kind of support" in (await chat.send(en, "📝 New need"))[-1].text
    assert "You are filling in" in (await chat.send(en, "📋 My needs"))[-1].text  # the open form is kept
    vi_labels = [b["text"] for row in (await chat.send(vi, "/help"))[-1].params["reply_markup"]["keyboard"]
                 for b in row]
    calls = await chat.send(vi, vi_labels[2])  # "My facility" in Vietnamese
    assert "Cơ sở nước mắm Hưng Thịnh" in calls[-1].text
