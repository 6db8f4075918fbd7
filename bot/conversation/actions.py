"""Every action id a choice can carry, in one place: flows, services and renderers import them from here.

An id is short (it travels in Telegram's 64-byte callback data with its argument) and stable (a
button or numbered line shown yesterday must still mean the same thing today).
"""

from __future__ import annotations

# Forms (argument: "<form>|<step>|<value>", so a press on an old step is recognised as stale).
FORM_CHOOSE = "f.c"
FORM_BACK = "f.b"
FORM_SKIP = "f.s"
FORM_CANCEL = "f.x"
FORM_CONFIRM = "f.ok"
FORM_EDIT = "f.ed"
FORM_PAGE = "f.p"

FORM_ACTIONS = frozenset({FORM_CHOOSE, FORM_BACK, FORM_SKIP, FORM_CANCEL, FORM_CONFIRM, FORM_EDIT, FORM_PAGE})

# The main menu (the "0." line on text channels).
MENU = "menu"

# The reader's language (argument: "vi" or "en").
LANGUAGE = "lang"

# One's own needs under /needs (argument: "w:<id>" asks, "wy:<id>" withdraws, "n:<id>" keeps it).
MY_NEED = "mn"

# /profile's Edit (argument: "edit").
PROFILE = "profile"

# /forget's question (argument: "1" erase, "0" keep).
FORGET = "fg"

# A newcomer's way into registration, offered with the greeting to anything they type (no argument).
REGISTER = "reg"

# "Send this as a question to the centre", after a message the bot did not understand (argument: a short
# fingerprint of the words, which the turn keeps: a press after newer words is recognised as stale).
QUESTION = "qa"

# Announcement topics: follow or stop following one (argument: a topic, "all" or "none").
TOPIC = "sub.t"

# Staff inbox (argument: the list's view "<status>|<kind>|<commune>|<page>", after a need's id where one is
# acted on; a move also carries the status to move to).
INBOX_LIST = "ib.l"
INBOX_BY_STATUS = "ib.fs"
INBOX_BY_KIND = "ib.fc"
INBOX_BY_COMMUNE = "ib.fm"
INBOX_OPEN = "ib.o"
INBOX_MOVE = "ib.m"
INBOX_FILE = "ib.a"
INBOX_EXPORT = "ib.x"

# /collaborators (argument: a page; a person's id to revoke; an invitation's token to cancel).
ACCESS_PAGE = "co.p"
ACCESS_REVOKE = "co.r"
ACCESS_REVOKE_YES = "co.ry"
INVITE_CANCEL = "co.x"
INVITE_CANCEL_YES = "co.xy"

# Collaborator reports (argument: a schedule's id; "<id>|<page>" for a page of /reports).
REPORT_FILL = "rp.f"
REPORT_EXPORT = "rp.x"
REPORT_PAGE = "rp.p"

# Staff on an announcement and in /broadcasts (argument: "<verb>:<id>:<value>", see handlers/announce.py).
ANNOUNCE = "an"

# An announcement's recipient side (argument: "s:<id>" sign up, "n:<id>" not interested, "sh:<id>" share,
# "done:<id>" dossier handed in). Packed for Telegram as "ar:s:<id>", as buttons sent before this id existed.
ANNOUNCEMENT = "ar"
SIGNUP_KEYWORD = "DK"  # typed on a text channel: "DK 12" signs up for announcement 12


def announcement_arg(verb: str, ann_id: int | None) -> str:
    return f"{verb}:{ann_id}"


def form_arg(form: str, step: str | None, value: str = "") -> str:
    return f"{form}|{step or ''}|{value}"


def parse_form_arg(arg: str) -> tuple[str, str, str]:
    form, _sep, rest = arg.partition("|")
    step, _sep, value = rest.partition("|")
    return form, step, value
