"""Queries of the sign-ups to an announcement, as staff manage them: the sign-ups in the order of their places,
one sign-up, the announcement locked while places move, the products certified for them. AsyncSession,
keyword-only, never commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Announcement, CertifiedProduct, Facility, Signup, User

SIGNED_UP = "signed_up"


async def lock_announcement(session: AsyncSession, *, ann_id: int) -> Announcement | None:
    """The announcement, row-locked on PostgreSQL until the caller commits: sign-ups, cancellations and status
    changes of one announcement take turns, so two people never get the same last place."""
    query = select(Announcement).where(Announcement.id == ann_id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def signed_up(session: AsyncSession, *, ann_id: int) -> Sequence[Signup]:
    """Every standing sign-up, in the order of places: the time it became a sign-up, then its id."""
    return (await session.exec(
        select(Signup).where(Signup.announcement_id == ann_id, Signup.status == SIGNED_UP)
        .order_by(col(Signup.signed_up_at), col(Signup.id)))).all()


async def signed_up_with_people(session: AsyncSession, *,
                                ann_id: int) -> Sequence[tuple[Signup, User | None, Facility | None]]:
    """The standing sign-ups with the person and their facility, in the order of places."""
    return (await session.exec(
        select(Signup, User, Facility)
        .join(User, col(Signup.user_id) == col(User.id), isouter=True)
        .join(Facility, col(Facility.owner_user_id) == col(User.id), isouter=True)
        .where(Signup.announcement_id == ann_id, Signup.status == SIGNED_UP)
        .order_by(col(Signup.signed_up_at), col(Signup.id)))).all()


async def get_signup(session: AsyncSession, *, signup_id: int) -> Signup | None:
    return await session.get(Signup, signup_id)


async def products_of_announcement(session: AsyncSession, *, ann_id: int) -> Sequence[CertifiedProduct]:
    """The products certified for the sign-ups of an announcement, by the day they were certified."""
    return (await session.exec(
        select(CertifiedProduct).join(Signup, col(Signup.id) == col(CertifiedProduct.signup_id))
        .where(Signup.announcement_id == ann_id)
        .order_by(col(CertifiedProduct.certified_on), col(CertifiedProduct.id)))).all()


async def products_of_signup(session: AsyncSession, *, signup_id: int) -> Sequence[CertifiedProduct]:
    return (await session.exec(select(CertifiedProduct).where(CertifiedProduct.signup_id == signup_id)
                               .order_by(col(CertifiedProduct.id)))).all()


async def get_product(session: AsyncSession, *, product_id: int) -> CertifiedProduct | None:
    return await session.get(CertifiedProduct, product_id)


async def delete_product(session: AsyncSession, *, product: CertifiedProduct) -> None:
    await session.delete(product)
    await session.flush()
