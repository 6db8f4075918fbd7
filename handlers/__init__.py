"""Thin aiogram routers, one module per feature; the order below is the matching order."""

from __future__ import annotations

from aiogram import Router


def routers() -> list[Router]:
    from handlers import announcements, fallback, throttle

    # Throttle first (it only matches flagged updates), then the pipeline's bridge (open forms and the
    # flows that moved; see bot/app.py), fallback last.
    return [throttle.router, announcements.router, fallback.router]
