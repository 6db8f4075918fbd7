"""The programme's vocabulary: roles, sectors, need categories and the review workflow."""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum, StrEnum

from bot.i18n_marker import N_


class Role(StrEnum):
    USER = "user"  # a facility owner, or anyone not yet registered
    COLLABORATOR = "collaborator"
    STAFF = "staff"


class Sector(StrEnum):
    FOOD = "food"
    HANDICRAFT = "handicraft"
    MECHANICS = "mechanics"
    TEXTILE = "textile"
    CONSTRUCTION = "construction"
    OTHER = "other"


SECTOR_LABELS: dict[Sector, str] = {
    Sector.FOOD: N_("Food processing"),
    Sector.HANDICRAFT: N_("Handicrafts"),
    Sector.MECHANICS: N_("Mechanics"),
    Sector.TEXTILE: N_("Textiles and garments"),
    Sector.CONSTRUCTION: N_("Construction materials"),
    Sector.OTHER: N_("Other sector"),
}


class NeedCategory(StrEnum):
    MACHINERY = "machinery"
    TECHNOLOGY = "technology"
    CLEANER = "cleaner"
    FAIR = "fair"
    COMPETITION = "competition"
    TRAINING = "training"
    CONSULTING = "consulting"
    OTHER = "other"


CATEGORY_LABELS: dict[NeedCategory, str] = {
    NeedCategory.MACHINERY: N_("Advanced machinery and equipment"),
    NeedCategory.TECHNOLOGY: N_("Technology transfer, demonstration model"),
    NeedCategory.CLEANER: N_("Cleaner production, pollution treatment"),
    NeedCategory.FAIR: N_("Trade fair or exhibition"),
    NeedCategory.COMPETITION: N_("Typical rural industrial product competition"),
    NeedCategory.TRAINING: N_("Training and management skills"),
    NeedCategory.CONSULTING: N_("Consulting: brand, packaging, e-commerce, traceability"),
    NeedCategory.OTHER: N_("Other need"),
}


class NeedStatus(StrEnum):
    RECEIVED = "received"
    SURVEYED = "surveyed"
    APPROVED = "approved"
    COMPLETED = "completed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


STATUS_LABELS: dict[NeedStatus, str] = {
    NeedStatus.RECEIVED: N_("Received"),
    NeedStatus.SURVEYED: N_("Surveyed on site"),
    NeedStatus.APPROVED: N_("Approved (in a project or plan)"),
    NeedStatus.COMPLETED: N_("Supported / completed"),
    NeedStatus.DECLINED: N_("Declined"),
    NeedStatus.WITHDRAWN: N_("Withdrawn"),
}

# What a status means for the owner and what happens next, said in every status notification.
STATUS_NEXT: dict[NeedStatus, str] = {
    NeedStatus.RECEIVED: N_("The centre has your request again and will review it; you will hear from us here."),
    NeedStatus.SURVEYED: N_("The centre's staff have looked at your facility. They are now deciding whether your "
                            "request can go into this year's plan; you will hear from us here."),
    NeedStatus.APPROVED: N_("Your request is in the centre's plan. The centre will contact you about the documents "
                            "and the next steps."),
    NeedStatus.COMPLETED: N_("The support has been given. Thank you for working with the khuyến công centre."),
    NeedStatus.DECLINED: N_("The centre cannot support this request now. You can file a new request with /need, "
                            "or call the centre to talk it over."),
    NeedStatus.WITHDRAWN: N_("The centre has stopped reviewing this request."),
}

# Staff move a need forward one step at a time, or decline it with a reason while it is open.
TRANSITIONS: dict[NeedStatus, tuple[NeedStatus, ...]] = {
    NeedStatus.RECEIVED: (NeedStatus.SURVEYED, NeedStatus.DECLINED),
    NeedStatus.SURVEYED: (NeedStatus.APPROVED, NeedStatus.DECLINED),
    NeedStatus.APPROVED: (NeedStatus.COMPLETED, NeedStatus.DECLINED),
    NeedStatus.COMPLETED: (),
    NeedStatus.DECLINED: (),
    NeedStatus.WITHDRAWN: (),
}


class QuestionStatus(StrEnum):
    """A question a registered person sent to the centre from the bot ("send this as a question")."""

    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"  # dealt with without an answer through the bot (or its person erased their data)


QUESTION_STATUS_LABELS: dict[QuestionStatus, str] = {
    QuestionStatus.OPEN: N_("Waiting for an answer"),
    QuestionStatus.ANSWERED: N_("Answered"),
    QuestionStatus.CLOSED: N_("Closed"),
}


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"
    # The request may have left (timeout, dropped connection, crash mid-send): never resent.
    UNKNOWN = "unknown"


class Priority(IntEnum):
    """An outbox row's place in the queue: lower is claimed first (within a priority, in queue order)."""

    REPLY = 0  # a reply to what the person just did, queued because it could not be sent at once
    NOTICE = 1  # status changes, test copies, sign-in codes, answers, reports
    REMINDER = 2  # reminders and digests
    BULK = 5  # announcement sends to an audience


class AnnouncementKind(StrEnum):
    FAIR = "fair"
    COMPETITION = "competition"
    CALL = "call"
    TRAINING = "training"
    POLICY = "policy"
    GENERAL = "general"


KIND_LABELS: dict[AnnouncementKind, str] = {
    AnnouncementKind.FAIR: N_("Trade fair / exhibition"),
    AnnouncementKind.COMPETITION: N_("Product competition"),
    AnnouncementKind.CALL: N_("Call for project proposals"),
    AnnouncementKind.TRAINING: N_("Training course"),
    AnnouncementKind.POLICY: N_("Policy news"),
    AnnouncementKind.GENERAL: N_("General announcement"),
}

# Topics people subscribe to; a general announcement has no topic and reaches its whole audience.
TOPICS: tuple[AnnouncementKind, ...] = (
    AnnouncementKind.FAIR, AnnouncementKind.COMPETITION, AnnouncementKind.CALL, AnnouncementKind.TRAINING,
    AnnouncementKind.POLICY,
)
SIGNUP_KINDS = frozenset({AnnouncementKind.FAIR, AnnouncementKind.COMPETITION})


class AnnouncementStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    STOPPED = "stopped"
    CANCELLED = "cancelled"


ANNOUNCEMENT_STATUS_LABELS: dict[AnnouncementStatus, str] = {
    AnnouncementStatus.DRAFT: N_("Draft"),
    AnnouncementStatus.SCHEDULED: N_("Scheduled"),
    AnnouncementStatus.SENDING: N_("Sending"),
    AnnouncementStatus.SENT: N_("Sent"),
    AnnouncementStatus.STOPPED: N_("Stopped"),
    AnnouncementStatus.CANCELLED: N_("Cancelled"),
}

# Audience roles as staff choose them; "facility" means owners and anyone not yet registered.
AUDIENCE_ROLES = ("facility", "collaborator", "staff")
AUDIENCE_ROLE_LABELS = {
    "facility": N_("Facilities"),
    "collaborator": N_("Collaborators"),
    "staff": N_("Staff"),
}


# What /forget leaves in place of personal free text (need descriptions, sign-up answers, report notes,
# questions to the centre and their answers).
# Stored as this message id and translated where it is shown, so the row and its counts stay.
ERASED = N_("(erased at the person's request)")


def shown(text: str | None, translate: Callable[[str], str]) -> str:
    """Stored free text as it is shown: the erasure marker in the reader's language, anything else as is."""
    if text is None:
        return ""
    return translate(ERASED) if text == ERASED else text
