"""The main menu's words per role: big buttons on Telegram (a reply keyboard), menu words elsewhere.

Each word stands for a command; a press sends the word, which is turned back into its command.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.domain import Role
from bot.i18n_marker import N_
from bot.text import fold

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


def menu_word(gettext: Callable[[str], str], role: Role, command: str) -> str | None:
    """The word of the role's menu that stands for `command` ("/needs" → "📋 My needs"), if it has one."""
    return next((gettext(label) for row in BUTTONS[role] for label, cmd in row if cmd == command), None)


def typed_menu_words(translations: Callable[[str], list[str]]) -> dict[str, str]:
    """Every menu word as people type it on a text channel (folded: no emoji, accents or case; in every
    language — `translations` gives a label's words in each) → the command's name."""
    out: dict[str, str] = {}
    for rows in BUTTONS.values():
        for label, command in (entry for row in rows for entry in row):
            for words in (label, *translations(label)):
                if folded := fold(words):
                    out.setdefault(folded, command.lstrip("/"))
    return out
