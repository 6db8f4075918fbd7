"""Questions people send to the centre from the bot, and the staff's answers.

A registered person — a facility owner or a collaborator — whose message the bot did not understand may send
it to the centre as a question, in their own words (`ask`). Staff see the open questions in the console
(`open_questions`), answer one (`answer`: the answer reaches the person through the outbox, on the channel
they are notified on) or close it without an answer (`close`). Every staff action is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.conversation.replies import Block, Bold, Italic, Reply
from bot.domain import QuestionStatus, Role
from bot.errors import Conflict, DomainError, NotFound, PermissionDenied
from bot.i18n_marker import N_
from bot.services import outbox
from bot.services.needs import Actor, Translator, contact_blocks, require_staff
from bot.services.staff_auth import audit
from bot.services.validation import Invalid, TextRules, clean_text
from storage import console_repos, repos
from storage.models import AuditEntry, Facility, Question, User

# A question keeps the person's words as typed (cleaned like every free text, line breaks kept). Answers fit
# one Zalo message with the heading.
QUESTION_RULES = TextRules(max_length=4000, multiline=True)
ANSWER_RULES = TextRules(max_length=1500, multiline=True)
QUOTE_LENGTH = 300  # how much of the question the answer's message repeats
PAGE_SIZE = 50
ALERT_KIND = "question_alert"
ALERT_GAP = timedelta(minutes=10)  # a staff member gets at most one alert about new questions in this time
ALERT_QUOTE = 160  # how much of the question the staff alert repeats

ALREADY_DEALT_WITH = N_("This question has already been answered or closed.")


# --- the person's side ---


async def can_ask(session: AsyncSession, *, user: User | None, role: Role) -> bool:
    """Registered people may send questions: collaborators, and owners of a registered facility (staff are the
    centre; newcomers are offered registration instead)."""
    if user is None or user.id is None or role is Role.STAFF:
        return False
    if role is Role.COLLABORATOR:
        return True
    return await repos.facility_of_owner(session, user_id=user.id) is not None


def question_text(raw: str) -> str | None:
    """What a typed message is kept as when sent as a question; None when it cannot be one (no letters — a
    stray number, "???", an emoji —, too long, piles of accent marks)."""
    try:
        words = clean_text(raw, QUESTION_RULES)
    except Invalid:
        return None
    return words if any(ch.isalpha() for ch in words) else None


async def ask(session: AsyncSession, *, clock: Clock, user: User, role: Role, channel: str, text: str,
              alert: StaffAlert | None = None) -> Question:
    """Store the person's words as an open question for the centre; staff with a chat are told (`alert`)."""
    if not await can_ask(session, user=user, role=role):
        raise PermissionDenied(N_("Only registered facilities and collaborators can send questions to the centre "
                                  "here. Send /start to register your facility."))
    words = question_text(text)
    if words is None:
        raise DomainError(N_("This message cannot be sent as a question. Please type your question in words."))
    question = Question(user_id=user.id, channel=channel, text=words, status=QuestionStatus.OPEN,
                        created_at=clock.now())
    session.add(question)
    await session.flush()
    if alert is not None:
        await alert_staff(session, clock=clock, question=question, asker=user, alert=alert)
    return question


# --- telling staff: one short message per new question, at most one per staff member every ALERT_GAP ---


@dataclass(frozen=True)
class StaffAlert:
    """What the staff alert needs: who is staff by the settings, how to translate, where the console is."""

    staff: frozenset[tuple[str, str]]  # (channel, external id): Settings.staff_identities()
    translate: Translator
    default_locale: str
    console_url: str = ""  # PUBLIC_BASE_URL: the console's address, for a link to the question


async def alert_staff(session: AsyncSession, *, clock: Clock, question: Question, asker: User,
                      alert: StaffAlert) -> int:
    """Queue a short alert about a new question to every staff member who has a chat (through the outbox, so
    it reaches them on their channel, outside nobody's transaction). Not spammy: a staff member alerted less
    than ALERT_GAP ago is not alerted again — that alert's page lists every open question, and the next alert
    (after the gap) says how many are waiting. Returns how many alerts were queued."""
    now = clock.now()
    facility = await repos.facility_of_owner(session, user_id=asker.id or 0)
    who = facility.name if facility is not None else (asker.full_name or "—")
    waiting = (await console_repos.questions_by_status(session)).get(QuestionStatus.OPEN, 0)
    queued = 0
    for person in await repos.staff_users(session, settings_staff=sorted(alert.staff)):
        if not person.external_id or person.id == asker.id:
            continue
        if await repos.outbox_queued_since(session, user_id=person.id or 0, kind=ALERT_KIND, since=now - ALERT_GAP):
            continue
        await outbox.enqueue(session, clock=clock, user=person, kind=ALERT_KIND,
                             reply=alert_reply(question, who, waiting, person.locale or alert.default_locale, alert),
                             dedupe_key=f"question:{question.id}:alert:{person.id}")
        queued += 1
    return queued


def alert_reply(question: Question, who: str, waiting: int, loc: str, alert: StaffAlert) -> Reply:
    t = alert.translate
    blocks: list[Any] = [
        Block(Bold(t(N_("💬 New question to the centre from {who}"), loc).format(who=who))),
        Block(Italic("“", _quote(question.text, ALERT_QUOTE), "”")),
        Block(t(N_("Questions waiting for an answer: {n}. Answer them on the console's Conversations page."),
                loc).format(n=waiting)),
    ]
    if alert.console_url:
        blocks.append(Block(f"{alert.console_url.rstrip('/')}/conversations/{question.id}"))
    return Reply.of(*blocks)


# --- the staff's side ---


@dataclass
class QuestionPage:
    rows: list[tuple[Question, User | None, Facility | None]]
    status: QuestionStatus
    total: int
    page: int
    pages: int
    counts: dict[str, int]


async def open_questions(session: AsyncSession, *, actor: Actor, status: QuestionStatus = QuestionStatus.OPEN,
                         page: int = 1) -> QuestionPage:
    """Questions in one status (open by default), newest first, with who asked and their facility."""
    require_staff(actor)
    page = max(1, page)
    rows, total = await console_repos.questions_table(session, status=status, offset=(page - 1) * PAGE_SIZE,
                                                      limit=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return QuestionPage(rows=rows, status=status, total=total, page=page, pages=pages,
                        counts=await console_repos.questions_by_status(session))


@dataclass
class QuestionView:
    question: Question
    asker: User | None
    facility: Facility | None
    audit: list[AuditEntry]
    people: dict[int, User]


async def question_view(session: AsyncSession, *, actor: Actor, question_id: int) -> QuestionView:
    require_staff(actor)
    question = await repos.get_question(session, question_id=question_id)
    if question is None:
        raise NotFound()
    entries, _ = await console_repos.audit_entries(session, target_kind="question", target_id=question_id)
    ids = [i for i in (question.user_id, question.answered_by_user_id, *(e.actor_user_id for e in entries)) if i]
    people = await console_repos.users_by_ids(session, ids=ids)
    asker = people.get(question.user_id or 0)
    facility = await repos.facility_of_owner(session, user_id=asker.id) if asker and asker.id else None
    return QuestionView(question=question, asker=asker, facility=facility, audit=list(entries), people=people)


async def _open_for_staff(session: AsyncSession, *, actor: Actor, question_id: int) -> Question:
    require_staff(actor)
    question = await repos.get_question(session, question_id=question_id, lock=True)
    if question is None:
        raise NotFound()
    if question.status != QuestionStatus.OPEN:
        raise Conflict(ALREADY_DEALT_WITH)
    return question


async def answer(session: AsyncSession, *, clock: Clock, actor: Actor, question_id: int, text: str,
                 translate: Translator, contact: tuple[str, str] = ("", "")) -> Question:
    """Answer an open question: the answer is queued to the person (outbox) in this transaction, the question
    is marked answered, and the action is audited."""
    question = await _open_for_staff(session, actor=actor, question_id=question_id)
    try:
        words = clean_text(text, ANSWER_RULES)
    except Invalid as exc:
        raise DomainError(exc.message.msgid, **exc.message.params) from None
    person = await repos.get_user_by_id(session, user_id=question.user_id) if question.user_id else None
    if person is None:
        raise DomainError(N_("The person who asked has erased their data: the answer cannot be sent."))
    now = clock.now()
    question.status, question.answer = QuestionStatus.ANSWERED, words
    question.answered_at, question.answered_by_user_id = now, actor.user.id
    session.add(question)
    await outbox.enqueue(session, clock=clock, user=person, kind="question_answer",
                         reply=answer_reply(question, person.locale, translate, contact),
                         dedupe_key=f"question:{question.id}:answer")
    await audit(session, clock=clock, actor=actor.user, action="answer", target_kind="question",
                target_id=question.id, detail={"text": words[:200]})
    await session.flush()
    return question


async def close(session: AsyncSession, *, clock: Clock, actor: Actor, question_id: int, translate: Translator,
                contact: tuple[str, str] = ("", "")) -> Question:
    """Close an open question without an answer through the bot (dealt with by phone, a duplicate…). The person
    is told politely, through the outbox, with the centre's phone and address — never left waiting."""
    question = await _open_for_staff(session, actor=actor, question_id=question_id)
    question.status = QuestionStatus.CLOSED
    session.add(question)
    person = await repos.get_user_by_id(session, user_id=question.user_id) if question.user_id else None
    if person is not None:
        await outbox.enqueue(session, clock=clock, user=person, kind="question_closed",
                             reply=closed_reply(question, person.locale, translate, contact),
                             dedupe_key=f"question:{question.id}:closed")
    await audit(session, clock=clock, actor=actor.user, action="close", target_kind="question",
                target_id=question.id)
    await session.flush()
    return question


def _quote(text: str, limit: int = QUOTE_LENGTH) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def closed_reply(question: Question, loc: str, translate: Translator, contact: tuple[str, str]) -> Reply:
    """A question closed without an answer, as the person is told: which question, that it was closed, and how
    to reach the centre if they still need help."""
    blocks: list[Any] = [
        Block(Bold(translate(N_("About your question to the centre"), loc))),
        Block(Italic("“", _quote(question.text), "”")),
        Block(translate(N_("The centre has closed this question without answering it here — it may have been "
                           "dealt with by phone or in person. If you still need help, please call or visit the "
                           "centre, or write to me again."), loc)),
    ]
    return Reply.of(*blocks, *contact_blocks(contact, translate, loc))


def answer_reply(question: Question, loc: str, translate: Translator, contact: tuple[str, str]) -> Reply:
    """The answer as the person receives it: their question (the start of it), the answer as staff typed it,
    and the centre's phone and address."""
    blocks: list[Any] = [
        Block(Bold(translate(N_("The khuyến công centre has answered your question"), loc))),
        Block(Italic("“", _quote(question.text), "”")),
        Block(question.answer or ""),
    ]
    return Reply.of(*blocks, *contact_blocks(contact, translate, loc))
