"""What a status notification says: the status in words, what happens next, the reason as typed, the centre."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.channels.text import TextRenderer
from bot.services.needs import status_reply
from storage.models import Facility, Need


def words(reply) -> str:
    return "\n".join(m.text for m in TextRenderer().render(reply).messages)


def test_a_decline_gives_the_reason_the_next_step_and_whom_to_call() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    need = Need(ref="NC-2026-0007", category="machinery", description="máy", status="declined",
                decline_reason="Thiếu <hồ sơ> & báo giá", created_at=now, updated_at=now)
    text = words(status_reply(need, None, "en", lambda m, _loc: m, ("0296 3852 123", "12 Tôn Đức Thắng")))
    assert text.startswith("Your need NC-2026-0007 (Advanced machinery and equipment) is now: Declined.")
    assert "Reason: Thiếu <hồ sơ> & báo giá" in text  # as typed: a text channel shows no markup at all
    assert "file a new request with /need" in text
    assert text.endswith("Khuyến công centre\nPhone: 0296 3852 123\nAddress: 12 Tôn Đức Thắng")


def test_a_collaborator_is_told_which_facility_it_is_for() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    need = Need(ref="NC-2026-0008", category="training", description="x", status="approved", created_at=now,
                updated_at=now)
    facility = Facility(name="Nước mắm Hưng Thịnh", commune_code=30307, sector="food", created_at=now, updated_at=now)
    text = words(status_reply(need, facility, "en", lambda m, _loc: m, ("", "")))
    assert text.startswith("The need NC-2026-0008 (") and "you filed for Nước mắm Hưng Thịnh is now: Approved" in text
    assert "The centre will contact you about the documents" in text and "Phone:" not in text
