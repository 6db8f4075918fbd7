"""Announcements in the console: compose with a live preview, the audience's count per channel, a test copy to
the staff member only, sending to the audience through the outbox, live progress, per-recipient status, the
quiet-hours warning, the size confirmation, saved audiences, copies; nobody but staff gets anywhere."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from storage.models import Announcement, AuditEntry, OutboxMessage, SavedAudience, User
from tests.web.conftest import LONG_XUYEN, Console

FAIR = {
    "kind": "fair",
    "title": "Hội chợ hàng CNNT khu vực phía Nam 2026",
    "body": "Trung tâm hỗ trợ <b>gian hàng</b> và chi phí vận chuyển.",
    "place": "Vĩnh Long",
    "starts_on": "2026-04-10",
    "ends_on": "2026-04-14",
    "deadline_on": "2026-03-25",
    "questions": "Sản phẩm trưng bày?",
}


async def _csrf(console: Console) -> str:
    page = await console.client.get("/announcements/new")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


async def _draft(console: Console, csrf: str, **changes: str) -> int:
    r = await console.client.post("/announcements", data={**FAIR, **changes, "csrf": csrf})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


async def _rows(console: Console, **where: Any) -> list[OutboxMessage]:
    async with console.app.session_maker() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return list((await session.exec(query)).all())


async def _ann(console: Console, ann_id: int) -> Announcement:
    async with console.app.session_maker() as session:
        return await session.get(Announcement, ann_id)


async def _owner_facility(console: Console) -> None:
    need = await console.add_need(registrant="owner")
    async with console.app.session_maker() as session:
        from storage.models import Facility

        facility = await session.get(Facility, need.facility_id)
        facility.owner_user_id = console.people["owner"].id
        session.add(facility)
        await session.commit()


async def test_compose_preview_count_test_copy_send_and_progress(console: Console) -> None:
    await _owner_facility(console)
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    new = await console.client.get("/announcements/new")
    assert 'class="phone"' in new.text and 'hx-post="/announcements/preview"' in new.text

    preview = await console.client.post(
        "/announcements/preview", data={**FAIR, "csrf": csrf}, headers={"HX-Request": "true"}
    )
    assert preview.status_code == 200
    assert "Hội chợ hàng CNNT khu vực phía Nam 2026" in preview.text
    assert "Trung tâm hỗ trợ gian hàng" in preview.text and "&lt;b&gt;" not in preview.text  # as Zalo shows it
    assert "📍 Địa điểm: Vĩnh Long" in preview.text and "DK 0" in preview.text
    refused = await console.client.post(
        "/announcements/preview", data={**FAIR, "body": "<script>x</script>", "csrf": csrf}
    )
    assert "field-error" in refused.text

    ann_id = await _draft(console, csrf)
    page = await console.client.get(f"/announcements/{ann_id}")
    assert page.status_code == 200 and f"DK {ann_id}" in page.text

    count = await console.client.post(
        f"/announcements/{ann_id}/count",
        data={"role": ["facility", "collaborator"], "by_topic": "1", "csrf": csrf},
        headers={"HX-Request": "true"},
    )
    assert "2 người sẽ nhận" in count.text or "<b>2" in count.text
    assert "Telegram: 1" in count.text and "Zalo: 1" in count.text
    r = await console.client.post(
        f"/announcements/{ann_id}/audience", data={"role": ["facility", "collaborator"], "by_topic": "1", "csrf": csrf}
    )
    assert r.status_code == 303
    assert (await _ann(console, ann_id)).audience["roles"] == ["facility", "collaborator"]

    r = await console.client.post(f"/announcements/{ann_id}/test", data={"csrf": csrf})
    assert r.status_code == 303
    (test_copy,) = await _rows(console)
    assert (test_copy.chat_id, test_copy.kind, test_copy.announcement_id) == ("5001", "announcement_test", None)
    assert "Hội chợ hàng CNNT" in test_copy.text

    r = await console.client.post(f"/announcements/{ann_id}/send", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/announcements/{ann_id}"
    rows = await _rows(console, kind="announcement")
    assert sorted(row.chat_id for row in rows) == ["6001", "z-77"]
    assert all(row.announcement_id == ann_id and row.status == "pending" for row in rows)
    assert (await _ann(console, ann_id)).status == "sending"

    async with console.app.session_maker() as session:
        first, second = (await session.get(OutboxMessage, rows[0].id), await session.get(OutboxMessage, rows[1].id))
        first.status, first.sent_at = "sent", console.clock.now()
        second.status, second.last_error = "failed", "chat not found"
        session.add_all([first, second])
        await session.commit()
    progress = await console.client.get(f"/announcements/{ann_id}/progress", headers={"HX-Request": "true"})
    assert progress.status_code == 200
    assert 'hx-trigger="every 3s"' in progress.text  # polled until the scheduler closes the broadcast
    assert "HX-Refresh" not in progress.headers
    stale = await console.client.get(f"/announcements/{ann_id}/progress?shown=draft", headers={"HX-Request": "true"})
    assert stale.headers["HX-Refresh"] == "true"  # the page showed another status: reloaded whole
    assert re.search(r"Đã gửi <b>1</b> / 2", progress.text) and re.search(r"Lỗi <b>1</b>", progress.text)

    failed = await console.client.get(f"/announcements/{ann_id}/deliveries?status=failed")
    assert "chat not found" in failed.text and "Nguyễn Thị Lan" in failed.text  # the owner's row failed
    assert "Phạm Cộng Tác" not in failed.text
    everyone = await console.client.get(f"/announcements/{ann_id}/deliveries")
    assert "Phạm Cộng Tác" in everyone.text and "Nguyễn Thị Lan" in everyone.text

    listing = await console.client.get("/announcements")
    assert f'href="/announcements/{ann_id}"' in listing.text and "Đang gửi" in listing.text
    async with console.app.session_maker() as session:
        actions = [
            e.action
            for e in (
                await session.exec(
                    select(AuditEntry).where(AuditEntry.target_kind == "announcement").order_by(col(AuditEntry.id))
                )
            ).all()
        ]
    assert actions == ["ann_create", "ann_audience", "ann_test", "ann_send"]


async def test_a_time_in_quiet_hours_is_warned_about_and_the_morning_offered(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    ann_id = await _draft(console, csrf)
    # 22:30 on 2 March, local time.
    r = await console.client.post(f"/announcements/{ann_id}/send", data={"when": "2026-03-02T22:30", "csrf": csrf})
    assert r.status_code == 200 and "22:30" in r.text and "21:00–07:00" in r.text
    assert 'name="when" value="2026-03-03T07:00"' in r.text
    assert await _rows(console, kind="announcement") == []
    assert (await _ann(console, ann_id)).status == "draft"

    r = await console.client.post(
        f"/announcements/{ann_id}/send", data={"when": "2026-03-03T07:00", "answers": "q", "csrf": csrf}
    )
    assert r.status_code == 303
    ann = await _ann(console, ann_id)
    assert ann.status == "scheduled" and ann.scheduled_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)

    past = await console.client.post(f"/announcements/{ann_id}/send", data={"when": "2026-03-01T08:00", "csrf": csrf})
    assert past.status_code == 303 and "error=" in past.headers["location"]


async def test_more_than_500_people_need_a_confirmation_naming_the_size(console: Console) -> None:
    now = console.clock.now()
    async with console.app.session_maker() as session:
        from storage import repos

        await repos.bulk_insert(
            session,
            model=User,
            rows=[
                {
                    "channel": "telegram",
                    "external_id": str(900000 + i),
                    "role": "user",
                    "full_name": f"Người {i}",
                    "announcements_off": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(500)
            ],
        )
        await session.commit()
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    ann_id = await _draft(console, csrf)
    r = await console.client.post(f"/announcements/{ann_id}/send", data={"csrf": csrf})
    assert r.status_code == 200 and "504" in r.text  # 500 + staff, revoked staff, collaborator, owner
    assert await _rows(console, kind="announcement") == []
    r = await console.client.post(f"/announcements/{ann_id}/send", data={"answers": "y", "csrf": csrf})
    assert r.status_code == 303
    assert len(await _rows(console, kind="announcement")) == 504


async def test_a_saved_audience_is_kept_reused_and_deleted(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    first = await _draft(console, csrf)
    r = await console.client.post(
        f"/announcements/{first}/audiences",
        data={
            "name": "Cơ sở Long Xuyên",
            "role": "facility",
            "commune": str(LONG_XUYEN),
            "sector": "food",
            "csrf": csrf,
        },
    )
    assert r.status_code == 303
    async with console.app.session_maker() as session:
        (saved,) = (await session.exec(select(SavedAudience))).all()
    criteria = {"roles": ["facility"], "communes": [LONG_XUYEN], "sectors": ["food"], "by_topic": False}
    assert (saved.name, saved.criteria, saved.created_by) == ("Cơ sở Long Xuyên", criteria, console.people["staff"].id)
    second = await _draft(console, csrf, title="Lớp tập huấn thương mại điện tử", kind="training")
    page = await console.client.get(f"/announcements/{second}")
    assert "Cơ sở Long Xuyên" in page.text
    r = await console.client.post(f"/announcements/{second}/audience", data={"saved": str(saved.id), "csrf": csrf})
    assert r.status_code == 303
    assert (await _ann(console, second)).audience == criteria

    r = await console.client.post(
        f"/announcements/audiences/{saved.id}/delete", data={"next": f"/announcements/{second}", "csrf": csrf}
    )
    assert r.status_code == 303 and r.headers["location"] == f"/announcements/{second}"
    async with console.app.session_maker() as session:
        assert (await session.exec(select(SavedAudience))).all() == []
    nameless = await console.client.post(f"/announcements/{first}/audiences", data={"name": " ", "csrf": csrf})
    assert "error=" in nameless.headers["location"]


async def test_a_past_announcement_is_copied_into_a_new_draft(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    ann_id = await _draft(console, csrf)
    await console.client.post(f"/announcements/{ann_id}/audience", data={"role": "collaborator", "csrf": csrf})
    await console.client.post(f"/announcements/{ann_id}/send", data={"csrf": csrf})
    r = await console.client.post(f"/announcements/{ann_id}/copy", data={"csrf": csrf})
    assert r.status_code == 303
    copy_id = int(r.headers["location"].rsplit("/", 1)[1])
    original, copy = await _ann(console, ann_id), await _ann(console, copy_id)
    assert copy_id != ann_id and copy.status == "draft" and original.status == "sending"
    assert (copy.title, copy.body, copy.place, copy.questions, copy.audience) == (
        original.title,
        original.body,
        original.place,
        original.questions,
        original.audience,
    )
    assert copy.created_by_user_id == console.people["staff"].id


async def test_a_refused_field_is_shown_and_nothing_is_saved(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    r = await console.client.post(
        "/announcements", data={**FAIR, "title": "", "deadline_on": "2026-01-01", "csrf": csrf}
    )
    assert r.status_code == 400 and "field-error" in r.text
    assert "Vĩnh Long" in r.text  # what was typed is kept
    async with console.app.session_maker() as session:
        assert (await session.exec(select(Announcement))).all() == []


async def test_people_who_are_not_staff_cannot_send(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    ann_id = await _draft(console, csrf)
    await console.sign_in_as("owner")
    r = await console.client.post(f"/announcements/{ann_id}/send", data={"csrf": csrf})
    assert r.status_code == 401
    assert (await console.client.get(f"/announcements/{ann_id}")).status_code == 303
    assert await _rows(console) == []


async def test_a_photo_is_attached_shown_in_the_preview_and_removed(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    ann_id = await _draft(console, csrf)
    not_a_photo = await console.client.post(
        f"/announcements/{ann_id}/photo", data={"csrf": csrf}, files={"photo": ("a.pdf", b"%PDF-1.4 ...")}
    )
    assert "error=" in not_a_photo.headers["location"]
    assert (await _ann(console, ann_id)).attachment_file_id is None

    jpeg = b"\xff\xd8\xff\xe0" + b"hoi-cho" * 50
    r = await console.client.post(
        f"/announcements/{ann_id}/photo", data={"csrf": csrf}, files={"photo": ("gian-hang.jpg", jpeg)}
    )
    assert r.status_code == 303 and "error" not in r.headers["location"]
    ann = await _ann(console, ann_id)
    assert ann.attachment_kind == "photo" and ann.attachment_file_id.startswith("media:")
    media_id = ann.attachment_file_id.removeprefix("media:")
    page = await console.client.get(f"/announcements/{ann_id}")
    assert f'<img src="/media/{media_id}"' in page.text
    assert (await console.client.get(f"/media/{media_id}")).content == jpeg
    # Editing the words keeps the photo.
    await console.client.post(f"/announcements/{ann_id}", data={**FAIR, "title": "Hội chợ 2026", "csrf": csrf})
    assert (await _ann(console, ann_id)).attachment_file_id == f"media:{media_id}"

    await console.client.post(f"/announcements/{ann_id}/photo", data={"remove": "1", "csrf": csrf})
    assert (await _ann(console, ann_id)).attachment_file_id is None


async def test_more_zalo_people_than_the_months_quota_has_left_are_asked_about(console: Console) -> None:
    console.app.settings.zalo_monthly_quota = 1
    async with console.app.session_maker() as session:
        from bot.services import usage

        await usage.record(session, channel="zalo", moment=console.clock.now(), messages=1, tz=console.app.tz)
        await session.commit()
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    ann_id = await _draft(console, csrf)
    r = await console.client.post(f"/announcements/{ann_id}/send", data={"csrf": csrf})
    assert r.status_code == 200 and "Zalo" in r.text and 'name="answers" value="z"' in r.text
    assert await _rows(console, kind="announcement") == []
    r = await console.client.post(f"/announcements/{ann_id}/send", data={"answers": "z", "csrf": csrf})
    assert r.status_code == 303
    assert "z-77" in [row.chat_id for row in await _rows(console, kind="announcement")]


async def test_a_sent_fair_links_to_its_sign_ups_and_can_be_stopped(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await _csrf(console)
    ann_id = await _draft(console, csrf)
    await console.client.post(f"/announcements/{ann_id}/send", data={"csrf": csrf})
    page = await console.client.get(f"/announcements/{ann_id}")
    assert f'href="/announcements/{ann_id}/signups"' in page.text
    assert f'action="/announcements/{ann_id}/stop"' in page.text and 'name="title"' not in page.text
    r = await console.client.post(f"/announcements/{ann_id}/stop", data={"csrf": csrf})
    assert r.status_code == 303
    assert (await _ann(console, ann_id)).status == "stopped"
    assert {row.status for row in await _rows(console, kind="announcement")} == {"cancelled"}
    edit = await console.client.post(f"/announcements/{ann_id}", data={**FAIR, "csrf": csrf})
    assert edit.status_code == 303 and "error=" in edit.headers["location"]
