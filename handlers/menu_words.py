"""The main menu's words per role: big buttons on Telegram (a reply keyboard), menu words elsewhere.

Each word stands for a command; a press sends the word, which is turned back into its command.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.domain import Role
from bot.i18n_marker import N_

BUTTONS: dict[Role, tuple[tuple[tuple[str, str], ...], ...]] = {
    Role.USER: (
        ((N_("📝 New need"), "/need"), (N_("📋 My needs"), "/needs")),
        ((N_("🏭 My facility"), "/profile"), (N_("❓ Help"), "/help")),
    ),
    Role.COLLABORATOR: (
        ((N_("📝 File a need"), "/need"), (N_("📋 Needs filed"), "/needs")),
        ((N_("📊 Send report"), "/report"), (N_("❓ Help"), "/help")),
    ),
    Role.STAFF: (
        ((N_("📥 Inbox"), "/inbox"), (N_("📢 Announce"), "/announce")),
        ((N_("📊 Broadcasts"), "/broadcasts"), (N_("❓ Help"), "/help")),
    ),
}


def menu_words(gettext: Callable[[str], str], role: Role) -> tuple[tuple[str, ...], ...]:
    """The role's menu in the reader's language."""
    return tuple(tuple(gettext(label) for label, _cmd in row) for row in BUTTONS[role])
