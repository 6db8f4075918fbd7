"""`python -m bot staff add <name-or-id> [--login NAME]` and `python -m bot staff passwd <name-or-id>`:
a console password for a staff member (argon2). The password is asked twice on a terminal, or read from
the first line of standard input when it is not one (scripts)."""

from __future__ import annotations

import getpass
import sys

from bot.config import Settings
from bot.services.staff_auth import CliError


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Again: "):
        raise CliError("the two passwords differ")
    return first


async def staff_cmd(settings: Settings, action: str, who: str, login: str | None) -> str:
    from bot.clock import SystemClock
    from bot.services.staff_auth import set_password
    from bot.startup import migrate_in_child, open_database
    from storage.db import create_session_maker

    await migrate_in_child(settings)
    password = read_password()
    engine = await open_database(settings.database_url)
    try:
        async with create_session_maker(engine)() as session:
            user, name = await set_password(session, clock=SystemClock(), who=who, password=password, login=login,
                                            admin_ids=settings.admin_ids, grant=action == "add",
                                            staff=settings.staff_identities())
            await session.commit()
    finally:
        await engine.dispose()
    return (f"{user.full_name or user.username or user.external_id} (#{user.id}) can sign in to the staff "
            f"console as {name!r}; their open console sessions were ended.")
