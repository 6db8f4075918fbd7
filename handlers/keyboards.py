"""Keyboard builders: they take already-translated text and typed CallbackData."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import FormCb

PAGE_SIZE = 8


def inline(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Rows of (text, callback data) pairs."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows]
    )


def form_step_keyboard(
    *, form: str, step: str, choices: Sequence[tuple[str, str]], page: int = 0, paged: bool = False,
    back: str | None, skip: str | None, cancel: str, prev_label: str = "◀", next_label: str = "▶",
) -> InlineKeyboardMarkup:
    """Choice buttons (one per row, paged when there are many), then Skip, then Back and Cancel."""
    kb = InlineKeyboardBuilder()
    shown = choices[page * PAGE_SIZE:(page + 1) * PAGE_SIZE] if paged else choices
    for value, text in shown:
        kb.row(InlineKeyboardButton(text=text, callback_data=FormCb(action="c", form=form, step=step,
                                                                     value=value).pack()))
    if paged and len(choices) > PAGE_SIZE:
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton(
                text=prev_label, callback_data=FormCb(action="p", form=form, step=step, value=str(page - 1)).pack()))
        if (page + 1) * PAGE_SIZE < len(choices):
            nav.append(InlineKeyboardButton(
                text=next_label, callback_data=FormCb(action="p", form=form, step=step, value=str(page + 1)).pack()))
        kb.row(*nav)
    if skip:
        kb.row(InlineKeyboardButton(text=skip, callback_data=FormCb(action="s", form=form, step=step).pack()))
    bottom = []
    if back:
        bottom.append(InlineKeyboardButton(text=back, callback_data=FormCb(action="b", form=form, step=step).pack()))
    bottom.append(InlineKeyboardButton(text=cancel, callback_data=FormCb(action="x", form=form, step=step).pack()))
    kb.row(*bottom)
    return kb.as_markup()


def summary_keyboard(*, form: str, step: str, confirm: str, edit: str, cancel: str) -> InlineKeyboardMarkup:
    return inline([
        [(confirm, FormCb(action="ok", form=form, step=step).pack())],
        [(edit, FormCb(action="ed", form=form, step=step).pack()),
         (cancel, FormCb(action="x", form=form, step=step).pack())],
    ])


def contact_keyboard(*, share: str, back: str | None, cancel: str) -> ReplyKeyboardMarkup:
    """The phone step: Telegram's share-contact button; Back/Cancel as plain text buttons."""
    rows = [[KeyboardButton(text=share, request_contact=True)]]
    rows.append([KeyboardButton(text=t) for t in (back, cancel) if t])
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)
