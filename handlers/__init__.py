"""Thin aiogram routers, one module per feature; the order below is the matching order."""

from __future__ import annotations

from aiogram import Router


def routers() -> list[Router]:
    from handlers import (
        announcements,
        fallback,
        forms,
        inbox,
        invites,
        needs,
        privacy,
        profile,
        reports,
        start,
        throttle,
    )

    # Throttle first (it only matches flagged updates), forms before commands (an open form gets
    # the answer), fallback last.
    return [throttle.router, forms.router, start.router, profile.router, needs.router, inbox.router,
            invites.router, privacy.router, announcements.router, reports.router,
            fallback.router]
