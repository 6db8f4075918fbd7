"""Domain errors. Each carries a message id; the one error middleware translates and replies."""

from __future__ import annotations

from typing import Any

from bot.i18n_marker import N_, Text


class DomainError(Exception):
    default = N_("Sorry, that can't be done.")

    def __init__(self, msgid: str | None = None, **params: Any) -> None:
        self.message = Text(msgid or self.default, params)
        super().__init__(self.message.msgid)


class PermissionDenied(DomainError):
    default = N_("Sorry, this is only available to staff of the khuyến công centre.")


class NotFound(DomainError):
    default = N_("This item no longer exists or is not yours. Nothing was changed.")


class Conflict(DomainError):
    default = N_("This was already changed by someone else. Please open it again.")


class InvalidInvite(DomainError):
    default = N_("This invitation link is not valid.")
