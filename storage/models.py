"""Database tables. No relationships: repositories load what they need explicitly (async-safe)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
    event,
)
from sqlmodel import Field, SQLModel

from bot.text import search_text
from storage.types import UTCDateTime


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _fk(target: str, *, index: bool = True) -> Any:
    return Field(
        default=None,
        sa_column_args=[ForeignKey(target, ondelete="SET NULL")],
        nullable=True,
        index=index,
    )


class User(SQLModel, table=True):
    """A person (role, language, commune, consent, facility ownership). How channels know them is in
    `identities`; `channel`/`external_id` here are the identity notifications go to."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    # Channel user ids are kept as text: Zalo ids are not numbers.
    external_id: str = Field(max_length=64)
    full_name: str | None = Field(default=None, max_length=120)
    username: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=20)
    locale: str = Field(default="vi", max_length=8)
    role: str = Field(default="user", max_length=16, index=True)
    commune_code: int | None = Field(default=None, index=True)
    consent_at: datetime | None = _ts()
    unreachable_at: datetime | None = _ts()
    # /stop turns announcements off; replies about one's own needs and reminders still arrive.
    announcements_off: bool = Field(default=False)
    # Announcement topics the person follows; None means every topic.
    topics: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class Identity(SQLModel, table=True):
    """One channel account of a person (`telegram:123`, `zalo:6ede9afa…`); a person links several with /link."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identities_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], index=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    display_name: str | None = Field(default=None, max_length=120)
    created_at: datetime = _ts(nullable=False)
    last_seen_at: datetime | None = _ts()


@event.listens_for(User, "after_insert")
def _first_identity(mapper: Any, connection: Any, user: User) -> None:
    """Creating a person creates their identity (the address they were created with), wherever it happens."""
    connection.execute(Identity.__table__.insert().values(  # type: ignore[attr-defined]
        user_id=user.id, channel=user.channel, external_id=user.external_id, created_at=user.created_at))


class LinkCode(SQLModel, table=True):
    """A one-time code shown on one channel and typed on another to link both to one person (stored hashed)."""

    __tablename__ = "link_codes"

    code_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], index=True)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    used_at: datetime | None = _ts()


class LinkAttempt(SQLModel, table=True):
    """A wrong link code typed by one channel identity (counted to stop guessing)."""

    __tablename__ = "link_attempts"
    __table_args__ = (Index("ix_link_attempts_who", "channel", "external_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)


class Facility(SQLModel, table=True):
    __tablename__ = "facilities"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    owner_name: str | None = Field(default=None, max_length=80)
    phone: str | None = Field(default=None, max_length=20)
    commune_code: int = Field(index=True)
    sector: str = Field(max_length=16)
    products: str | None = Field(default=None, max_length=300)
    owner_user_id: int | None = Field(
        default=None,
        sa_column_args=[ForeignKey("users.id", ondelete="SET NULL")],
        nullable=True,
        unique=True,
    )
    created_by_user_id: int | None = _fk("users.id")
    consent_at: datetime | None = _ts()
    # fold(name, owner) and the phone's digits (bot.text.search_text), set on every ORM insert and update
    # (the listener below); a Core insert or update must set it itself (console_repos, repos).
    search_folded: str = Field(default="", max_length=300, sa_column_kwargs={"server_default": ""})
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


@event.listens_for(Facility, "before_insert")
@event.listens_for(Facility, "before_update")
def _fold_facility(_mapper: Any, _connection: Any, facility: Facility) -> None:
    facility.search_folded = search_text(facility.name, facility.owner_name, facility.phone)


class Need(SQLModel, table=True):
    __tablename__ = "needs"
    __table_args__ = (Index("ix_needs_status_created", "status", "created_at"),
                      # The dashboard's grouped figures of a period, from the index alone (migration 0024).
                      Index("ix_needs_summary", "category", "commune_code", "status", "created_at",
                            "est_cost_million", "own_contribution_million"))

    id: int | None = Field(default=None, primary_key=True)
    ref: str | None = Field(default=None, max_length=20, unique=True)
    facility_id: int | None = _fk("facilities.id")
    commune_code: int | None = Field(default=None, index=True)
    category: str = Field(max_length=16, index=True)
    description: str = Field(max_length=1000)
    machine: str | None = Field(default=None, max_length=200)
    est_cost_million: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    # The part of the machine's cost the facility pays itself (vốn đối ứng), in million đồng.
    own_contribution_million: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    desired_month: date | None = None
    attachment_file_id: str | None = Field(default=None, max_length=255)
    attachment_kind: str | None = Field(default=None, max_length=16)
    attachment_name: str | None = Field(default=None, max_length=255)
    status: str = Field(default="received", max_length=16)
    decline_reason: str | None = Field(default=None, max_length=500)
    registrant_user_id: int | None = _fk("users.id")
    filed_by_user_id: int | None = _fk("users.id")
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class NeedEvent(SQLModel, table=True):
    """Audit trail of status changes."""

    __tablename__ = "need_events"

    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(sa_column_args=[ForeignKey("needs.id", ondelete="CASCADE")], index=True)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    actor_user_id: int | None = _fk("users.id", index=False)
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = _ts(nullable=False)


class Invite(SQLModel, table=True):
    __tablename__ = "invites"

    token: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    commune_code: int | None = None
    created_by_user_id: int | None = _fk("users.id", index=False)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    used_at: datetime | None = _ts()
    used_by_user_id: int | None = _fk("users.id", index=False)


_conversation_version = Column("version", Integer, nullable=False, server_default="1")


class Conversation(SQLModel, table=True):
    """Where a user stands in a form; kept in the database so a restart loses nothing.

    `version` grows by one at every save, and a save checks it (SQLAlchemy's version counter: UPDATE … WHERE
    version = the one read): a save made from a stale read raises StaleDataError instead of overwriting what
    another process saved meanwhile (the pipeline then handles the event once more)."""

    __tablename__ = "conversations"
    __mapper_args__ = {"version_id_col": _conversation_version}

    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], primary_key=True)
    form: str = Field(max_length=32)
    step: str | None = Field(default=None, max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    history: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _ts(nullable=False)
    version: int = Field(default=1, sa_column=_conversation_version)


class OutboxMessage(SQLModel, table=True):
    """One outgoing message to one recipient; the only path by which the product notifies anyone."""

    __tablename__ = "outbox"
    # The claim reads a channel's pending rows by priority, then in queue order.
    __table_args__ = (Index("ix_outbox_status_due", "status", "next_attempt_at"),
                      Index("ix_outbox_claim", "status", "channel", "priority", "id"))

    # BIGINT on PostgreSQL (broadcasts add a row per recipient); SQLite needs INTEGER for rowid.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    )
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64, sa_type=String(64), index=True)
    user_id: int | None = _fk("users.id")
    kind: str = Field(max_length=24)
    # Lower goes first (bot.domain.Priority): replies, then notifications, reminders, bulk announcements.
    priority: int = Field(default=1, sa_column=Column(SmallInteger, nullable=False, server_default="1"))
    text: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _ts(nullable=False)
    last_error: str | None = Field(default=None, max_length=500)
    dedupe_key: str | None = Field(default=None, max_length=128, unique=True)
    announcement_id: int | None = Field(
        default=None, sa_column_args=[ForeignKey("announcements.id", ondelete="SET NULL")], nullable=True, index=True
    )
    claimed_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)
    sent_at: datetime | None = _ts()
    # Transient errors are retried until RETRY_HOURS after this (created_at when NULL; a staff resend resets it).
    retry_from: datetime | None = _ts()


class Announcement(SQLModel, table=True):
    """A fair, competition, call, course or news item sent to a targeted audience."""

    __tablename__ = "announcements"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    title: str = Field(max_length=200)
    body: str = Field(max_length=3000)
    place: str | None = Field(default=None, max_length=200)
    starts_on: date | None = None
    ends_on: date | None = None
    deadline_on: date | None = None
    attachment_file_id: str | None = Field(default=None, max_length=255)
    attachment_kind: str | None = Field(default=None, max_length=16)
    # Who receives it: {"roles": [...], "communes": [...], "sectors": [...], "topic": bool}
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Follow-up questions asked on sign-up (fairs and competitions).
    questions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Deadline reminders: days before the deadline, and whether people who have not answered get them too.
    reminder_days: list[int] = Field(default_factory=lambda: [7, 3, 1], sa_column=Column(JSON, nullable=False))
    remind_unanswered: bool = Field(default=False)
    # Places (e.g. 12 booths) for fairs and competitions; sign-ups past it wait in order. None: no limit.
    capacity: int | None = None
    status: str = Field(default="draft", max_length=16, index=True)
    scheduled_at: datetime | None = _ts(index=True)
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    recipients: int = 0
    created_by_user_id: int | None = _fk("users.id", index=False)
    # The staff member's progress message, edited while sending.
    progress_chat_id: str | None = Field(default=None, max_length=64)
    progress_message_id: int | None = None
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class SavedAudience(SQLModel, table=True):
    """A named audience staff keep for later announcements (the criteria of `Audience.as_dict`)."""

    __tablename__ = "saved_audience"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    criteria: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: int | None = _fk("users.id", index=False)
    created_at: datetime = _ts(nullable=False)


class Signup(SQLModel, table=True):
    """A recipient's answer to a fair or competition: signed up (with answers) or not interested."""

    __tablename__ = "signups"
    __table_args__ = (UniqueConstraint("announcement_id", "user_id", name="uq_signups_announcement_user"),)

    id: int | None = Field(default=None, primary_key=True)
    announcement_id: int = Field(sa_column_args=[ForeignKey("announcements.id", ondelete="CASCADE")], index=True)
    user_id: int | None = _fk("users.id")
    status: str = Field(max_length=16)  # "signed_up" | "declined"
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # When what the announcement requires is done (e.g. the competition dossier handed in).
    completed_at: datetime | None = _ts()
    # When this sign-up (last) became "signed_up": the order of places and of the waiting list.
    signed_up_at: datetime | None = _ts()
    # Where the sign-up stands with the centre (bot.domain.ParticipantStatus), set by staff.
    participant_status: str = Field(default="registered", max_length=16)
    participant_changed_at: datetime | None = _ts()
    participant_changed_by_user_id: int | None = _fk("users.id", index=False)
    participant_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class CertifiedProduct(SQLModel, table=True):
    """A product a competition certified (sản phẩm CNNT tiêu biểu), recorded by staff on a participant's
    sign-up, at one level (bot.domain.CertificationLevel). The commune is the participant's when it was recorded,
    so the report's commune figures keep it after the person erased their data (/forget unlinks the sign-up,
    which stays, and the product with it). Careful: a migration that copies `signups` on SQLite (batch mode)
    would drop the table and take these rows with it (ON DELETE CASCADE): alter `signups` in place."""

    __tablename__ = "certified_products"

    id: int | None = Field(default=None, primary_key=True)
    signup_id: int = Field(sa_column_args=[ForeignKey("signups.id", ondelete="CASCADE")], index=True)
    name: str = Field(max_length=200)
    level: str = Field(max_length=16)
    certified_on: date
    commune_code: int | None = Field(default=None, index=True)
    recorded_by_user_id: int | None = _fk("users.id", index=False)
    created_at: datetime = _ts(nullable=False)


class ThrottleBucket(SQLModel, table=True):
    """One person's flood-throttle bucket, shared by every process on PostgreSQL (bot/services/throttle.py)."""

    __tablename__ = "throttle"

    key: str = Field(primary_key=True, max_length=80)
    tokens: float = 0.0
    refilled_at: float = 0.0  # seconds since the epoch (the upsert's arithmetic stays plain)
    state: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0"))


class SeenUpdate(SQLModel, table=True):
    """A channel's update (Telegram's update_id, Zalo's message_id) already handled: inserted in the unit of work
    that handles it, so an update delivered again (a webhook POST that got no answer, tried on another process)
    is handled once across every process, and its replies are sent again rather than lost. Pruned by the
    scheduler's leader once older than a day."""

    __tablename__ = "seen_updates"

    channel: str = Field(primary_key=True, max_length=16)
    update_id: str = Field(primary_key=True, max_length=64)
    seen_at: datetime = _ts(nullable=False, index=True)
    # The replies the turn sent (as outbox payloads), until a delivery again hands them to the outbox: the
    # process that handled the update may have died before sending them.
    replies: list[Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class SendBudget(SQLModel, table=True):
    """The shared token bucket that keeps all sender processes together under the global rate."""

    __tablename__ = "send_budget"

    name: str = Field(primary_key=True, max_length=32)
    tokens: float = 0.0
    refilled_at: datetime = _ts(nullable=False)
    paused_until: datetime | None = _ts()
    # Set while the channel is unreachable (several transient errors in a row): broadcasts show "paused".
    down_since: datetime | None = _ts()


class ChannelUsage(SQLModel, table=True):
    """Messages the bot sent on a channel in a local calendar month (Zalo's plan has a monthly quota)."""

    __tablename__ = "channel_usage"

    channel: str = Field(primary_key=True, max_length=16)
    month: str = Field(primary_key=True, max_length=7)  # "2026-12", local time
    messages: int = 0


class Reminder(SQLModel, table=True):
    """One reminder to one person at one time; the tick turns due rows into outbox messages."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # deadline | eve | report
    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], index=True)
    announcement_id: int | None = Field(
        default=None, sa_column_args=[ForeignKey("announcements.id", ondelete="CASCADE")], nullable=True, index=True
    )
    schedule_id: int | None = Field(
        default=None, sa_column_args=[ForeignKey("report_schedules.id", ondelete="CASCADE")], nullable=True,
        index=True,
    )
    period: str | None = Field(default=None, max_length=16)  # report period, e.g. 2026-03 or 2026-Q1
    days_before: int = 0
    audience: str = Field(default="signed_up", max_length=16)  # signed_up | unanswered | collaborator
    due_at: datetime = _ts(nullable=False)
    status: str = Field(default="pending", max_length=16)  # pending | queued | missed | cancelled
    dedupe_key: str = Field(max_length=128, unique=True)
    created_at: datetime = _ts(nullable=False)
    handled_at: datetime | None = _ts()


class ReportSchedule(SQLModel, table=True):
    """A recurring collaborator report: monthly on a day, or quarterly (that day of a quarter's last month)."""

    __tablename__ = "report_schedules"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=120)
    frequency: str = Field(max_length=16)  # monthly | quarterly
    day: int
    reminder_days: list[int] = Field(default_factory=lambda: [3, 1], sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_by_user_id: int | None = _fk("users.id", index=False)
    created_at: datetime = _ts(nullable=False)


class ReportSubmission(SQLModel, table=True):
    __tablename__ = "report_submissions"
    __table_args__ = (UniqueConstraint("schedule_id", "period", "user_id", name="uq_report_once_per_period"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(sa_column_args=[ForeignKey("report_schedules.id", ondelete="CASCADE")], index=True)
    period: str = Field(max_length=16)
    user_id: int | None = _fk("users.id")
    commune_code: int | None = None
    facilities_visited: int = 0
    needs_collected: int = 0
    notes: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _ts(nullable=False)


class DigestRun(SQLModel, table=True):
    """One staff digest per local day, recorded so a restart never sends it twice."""

    __tablename__ = "digest_runs"

    day: date = Field(primary_key=True)
    covered_until: datetime = _ts(nullable=False)
    created_at: datetime = _ts(nullable=False)


class Question(SQLModel, table=True):
    """A question a registered person sent to the centre in their own words (offered when the bot did not
    understand them); staff answer it in the console (the answer goes through the outbox) or close it."""

    __tablename__ = "questions"
    __table_args__ = (Index("ix_questions_status_created", "status", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = _fk("users.id")  # empty once the person erased their data (/forget)
    channel: str = Field(max_length=16)  # where it was asked
    text: str = Field(max_length=4000)  # the person's words, as typed
    status: str = Field(default="open", max_length=16)  # open | answered | closed
    created_at: datetime = _ts(nullable=False)
    answered_at: datetime | None = _ts()
    answered_by_user_id: int | None = _fk("users.id", index=False)
    answer: str | None = Field(default=None, max_length=2000)


class PendingMenu(SQLModel, table=True):
    """The numbers a text-only channel last showed a person ("1" → an action), per channel identity, so a
    typed "2" means what that person saw — also after a restart."""

    __tablename__ = "pending_menus"

    channel: str = Field(primary_key=True, max_length=16)
    external_id: str = Field(primary_key=True, max_length=64)
    items: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _ts(nullable=False)


class Media(SQLModel, table=True):
    """A file someone sent on any channel, kept in our media folder under `id` (bot/media.py); each
    channel's own id for it once known (Telegram's file_id), so it is re-sent without uploading again."""

    __tablename__ = "media"

    id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=16)  # "photo" | "document"
    name: str | None = Field(default=None, max_length=255)
    size: int
    sha256: str = Field(max_length=64, index=True)
    channel_ids: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)


# --- staff web console ---


class StaffCredential(SQLModel, table=True):
    """A staff member's console password (argon2) and the login name they type."""

    __tablename__ = "staff_credentials"

    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], primary_key=True)
    login: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=255)
    updated_at: datetime = _ts(nullable=False)


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds the token, the table its SHA-256."""

    __tablename__ = "web_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    ended_at: datetime | None = _ts()


class LoginCode(SQLModel, table=True):
    """A one-time sign-in code sent to a staff member's chat; stored hashed, single use."""

    __tablename__ = "login_codes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column_args=[ForeignKey("users.id", ondelete="CASCADE")], index=True)
    code_hash: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    used_at: datetime | None = _ts()


class LoginAttempt(SQLModel, table=True):
    """Sign-in attempts, counted per account and per address for the rate limit."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=96)  # "account:<login>" or "ip:<address>"
    ok: bool = Field(default=False)
    created_at: datetime = _ts(nullable=False)


class AuditEntry(SQLModel, table=True):
    """Every staff action in the console: who, when, what, on which item."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_kind", "target_id"),)

    id: int | None = Field(default=None, primary_key=True)
    actor_user_id: int | None = _fk("users.id")
    action: str = Field(max_length=32)
    target_kind: str | None = Field(default=None, max_length=16)
    target_id: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False, index=True)


class NeedNote(SQLModel, table=True):
    """An internal note on a need, seen only by staff."""

    __tablename__ = "need_notes"

    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(sa_column_args=[ForeignKey("needs.id", ondelete="CASCADE")], index=True)
    author_user_id: int | None = _fk("users.id", index=False)
    text: str = Field(max_length=2000)
    created_at: datetime = _ts(nullable=False)


# --- projects (đề án) ---


class Project(SQLModel, table=True):
    """A khuyến công project (đề án): approved needs under one funding source, with its decision date and year,
    followed through implementation, disbursement and post-check. Amounts live on its needs (ProjectNeed)."""

    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_source_year", "funding_source", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    decision: str | None = Field(default=None, max_length=60)  # the approving decision's number, e.g. 123/QĐ-SCT
    funding_source: str = Field(max_length=16)
    year: int
    approved_on: date = Field(index=True)  # the decision's date: what a report period counts by
    status: str = Field(default="approved", max_length=16, index=True)
    note: str | None = Field(default=None, max_length=1000)
    created_by_user_id: int | None = _fk("users.id", index=False)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class ProjectNeed(SQLModel, table=True):
    """An approved need in a project, with the support the project gives it and the facility's own
    contribution (vốn đối ứng, the investment mobilised) as approved; a need is in one project at most."""

    __tablename__ = "project_needs"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column_args=[ForeignKey("projects.id", ondelete="CASCADE")], index=True)
    need_id: int = Field(sa_column_args=[ForeignKey("needs.id", ondelete="CASCADE")], unique=True)
    support_million: Decimal = Field(sa_type=Numeric(14, 2))
    own_contribution_million: Decimal = Field(default=Decimal(0), sa_type=Numeric(14, 2))
    added_by_user_id: int | None = _fk("users.id", index=False)
    added_at: datetime = _ts(nullable=False)
