"""/mydata and /forget: the rights of Decree 13/2023 on personal data. Both work while a form is open."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent
from bot.conversation.form_view import answers_under_questions, value_nodes
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Bold, Choice, Code, FileData, Inline, Reply, plain_text
from bot.conversation.split import utf16_len
from bot.domain import (
    CATEGORY_LABELS,
    KIND_LABELS,
    QUESTION_STATUS_LABELS,
    SECTOR_LABELS,
    STATUS_LABELS,
    TOPICS,
    NeedCategory,
    NeedStatus,
    QuestionStatus,
    Sector,
    shown,
)
from bot.services import accounts
from bot.services.forms import FormState
from bot.services.validation import format_datetime, format_month, format_phone
from handlers.help import LANGUAGES
from storage.models import Conversation

FILE_NAME = "du-lieu-cua-toi.txt"
LANGUAGE_NAMES = {code: label.split(" ", 1)[-1] for code, label in LANGUAGES}  # "vi" → "Tiếng Việt"
CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo", "web": "Web"}


def _lines(*lines: Sequence[Inline]) -> Block:
    """One block of lines (a "\n" between them)."""
    parts: list[Inline] = []
    for line in lines:
        parts.extend(["\n", *line] if parts else line)
    return Block(*parts)


def _line(template: str, **values: Inline) -> tuple[Inline, ...]:
    """A translated line with `{name}` slots filled by markup nodes or plain text (escaped by renderers)."""
    out: list[Inline] = []
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        out.append(values[piece] if i % 2 else piece)
    return tuple(out)


def _when(turn: Turn, value: datetime | None) -> str:
    """One date format everywhere: dd/mm/yyyy (with the time where there is one), local time."""
    return format_datetime(value.astimezone(turn.app.tz)) if value else "—"


def _period(period: str) -> str:
    """A report period as people write it: 2026-03 → 03/2026, 2026-Q1 → Q1/2026."""
    year, _sep, part = period.partition("-")
    return f"{part}/{year}" if part else period


def _your_id(turn: Turn, channel: str, external_id: str) -> tuple[Inline, ...]:
    # The id is what staff put in ADMIN_IDS (or a person tells the centre); the channel shows it nowhere else.
    _ = turn._
    return _line(_("Your {channel} id: {id}"), channel=CHANNEL_NAMES.get(channel, channel),
                 id=Code(external_id))


def _account(turn: Turn, data: accounts.PersonalData) -> list[Block]:
    _, user = turn._, data.user
    topics = (_("all topics") if user.topics is None else
              ", ".join(_(KIND_LABELS[t]) for t in TOPICS if t.value in user.topics) or _("none"))
    lines = [
        (Bold(_("What we store about you")),),
        _your_id(turn, user.channel, user.external_id),
        _line(_("Name: {name}"), name=user.full_name or "—"),
    ]
    if user.channel == "telegram":
        lines.append(_line(_("Telegram username: {username}"), username=user.username or "—"))
    lines += [
        _line(_("Phone: {phone}"), phone=format_phone(user.phone) or "—"),
        _line(_("Language: {language}"), language=LANGUAGE_NAMES.get(user.locale, user.locale)),
        _line(_("First contact: {date}"), date=_when(turn, user.created_at)),
        _line(_("Consent to store personal data given: {date}"), date=_when(turn, user.consent_at)),
        _line(_("Announcements: {state}"), state=_("turned off (/stop)") if user.announcements_off else _("on")),
        _line(_("Topics followed: {topics}"), topics=topics),
    ]
    if user.commune_code:
        lines.append(_line(_("Collaborator for: {commune}"), commune=turn.app.communes.name(user.commune_code)))
    return [_lines(*lines), *_identities(turn, data)]


def _identities(turn: Turn, data: accounts.PersonalData) -> list[Block]:
    """The channel accounts linked to the person, once accounts keep several."""
    identities: Sequence[Any] = getattr(data, "identities", None) or ()
    if len(identities) < 2:
        return []
    lines: list[Sequence[Inline]] = [(Bold(turn._("Your linked accounts")),)]
    for identity in identities:
        channel = str(getattr(identity, "channel", ""))
        lines.append(("• ", *_your_id(turn, channel, str(getattr(identity, "external_id", "")))))
    return [_lines(*lines)]


def _open_form(turn: Turn, conversation: Conversation | None) -> list[Block]:
    """The answers of a form in progress: stored too (so that a restart loses nothing)."""
    if conversation is None:
        return []
    _, forms = turn._, turn.app.forms
    state = FormState(form=conversation.form, step=conversation.step, data=dict(conversation.data),
                      context=dict(conversation.context))
    try:
        title, rows = forms.form_of(state).title, forms.summary(state)
    except KeyError:
        return []
    lines: list[Sequence[Inline]] = [
        (Bold(*_line(_("Answers of the form you are filling in (“{form}”)"), form=_(title))),)]
    lines += [("• ", _(fld.label) if fld.translate else fld.label, ": ", *value_nodes(_, value, html=fld.html))
              for fld, value in rows if value is not None]
    return [_lines(*lines)]


def _facility(turn: Turn, data: accounts.PersonalData) -> list[Block]:
    _, facility = turn._, data.facility
    if facility is None:
        return []
    return [_lines(
        (Bold(_("Your facility")),),
        _line(_("Name: {name}"), name=facility.name),
        _line(_("Owner: {owner}"), owner=facility.owner_name or "—"),
        _line(_("Phone: {phone}"), phone=format_phone(facility.phone) or "—"),
        _line(_("Commune/ward: {commune}"), commune=turn.app.communes.name(facility.commune_code)),
        _line(_("Sector: {sector}"), sector=_(SECTOR_LABELS[Sector(facility.sector)])),
        _line(_("Main products: {products}"), products=facility.products or "—"),
        _line(_("Consent given: {date}"), date=_when(turn, facility.consent_at)),
    )]


def _needs(turn: Turn, data: accounts.PersonalData) -> list[Block]:
    """One block per need, so a long list splits between needs."""
    _ = turn._
    if not data.needs:
        return []
    blocks = [Block(Bold(_("Your needs")))]
    for need in data.needs:
        lines: list[Sequence[Inline]] = [
            (f"• {need.ref} · {_(CATEGORY_LABELS[NeedCategory(need.category)])} · "
             f"{_(STATUS_LABELS[NeedStatus(need.status)])} · {_when(turn, need.created_at)}",),
            ("  ", shown(need.description, _))]
        if need.desired_month:
            lines.append(("  ", *_line(_("Wanted by: {month}"), month=format_month(need.desired_month))))
        if need.attachment_name:
            lines.append(("  ", *_line(_("Attachment: {name}"), name=need.attachment_name)))
        blocks.append(_lines(*lines))
    return blocks


def _signups(turn: Turn, data: accounts.PersonalData) -> list[Block]:
    """Each answer to an announcement, with the questions it answered."""
    _ = turn._
    if not data.signups:
        return []
    blocks = [Block(Bold(_("Your answers to announcements")))]
    for signup, ann in data.signups:
        answer = _("signed up") if signup.status == "signed_up" else _("not interested")
        line = f"• {ann.title} — {answer} ({_when(turn, signup.updated_at)})"
        blocks.append(Block(line, *answers_under_questions(ann.questions, signup.answers, _)))
    return blocks


def _reminders_and_reports(turn: Turn, data: accounts.PersonalData) -> list[Block]:
    _ = turn._
    blocks: list[Block] = []
    if data.reminders:
        lines: list[Sequence[Inline]] = [(Bold(_("Reminders planned for you")),)]
        for rem, ann, schedule in data.reminders:
            title = ann.title if ann is not None else (schedule.title if schedule is not None else "—")
            lines.append((f"• {_when(turn, rem.due_at)} — {title}",))
        blocks.append(_lines(*lines))
    if data.reports:
        blocks.append(Block(Bold(_("Your reports"))))
        for sub, schedule in data.reports:
            lines = [("• ", *_line(_("{title} {period}: {visited} facilities visited, {needs} needs collected"),
                                   title=schedule.title, period=_period(sub.period),
                                   visited=str(sub.facilities_visited), needs=str(sub.needs_collected)))]
            if sub.notes:
                lines.append(("  ", shown(sub.notes, _)))
            blocks.append(_lines(*lines))
    return blocks


def _questions(turn: Turn, data: accounts.PersonalData) -> list[Block]:
    """Each question sent to the centre, with its answer."""
    _ = turn._
    if not data.questions:
        return []
    blocks = [Block(Bold(_("Your questions to the centre")))]
    for question in data.questions:
        status = _(QUESTION_STATUS_LABELS[QuestionStatus(question.status)])
        lines: list[Sequence[Inline]] = [(f"• {_when(turn, question.created_at)} · {status}",),
                                         ("  ", shown(question.text, _))]
        if question.answer:
            lines.append(("  ", *_line(_("Answer: {answer}"), answer=shown(question.answer, _))))
        blocks.append(_lines(*lines))
    return blocks


async def my_data(turn: Turn, action: Action) -> None:
    """/mydata: everything stored about the person, in blocks the channel splits between messages; where
    the channel takes documents and it is too long for one message, as a text file."""
    _ = turn._
    if turn.user is None:
        turn.say(_("We store nothing about you."), _lines(_your_id(turn, turn.who.channel, turn.who.external_id)))
        return
    data = await accounts.my_data(turn.session, user=turn.user)
    blocks = [*_account(turn, data), *_open_form(turn, turn.conversation), *_facility(turn, data),
              *_needs(turn, data), *_signups(turn, data), *_reminders_and_reports(turn, data),
              *_questions(turn, data),
              Block(_("To delete your personal data, send /forget."))]
    text = "\n\n".join(plain_text(block.parts) for block in blocks)
    if turn.caps.documents and utf16_len(text) > turn.caps.max_text:
        turn.add(Reply.of(_("Everything we store about you is in this file (too long for one message)."),
                          file=FileData(FILE_NAME, text.encode("utf-8"))))
        return
    turn.add(Reply.of(*blocks))


async def forget(turn: Turn, action: Action) -> None:
    """/forget: ask for confirmation before erasing (an open form is closed with the rest)."""
    _ = turn._
    if turn.user is None:
        turn.say(_("We store nothing about you."))
        return
    text = _("Delete your personal data? Your name, phone number and account will be erased, and so will "
              "what you wrote that may describe you (descriptions of your needs, answers to announcements, "
              "report notes, questions to the centre). Your needs, sign-ups and reports stay only as anonymous "
              "records for statistics. This cannot be undone.")
    blocks = [Block(text)]
    if turn.conversation is not None:
        blocks.append(Block(_("The form you have open will be closed too.")))
    turn.add(Reply.of(*blocks, choices=[[Choice(_("Yes, delete my data"), A.FORGET, "1"),
                                         Choice(_("No, keep it"), A.FORGET, "0")]]))


async def forget_confirmed(turn: Turn, action: ChooseEvent) -> None:
    """The answer to /forget's question."""
    if action.arg != "1":
        turn.add(Reply.of(turn._("Nothing was deleted."), replace_previous=True))
        return
    if turn.user is None:
        turn.add(Reply.of(turn._("We store nothing about you."), replace_previous=True))
        return
    await accounts.forget(turn.session, user=turn.user)
    turn.user = turn.conversation = None
    turn.add(Reply.of(turn._("Your personal data has been deleted. Send /start if you want to come back."),
                      replace_previous=True))


def register(flows: Flows) -> None:
    flows.command("mydata")(my_data)
    flows.command("forget")(forget)
    flows.action(A.FORGET)(forget_confirmed)
