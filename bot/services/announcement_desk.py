"""The staff console's announcements: the same rules as the chat flow (handlers/announce.py), for a web page.

Every rule lives in `bot.services.announcements` (audience, quiet hours, the size confirmation, the Zalo quota,
test copies, sending, scheduling) or in the announce form's fields (checked by the form engine as when typed in
the chat); this module fills the gaps a page has — answers given all at once, a phone-sized preview rendered as
the text channel shows it, saved audiences, the tables — and writes every staff action to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.text import TextMessage, TextRenderer
from bot.channels.zalo.send import reply_of_row
from bot.clock import Clock
from bot.conversation.replies import MediaRef
from bot.domain import AUDIENCE_ROLES, SECTOR_LABELS, AnnouncementKind, OutboxStatus, Role
from bot.errors import DomainError, NotFound
from bot.i18n_marker import N_, Text
from bot.media import STORED_PREFIX, is_media_id, media_id_of
from bot.services import announcements as svc
from bot.services import outbox
from bot.services.communes import CommuneDirectory
from bot.services.forms.engine import ChoiceInput, FormEngine, Input, TextInput
from bot.services.staff_auth import audit
from bot.services.validation import Invalid, TextRules, clean_text
from storage import console_repos
from storage.models import Announcement, Facility, OutboxMessage, SavedAudience, User

PAGE_SIZE = 30
DELIVERY_PAGE_SIZE = 50
AUDIENCE_NAME_RULES = TextRules(max_length=100, needs_letters=True)
DATE_FIELDS = ("starts_on", "ends_on", "deadline_on")
TEXT_FIELDS = ("title", "body", "place", "questions")
DELIVERY_LABELS = {
    OutboxStatus.PENDING: N_("Waiting"),
    OutboxStatus.SENDING: N_("Sending"),
    OutboxStatus.SENT: N_("Sent"),
    OutboxStatus.FAILED: N_("Failed"),
    OutboxStatus.BLOCKED: N_("Blocked the bot"),
    OutboxStatus.CANCELLED: N_("Cancelled"),
    OutboxStatus.UNKNOWN: N_("Delivery unknown"),
}


def _target(ann_id: int | None) -> dict[str, Any]:
    return {"target_kind": "announcement", "target_id": ann_id}


# --- the content: the announce form's fields, answered at once ---


def _typed_date(raw: str) -> str:
    """A date field of the page (2026-03-31) as the chat's date is typed (31/3/2026); anything else as it is."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        return raw
    return f"{day.day}/{day.month}/{day.year}"


def content_inputs(raw: Mapping[str, str]) -> dict[str, Input | None]:
    """The page's fields as the form engine's inputs; an empty field is skipped."""
    inputs: dict[str, Input | None] = {"kind": ChoiceInput(raw["kind"]) if raw.get("kind") else None}
    for name in TEXT_FIELDS:
        inputs[name] = TextInput(raw[name]) if (raw.get(name) or "").strip() else None
    for name in DATE_FIELDS:
        inputs[name] = TextInput(_typed_date(raw[name])) if (raw.get(name) or "").strip() else None
    return inputs


async def check_content(forms: FormEngine, raw: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Text]]:
    """The words, dates and kind checked exactly as the chat's announce form checks them."""
    return await forms.answer_all("announce", content_inputs(raw))


def draft_of(
    data: Mapping[str, Any], attachment: Mapping[str, Any] | None = None, ann_id: int | None = None
) -> Announcement:
    """An unsaved announcement from (possibly incomplete) answers, for the preview (`ann_id`: the draft's
    number, which a fair's "DK <number>" line names; 0 before it is saved)."""
    ann = svc.unsaved(
        {"kind": AnnouncementKind.GENERAL.value, "title": "", "body": "", **data, "attachment": attachment}
    )
    ann.id = ann_id or 0
    return ann


def console_media_url(ref: MediaRef) -> str | None:
    """A kept photo as the console serves it (GET /media/<id>), for the preview's picture."""
    media_id = media_id_of(ref.ref) or ref.ref
    return f"/media/{media_id}" if is_media_id(media_id) else None


def phone_view(ann: Announcement, translate: Callable[[str], str]) -> list[TextMessage]:
    """What a facility on a text channel (Zalo) receives: the announcement's neutral reply stored as an outbox
    row, read back and rendered as the Zalo sender does."""
    row = outbox.stored(svc.reply_of(ann, Role.USER, translate))
    renderer = TextRenderer(media_url=console_media_url)
    return list(renderer.render(reply_of_row(row["text"], row["payload"])).messages)  # type: ignore[arg-type]


async def save_content(
    session: AsyncSession, *, clock: Clock, actor: User, ann_id: int | None, data: Mapping[str, Any]
) -> Announcement:
    """A new draft, or a draft's (or scheduled announcement's) new words; its attachment stays."""
    if ann_id is None:
        ann = await svc.create(session, clock=clock, author=actor, data=data)
        await session.flush()
        await audit(session, clock=clock, actor=actor, action="ann_create", **_target(ann.id))
        return ann
    current = await svc.get_editable(session, ann_id=ann_id)
    ann = await svc.update_content(
        session, clock=clock, ann_id=ann_id, data={**data, "attachment": svc.form_data(current)["attachment"]}
    )
    await audit(session, clock=clock, actor=actor, action="ann_edit", **_target(ann_id))
    return ann


async def set_photo(session: AsyncSession, *, clock: Clock, actor: User, ann_id: int, ref: MediaRef | None) -> None:
    """Attach a photo kept in the media store (or remove the attachment, with None)."""
    ann = await svc.get_editable(session, ann_id=ann_id)
    ann.attachment_file_id = STORED_PREFIX + ref.ref if ref else None
    ann.attachment_kind = ref.kind if ref else None
    ann.updated_at = clock.now()
    session.add(ann)
    await audit(
        session, clock=clock, actor=actor, action="ann_photo", **_target(ann_id), detail={"removed": ref is None}
    )


# --- the audience ---


def audience_of(
    roles: Sequence[str], communes: Sequence[str], sectors: Sequence[str], by_topic: bool, directory: CommuneDirectory
) -> svc.Audience:
    """The audience builder's choices; anything unknown is left out."""
    codes = [int(c) for c in communes if c.isascii() and c.isdigit()]
    return svc.Audience(
        roles=[r for r in AUDIENCE_ROLES if r in roles],
        communes=[c for c in dict.fromkeys(codes) if directory.get(c) is not None],
        sectors=[s.value for s in SECTOR_LABELS if s.value in sectors],
        by_topic=by_topic,
    )


async def set_audience(
    session: AsyncSession, *, clock: Clock, actor: User, ann_id: int, audience: svc.Audience
) -> Announcement:
    ann = await svc.set_audience(session, clock=clock, ann_id=ann_id, audience=audience)
    await audit(session, clock=clock, actor=actor, action="ann_audience", **_target(ann_id), detail=audience.as_dict())
    return ann


async def save_audience(
    session: AsyncSession, *, clock: Clock, actor: User, name: str, audience: svc.Audience
) -> SavedAudience:
    """Keep an audience under a name (the same name again replaces its criteria)."""
    try:
        clean = clean_text(name, AUDIENCE_NAME_RULES)
    except Invalid as exc:
        raise DomainError(exc.message.msgid, **exc.message.params) from None
    saved = await console_repos.saved_audience_named(session, name=clean)
    if saved is None:
        saved = SavedAudience(name=clean, created_by=actor.id, created_at=clock.now())
    saved.criteria = audience.as_dict()
    session.add(saved)
    await session.flush()
    await audit(
        session,
        clock=clock,
        actor=actor,
        action="audience_save",
        target_kind="audience",
        target_id=saved.id,
        detail={"name": clean, **audience.as_dict()},
    )
    return saved


async def saved_audience(session: AsyncSession, *, audience_id: int) -> SavedAudience:
    saved = await session.get(SavedAudience, audience_id)
    if saved is None:
        raise NotFound()
    return saved


async def delete_audience(session: AsyncSession, *, clock: Clock, actor: User, audience_id: int) -> None:
    saved = await saved_audience(session, audience_id=audience_id)
    await console_repos.delete_saved_audience(session, audience_id=audience_id)
    await audit(
        session,
        clock=clock,
        actor=actor,
        action="audience_delete",
        target_kind="audience",
        target_id=audience_id,
        detail={"name": saved.name},
    )


# --- test copy, copy, send, schedule, cancel, stop ---


async def test_copy(
    session: AsyncSession, *, clock: Clock, actor: User, ann_id: int, translate: Callable[[str], str]
) -> None:
    await svc.send_test_copy(session, clock=clock, ann_id=ann_id, staff=actor, translate=translate)
    await audit(session, clock=clock, actor=actor, action="ann_test", **_target(ann_id))


async def copy(session: AsyncSession, *, clock: Clock, actor: User, ann_id: int) -> Announcement:
    ann = await svc.copy(session, clock=clock, ann_id=ann_id, author=actor)
    await session.flush()
    await audit(session, clock=clock, actor=actor, action="ann_copy", **_target(ann.id), detail={"from": ann_id})
    return ann


@dataclass(frozen=True)
class Sending:
    """How the console asks the announcements service to send: the settings the chat flow reads too."""

    translate: Callable[[str, str], str]
    default_locale: str
    admin_ids: frozenset[int]


async def send(
    session: AsyncSession, *, clock: Clock, actor: User, ann_id: int, when: datetime | None, how: Sending
) -> Announcement:
    """Start sending now (the author gets the final figures as a message) or schedule at `when` (UTC)."""
    if when is None:
        ann = await svc.start(
            session,
            clock=clock,
            ann_id=ann_id,
            translate=how.translate,
            default_locale=how.default_locale,
            admin_ids=how.admin_ids,
        )
        await audit(
            session,
            clock=clock,
            actor=actor,
            action="ann_send",
            **_target(ann_id),
            detail={"recipients": ann.recipients},
        )
        return ann
    ann = await svc.schedule(session, clock=clock, ann_id=ann_id, when=when)
    await audit(
        session, clock=clock, actor=actor, action="ann_schedule", **_target(ann_id), detail={"at": when.isoformat()}
    )
    return ann


async def cancel(session: AsyncSession, *, clock: Clock, actor: User, ann_id: int) -> None:
    await svc.cancel(session, clock=clock, ann_id=ann_id)
    await audit(session, clock=clock, actor=actor, action="ann_cancel", **_target(ann_id))


async def stop(session: AsyncSession, *, clock: Clock, actor: User, ann_id: int) -> int:
    cancelled = await svc.stop(session, clock=clock, ann_id=ann_id)
    await audit(
        session, clock=clock, actor=actor, action="ann_stop", **_target(ann_id), detail={"cancelled": cancelled}
    )
    return cancelled


# --- the tables ---


def _full(counts: Mapping[str, int]) -> dict[str, int]:
    out = {s.value: int(counts.get(s.value, 0)) for s in OutboxStatus}
    out["total"] = sum(out.values())
    out["waiting"] = out[OutboxStatus.PENDING] + out[OutboxStatus.SENDING]
    return out


@dataclass
class AnnouncementPage:
    rows: list[tuple[Announcement, dict[str, int]]]
    page: int
    pages: int


async def announcements_page(session: AsyncSession, *, page: int = 1) -> AnnouncementPage:
    """Every announcement (drafts, scheduled, sending, sent…), newest first, with its delivery figures."""
    page = max(1, page)
    anns, total = await console_repos.announcements_table(session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    counts = await console_repos.figures_by_announcement(session, ids=[a.id for a in anns if a.id])
    return AnnouncementPage(
        rows=[(a, _full(counts.get(a.id or 0, {}))) for a in anns], page=page, pages=max(1, -(-total // PAGE_SIZE))
    )


async def figures(session: AsyncSession, *, ann_id: int) -> dict[str, int]:
    return _full(await svc.figures(session, ann_id=ann_id))


@dataclass
class DeliveryPage:
    rows: list[tuple[OutboxMessage, User | None, Facility | None]]
    status: str | None
    page: int
    pages: int
    counts: dict[str, int]


async def deliveries(session: AsyncSession, *, ann_id: int, status: str | None, page: int = 1) -> DeliveryPage:
    """One row per recipient (who, channel, status, when sent, why not), filtered by status, paged."""
    await svc.get(session, ann_id=ann_id)
    status = status if status in set(OutboxStatus) else None
    page = max(1, page)
    rows, total = await console_repos.deliveries(
        session, ann_id=ann_id, status=status, offset=(page - 1) * DELIVERY_PAGE_SIZE, limit=DELIVERY_PAGE_SIZE
    )
    return DeliveryPage(
        rows=rows,
        status=status,
        page=page,
        pages=max(1, -(-total // DELIVERY_PAGE_SIZE)),
        counts=await figures(session, ann_id=ann_id),
    )


# --- a photo from the page ---

PHOTO_MAX_BYTES = 10 * 1024 * 1024  # what Telegram takes as a photo
PHOTO_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")  # JPEG, PNG


def check_photo(data: bytes) -> None:
    """A photo both channels can show: a JPEG or PNG picture of at most 10 MB."""
    if len(data) > PHOTO_MAX_BYTES:
        raise DomainError(N_("The photo is larger than 10 MB. Please choose a smaller one."))
    if not data.startswith(PHOTO_SIGNATURES):
        raise DomainError(N_("Please choose a photo (JPEG or PNG)."))
