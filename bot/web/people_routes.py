"""Collaborators and staff: invite a collaborator for a commune (found by an accent-insensitive search) or a
staff member, an invitation's page with its Telegram link, typed code and a printable QR card, pending
invitations (cancel), collaborators per commune with their last report, communes with nobody, staff (revoke)."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from bot.domain import Role
from bot.errors import DomainError
from bot.i18n_marker import N_
from bot.services import people
from bot.services.communes import Commune
from bot.services.validation import ascii_int
from bot.web import security
from bot.web.app import render
from bot.web.security import FormText, Staff, StaffPage, StaffPost, ctx
from storage.models import Invite

router = APIRouter()
QR_ERROR = "m"  # error correction: a printed card survives a crease or a smudge
QR_SCALE = 6  # pixels per module: about 4 cm across for a deep link when printed
SEARCH_LIMIT = 12
# The printed card speaks to the person invited, in Vietnamese whatever the console's language.
CARD_TEXTS = {
    "collaborator": N_("Khuyến công collaborator"),
    "staff": N_("Staff of the khuyến công centre"),
    "code": N_("Invitation code:"),
    "telegram": N_("On Telegram: scan the QR code with your phone's camera and open the bot."),
    "zalo": N_("On Zalo: open {link} and send the invitation code to the bot."),
    "message": N_("Or send the invitation code to the centre's bot in a message."),
    "confirm_collaborator": N_("Confirm your name and phone number: the bot then knows you as the centre's "
                               "collaborator."),
    "confirm_staff": N_("Confirm your name and phone number: the bot then gives you staff access."),
    "until": N_("The code works once, for one person, until {date}."),
}


def qr_svg(link: str) -> Markup:
    """The QR code of `link`, as inline SVG (segno; nothing is fetched, no image file is kept)."""
    return Markup(segno.make(link, error=QR_ERROR).svg_inline(scale=QR_SCALE))


def _links(request: Request, invite: Invite) -> people.InviteLinks:
    app = ctx(request)
    token = app.settings.zalo_bot_token
    return people.invite_links(invite.token, bot_username=app.settings.bot_username or app.bot_username,
                               zalo_token=token.get_secret_value() if token else None)


def _card(request: Request, invite: Invite) -> dict[str, object]:
    links = _links(request, invite)
    return {"invite": invite, "links": links, "qr": qr_svg(links.telegram) if links.telegram else None}


def _back(url: str, request: Request, error: DomainError | None = None, **params: str) -> Response:
    if error is not None:
        params["error"] = error.message.render(security.gettext_for(request))
    return RedirectResponse(url + ("?" + urlencode(params) if params else ""), status_code=303)


def _hits(request: Request, q: str) -> list[Commune]:
    return list(ctx(request).communes.search(q[:100])[:SEARCH_LIMIT])


@router.get("/people")
async def people_page(request: Request, staff: StaffPage) -> Response:
    params = request.query_params
    q = (params.get("commune_q") or "")[:100]
    if request.headers.get("HX-Target") == "commune-hits":  # typed in the search: only the matching communes
        return render(request, "people_communes.html", {"q": q, "hits": _hits(request, q)}, staff=staff)
    app = ctx(request)
    view = await people.overview(staff.session, clock=app.clock, communes=app.communes,
                                 admin_ids=app.settings.admin_ids, staff=app.settings.staff_identities())
    return render(request, "people.html", {
        "v": view, "q": q, "hits": _hits(request, q), "error": params.get("error"), "done": params.get("done"),
        "me": staff.user.id,
    }, staff=staff)


@router.post("/people/invites")
async def invite_create(request: Request, staff: StaffPost, role: FormText = "", commune: FormText = "") -> Response:
    app = ctx(request)
    try:
        invite = await people.create_invite(staff.session, clock=app.clock, actor=staff.user,
                                            role=Role(role) if role in set(Role) else Role.USER,
                                            commune_code=ascii_int(commune), communes=app.communes)
    except DomainError as exc:
        await staff.session.rollback()
        return _back("/people", request, exc)
    return RedirectResponse(f"/people/invites/{invite.token}", status_code=303)


def _gone(request: Request, staff: Staff) -> Response:
    _ = security.gettext_for(request)
    return render(request, "error.html", {"message": _("This invitation has been used, has expired or was "
                                                       "cancelled.")}, status=404, staff=staff)


@router.get("/people/invites/{token}")
async def invite_page(request: Request, staff: StaffPage, token: str) -> Response:
    """One invitation: link, code, and its card to print (the card's instructions are in Vietnamese)."""
    invite = await people.pending_invite(staff.session, clock=ctx(request).clock, token=token)
    if invite is None:
        return _gone(request, staff)
    return render(request, "invite.html", {"cards": [_card(request, invite)], "vi": _vietnamese(request)},
                  staff=staff)


@router.get("/people/cards")
async def invite_cards(request: Request, staff: StaffPage) -> Response:
    """Every pending collaborator's invitation as a card, in the communes' order, one per printed page."""
    app = ctx(request)
    invites = await people.pending_collaborator_invites(staff.session, clock=app.clock, communes=app.communes)
    return render(request, "invite.html", {"cards": [_card(request, i) for i in invites], "vi": _vietnamese(request),
                                           "all_cards": True}, staff=staff)


def _vietnamese(request: Request) -> SimpleNamespace:
    """The card's words in Vietnamese (`vi.zalo`…), whatever the console's language."""
    app = ctx(request)
    return SimpleNamespace(**{key: app.i18n.gettext(msgid, locale="vi") for key, msgid in CARD_TEXTS.items()})


@router.post("/people/invites/{token}/cancel")
async def invite_cancel(request: Request, staff: StaffPost, token: str) -> Response:
    try:
        await people.cancel_invite(staff.session, clock=ctx(request).clock, actor=staff.user, token=token)
    except DomainError as exc:
        await staff.session.rollback()
        return _back("/people", request, exc)
    return _back("/people", request, done="cancelled")


@router.post("/people/{user_id}/revoke")
async def person_revoke(request: Request, staff: StaffPost, user_id: int) -> Response:
    app = ctx(request)
    try:
        await people.revoke(staff.session, clock=app.clock, actor=staff.user, user_id=user_id,
                            admin_ids=app.settings.admin_ids, translate=app.translate,
                            staff=app.settings.staff_identities())
    except DomainError as exc:
        await staff.session.rollback()
        return _back("/people", request, exc)
    await staff.session.commit()
    if app.outbox is not None:
        app.outbox.notify()  # this process sends: the person is told now
    return _back("/people", request, done="revoked")
