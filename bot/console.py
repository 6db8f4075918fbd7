"""Access from the command line, for whoever runs the server (e.g. when no staff member can reach the bot):
`python -m bot access` lists collaborators, staff and pending invitations; `revoke <telegram id>` and
`cancel-invite <token>` do what /collaborators does in chat. Output is plain English for the operator."""

from __future__ import annotations

from bot.context import AppContext
from bot.domain import Role
from bot.errors import DomainError, NotFound
from bot.services import accounts
from storage import repos

CHANNEL = "telegram"


async def access_lines(app: AppContext) -> list[str]:
    async with app.session_maker() as session:
        lines = ["Collaborators:"]
        for person in await accounts.collaborators(session):
            lines.append(f"  {person.external_id}  {person.full_name or '-'}  {app.communes.name(person.commune_code)}")
        lines.append("Staff:")
        for person, from_settings in await accounts.staff_members(session, admin_ids=app.settings.admin_ids,
                                                                   staff=app.settings.staff_identities()):
            origin = "ADMIN_IDS" if from_settings else "by invitation"
            lines.append(f"  {person.external_id}  {person.full_name or '-'}  ({origin})")
        lines.append("Pending invitations:")
        for inv in await accounts.pending_invites(session, clock=app.clock):
            where = f" for {app.communes.name(inv.commune_code)}" if inv.role == Role.COLLABORATOR else ""
            lines.append(f"  {inv.token}  {inv.role}{where}  until {inv.expires_at.astimezone(app.tz):%d/%m/%Y %H:%M}")
    return lines


async def revoke(app: AppContext, telegram_id: str) -> str:
    async with app.session_maker() as session:
        user = await repos.get_user(session, channel=CHANNEL, external_id=telegram_id)
        try:
            if user is None:
                raise NotFound()
            person, role = await accounts.revoke_access(session, clock=app.clock, actor=None, user_id=user.id or 0,
                                                        admin_ids=app.settings.admin_ids, translate=app.translate,
                                                        staff=app.settings.staff_identities())
        except DomainError as exc:
            await session.rollback()
            return "Refused: " + exc.message.render(lambda m: app.translate(m, "en"))
        await session.commit()
    return f"{person.full_name or telegram_id} is no longer {role.value}; the bot will tell them."


async def cancel_invite(app: AppContext, token: str) -> str:
    async with app.session_maker() as session:
        try:
            await accounts.cancel_invite(session, clock=app.clock, token=token)
        except DomainError as exc:
            await session.rollback()
            return "Refused: " + exc.message.render(lambda m: app.translate(m, "en"))
        await session.commit()
    return "The invitation has been cancelled; its link no longer works."
