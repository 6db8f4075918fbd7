"""Staff inbox on every channel: browse and filter needs, open one, move it through review, decline with a
reason, export (a file on Telegram; where files cannot be sent, a polite pointer to where they can).

A list's view (filters and page) travels in each choice's argument, so every press shows what was
asked for even after a restart; every step re-checks that the person is staff now.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from html import escape
from typing import Any

from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent
from bot.conversation.form_view import shorten
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Bold, Choice, FileData, Inline, MediaRef, Reply, from_staff_html
from bot.domain import (
    CATEGORY_LABELS,
    SECTOR_LABELS,
    STATUS_LABELS,
    TRANSITIONS,
    NeedCategory,
    NeedStatus,
    shown,
)
from bot.i18n_marker import N_
from bot.services import needs as needs_service
from bot.services.needs import Actor, InboxFilter
from bot.services.validation import fold, format_datetime, format_million, format_month, format_phone
from handlers import forms
from handlers.forms import FormRun, on_complete
from handlers.staff import not_found, staff_actor, whole_number
from storage import repos
from storage.models import Facility, Need, User

PAGE = 8  # needs on one page of the list
COMMUNE_PAGE = 20  # communes on one page of the commune filter
LABEL_LIMIT = 60
NO_FILES = N_("Exports are files, and files cannot be sent on this channel. Send /export to the bot on "
              "Telegram to get the CSV file.")

ACTION_LABELS = {  # what moving a need to each status is called on its choice
    NeedStatus.SURVEYED: N_("🔎 Mark surveyed"),
    NeedStatus.APPROVED: N_("✅ Approve"),
    NeedStatus.COMPLETED: N_("🏁 Mark supported/completed"),
    NeedStatus.DECLINED: N_("✖ Decline…"),
}


@dataclass(frozen=True)
class View:
    """The list as staff see it: filters and page. Packed as "<status>|<kind>|<commune>|<page>"."""

    status: str = ""
    category: str = ""
    commune: int = 0
    page: int = 0

    def pack(self) -> str:
        return f"{self.status}|{self.category}|{self.commune or ''}|{self.page or ''}"

    @classmethod
    def parse(cls, raw: str) -> View | None:
        """A view from a choice's argument; None when it is not one we could have made (forged)."""
        parts = raw.split("|")
        if len(parts) != 4:
            return None
        status, category, commune, page = parts
        if status and status not in NeedStatus.__members__.values():
            return None
        if category and category not in NeedCategory.__members__.values():
            return None
        commune_code = whole_number(commune) if commune else 0
        page_number = whole_number(page, 10_000) if page else 0
        if commune_code is None or page_number is None:
            return None
        return cls(status, category, commune_code, page_number)

    @property
    def filters(self) -> InboxFilter:
        return InboxFilter(self.status, self.category, self.commune)


def _split(arg: str, head: int) -> tuple[list[str], View | None]:
    """`head` leading fields (an id, a status) and the view after them."""
    parts = arg.split("|")
    if len(parts) != head + 4:
        return [], None
    return parts[:head], View.parse("|".join(parts[head:]))



# --- the list ----------------------------------------------------------------------------------------


async def _page_of(turn: Turn, view: View) -> tuple[Any, int]:
    return await repos.inbox(turn.session, status=view.status or None, category=view.category or None,
                             commune_code=view.commune or None, offset=view.page * PAGE, limit=PAGE)


async def _list_reply(turn: Turn, view: View, *, replace_previous: bool = False) -> Reply:
    _ = turn._
    rows, total = await _page_of(turn, view)
    pages = max(1, -(-total // PAGE))
    if not rows and view.page >= pages:  # the list got shorter since that page was shown: its last page
        view = replace(view, page=pages - 1)
        rows, total = await _page_of(turn, view)
    every = _("all")
    header = _("<b>Needs</b> — {total} found\nStatus: {status} · Kind: {category} · Commune: {commune}").format(
        total=total,
        status=_(STATUS_LABELS[NeedStatus(view.status)]) if view.status else every,
        category=_(CATEGORY_LABELS[NeedCategory(view.category)]) if view.category else every,
        commune=escape(turn.app.communes.name(view.commune)) if view.commune else every)
    blocks = [Block(*from_staff_html(header))]
    if pages > 1:
        blocks.append(Block(_("Page {page} of {pages}").format(page=view.page + 1, pages=pages)))
    if not rows:
        blocks.append(Block(_("No needs match these filters.")))
    choices: list[list[Choice]] = []
    for need, facility in rows:
        label = f"{need.ref} · {_(STATUS_LABELS[NeedStatus(need.status)])} · {facility.name if facility else '—'}"
        choices.append([Choice(shorten(label, LABEL_LIMIT), A.INBOX_OPEN, f"{need.id}|{view.pack()}")])
    nav = []
    if view.page > 0:
        nav.append(Choice(_("◀ Previous"), A.INBOX_LIST, replace(view, page=view.page - 1).pack()))
    if view.page + 1 < pages:
        nav.append(Choice(_("Next ▶"), A.INBOX_LIST, replace(view, page=view.page + 1).pack()))
    choices.append(nav)
    choices.append([Choice(_("Status ▾"), A.INBOX_BY_STATUS, view.pack()),
                    Choice(_("Kind ▾"), A.INBOX_BY_KIND, view.pack()),
                    Choice(_("Commune ▾"), A.INBOX_BY_COMMUNE, view.pack())])
    choices.append([Choice(_("⬇ Export these (CSV)"), A.INBOX_EXPORT, replace(view, page=0).pack())])
    return Reply.of(*blocks, choices=choices, replace_previous=replace_previous)


async def _staff_view(turn: Turn, action: ChooseEvent) -> View | None:
    """The view a choice carries, for staff only (checked first: a refusal tells nothing more)."""
    if await staff_actor(turn, action) is None:
        return None
    view = View.parse(action.arg)
    if view is None:
        not_found(turn, action)
    return view


async def inbox(turn: Turn, action: Action) -> None:
    """/inbox: newest needs first, with filters (staff only)."""
    if await staff_actor(turn, action) is None:
        return
    turn.add(await _list_reply(turn, View()))


async def show_list(turn: Turn, action: ChooseEvent) -> None:
    """A page of the list, or the list with a filter chosen."""
    view = await _staff_view(turn, action)
    if view is not None:
        turn.add(await _list_reply(turn, view, replace_previous=True))


# --- filter menus ------------------------------------------------------------------------------------


async def filter_by_status(turn: Turn, action: ChooseEvent) -> None:
    view = await _staff_view(turn, action)
    if view is None:
        return
    _ = turn._
    rows = [[Choice(_(label), A.INBOX_LIST, replace(view, status=s.value, page=0).pack())]
            for s, label in STATUS_LABELS.items()]
    rows.append([Choice(_("All statuses"), A.INBOX_LIST, replace(view, status="", page=0).pack())])
    turn.add(Reply.of(_("Filter by status:"), choices=rows, replace_previous=True))


async def filter_by_kind(turn: Turn, action: ChooseEvent) -> None:
    view = await _staff_view(turn, action)
    if view is None:
        return
    _ = turn._
    rows = [[Choice(_(label), A.INBOX_LIST, replace(view, category=c.value, page=0).pack())]
            for c, label in CATEGORY_LABELS.items()]
    rows.append([Choice(_("All kinds"), A.INBOX_LIST, replace(view, category="", page=0).pack())])
    turn.add(Reply.of(_("Filter by kind of need:"), choices=rows, replace_previous=True))


async def filter_by_commune(turn: Turn, action: ChooseEvent) -> None:
    """Communes that have needs, a page at a time (the view's page is the page of communes here)."""
    view = await _staff_view(turn, action)
    if view is None:
        return
    _ = turn._
    codes = await repos.need_communes(turn.session)
    communes = sorted(((c, turn.app.communes.name(c)) for c in codes), key=lambda x: fold(x[1]))
    pages = max(1, -(-len(communes) // COMMUNE_PAGE))
    page = min(view.page, pages - 1)
    shown_here = communes[page * COMMUNE_PAGE:(page + 1) * COMMUNE_PAGE]
    rows = [[Choice(name, A.INBOX_LIST, replace(view, commune=code, page=0).pack())] for code, name in shown_here]
    nav = []
    if page > 0:
        nav.append(Choice(_("◀ Previous"), A.INBOX_BY_COMMUNE, replace(view, page=page - 1).pack()))
    if page + 1 < pages:
        nav.append(Choice(_("Next ▶"), A.INBOX_BY_COMMUNE, replace(view, page=page + 1).pack()))
    rows.append(nav)
    rows.append([Choice(_("All communes"), A.INBOX_LIST, replace(view, commune=0, page=0).pack())])
    title = _("Filter by commune (communes with needs):")
    if pages > 1:
        title += " " + _("page {page} of {pages}").format(page=page + 1, pages=pages)
    turn.add(Reply.of(title, choices=rows, replace_previous=True))


# --- one need --------------------------------------------------------------------------------------------


def _detail_blocks(turn: Turn, need: Need, facility: Facility | None, filer: User | None = None) -> list[Block]:
    _, app = turn._, turn.app
    lines: list[str] = [
        _("Received: {date}").format(date=format_datetime(need.created_at.astimezone(app.tz))),
        _("Kind: {category}").format(category=_(CATEGORY_LABELS[NeedCategory(need.category)])),
    ]
    if facility is not None:
        lines += [
            _("Facility: {name}").format(name=facility.name),
            _("Owner: {owner}").format(owner=facility.owner_name or "—"),
            _("Phone: {phone}").format(phone=format_phone(facility.phone) or "—"),
            _("Sector: {sector}").format(sector=_(SECTOR_LABELS[facility.sector]) if facility.sector in SECTOR_LABELS
                                         else "—"),
        ]
    lines.append(_("Commune/ward: {commune}").format(commune=app.communes.name(need.commune_code) or "—"))
    lines.append(_("Description: {text}").format(text=shown(need.description, _)))
    if need.machine:
        lines.append(_("Machine/equipment: {machine}").format(machine=need.machine))
    if need.est_cost_million is not None:
        lines.append(_("Estimated cost: {cost} million đồng").format(cost=format_million(need.est_cost_million)))
    if need.own_contribution_million is not None:
        lines.append(_("Own contribution: {amount} million đồng").format(
            amount=format_million(need.own_contribution_million)))
    if need.desired_month:
        lines.append(_("Desired time: {month}").format(month=format_month(need.desired_month)))
    if filer is not None and filer.full_name:
        who = filer.full_name + (f", {format_phone(filer.phone)}" if filer.phone else "")
        lines.append(_("Filed by collaborator {who}.").format(who=who))
    elif need.filed_by_user_id:
        lines.append(_("Filed by a collaborator."))
    if not needs_service.has_recipient(need):
        lines.append(_("The person who filed this need has deleted their personal data."))
    if need.decline_reason:
        lines.append(_("Decline reason: {reason}").format(reason=need.decline_reason))
    title: list[Inline] = [Bold(need.ref or ""), " — " + _(STATUS_LABELS[NeedStatus(need.status)])]
    return [Block(*title), Block("\n".join(lines))]


async def _detail_reply(turn: Turn, need: Need, facility: Facility | None, view: View) -> Reply:
    _ = turn._
    rows = [[Choice(_(ACTION_LABELS[to]), A.INBOX_MOVE, f"{need.id}|{to.value}|{view.pack()}")]
            for to in TRANSITIONS[NeedStatus(need.status)]]
    if need.attachment_file_id:
        rows.append([Choice(_("📎 Show the attachment"), A.INBOX_FILE, str(need.id))])
    rows.append([Choice(_("◀ Back to the list"), A.INBOX_LIST, view.pack())])
    filer = await repos.get_user_by_id(turn.session, user_id=need.filed_by_user_id) if need.filed_by_user_id \
        else None
    return Reply.of(*_detail_blocks(turn, need, facility, filer), choices=rows, replace_previous=True)


async def _need_for_staff(turn: Turn, action: ChooseEvent, raw_id: str) -> tuple[Actor, Need, Facility | None] | None:
    staff = await staff_actor(turn, action)
    if staff is None:
        return None
    need_id = whole_number(raw_id)
    need = await repos.get_need(turn.session, need_id=need_id) if need_id is not None else None
    if need is None:
        not_found(turn, action)
        return None
    facility = await repos.get_facility(turn.session, facility_id=need.facility_id) if need.facility_id else None
    return staff, need, facility


async def open_need(turn: Turn, action: ChooseEvent) -> None:
    """A need's details with the steps it can take next."""
    head, view = _split(action.arg, 1)
    found = await _need_for_staff(turn, action, head[0] if head else "")
    if found is None:
        return
    if view is None:
        not_found(turn, action)
        return
    _staff, need, facility = found
    turn.add(await _detail_reply(turn, need, facility, view))


async def move_need(turn: Turn, action: ChooseEvent) -> None:
    """Move a need to its next status; declining asks for the reason first (a form)."""
    head, view = _split(action.arg, 2)
    raw_id, to = head or ["", ""]
    found = await _need_for_staff(turn, action, raw_id)
    if found is None:
        return
    staff, need, _facility = found
    if view is None or to not in NeedStatus.__members__.values():
        not_found(turn, action)
        return
    if to == NeedStatus.DECLINED:
        if NeedStatus.DECLINED not in TRANSITIONS[NeedStatus(need.status)]:
            turn.say(turn._(needs_service.MOVED_ON), notice=True)
            return
        turn.add(Reply(retire_previous=True))
        intro = turn._("Declining need <b>{ref}</b>.").format(ref=need.ref)
        await forms.start(turn, form="decline", context={"need_id": need.id, "from": need.status},
                          intro=Block(*from_staff_html(intro)))
        return
    need = await needs_service.change_status(turn.session, clock=turn.app.clock, actor=staff, need_id=need.id or 0,
                                             to=NeedStatus(to), translate=turn.app.translate,
                                             contact=turn.app.settings.centre_contact)
    turn.say(turn._("Status changed. The registrant will be notified.") if needs_service.has_recipient(need)
             else turn._("Status changed. Nobody is notified: the person has deleted their data."), notice=True)
    facility = await repos.get_facility(turn.session, facility_id=need.facility_id) if need.facility_id else None
    turn.add(await _detail_reply(turn, need, facility, view))


async def show_attachment(turn: Turn, action: ChooseEvent) -> None:
    """The file a need came with, re-sent by the channel its own way."""
    found = await _need_for_staff(turn, action, action.arg)
    if found is None:
        return
    _staff, need, _facility = found
    if not need.attachment_file_id:
        not_found(turn, action)
        return
    kind = "photo" if need.attachment_kind == "photo" else "document"
    ref = need.attachment_file_id if ":" in need.attachment_file_id else f"tg:{need.attachment_file_id}"
    turn.add(Reply.of(need.ref or "", media=MediaRef(ref, kind, need.attachment_name)))


@on_complete("decline")
async def declined(run: FormRun, data: dict[str, Any]) -> None:
    need = await needs_service.change_status(
        run.session, clock=run.app.clock, actor=Actor(user=run.user, role=run.role), need_id=run.context["need_id"],
        to=NeedStatus.DECLINED, reason=data["reason"], translate=run.app.translate,
        contact=run.app.settings.centre_contact,
    )
    _ = run.turn._
    if needs_service.has_recipient(need):
        text = _("Need <b>{ref}</b> has been declined. The registrant will be notified.")
    else:
        text = _("Need <b>{ref}</b> has been declined. Nobody is notified: the person has deleted their data.")
    run.say(Reply.of(Block(*from_staff_html(text.format(ref=need.ref)))))


# --- export ------------------------------------------------------------------------------------------------


async def _export(turn: Turn, action: Action, filters: InboxFilter) -> None:
    staff = await staff_actor(turn, action)
    if staff is None:
        return
    if not turn.caps.documents:
        turn.say(turn._(NO_FILES))
        return
    app = turn.app

    def vi(msgid: str) -> str:
        return app.i18n.gettext(msgid, locale="vi")  # exports use the centre's Vietnamese headers

    data = await needs_service.export_csv(turn.session, actor=staff, communes=app.communes, tz=app.tz,
                                          translate=vi, filters=filters)
    name = needs_service.export_name(filters, communes=app.communes, translate=vi, today=app.today())
    caption = turn._("The needs of the inbox with its filters, for Excel.") if filters.narrowed else \
        turn._("All needs, for Excel.")
    turn.add(Reply.of(caption, file=FileData(name, data)))


async def export(turn: Turn, action: Action) -> None:
    """/export: every need as a CSV file with Vietnamese headers (staff only)."""
    await _export(turn, action, InboxFilter())


async def export_view(turn: Turn, action: ChooseEvent) -> None:
    """Export under the list: the needs the inbox shows with its filters."""
    view = await _staff_view(turn, action)
    if view is not None:
        await _export(turn, action, view.filters)


def register(flows: Flows) -> None:
    flows.command("inbox")(inbox)
    flows.command("export")(export)
    flows.action(A.INBOX_LIST)(show_list)
    flows.action(A.INBOX_BY_STATUS)(filter_by_status)
    flows.action(A.INBOX_BY_KIND)(filter_by_kind)
    flows.action(A.INBOX_BY_COMMUNE)(filter_by_commune)
    flows.action(A.INBOX_OPEN)(open_need)
    flows.action(A.INBOX_MOVE)(move_need)
    flows.action(A.INBOX_FILE)(show_attachment)
    flows.action(A.INBOX_EXPORT)(export_view)
