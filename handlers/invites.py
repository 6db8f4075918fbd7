"""Staff, on every channel: /invite (a one-time code, with the Telegram link and the Zalo link), and
/collaborators (collaborators, staff and pending invitations, a page at a time: revoke, cancel).

Anyone who types an invitation code — "/start CODE" or the code alone, in any case — claims it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any

from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent, TextEvent
from bot.conversation.form_view import shorten
from bot.conversation.pipeline import Flow, Flows, Turn
from bot.conversation.replies import Block, Bold, Choice, Code, Inline, Link, Reply, from_staff_html
from bot.domain import Role
from bot.services import accounts
from bot.services.validation import format_datetime, format_phone
from handlers import forms
from handlers.forms import FormRun, on_complete
from handlers.staff import not_found, staff_actor, whole_number
from handlers.start import start_with_invite
from storage import repos
from storage.models import Invite, User

START_WORD = re.compile(r"^\s*/?start\s+", re.IGNORECASE)
PAGE = 10  # people and invitations on one page of /collaborators
LABEL_LIMIT = 60



# --- /invite ----------------------------------------------------------------------------------------


async def invite(turn: Turn, action: Action) -> None:
    """/invite: choose the role (and commune), get a one-time code and links (staff only)."""
    if await staff_actor(turn, action) is None:
        return
    await forms.start(turn, form="invite")


def zalo_link(turn: Turn) -> str | None:
    """The bot's Zalo address when the bot is on Zalo (the bot id is the token's part before ':')."""
    token = turn.app.settings.zalo_bot_token
    if token is None:
        return None
    bot_id = token.get_secret_value().partition(":")[0]
    return f"https://zalo.me/{bot_id}" if bot_id else None


@on_complete("invite")
async def invite_created(run: FormRun, data: dict[str, Any]) -> None:
    commune = int(data["commune"]) if data.get("commune") else None
    inv = await accounts.create_invite(run.session, clock=run.app.clock, creator=run.user, role=Role(data["role"]),
                                       commune_code=commune)
    _ = run.turn._
    who = (_("collaborator for {commune}").format(commune=escape(run.app.communes.name(commune)))
           if commune else _("staff member"))
    lines: list[Inline] = [_("Invitation code:"), " ", Bold(Code(inv.token))]
    if run.app.bot_username:
        link = f"https://t.me/{run.app.bot_username}?start={inv.token}"
        lines += ["\n", _("On Telegram, open:"), " ", Link(link, link)]
    if (zalo := zalo_link(run.turn)) is not None:
        lines += ["\n", _("On Zalo, open {link} and send the code.").format(link=zalo)]
    run.say(Reply.of(
        Block(*from_staff_html(_("Invitation for a {who}:").format(who=who))),
        Block(*lines),
        _("It works once and expires in 7 days. Send it only to that person. They can also type "
          "the code to the bot on any channel."),
    ))


def typed_code(fallback: Flow) -> Flow:
    """Before `fallback`: a message that is an invitation code claims it (on any channel)."""
    async def flow(turn: Turn, action: Action) -> None:
        # The code alone, or after "start" typed without the slash (as people do on Zalo).
        typed = START_WORD.sub("", action.text, count=1) if isinstance(action, TextEvent) else ""
        code = accounts.invite_code(typed) if typed else None
        if code is not None and (any(ch.isdigit() for ch in code) or await _exists(turn, code)):
            await start_with_invite(turn, code)
            return
        await fallback(turn, action)
    return flow


async def _exists(turn: Turn, code: str) -> bool:
    return await repos.get_invite(turn.session, token=code) is not None


# --- /collaborators ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    section: str  # "collaborators" | "staff" | "invites"
    line: str
    choice: Choice | None


def _person_line(person: User) -> str:
    return "• {name} · {phone}".format(name=person.full_name or "—", phone=format_phone(person.phone) or "—")


def _invitee(turn: Turn, inv: Invite) -> str:
    _ = turn._
    return (_("collaborator for {commune}").format(commune=turn.app.communes.name(inv.commune_code))
            if inv.role == Role.COLLABORATOR else _("staff member"))


def _revoke(label: str, person: User) -> Choice:
    return Choice(shorten(label.format(name=person.full_name or person.id), LABEL_LIMIT), A.ACCESS_REVOKE,
                  str(person.id))


async def _entries(turn: Turn) -> dict[str, list[Entry]]:
    """Collaborators, staff and pending invitations, each with its Revoke or Cancel choice."""
    _, app = turn._, turn.app
    out: dict[str, list[Entry]] = {"collaborators": [], "staff": [], "invites": []}
    for person in await accounts.collaborators(turn.session):
        line = _person_line(person) + " · " + app.communes.name(person.commune_code)
        out["collaborators"].append(Entry("collaborators", line, _revoke(_("Revoke {name}"), person)))
    for person, from_settings in await accounts.staff_members(turn.session, admin_ids=app.settings.admin_ids,
                                                                 staff=app.settings.staff_identities()):
        mine = turn.user is not None and person.id == turn.user.id  # no choice to revoke oneself
        line = _person_line(person) + (" · ADMIN_IDS" if from_settings else "")
        out["staff"].append(Entry("staff", line, None if mine else _revoke(_("Revoke staff {name}"), person)))
    for inv in await accounts.pending_invites(turn.session, clock=app.clock):
        until = format_datetime(inv.expires_at.astimezone(app.tz))
        who = _invitee(turn, inv)
        cancel = Choice(shorten(_("Cancel the invitation: {who}").format(who=who), LABEL_LIMIT), A.INVITE_CANCEL,
                        inv.token)
        out["invites"].append(Entry("invites", "• " + _("{who}, valid until {date}").format(who=who, date=until),
                                    cancel))
    return out


def _section(turn: Turn, section: str, count: int, lines: list[str]) -> Block:
    """A section's title with its count, and its lines on this page."""
    _ = turn._
    titles = {"collaborators": _("<b>Collaborators</b> ({count})"), "staff": _("<b>Staff</b> ({count})"),
              "invites": _("<b>Pending invitations</b> ({count})")}
    title = from_staff_html(titles[section].format(count=count))
    return Block(*title, *(["\n", "\n".join(lines)] if lines else []))


async def _access_reply(turn: Turn, page: int, *, replace_previous: bool = False) -> Reply:
    _ = turn._
    sections = await _entries(turn)
    entries = [e for section in sections.values() for e in section]
    pages = max(1, -(-len(entries) // PAGE))
    page = min(page, pages - 1)
    here = entries[page * PAGE:(page + 1) * PAGE]
    blocks: list[Block] = []
    if not sections["collaborators"] and page == 0:
        blocks.append(Block(_("There are no collaborators yet. Create an invitation with /invite.")))
    for name, section in sections.items():
        lines = [e.line for e in here if e.section == name]
        if lines or (not section and page == 0 and name != "collaborators"):
            blocks.append(_section(turn, name, len(section), lines))
    if pages > 1:
        blocks.append(Block(_("Page {page} of {pages}").format(page=page + 1, pages=pages)))
    rows = [[e.choice] for e in here if e.choice is not None]
    nav = []
    if page > 0:
        nav.append(Choice(_("◀ Previous"), A.ACCESS_PAGE, str(page - 1)))
    if page + 1 < pages:
        nav.append(Choice(_("Next ▶"), A.ACCESS_PAGE, str(page + 1)))
    rows.append(nav)
    return Reply.of(*blocks, choices=rows, replace_previous=replace_previous)


async def list_collaborators(turn: Turn, action: Action) -> None:
    """/collaborators: collaborators, staff and pending invitations, with Revoke and Cancel (staff only)."""
    if await staff_actor(turn, action) is None:
        return
    turn.add(await _access_reply(turn, 0))


async def access_page(turn: Turn, action: ChooseEvent) -> None:
    if await staff_actor(turn, action) is None:
        return
    page = whole_number(action.arg, 10_000)
    if page is None:
        not_found(turn, action)
        return
    turn.add(await _access_reply(turn, page, replace_previous=True))


async def ask_revoke(turn: Turn, action: ChooseEvent) -> None:
    """Revoke under /collaborators: ask first."""
    if await staff_actor(turn, action) is None:
        return
    if whole_number(action.arg) is None:
        not_found(turn, action)
        return
    _ = turn._
    turn.add(Reply.of(_("Revoke this person's access? Any form they have open will be closed."),
                      choices=[[Choice(_("Yes, revoke"), A.ACCESS_REVOKE_YES, action.arg)]]))


async def revoke(turn: Turn, action: ChooseEvent) -> None:
    """Take a collaborator's or a staff member's access away (the service re-checks everything)."""
    staff = await staff_actor(turn, action)
    if staff is None:
        return
    user_id = whole_number(action.arg)
    if user_id is None:
        not_found(turn, action)
        return
    person, was = await accounts.revoke_access(turn.session, clock=turn.app.clock, actor=staff.user, user_id=user_id,
                                               admin_ids=turn.app.settings.admin_ids, translate=turn.app.translate,
                                               staff=turn.app.settings.staff_identities())
    text = (turn._("{name} is no longer a collaborator.") if was is Role.COLLABORATOR
            else turn._("{name} no longer has staff access.")).format(name=person.full_name or "")
    turn.add(Reply.of(text, replace_previous=True))


async def ask_cancel_invite(turn: Turn, action: ChooseEvent) -> None:
    if await staff_actor(turn, action) is None:
        return
    _ = turn._
    turn.add(Reply.of(_("Cancel this invitation? Its link will no longer work."),
                      choices=[[Choice(_("Yes, cancel the invitation"), A.INVITE_CANCEL_YES, action.arg)]]))


async def cancel_invite(turn: Turn, action: ChooseEvent) -> None:
    """Withdraw an unused invitation: its code and link are refused from now on."""
    if await staff_actor(turn, action) is None:
        return
    await accounts.cancel_invite(turn.session, clock=turn.app.clock, token=action.arg)
    turn.add(Reply.of(turn._("The invitation has been cancelled; its link no longer works."), replace_previous=True))


def register(flows: Flows) -> None:
    flows.command("invite")(invite)
    flows.command("collaborators")(list_collaborators)
    flows.action(A.ACCESS_PAGE)(access_page)
    flows.action(A.ACCESS_REVOKE)(ask_revoke)
    flows.action(A.ACCESS_REVOKE_YES)(revoke)
    flows.action(A.INVITE_CANCEL)(ask_cancel_invite)
    flows.action(A.INVITE_CANCEL_YES)(cancel_invite)

