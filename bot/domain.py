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


class ParticipantStatus(StrEnum):
    """Where a sign-up to a fair or competition stands with the centre (staff move it in the console)."""

    REGISTERED = "registered"
    DOSSIER = "dossier"  # the dossier (hồ sơ) was received
    ACCEPTED = "accepted"
    REJECTED = "rejected"


PARTICIPANT_STATUS_LABELS: dict[ParticipantStatus, str] = {
    ParticipantStatus.REGISTERED: N_("Registered"),
    ParticipantStatus.DOSSIER: N_("Dossier received"),
    ParticipantStatus.ACCEPTED: N_("Accepted"),
    ParticipantStatus.REJECTED: N_("Not accepted"),
}

# What the new status means for the participant, said in its notification.
PARTICIPANT_STATUS_NEXT: dict[ParticipantStatus, str] = {
    ParticipantStatus.REGISTERED: N_("The centre has your sign-up and will contact you."),
    ParticipantStatus.DOSSIER: N_("The centre has received your dossier and is reviewing it; you will hear from us "
                                  "here."),
    ParticipantStatus.ACCEPTED: N_("Congratulations! The centre will contact you about the next steps."),
    ParticipantStatus.REJECTED: N_("Thank you for your interest. You can call the centre to talk it over."),
}

# Staff move a sign-up forward; "accepted" and "not accepted" are final.
PARTICIPANT_TRANSITIONS: dict[ParticipantStatus, tuple[ParticipantStatus, ...]] = {
    ParticipantStatus.REGISTERED: (ParticipantStatus.DOSSIER, ParticipantStatus.ACCEPTED, ParticipantStatus.REJECTED),
    ParticipantStatus.DOSSIER: (ParticipantStatus.ACCEPTED, ParticipantStatus.REJECTED),
    ParticipantStatus.ACCEPTED: (),
    ParticipantStatus.REJECTED: (),
}


class CertificationLevel(StrEnum):
    """The level at which a competition certified a product (sản phẩm CNNT tiêu biểu)."""

    PROVINCIAL = "provincial"  # cấp tỉnh
    REGIONAL = "regional"  # cấp khu vực
    NATIONAL = "national"  # cấp quốc gia


CERTIFICATION_LEVEL_LABELS: dict[CertificationLevel, str] = {
    CertificationLevel.PROVINCIAL: N_("Provincial level"),
    CertificationLevel.REGIONAL: N_("Regional level"),
    CertificationLevel.NATIONAL: N_("National level"),
}

# A certified product is recorded only for a participant the centre accepted.
CERTIFIABLE_STATUSES = (ParticipantStatus.ACCEPTED,)


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


# --- projects (đề án): approved needs grouped under one funding source, carried out, disbursed, post-checked ---


class FundingSource(StrEnum):
    NATIONAL = "national"  # Khuyến công quốc gia
    LOCAL = "local"  # Khuyến công địa phương (the provincial budget)
    NEW_COUNTRYSIDE = "ntm"  # Chương trình MTQG xây dựng nông thôn mới
    OTHER = "other"


FUNDING_SOURCE_LABELS: dict[FundingSource, str] = {
    FundingSource.NATIONAL: N_("National khuyến công budget"),
    FundingSource.LOCAL: N_("Provincial khuyến công budget"),
    FundingSource.NEW_COUNTRYSIDE: N_("New-countryside national target programme"),
    FundingSource.OTHER: N_("Other funding source"),
}


class ProjectStatus(StrEnum):
    APPROVED = "approved"
    IMPLEMENTING = "implementing"
    DISBURSED = "disbursed"
    POST_CHECKED = "post_checked"


PROJECT_STATUS_LABELS: dict[ProjectStatus, str] = {
    ProjectStatus.APPROVED: N_("Project approved"),
    ProjectStatus.IMPLEMENTING: N_("Being carried out"),
    ProjectStatus.DISBURSED: N_("Disbursed"),
    ProjectStatus.POST_CHECKED: N_("Post-checked"),
}

# Needs a project may take: approved ones (and those already supported, when a project is recorded late).
PROJECT_NEED_STATUSES = (NeedStatus.APPROVED, NeedStatus.COMPLETED)
