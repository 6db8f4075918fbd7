"""Products certified in a product competition (sản phẩm CNNT tiêu biểu): staff record each one on the
competition's sign-ups page — its name, its level (provincial, regional, national) and the day it was
certified — for a participant the centre accepted, and remove one recorded by mistake. Both are audited on the
announcement. The report counts them with their competition (`bot.services.reports_figures`)."""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.domain import CERTIFIABLE_STATUSES, AnnouncementKind, CertificationLevel, ParticipantStatus
from bot.errors import DomainError, NotFound
from bot.i18n_marker import N_
from bot.services import signups
from bot.services.needs import Actor, require_staff
from bot.services.projects import parse_day
from bot.services.staff_auth import audit
from bot.services.validation import Invalid, TextRules, clean_text
from bot.text import fold
from storage import repos, signup_repos
from storage.models import Announcement, CertifiedProduct, Signup

NAME_RULES = TextRules(max_length=200)
NOT_A_COMPETITION = N_("Certified products are recorded only for a product competition.")
NOT_ACCEPTED = N_("A certified product can be recorded only for a participant the centre has accepted: change "
                  "their status to “Accepted” first.")


def _refused(exc: Invalid) -> DomainError:
    return DomainError(exc.message.msgid, **exc.message.params)


async def _standing(session: AsyncSession, *, ann_id: int, signup_id: int) -> tuple[Announcement, Signup]:
    """The competition (locked while its sign-ups change) and one of its standing sign-ups."""
    ann = await signups.lock(session, ann_id=ann_id)
    if ann.kind != AnnouncementKind.COMPETITION:
        raise DomainError(NOT_A_COMPETITION)
    signup = await signup_repos.get_signup(session, signup_id=signup_id)
    if signup is None or signup.announcement_id != ann_id or signup.status != signup_repos.SIGNED_UP:
        raise NotFound()
    return ann, signup


def _check(name: str, level: str, certified_on: str, today: date) -> tuple[str, CertificationLevel, date]:
    try:
        clean = clean_text(name, NAME_RULES)
        day = parse_day(certified_on)
    except Invalid as exc:
        raise _refused(exc) from None
    if level not in set(CertificationLevel):
        raise DomainError(N_("Please choose the level at which the product was certified."))
    if day > today:
        raise DomainError(N_("The day a product was certified cannot be in the future."))
    return clean, CertificationLevel(level), day


async def _commune_of(session: AsyncSession, signup: Signup) -> int | None:
    """The participant's commune now: their facility's, else their own (none once they erased their data)."""
    if signup.user_id is None:
        return None
    facility = await repos.facility_of_owner(session, user_id=signup.user_id)
    if facility is not None:
        return facility.commune_code
    user = await repos.get_user_by_id(session, user_id=signup.user_id)
    return user.commune_code if user else None


async def record(session: AsyncSession, *, clock: Clock, today: date, actor: Actor, ann_id: int, signup_id: int,
                 name: str, level: str, certified_on: str) -> CertifiedProduct:
    """Record a product certified for an accepted participant; audited on the announcement."""
    require_staff(actor)
    _ann, signup = await _standing(session, ann_id=ann_id, signup_id=signup_id)
    if ParticipantStatus(signup.participant_status) not in CERTIFIABLE_STATUSES:
        raise DomainError(NOT_ACCEPTED)
    clean, grade, day = _check(name, level, certified_on, today)
    for other in await signup_repos.products_of_signup(session, signup_id=signup_id):
        if other.level == grade and fold(other.name) == fold(clean):
            raise DomainError(N_("“{name}” is already recorded at this level for this participant."),
                              name=other.name)
    product = CertifiedProduct(signup_id=signup_id, name=clean, level=grade, certified_on=day,
                               commune_code=await _commune_of(session, signup), recorded_by_user_id=actor.user.id,
                               created_at=clock.now())
    session.add(product)
    await session.flush()
    await audit(session, clock=clock, actor=actor.user, action="product_certify", target_kind="announcement",
                target_id=ann_id, detail={"signup": signup_id, "product": product.id, "name": clean,
                                          "level": grade.value, "on": day.isoformat()})
    return product


async def remove(session: AsyncSession, *, clock: Clock, actor: Actor, ann_id: int, signup_id: int,
                 product_id: int) -> None:
    """Remove a product recorded by mistake (whatever the participant's status now); audited."""
    require_staff(actor)
    await _standing(session, ann_id=ann_id, signup_id=signup_id)
    product = await signup_repos.get_product(session, product_id=product_id)
    if product is None or product.signup_id != signup_id:
        raise NotFound(N_("This certified product is no longer recorded. Nothing was changed."))
    detail = {"signup": signup_id, "product": product_id, "name": product.name, "level": product.level,
              "on": product.certified_on.isoformat()}
    await signup_repos.delete_product(session, product=product)
    await audit(session, clock=clock, actor=actor.user, action="product_remove", target_kind="announcement",
                target_id=ann_id, detail=detail)

