"""Form steps as neutral replies, seen through both renderers: what a person sees on Telegram and on a
text-only channel (Zalo), and that every step can be answered by typing a number."""

from __future__ import annotations

from datetime import date

import pytest

from bot.channels.capabilities import TELEGRAM, TEXT
from bot.channels.telegram_render import TelegramRenderer
from bot.channels.text import TextRenderer, resolve_number
from bot.conversation import actions as A
from bot.conversation.form_view import step_replies
from bot.services.communes import CommuneDirectory, CommuneLookup
from bot.services.forms import ChoiceInput, TextInput
from bot.services.forms.definitions import FORMS
from bot.services.forms.engine import Field, FieldKind, Form, FormEngine
from tests.unit.test_render import telegram_check


def _(msgid: str) -> str:  # the English catalog is the identity
    return msgid


@pytest.fixture
def engine() -> FormEngine:
    return FormEngine(FORMS, today=lambda: date(2026, 3, 2))


async def walk(engine: FormEngine, *answers: str):
    """Answer the registration form's first questions by typing, as a person would."""
    state = engine.start("register")
    communes = {"commune": CommuneLookup(CommuneDirectory(91))}
    for answer in answers:
        await engine.answer(state, TextInput(answer), communes)
    return state


def text_of(replies, **kwargs) -> tuple[str, dict]:
    menu: dict = {}
    texts = []
    for reply in replies:
        out = TextRenderer().render(reply, **kwargs)
        texts += [m.text for m in out.messages]
        menu = out.menu or menu
    return "\n---\n".join(texts), menu


async def test_a_choice_step_is_buttons_on_telegram_and_numbers_on_a_text_channel(engine: FormEngine) -> None:
    state = await walk(engine, "Cơ sở A", "Nguyễn Văn B", "0912345678", "long xuyen")
    assert state.step == "sector"
    replies = step_replies(engine, state, _, TELEGRAM)
    (message,) = TelegramRenderer().render(replies[0]).messages
    telegram_check([message])
    buttons = [b["text"] for row in message.reply_markup["inline_keyboard"] for b in row]
    assert buttons[0] == "Food processing" and buttons[-2:] == ["◀ Back", "✖ Cancel"]
    assert message.reply_markup["inline_keyboard"][0][0]["callback_data"] == "f.c:register|sector|food"

    text, menu = text_of(step_replies(engine, state, _, TEXT))
    assert text.startswith("Which sector does the facility work in?\n\n1. Food processing\n")
    back = next(k for k, v in menu.items() if v[0] == A.FORM_BACK)
    assert f"{back}. ◀ Back" in text
    action, arg = resolve_number("1", menu)
    assert (action, A.parse_form_arg(arg)) == (A.FORM_CHOOSE, ("register", "sector", "food"))


async def test_the_phone_step_offers_contact_sharing_only_where_the_channel_has_it(engine: FormEngine) -> None:
    state = await walk(engine, "Cơ sở A", "Nguyễn Văn B")
    telegram = step_replies(engine, state, _, TELEGRAM)
    (message,) = TelegramRenderer().render(telegram[0]).messages
    assert message.reply_markup["keyboard"][0] == [{"text": "📱 Share my phone number", "request_contact": True}]
    text, menu = text_of(step_replies(engine, state, _, TEXT))
    # A typed answer there may be digits: no numbers to type, words instead.
    assert "Share" not in text.split("\n\n", 1)[1] and menu == {}
    assert text.endswith("Type “back” for the previous question. Type “cancel” to stop.")


async def test_lookup_candidates_are_paged_and_can_be_typed(engine: FormEngine) -> None:
    communes = CommuneLookup(CommuneDirectory(91))
    state = engine.start("register", data={"facility_name": "A", "owner_name": "B", "phone": "+84912345678"})
    options = await communes.search("phu", {})
    assert len(options) > 8
    first = step_replies(engine, state, _, TEXT, options=options, note="Several matches for “phu”. Please choose:")
    text, menu = text_of(first)
    assert text.startswith("Several matches for “phu”. Please choose:")
    assert menu["1"][0] == A.FORM_CHOOSE and A.parse_form_arg(menu["1"][1])[2] == options[0].value
    nxt = next(k for k, v in menu.items() if v[0] == A.FORM_PAGE)
    assert A.parse_form_arg(menu[nxt][1])[2] == "1"
    second, menu2 = text_of(step_replies(engine, state, _, TEXT, options=options, page=1))
    assert options[8].label in second and options[0].label not in second
    assert await engine.answer(state, ChoiceInput(A.parse_form_arg(menu2["1"][1])[2]), {"commune": communes})
    assert state.data["commune"] == options[8].value


async def test_the_summary_can_be_confirmed_or_edited_by_number(engine: FormEngine) -> None:
    data = {"facility_name": "Cơ sở <b>A</b> & con", "owner_name": "B", "phone": "+84912345678",
            "commune": "30280", "commune__label": "Phường Long Xuyên", "sector": "food", "products": "mắm",
            "consent": "yes"}
    state = engine.start("register", data=data)
    text, menu = text_of(step_replies(engine, state, _, TEXT))
    assert "• Facility: Cơ sở <b>A</b> & con" in text and "• Phone: 0912 345 678" in text
    assert [v[0] for v in menu.values()] == [A.FORM_CONFIRM, A.FORM_EDIT, A.FORM_CANCEL]
    (message,) = TelegramRenderer().render(step_replies(engine, state, _, TELEGRAM)[0]).messages
    assert "<b>Facility:</b> Cơ sở &lt;b&gt;A&lt;/b&gt; &amp; con" in message.text
    engine.to_edit_menu(state)
    text, menu = text_of(step_replies(engine, state, _, TEXT))
    number = next(k for k, v in menu.items() if A.parse_form_arg(v[1])[2] == "products")
    assert f"{number}. Main products" in text


async def test_staff_formatting_shows_as_formatting_and_long_bodies_are_shortened() -> None:
    form = Form("ann", "Announcement", (
        Field("title", FieldKind.TEXT, prompt="Title?", label="Title", max_length=200),
        Field("body", FieldKind.TEXT, prompt="Text?", label="Text", max_length=3000, html=True),
    ))
    engine = FormEngine({"ann": form}, today=lambda: date(2026, 3, 2))
    state = engine.start("ann")
    await engine.answer(state, TextInput("T" * 200))
    await engine.answer(state, TextInput("<b>Hội chợ</b> &amp; triển lãm " + "x" * 2900))
    (message,) = TelegramRenderer().render(step_replies(engine, state, _, TELEGRAM)[0]).messages
    telegram_check([message])
    assert "<b>Hội chợ</b> &amp; triển lãm" in message.text and "&amp;amp;" not in message.text
    assert len(message.text) < 1200 and "…" in message.text
    text, _menu = text_of(step_replies(engine, state, _, TEXT))
    assert "• Text: Hội chợ & triển lãm" in text


@pytest.mark.parametrize("today", [date(2026, 3, 2), date(2026, 12, 31)])
def test_date_examples_in_prompts_are_never_in_the_past(today: date) -> None:
    engine = FormEngine(FORMS, today=lambda: today)
    for form, field, example in (("need", "desired_month", "{month_example}"), ("announce", "deadline_on", None)):
        state = engine.start(form)
        state.step = field
        text, _menu = text_of(step_replies(engine, state, _, TEXT))
        assert "{" not in text and "2025" not in text, text
        if example:
            nxt = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
            assert f"e.g. {nxt.month}/{nxt.year}." in text, text


async def test_a_collaborator_types_the_new_owners_number_it_is_never_shared(engine: FormEngine) -> None:
    """Sharing one's contact on the new facility's phone step would store the collaborator's own number."""
    from bot.services.forms import ContactInput, Invalid

    state = engine.start("need_proxy", context={"commune_code": 30307})
    state.data["facility"] = "new"
    state.step = "new_phone"
    (first, *_rest) = step_replies(engine, state, _, TELEGRAM)
    assert first.contact_button is None and "Share" not in TelegramRenderer().render(first).messages[0].text
    outcome = await engine.answer(state, ContactInput("0912345678"), {})
    assert isinstance(outcome, Invalid) and "type the owner's phone number" in outcome.message.msgid
    assert "new_phone" not in state.data
