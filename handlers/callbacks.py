"""Typed callback data. Every press is re-checked against the database: stale or forged data changes nothing."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class FormCb(CallbackData, prefix="f"):
    """A button of a form step; `form`/`step` tie it to the step it was shown for."""

    action: str  # c=choose, b=back, s=skip, x=cancel, ok=confirm, ed=edit menu, p=page
    form: str
    step: str
    value: str = ""


class LangCb(CallbackData, prefix="lang"):
    code: str


class MyNeedCb(CallbackData, prefix="mn"):
    action: str  # w=ask to withdraw, wy=withdraw confirmed
    id: int


class InboxCb(CallbackData, prefix="ib"):
    action: str  # l=list, o=open, m=move, fs/fc/fm=filter menus
    status: str = ""
    category: str = ""
    commune: int = 0
    page: int = 0
    id: int = 0
    to: str = ""


class CollabCb(CallbackData, prefix="co"):
    action: str  # r=ask to revoke, ry=revoke confirmed
    id: int


class InviteCb(CallbackData, prefix="iv"):
    action: str  # x=ask to cancel, xy=cancel confirmed
    token: str


class ForgetCb(CallbackData, prefix="fg"):
    confirm: bool


class AnCb(CallbackData, prefix="an"):
    """Staff actions on an announcement."""

    action: str
    id: int
    value: str = ""


class RecipientCb(CallbackData, prefix="ar"):
    """A recipient's buttons under an announcement (built as plain strings by the service)."""

    action: str  # s=sign up, n=not interested, sh=share, pv=preview (inert)
    id: int


class TopicCb(CallbackData, prefix="tp"):
    topic: str  # a topic, or "all" / "none"


class ReportCb(CallbackData, prefix="rp"):
    action: str  # f=fill (collaborator), s=status, csv=export (staff)
    id: int
