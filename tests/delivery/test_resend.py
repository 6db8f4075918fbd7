"""Staff can resend a finished broadcast to those it failed for; those whose delivery is unknown only after
a second confirmation that warns of second copies. "Unknown" is reported apart from "failed"."""

from datetime import timedelta
from typing import Any

from bot.channels.base import DeliveryUnknown, TransientError
from bot.channels.telegram import TelegramProgress
from bot.scheduler import Runtime, refresh_progress
from tests.conftest import ChatHarness, Person
from tests.updates.test_announcements import STAFF, compose, people

TITLE = "Tin tức khuyến công"


class FirstTryFails:
    """The first call to each listed chat fails as scripted; everything else reaches the real sender."""

    channel = "telegram"

    def __init__(self, inner: Any, failures: dict[str, Exception]) -> None:
        self.inner, self.failures = inner, failures

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> None:
        if chat_id in self.failures:
            raise self.failures.pop(chat_id)
        await self.inner.send(chat_id, text, payload)


def copies(chat: ChatHarness, p: Person) -> int:
    return sum(1 for c in chat.to(p) if c.method == "SendMessage" and TITLE in (c.text or ""))


async def test_resend_to_those_who_failed_and_to_unknown_only_after_a_warning(chat: ChatHarness) -> None:
    who = await people(chat)
    ann_id = await compose(chat, kind="general", title=TITLE, deadline=None)
    outbox = chat.app.outbox
    outbox.retry_span = timedelta(0)  # Telegram stayed down for the whole retry span
    outbox.senders["telegram"] = FirstTryFails(outbox.senders["telegram"], {
        str(who["owner_lx"].id): TransientError("Bad Gateway"),
        str(who["ctv"].id): DeliveryUnknown("Request timeout error")})
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    rt = Runtime(chat.app, TelegramProgress(chat.bot))
    await refresh_progress(rt)
    assert (copies(chat, who["owner_lx"]), copies(chat, who["ctv"]), copies(chat, who["owner_cd"])) == (0, 0, 1)
    listing = (await chat.send(STAFF, "/broadcasts"))[-1].text
    assert "sent 2/4, blocked 0, failed 1, unknown 1" in listing
    detail = (await chat.press(STAFF, f"an:o:{ann_id}:"))[-1]
    assert "Failed: 1" in detail.text and "Delivery unknown (not resent, to avoid a second copy): 1" in detail.text
    labels = [t for t, _ in detail.buttons()]
    assert "🔁 Resend to the 1 who failed" in labels and "⚠️ Resend to the 1 with unknown delivery…" in labels

    calls = await chat.press(STAFF, f"an:rsf:{ann_id}:")
    assert any(c.chat_id == STAFF.id and c.text.startswith("🔁 1 messages are queued again") for c in calls)
    await chat.deliver()
    await refresh_progress(rt)
    assert (copies(chat, who["owner_lx"]), copies(chat, who["ctv"])) == (1, 0)  # unknown not touched
    report = [c for c in chat.api.calls if c.method == "EditMessageText"][-1].text
    assert report.startswith("⚠️ Finished") and "Sent: 3 of 4" in report and "Failed: 0" in report

    warning = [c for c in await chat.press(STAFF, f"an:rsu:{ann_id}:") if c.chat_id == STAFF.id][-1]
    assert "some of these people will get a second copy" in warning.text
    await chat.deliver()
    assert copies(chat, who["ctv"]) == 0  # nothing queued before the second confirmation
    assert warning.buttons()[0] == ("Resend anyway (some may get it twice)", f"an:rsu:{ann_id}:yes")
    await chat.press(STAFF, f"an:rsu:{ann_id}:yes")
    await chat.deliver()
    await refresh_progress(rt)
    report = [c for c in chat.api.calls if c.method == "EditMessageText"][-1].text
    assert report.startswith("✅ Finished") and "Sent: 4 of 4" in report
    assert (copies(chat, who["owner_lx"]), copies(chat, who["ctv"]), copies(chat, who["owner_cd"])) == (1, 1, 1)
    refused = await chat.press(Person(6100, language_code="en"), f"an:rsf:{ann_id}:")
    assert "only available to staff" in refused[-1].params["text"]
