"""Each form declares who may fill it in; the engine says when an open form can no longer go on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.services.announcements import signup_form
from bot.services.forms.definitions import FORMS
from bot.services.forms.engine import FORM_EXPIRED, FORM_REVOKED, FormEngine

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
STAFF_FORMS = ["invite", "announce", "schedule", "ann_commune", "new_deadline", "reminder_days", "report_schedule",
               "decline"]


def engine(ttl_hours: float = 24) -> FormEngine:
    eng = FormEngine(FORMS, today=lambda: date(2026, 3, 2), ttl=timedelta(hours=ttl_hours))
    eng.register_factory("signup", signup_form)
    return eng


@pytest.mark.parametrize("name", STAFF_FORMS)
def test_staff_forms_need_staff(name: str) -> None:
    eng = engine()
    assert eng.allows(name, {}, "staff")
    assert not eng.allows(name, {}, "collaborator") and not eng.allows(name, {}, "user")


@pytest.mark.parametrize("name", ["report", "need_proxy"])
def test_collaborator_forms_need_a_collaborator(name: str) -> None:
    eng = engine()
    assert eng.allows(name, {}, "collaborator")
    assert not eng.allows(name, {}, "staff") and not eng.allows(name, {}, "user")


def test_open_forms_and_unknown_ones() -> None:
    eng = engine()
    for name in ("register", "join", "need"):
        assert all(eng.allows(name, {}, role) for role in ("user", "collaborator", "staff"))
    assert eng.allows("signup.3", {"questions": ["Sản phẩm?"]}, "user")
    assert not eng.allows("no_such_form", {}, "staff")


def test_closed_reason_role_first_then_time_to_live() -> None:
    eng = engine(ttl_hours=24)
    fresh = NOW - timedelta(hours=24)
    assert eng.closed_reason("invite", {}, role="staff", updated_at=fresh, now=NOW) is None
    stale = NOW - timedelta(hours=24, seconds=1)
    assert eng.closed_reason("invite", {}, role="staff", updated_at=stale, now=NOW) == FORM_EXPIRED
    assert eng.closed_reason("invite", {}, role="user", updated_at=fresh, now=NOW) == FORM_REVOKED
    assert engine(ttl_hours=1).closed_reason("need", {}, role="user", updated_at=NOW - timedelta(minutes=61),
                                             now=NOW) == FORM_EXPIRED


def test_form_ttl_setting_is_validated() -> None:
    from pydantic import ValidationError

    from tests.conftest import make_settings

    assert make_settings().form_ttl_hours == 24
    assert make_settings(form_ttl_hours="1.5").form_ttl_hours == 1.5
    for bad in ("0", "-1", "abc"):
        with pytest.raises(ValidationError):
            make_settings(form_ttl_hours=bad)
