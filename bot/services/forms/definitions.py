"""Every form of the product, declared once as data."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.domain import CATEGORY_LABELS, KIND_LABELS, SECTOR_LABELS, NeedCategory, Role
from bot.i18n_marker import N_, Text
from bot.services.forms.engine import Choice, Field, FieldKind, Form
from bot.services.validation import format_million

SECTOR_CHOICES = tuple(Choice(s.value, label) for s, label in SECTOR_LABELS.items())
CATEGORY_CHOICES = tuple(Choice(c.value, label) for c, label in CATEGORY_LABELS.items())
NEW_FACILITY = "new"
STAFF = frozenset({Role.STAFF.value})
COLLABORATOR = frozenset({Role.COLLABORATOR.value})


def _is_machinery(data: dict) -> bool:
    return data.get("category") == NeedCategory.MACHINERY


def _new_facility(data: dict) -> bool:
    return data.get("facility") == NEW_FACILITY


def _within_cost(value: str, data: Mapping[str, Any]) -> Text | None:
    """The facility's own contribution is part of the machine's cost: never more than the estimated cost."""
    cost = data.get("est_cost")
    if cost is None or Decimal(value) <= Decimal(cost):
        return None
    return Text(N_("The own contribution you typed, {contribution} million đồng, is more than the estimated cost "
                   "({cost} million đồng). Please type an amount from 0 to {cost} million đồng, or skip this "
                   "question."),
                {"contribution": format_million(Decimal(value)), "cost": format_million(Decimal(cost))})


def _covers_contribution(value: str, data: Mapping[str, Any]) -> Text | None:
    """A changed estimated cost may not fall below the own contribution already given."""
    own = data.get("own_contribution")
    if own is None or Decimal(value) >= Decimal(own):
        return None
    return Text(N_("The estimated cost you typed, {cost} million đồng, is less than the facility's own "
                   "contribution ({contribution} million đồng). Please type at least {contribution} million đồng, "
                   "or go back and change the own contribution first."),
                {"contribution": format_million(Decimal(own)), "cost": format_million(Decimal(value))})


FACILITY_NAME = Field(
    "facility_name", FieldKind.TEXT,
    prompt=N_("What is the name of your facility? For example: Cơ sở nước mắm Hưng Thịnh."),
    label=N_("Facility"), max_length=120, needs_letters=True,
)
OWNER_NAME = Field(
    "owner_name", FieldKind.TEXT,
    prompt=N_("What is the owner's full name?"), label=N_("Owner"), max_length=80, needs_letters=True,
)
PHONE = Field(
    "phone", FieldKind.PHONE,
    prompt=N_("What is your phone number? Type it, e.g. 0912 345 678."),
    label=N_("Phone"),
)
COMMUNE = Field(
    "commune", FieldKind.LOOKUP, lookup="commune",
    prompt=N_("Which commune or ward is the facility in? Type part of the name, e.g. “long xuyen”."),
    label=N_("Commune/ward"),
)
SECTOR = Field(
    "sector", FieldKind.CHOICE, choices=SECTOR_CHOICES,
    prompt=N_("Which sector does the facility work in?"), label=N_("Sector"),
)
PRODUCTS = Field(
    "products", FieldKind.TEXT,
    prompt=N_("What are your main products? For example: nước mắm, khô cá, mắm cá linh."),
    label=N_("Main products"), max_length=300, needs_letters=True,
)
CONSENT = Field(
    "consent", FieldKind.CHOICE,
    choices=(Choice("yes", N_("I agree")), Choice("no", N_("I do not agree"))),
    prompt=N_(
        "The khuyến công centre stores these details only to contact you about support programmes "
        "and to review your needs. You can see or delete them at any time with /mydata and /forget. "
        "Do you agree?"
    ),
    label=N_("Consent to store personal data"),
    refuse={"no": N_("We can only register your facility with your consent. Choose “I agree” to continue, "
                     "or Cancel to stop — nothing has been saved.")},
)

REGISTER = Form(
    "register", N_("Facility registration"),
    (FACILITY_NAME, OWNER_NAME, PHONE, COMMUNE, SECTOR, PRODUCTS, CONSENT),
)

# Editing one's facility (/profile): the registration's questions without the consent, already given.
PROFILE = Form(
    "profile", N_("Your facility's details"),
    (FACILITY_NAME, OWNER_NAME, PHONE, COMMUNE, SECTOR, PRODUCTS),
)

JOIN = Form(
    "join", N_("Collaborator confirmation"),
    (
        Field("full_name", FieldKind.TEXT, prompt=N_("Please confirm your full name."), label=N_("Full name"),
              max_length=80, needs_letters=True),
        PHONE,
    ),
)

FACILITY_PICK = Field(
    "facility", FieldKind.LOOKUP, lookup="facility",
    prompt=N_("Which facility is this need for? Choose below, type part of its name, or add a new one."),
    label=N_("Facility"),
)
NEW_FACILITY_FIELDS = (
    Field("new_name", FieldKind.TEXT, prompt=N_("Name of the new facility?"), label=N_("New facility"),
          max_length=120, needs_letters=True, when=_new_facility),
    Field("new_owner", FieldKind.TEXT, prompt=N_("Owner's full name?"), label=N_("Owner"), max_length=80,
          needs_letters=True, when=_new_facility),
    Field("new_phone", FieldKind.PHONE, prompt=N_("Owner's phone number? (You can skip this.)"),
          label=N_("Phone"), optional=True, when=_new_facility, own_phone=False),
    Field("new_sector", FieldKind.CHOICE, choices=SECTOR_CHOICES, prompt=N_("Sector of the facility?"),
          label=N_("Sector"), when=_new_facility),
)
NEED_FIELDS = (
    Field("category", FieldKind.CHOICE, choices=CATEGORY_CHOICES,
          prompt=N_("What kind of support do you need?"), label=N_("Kind of need")),
    Field("description", FieldKind.TEXT, max_length=1000, needs_letters=True, multiline=True,
          prompt=N_("Describe the need in a few sentences: what you want to do and why."),
          label=N_("Description")),
    Field("machine", FieldKind.TEXT, max_length=200, needs_letters=True, when=_is_machinery,
          prompt=N_("Which machine or equipment? For example: máy sấy lạnh 500 kg/mẻ."),
          label=N_("Machine/equipment")),
    Field("est_cost", FieldKind.MONEY, when=_is_machinery, check=_covers_contribution,
          prompt=N_("Estimated cost, in million đồng? For example: 150 or 12,5."),
          label=N_("Estimated cost (million đồng)")),
    Field("own_contribution", FieldKind.MONEY, when=_is_machinery, optional=True, zero_ok=True,
          check=_within_cost,
          prompt=N_("How much of this cost will the facility pay itself (own contribution), in million đồng? "
                    "For example: 50, or 0 if nothing. You can skip this if it is not decided yet."),
          label=N_("Own contribution (million đồng)")),
    Field("desired_month", FieldKind.MONTH,
          prompt=N_("When would you like the support? Type month/year, e.g. {month_example}."),
          label=N_("Desired time")),
    Field("attachment", FieldKind.FILE, optional=True,
          prompt=N_("You can send a photo or document (quotation, product photo), or choose Skip."),
          label=N_("Attachment")),
)

NEED = Form("need", N_("New need"), NEED_FIELDS)
NEED_PROXY = Form("need_proxy", N_("New need for a facility"), (FACILITY_PICK, *NEW_FACILITY_FIELDS, *NEED_FIELDS),
                  roles=COLLABORATOR)

DECLINE = Form(
    "decline", N_("Decline a need"),
    (Field("reason", FieldKind.TEXT, max_length=500, needs_letters=True, multiline=True,
           prompt=N_("Why is this need declined? The registrant will see this reason."),
           label=N_("Reason")),),
    confirm=False, roles=STAFF,
)

FORMS = {f.name: f for f in (REGISTER, PROFILE, JOIN, NEED, NEED_PROXY, DECLINE)}

INVITE = Form(
    "invite", N_("Invitation link"),
    (
        Field("role", FieldKind.CHOICE,
              choices=(Choice("collaborator", N_("Collaborator of a commune")), Choice("staff", N_("Staff member"))),
              prompt=N_("Who is this invitation for?"), label=N_("Role")),
        Field("commune", FieldKind.LOOKUP, lookup="commune", when=lambda d: d.get("role") == "collaborator",
              prompt=N_("Which commune or ward will the collaborator cover? Type part of the name."),
              label=N_("Commune/ward")),
    ),
    confirm=False, roles=STAFF,
)
FORMS[INVITE.name] = INVITE

# --- announcements ---

KIND_CHOICES = tuple(Choice(k.value, label) for k, label in KIND_LABELS.items())


def _ends_after_start(value: str, data: dict) -> str | None:
    if data.get("starts_on") and value < data["starts_on"]:
        return N_("The end date cannot be before the start date.")
    return None


ANNOUNCE = Form(
    "announce", N_("New announcement"),
    (
        Field("kind", FieldKind.CHOICE, choices=KIND_CHOICES, prompt=N_("What kind of announcement is it?"),
              label=N_("Kind")),
        Field("title", FieldKind.TEXT, max_length=200, needs_letters=True, label=N_("Title"),
              prompt=N_("Title? For example: Hội chợ hàng CNNT khu vực phía Nam 2026.")),
        Field("body", FieldKind.TEXT, max_length=3000, needs_letters=True, html=True, multiline=True, label=N_("Text"),
              prompt=N_("The text of the announcement. You may use <b>bold</b> and <i>italic</i>.")),
        Field("place", FieldKind.TEXT, max_length=200, optional=True, label=N_("Place"),
              prompt=N_("Where does it take place? (or Skip)")),
        Field("starts_on", FieldKind.DATE, optional=True, label=N_("Start date"),
              prompt=N_("Start date, like {date_example} (or Skip)")),
        Field("ends_on", FieldKind.DATE, optional=True, label=N_("End date"), check=_ends_after_start,
              when=lambda d: bool(d.get("starts_on")), prompt=N_("End date, like {date_example_later} (or Skip)")),
        Field("deadline_on", FieldKind.DATE, optional=True, label=N_("Deadline"),
              prompt=N_("Deadline for registration or dossiers, like {deadline_example} (or Skip)")),
        Field("attachment", FieldKind.FILE, optional=True, label=N_("Photo or PDF"),
              prompt=N_("You can attach a photo or a PDF (or Skip).")),
        Field("questions", FieldKind.TEXT, optional=True, max_length=1000, multiline=True,
              label=N_("Sign-up questions"),
              when=lambda d: d.get("kind") in ("fair", "competition"),
              prompt=N_("Questions to ask people who sign up, one per line (up to 5). For example: "
                        "“Products to exhibit?” Or Skip.")),
        Field("capacity", FieldKind.NUMBER, optional=True, maximum=100_000, label=N_("Places"),
              when=lambda d: d.get("kind") in ("fair", "competition"),
              check=lambda v, d: None if v >= 1 else N_("Please type at least 1 place, or Skip for no limit."),
              prompt=N_("How many places are there (e.g. booths)? Sign-ups past that number go on a waiting list. "
                        "Or Skip for no limit.")),
    ),
    roles=STAFF,
)
SCHEDULE = Form(
    "schedule", N_("Schedule"),
    (Field("when", FieldKind.DATETIME, label=N_("Send at"),
           prompt=N_("When should it be sent? Type local date and time, like 31/3/2026 08:00.")),),
    confirm=False, roles=STAFF,
)
ANN_COMMUNE = Form(
    "ann_commune", N_("Add a commune"),
    (Field("commune", FieldKind.LOOKUP, lookup="commune", label=N_("Commune/ward"),
           prompt=N_("Type part of a commune or ward name to add it to the audience.")),),
    confirm=False, roles=STAFF,
)
for _form in (ANNOUNCE, SCHEDULE, ANN_COMMUNE):
    FORMS[_form.name] = _form

# --- reminders and reports ---

NEW_DEADLINE = Form(
    "new_deadline", N_("Change the deadline"),
    (Field("deadline_on", FieldKind.DATE, label=N_("Deadline"),
           prompt=N_("New deadline, like 31/3/2026? Reminders will move with it.")),),
    confirm=False, roles=STAFF,
)
REMINDER_DAYS = Form(
    "reminder_days", N_("Reminder days"),
    (Field("days", FieldKind.DAYS, label=N_("Days before the deadline"),
           prompt=N_("How many days before the deadline should reminders go out? For example: 7, 3, 1")),),
    confirm=False, roles=STAFF,
)
REPORT_SCHEDULE = Form(
    "report_schedule", N_("Collaborator report deadline"),
    (
        Field("title", FieldKind.TEXT, max_length=120, needs_letters=True, label=N_("Title"),
              prompt=N_("Name of the report? For example: Báo cáo tháng của CTV.")),
        Field("frequency", FieldKind.CHOICE, label=N_("How often"),
              choices=(Choice("monthly", N_("Every month")), Choice("quarterly", N_("Every quarter"))),
              prompt=N_("How often is it due?")),
        Field("day", FieldKind.NUMBER, maximum=28, label=N_("Day of the month"),
              check=lambda v, d: None if 1 <= v <= 28 else N_("Please choose a day from 1 to 28."),
              prompt=N_("On which day of the month is it due (1–28)? Quarterly reports are due on that day of "
                        "March, June, September and December.")),
        Field("reminder_days", FieldKind.DAYS, label=N_("Reminders"),
              prompt=N_("How many days before should collaborators be reminded? For example: 3, 1")),
    ),
    roles=STAFF,
)
REPORT = Form(
    "report", N_("Collaborator report"),
    (
        Field("facilities_visited", FieldKind.NUMBER, maximum=10_000, label=N_("Facilities visited"),
              prompt=N_("How many facilities did you visit in this period?")),
        Field("needs_collected", FieldKind.NUMBER, maximum=10_000, label=N_("Needs collected"),
              prompt=N_("How many needs did you collect?")),
        Field("notes", FieldKind.TEXT, optional=True, max_length=1000, multiline=True, label=N_("Notes"),
              prompt=N_("Anything to tell the centre? (or Skip)")),
    ),
    roles=COLLABORATOR,
)
for _form in (NEW_DEADLINE, REMINDER_DAYS, REPORT_SCHEDULE, REPORT):
    FORMS[_form.name] = _form
