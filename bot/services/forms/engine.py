"""The form engine: walks a declared list of fields, validates answers, supports Back/Skip/Edit.

It knows nothing about Telegram. A channel renders the current `Step` (prompt, choices, whether
Back/Skip are offered) however it can — buttons on Telegram, a numbered list on Zalo — and feeds
what the person sent back in as an `Input`. State is a plain JSON-able `FormState` that the caller
stores in the database, so a restart resumes at the same step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from bot.i18n_marker import N_, Text
from bot.services import validation
from bot.services.validation import Invalid as _Invalid
from bot.services.validation import TextRules

SUMMARY = "__summary__"
EDIT = "__edit__"
_SKIP_WORDS = {"-", "skip", "bo qua", "bỏ qua", "khong", "không", "ko", "k"}


class FieldKind(StrEnum):
    TEXT = "text"
    PHONE = "phone"
    CHOICE = "choice"
    LOOKUP = "lookup"  # a search over many records (communes, facilities), with paged results
    MONEY = "money"  # million đồng
    MONTH = "month"
    NUMBER = "number"  # a whole number ≥ 0
    DAYS = "days"  # a list of day offsets, "7, 3, 1"
    DATE = "date"  # day/month/year, today or later
    DATETIME = "datetime"  # local date and time in the future
    FILE = "file"  # photo or document


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    translate: bool = True  # labels of fixed choices are message ids; looked-up names are not


@dataclass(frozen=True)
class Field:
    name: str
    kind: FieldKind
    prompt: str  # message id
    label: str  # message id used in the summary
    optional: bool = False
    max_length: int = 200
    needs_letters: bool = False
    html: bool = False  # staff text that may use Telegram's HTML subset
    multiline: bool = False  # TEXT: line breaks allowed (descriptions, notes, answers); else one line
    own_phone: bool = True  # PHONE: the person's own number (shared with a button); False: someone else's, typed
    maximum: int = 100_000  # largest value of a NUMBER field
    zero_ok: bool = False  # MONEY: 0 is an answer (else the amount must be above 0)
    choices: tuple[Choice, ...] = ()
    lookup: str | None = None
    # Shown under the prompt and again when the answer does not fit.
    hint: str | None = None
    when: Callable[[Mapping[str, Any]], bool] | None = None
    # Choice values that are understood but cannot be accepted, with the reason (e.g. refusing consent).
    refuse: Mapping[str, str] = field(default_factory=dict)
    # False when prompt and label are someone's own words (staff questions), not message ids.
    translate: bool = True
    # Cross-field check on the parsed value: returns a message id (or a Text with its values) when the answer
    # cannot be accepted.
    check: Callable[[Any, Mapping[str, Any]], str | Text | None] | None = None

    def applies(self, data: Mapping[str, Any]) -> bool:
        return self.when is None or self.when(data)


@dataclass(frozen=True)
class Form:
    name: str
    title: str  # message id
    fields: tuple[Field, ...]
    confirm: bool = True  # end on a summary with Confirm / Edit / Cancel
    # Roles allowed to fill it in (role values); empty means anyone. Re-checked at every answer and at the end.
    roles: frozenset[str] = frozenset()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass
class FormState:
    form: str
    step: str | None
    data: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)


# --- what a person can send -------------------------------------------------------------------


@dataclass(frozen=True)
class TextInput:
    text: str


@dataclass(frozen=True)
class ChoiceInput:
    value: str


@dataclass(frozen=True)
class ContactInput:
    phone: str


@dataclass(frozen=True)
class FileInput:
    file_id: str
    kind: str  # "photo" | "document"
    name: str | None = None


Input = TextInput | ChoiceInput | ContactInput | FileInput


# --- what the engine answers --------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What to show for the current step."""

    kind: str  # a FieldKind value, SUMMARY or EDIT
    field: Field | None
    choices: tuple[Choice, ...] = ()
    can_back: bool = False
    can_skip: bool = False


@dataclass(frozen=True)
class Invalid:
    message: Text
    hint: str | None = None


@dataclass(frozen=True)
class Candidates:
    """A lookup matched several records: let the person pick one."""

    query: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class Advanced:
    pass


@dataclass(frozen=True)
class Done:
    data: dict[str, Any]


Outcome = Invalid | Candidates | Advanced | Done


class LookupProvider(Protocol):
    """Searches records for a LOOKUP field. `context` is the form's context (e.g. a commune)."""

    async def search(self, query: str, context: Mapping[str, Any]) -> Sequence[Choice]: ...

    async def get(self, value: str, context: Mapping[str, Any]) -> Choice | None: ...

    async def browse(self, context: Mapping[str, Any]) -> Sequence[Choice]: ...


FORM_REVOKED = N_("“{form}” has been closed: your access has changed, so it can no longer be completed. "
                  "Nothing from it was saved.")
FORM_EXPIRED = N_("“{form}” was left unanswered for more than {hours} hours and has expired. "
                  "Nothing from it was saved — please start again.")


class FormEngine:
    """Runs forms from a registry; lookups are resolved through named providers."""

    def __init__(self, forms: Mapping[str, Form], today: Callable[[], date],
                 now_local: Callable[[], datetime] | None = None, ttl: timedelta | None = None) -> None:
        self.forms = dict(forms)
        self.ttl = ttl
        self._today = today
        self._now_local = now_local or (lambda: datetime.combine(today(), datetime.min.time()))
        self._factories: dict[str, Callable[[str, Mapping[str, Any]], Form | None]] = {}

    def examples(self) -> dict[str, str]:
        """Examples for prompts, computed from today (never a date in the past)."""
        today = self._today()
        return {"month_example": validation.month_example(today), "date_example": validation.date_example(today),
                "date_example_later": validation.date_example(today, 33),
                "deadline_example": validation.date_example(today, 20)}

    def register_factory(self, prefix: str, factory: Callable[[str, Mapping[str, Any]], Form | None]) -> None:
        """Forms built at run time, named "<prefix>.<key>", from the key and the form's context
        (e.g. an announcement's sign-up questions, copied into the context when the form starts)."""
        self._factories[prefix] = factory

    # --- whether an open form may go on ---

    def allows(self, form_name: str, context: Mapping[str, Any], role: str) -> bool:
        """May a person with this role (now) fill in this form? Unknown forms are not allowed."""
        try:
            form = self.form_of(FormState(form=form_name, step=None, context=dict(context)))
        except KeyError:
            return False
        return not form.roles or role in form.roles

    def closed_reason(self, form_name: str, context: Mapping[str, Any], *, role: str, updated_at: datetime,
                      now: datetime) -> str | None:
        """Why an open form can no longer go on (a message id with {form} and {hours}), or None.

        A form whose role the person lost (revoked, removed from ADMIN_IDS) is closed, and so is one
        left unanswered longer than the time-to-live.
        """
        if not self.allows(form_name, context, role):
            return FORM_REVOKED
        if self.ttl is not None and now - updated_at > self.ttl:
            return FORM_EXPIRED
        return None

    # --- navigation ---

    def start(self, form_name: str, *, data: Mapping[str, Any] | None = None,
              context: Mapping[str, Any] | None = None) -> FormState:
        state = FormState(form=form_name, step=None, data=dict(data or {}), context=dict(context or {}))
        state.step = self._next_step(state)
        return state

    def form_of(self, state: FormState) -> Form:
        if state.form in self.forms:
            return self.forms[state.form]
        prefix, _, key = state.form.partition(".")
        form = self._factories[prefix](key, state.context) if prefix in self._factories else None
        if form is None:
            raise KeyError(state.form)
        return form

    def step(self, state: FormState, providers: Mapping[str, LookupProvider] | None = None) -> Step:
        form = self.form_of(state)
        if state.step == SUMMARY:
            return Step(kind=SUMMARY, field=None)
        if state.step == EDIT:
            editable = tuple(Choice(f.name, f.label) for f in form.fields if f.applies(state.data))
            return Step(kind=EDIT, field=None, choices=editable, can_back=True)
        fld = form.field(state.step or "")
        editing = "_editing" in state.context
        return Step(
            kind=fld.kind.value,
            field=fld,
            choices=fld.choices,
            can_back=bool(state.history) or editing,
            can_skip=fld.optional,
        )

    def _next_step(self, state: FormState) -> str:
        form = self.form_of(state)
        for fld in form.fields:
            if fld.applies(state.data) and fld.name not in state.data:
                return fld.name
        return SUMMARY if form.confirm else ""

    def _accept(self, state: FormState, fld: Field, value: Any, extra: Mapping[str, Any] | None = None) -> Outcome:
        if fld.check is not None and value is not None and (problem := fld.check(value, state.data)):
            return Invalid(problem if isinstance(problem, Text) else Text(problem), fld.hint)
        state.data[fld.name] = value
        state.data.update(extra or {})
        state.context.pop("_editing", None)
        state.context.pop("_query", None)
        # History is the order answers were given (a re-answered field moves to the end), so Back
        # always undoes the latest answer — also after an edit opened new fields.
        if fld.name in state.history:
            state.history.remove(fld.name)
        state.history.append(fld.name)
        state.step = self._next_step(state)
        if not state.step:
            return Done(self.clean(state))
        return Advanced()

    def back(self, state: FormState) -> bool:
        """Go one step back; False when already at the first step."""
        editing = state.context.pop("_editing", None)
        if editing is not None:
            # Leaving an edit restores the old answer and returns to the summary.
            if editing.get("had"):
                state.data[editing["field"]] = editing["value"]
                state.data.update(editing.get("extra", {}))
            state.step = self._next_step(state)
            return True
        if state.step == EDIT:
            state.step = SUMMARY
            return True
        state.context.pop("_query", None)
        while state.history:
            name = state.history.pop()
            fld = self.form_of(state).field(name)
            if not fld.applies(state.data):
                state.data.pop(name, None)
                continue
            state.data.pop(name, None)
            state.data.pop(f"{name}__label", None)
            state.data.pop(f"{name}__msgid", None)
            state.step = name
            return True
        return False

    def edit(self, state: FormState, field_name: str) -> bool:
        """From the summary, re-ask one field; False if that field cannot be edited now."""
        form = self.form_of(state)
        try:
            fld = form.field(field_name)
        except KeyError:
            return False
        if state.step not in (SUMMARY, EDIT) or not fld.applies(state.data):
            return False
        had = field_name in state.data
        label_key = f"{field_name}__label"
        state.context["_editing"] = {
            "field": field_name,
            "had": had,
            "value": state.data.pop(field_name, None),
            "extra": {key: state.data.pop(key) for key in (label_key, f"{field_name}__msgid") if key in state.data},
        }
        state.step = field_name
        return True

    def to_edit_menu(self, state: FormState) -> bool:
        if state.step != SUMMARY:
            return False
        state.step = EDIT
        return True

    def confirm(self, state: FormState) -> Done | None:
        if state.step != SUMMARY:
            return None
        return Done(self.clean(state))

    def clean(self, state: FormState) -> dict[str, Any]:
        """The answers of fields that apply, with lookup labels; answers made moot by edits are dropped."""
        form = self.form_of(state)
        out: dict[str, Any] = {}
        for fld in form.fields:
            if fld.applies(state.data) and fld.name in state.data:
                out[fld.name] = state.data[fld.name]
                if f"{fld.name}__label" in state.data:
                    out[f"{fld.name}__label"] = state.data[f"{fld.name}__label"]
        return out

    # --- answering ---

    async def answer(
        self, state: FormState, inp: Input, providers: Mapping[str, LookupProvider] | None = None
    ) -> Outcome:
        if state.step in (SUMMARY, EDIT, None, ""):
            if state.step == EDIT and isinstance(inp, ChoiceInput) and self.edit(state, inp.value):
                return Advanced()
            return Invalid(Text(N_("Please choose one of the options below: Confirm, Edit or Cancel.")))
        fld = self.form_of(state).field(state.step)
        try:
            return await self._answer_field(state, fld, inp, providers or {})
        except _Invalid as exc:
            return Invalid(exc.message, fld.hint)

    async def answer_all(
        self, form_name: str, inputs: Mapping[str, Input | None], providers: Mapping[str, LookupProvider] | None = None
    ) -> tuple[dict[str, Any], dict[str, Text]]:
        """A form filled in at once (a web page): each field that applies is answered in order, with the same
        checks as when typed one by one (None skips an optional field). Returns the clean answers and, for
        each refused field, why."""
        state = self.start(form_name)
        errors: dict[str, Text] = {}
        for fld in self.form_of(state).fields:
            if not fld.applies(state.data):
                continue
            state.step = fld.name
            inp = inputs.get(fld.name)
            outcome = self.skip(state) if inp is None else await self.answer(state, inp, providers)
            if isinstance(outcome, Invalid):
                errors[fld.name] = outcome.message
        return self.clean(state), errors

    def skip(self, state: FormState) -> Outcome:
        fld = self.form_of(state).field(state.step or "")
        if not fld.optional:
            return Invalid(Text(N_("This answer is required.")), fld.hint)
        return self._accept(state, fld, None)

    async def _answer_field(
        self, state: FormState, fld: Field, inp: Input, providers: Mapping[str, LookupProvider]
    ) -> Outcome:
        if isinstance(inp, TextInput) and fld.optional and validation.fold(inp.text) in {
            validation.fold(w) for w in _SKIP_WORDS
        } and fld.kind is not FieldKind.CHOICE:
            return self._accept(state, fld, None)
        kind = fld.kind
        if kind is FieldKind.TEXT:
            if not isinstance(inp, TextInput):
                return Invalid(Text(N_("Please answer with a text message.")), fld.hint)
            rules = TextRules(max_length=fld.max_length, needs_letters=fld.needs_letters, multiline=fld.multiline)
            text = validation.clean_text(inp.text, rules)
            return self._accept(state, fld, validation.check_staff_html(text) if fld.html else text)
        if kind is FieldKind.PHONE:
            if isinstance(inp, ContactInput) and not fld.own_phone:
                return Invalid(Text(N_("That is your own number. Please type the owner's phone number.")), fld.hint)
            if isinstance(inp, ContactInput):
                return self._accept(state, fld, validation.parse_phone(inp.phone))
            if isinstance(inp, TextInput):
                return self._accept(state, fld, validation.parse_phone(inp.text))
            return Invalid(Text(N_("Please share your phone number with the button, or type it.")), fld.hint)
        if kind is FieldKind.MONEY:
            if not isinstance(inp, TextInput):
                return Invalid(Text(N_("Please type the amount in million đồng using digits, e.g. 150 or 12,5.")))
            return self._accept(state, fld, str(validation.parse_million(inp.text, zero_ok=fld.zero_ok)))
        if kind is FieldKind.MONTH:
            if not isinstance(inp, TextInput):
                return Invalid(Text(N_("Please type the month and year like {example}."),
                                    {"example": validation.month_example(self._today())}))
            return self._accept(state, fld, validation.parse_month(inp.text, self._today()).isoformat())
        if kind in (FieldKind.NUMBER, FieldKind.DAYS):
            if not isinstance(inp, TextInput):
                return Invalid(Text(N_("Please type a whole number with digits, e.g. 12.")))
            if kind is FieldKind.DAYS:
                return self._accept(state, fld, validation.parse_days_list(inp.text))
            return self._accept(state, fld, validation.parse_count(inp.text, maximum=fld.maximum))
        if kind is FieldKind.DATE:
            if not isinstance(inp, TextInput):
                return Invalid(Text(N_("Please type the date as day/month/year, like {example}."),
                                    {"example": validation.date_example(self._today())}))
            return self._accept(state, fld, validation.parse_date(inp.text, self._today()).isoformat())
        if kind is FieldKind.DATETIME:
            if not isinstance(inp, TextInput):
                return Invalid(Text(N_("Please type the date and time like 31/3/2026 08:00.")))
            when = validation.parse_local_datetime(inp.text, self._now_local())
            return self._accept(state, fld, when.isoformat())
        if kind is FieldKind.FILE:
            if isinstance(inp, FileInput):
                # The file name comes from the channel: cleaned and cut to its column (need.attachment_name).
                name = validation.channel_text(inp.name, 255)
                return self._accept(state, fld, {"file_id": inp.file_id, "kind": inp.kind, "name": name})
            return Invalid(Text(N_("Please send a photo or a document, or choose Skip.")), fld.hint)
        if kind is FieldKind.CHOICE:
            return self._answer_choice(state, fld, inp)
        if kind is FieldKind.LOOKUP:
            return await self._answer_lookup(state, fld, inp, providers[fld.lookup or ""])
        raise AssertionError(kind)

    def _answer_choice(self, state: FormState, fld: Field, inp: Input) -> Outcome:
        value: str | None = None
        if isinstance(inp, ChoiceInput):
            value = inp.value if any(c.value == inp.value for c in fld.choices) else None
        elif isinstance(inp, TextInput):
            value = self._match_choice_text(fld.choices, inp.text)
        if value is None:
            return Invalid(Text(N_("Please choose one of the options below.")), fld.hint)
        if value in fld.refuse:
            return Invalid(Text(fld.refuse[value]), fld.hint)
        return self._accept(state, fld, value)

    @staticmethod
    def _match_choice_text(choices: Sequence[Choice], text: str) -> str | None:
        """A typed answer picks a choice by its number in the list or by its (accent-free) value."""
        folded = validation.fold(text)
        number = validation.ascii_int(folded)
        if number is not None and 1 <= number <= len(choices):
            return choices[number - 1].value
        for c in choices:
            if folded and folded == validation.fold(c.value):
                return c.value
        return None

    async def _answer_lookup(self, state: FormState, fld: Field, inp: Input, provider: LookupProvider) -> Outcome:
        if isinstance(inp, ChoiceInput):
            choice = await provider.get(inp.value, state.context)
            if choice is None:
                return Invalid(Text(N_("That choice is no longer available. Please search again.")), fld.hint)
            return self._accept(state, fld, choice.value, _lookup_label(fld, choice))
        if not isinstance(inp, TextInput):
            return Invalid(Text(N_("Please type part of the name to search.")), fld.hint)
        query = validation.clean_text(inp.text, TextRules(max_length=100))
        matches = list(await provider.search(query, state.context))
        if not matches:
            return Invalid(Text(N_("Nothing matches “{query}”. Please try another part of the name."),
                                {"query": query}), fld.hint)
        if len(matches) == 1:
            return self._accept(state, fld, matches[0].value, _lookup_label(fld, matches[0]))
        state.context["_query"] = query
        return Candidates(query=query, choices=tuple(matches))

    # --- display helpers ---

    def summary(self, state: FormState) -> list[tuple[Field, Any]]:
        """The applicable fields with their answers (None for skipped), in form order."""
        form = self.form_of(state)
        return [(f, self.display_value(state.data, f)) for f in form.fields if f.applies(state.data)]

    @staticmethod
    def display_value(data: Mapping[str, Any], fld: Field) -> Any:
        """A value ready to show: a Choice for choices and lookups, else a plain string (or None)."""
        value = data.get(fld.name)
        if value is None:
            return None
        if fld.kind is FieldKind.CHOICE:
            return next((c for c in fld.choices if c.value == value), Choice(str(value), str(value), False))
        if fld.kind is FieldKind.LOOKUP:
            # A label the provider gave as words to translate ("➕ New facility") is shown in the reader's language.
            return Choice(str(value), str(data.get(f"{fld.name}__label", value)),
                          translate=bool(data.get(f"{fld.name}__msgid")))
        if fld.kind is FieldKind.PHONE:
            return validation.format_phone(value)
        if fld.kind is FieldKind.MONEY:
            return validation.format_million(Decimal(value))
        if fld.kind is FieldKind.MONTH:
            return validation.format_month(date.fromisoformat(value))
        if fld.kind is FieldKind.DATE:
            return validation.format_date(date.fromisoformat(value))
        if fld.kind is FieldKind.DAYS:
            return ", ".join(str(d) for d in value)
        if fld.kind is FieldKind.DATETIME:
            return validation.format_datetime(datetime.fromisoformat(value))
        if fld.kind is FieldKind.FILE:
            return value.get("name") or value.get("kind")
        return str(value)


def _lookup_label(fld: Field, choice: Choice) -> dict[str, Any]:
    """What a lookup answer keeps beside its value: its label, and whether that label is a message id."""
    extra: dict[str, Any] = {f"{fld.name}__label": choice.label}
    if choice.translate:
        extra[f"{fld.name}__msgid"] = True
    return extra
