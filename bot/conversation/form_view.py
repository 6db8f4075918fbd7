"""A form step as neutral replies: the same questions and choices on every channel.

On Telegram the choices become buttons; on a text channel numbered lines, so every step — choices,
lookup candidates, skip, back, confirm, edit from the summary, paging — can be done by typing.
Someone's own words (staff questions, looked-up names, answers) are plain text nodes: they can never
become markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.channels.capabilities import Capabilities
from bot.conversation import actions as A
from bot.conversation.replies import (
    Block,
    Bold,
    Choice,
    Code,
    Inline,
    Italic,
    Link,
    Reply,
    Run,
    from_staff_html,
    runs_of,
)
from bot.domain import shown
from bot.services.forms import EDIT, SUMMARY, FieldKind, FormState
from bot.services.forms import Choice as FormChoice
from bot.services.forms.engine import FormEngine

PAGE_SIZE = 8
SUMMARY_VALUE_LIMIT = 300  # a long answer (an announcement's body) is shortened in the summary
Gettext = Callable[[str], str]


def _choice(_: Gettext, state: FormState, label: str, action: str, value: str = "") -> Choice:
    return Choice(label, action, A.form_arg(state.form, state.step, value))


# What tells otherwise alike items apart: a year ("2026"), a code ("NC-2026-0052", "#12").
DISTINCT = re.compile(r"(?<![\w-])(?:[A-Z]{2,}-\d[\d-]*|#\d+|(?:19|20)\d\d)(?![\w-])")


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, for button labels and lists: cut with "…", and when the cut would
    drop what tells items apart (a year or a code at the end), that is kept after the "…":
    "Bình chọn sản phẩm CNNT tiêu biểu cấp tỉnh năm 2026" → "Bình chọn sản phẩm CNNT tiêu bi… (2026)"."""
    if len(text) <= limit:
        return text
    tokens = list(DISTINCT.finditer(text))
    if tokens:
        tail = f" ({tokens[-1].group(0)})"
        room = limit - 1 - len(tail)
        if tokens[-1].end() > room and room >= limit // 2:
            return _cut(text, room) + "…" + tail
    return _cut(text, limit - 1) + "…"


def _cut(text: str, room: int) -> str:
    """The first `room` characters, ending at a word's end when one is near (a name is not cut in two)."""
    head = text[:room]
    space = head.rfind(" ")
    if text[room:room + 1] not in ("", " ") and space >= room - 12 and space > 0:
        head = head[:space]
    return head.rstrip(" ·,;:–-")


def answers_under_questions(questions: Sequence[str], answers: Mapping[str, Any], _: Gettext,
                            indent: str = "  ") -> list[Inline]:
    """A sign-up's answers, each on the line under its question (staff's words, as written), wherever the person
    or staff see them; unanswered questions are left out. Every line starts with a line break."""
    out: list[Inline] = []
    for i, question in enumerate(questions, start=1):
        value = answers.get(f"q{i}")
        if value is None or value == "":
            continue
        out += ["\n", indent, Italic(question), "\n", indent, "→ ", shown(str(value), _)]
    return out


def value_nodes(_: Gettext, value: Any, *, html: bool = False) -> tuple[Inline, ...]:
    """A summary value: a choice's label, staff's formatted text as markup, anything else as plain words."""
    if value is None:
        return ("—",)
    if isinstance(value, FormChoice):
        return (_(value.label) if value.translate else value.label,)
    if value in ("photo", "document"):
        return (_("photo") if value == "photo" else _("document"),)
    if html:  # parsed first, then shortened: a cut never leaves half a tag or an entity ("&am…") to show
        return shorten_nodes(from_staff_html(str(value)), SUMMARY_VALUE_LIMIT)
    return (shorten(str(value), SUMMARY_VALUE_LIMIT),)


def _node(run: Run) -> Inline:
    node: Inline = Link(run.text, run.url) if run.url else (Code(run.text) if run.code else run.text)
    if run.italic:
        node = Italic(node)
    return Bold(node) if run.bold else node


def shorten_nodes(parts: Sequence[Inline], limit: int) -> tuple[Inline, ...]:
    """Markup in at most `limit` visible characters, its formatting kept, cut with "…"."""
    out: list[Inline] = []
    left = limit
    for run in runs_of(parts):
        if len(run.text) < left or (len(run.text) == left and len(out) == len(runs_of(parts)) - 1):
            out.append(_node(run))
            left -= len(run.text)
            continue
        out.append(_node(run.with_text(run.text[: max(left - 1, 0)].rstrip() + "…")))
        break
    return tuple(out)


def _note(note: Block | str | None) -> list[Block]:
    if not note:
        return []
    return [note if isinstance(note, Block) else Block(note)]


def summary_reply(engine: FormEngine, state: FormState, _: Gettext, note: Block | str | None = None) -> Reply:
    form = engine.form_of(state)
    lines: list[Inline] = []
    for fld, value in engine.summary(state):
        label = _(fld.label) if fld.translate else fld.label
        lines.extend(["\n" if lines else "", "• ", Bold(label, ":"), " ",
                      *value_nodes(_, value, html=fld.html)])
    blocks = _note(note)
    blocks += [Block(Bold(_(form.title)), "\n", _("Please check your answers:")), Block(*lines)]
    return Reply(blocks=tuple(blocks), choices=(
        (_choice(_, state, _("✅ Confirm"), A.FORM_CONFIRM),),
        (_choice(_, state, _("✏️ Edit"), A.FORM_EDIT), _choice(_, state, _("✖ Cancel"), A.FORM_CANCEL)),
    ))


def edit_menu_reply(engine: FormEngine, state: FormState, _: Gettext, note: Block | str | None = None) -> Reply:
    form = engine.form_of(state)
    rows = [(_choice(_, state, _(f.label) if f.translate else f.label, A.FORM_CHOOSE, f.name),)
            for f in form.fields if f.applies(state.data)]
    rows.append((_choice(_, state, _("◀ Back"), A.FORM_BACK), _choice(_, state, _("✖ Cancel"), A.FORM_CANCEL)))
    blocks = _note(note)
    return Reply(blocks=(*blocks, Block(_("Which answer do you want to change?"))), choices=tuple(rows))


class _Examples(dict[str, str]):
    """Prompt placeholders ({month_example}…); anything else in braces is left as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def step_replies(engine: FormEngine, state: FormState, _: Gettext, caps: Capabilities, *,
                 note: Block | str | None = None, options: Sequence[FormChoice] | None = None,
                 page: int = 0) -> list[Reply]:
    """What to show for the current step. `options` are a lookup's candidates (the caller searched or
    browsed them); `page` the page of them to show."""
    step = engine.step(state)
    if step.kind == SUMMARY:
        return [summary_reply(engine, state, _, note)]
    if step.kind == EDIT:
        return [edit_menu_reply(engine, state, _, note)]
    fld = step.field
    assert fld is not None
    blocks = _note(note)
    blocks.append(Block(_(fld.prompt).format_map(_Examples(engine.examples())) if fld.translate else fld.prompt))
    if fld.hint:
        blocks.append(Block(Italic(_(fld.hint))))
    rows: list[tuple[Choice, ...]] = []
    if fld.kind is FieldKind.CHOICE:
        rows += [(_choice(_, state, _(c.label) if c.translate else c.label, A.FORM_CHOOSE, c.value),)
                 for c in step.choices]
    elif fld.kind is FieldKind.LOOKUP:
        rows += _lookup_rows(_, state, list(options or ()), page)
    back = _choice(_, state, _("◀ Back"), A.FORM_BACK) if step.can_back else None
    cancel = _choice(_, state, _("✖ Cancel"), A.FORM_CANCEL)
    skip = _choice(_, state, _("Skip ➜"), A.FORM_SKIP) if step.can_skip else None
    if fld.kind is FieldKind.PHONE and caps.contacts and fld.own_phone:
        # Telegram: the share-contact keyboard, with Back and Cancel as words on it; Skip under a note.
        words = tuple(c.label for c in (back, cancel) if c)
        blocks.append(Block(_("Or share it with the “📱 Share my phone number” button below.")))
        first = Reply(blocks=tuple(blocks), keyboard=(words,), contact_button=_("📱 Share my phone number"))
        if skip is None:
            return [first]
        return [first, Reply.of(_("No phone number? Choose Skip."), choices=[[skip], [cancel]])]
    if not caps.buttons and fld.kind not in (FieldKind.CHOICE, FieldKind.LOOKUP):
        # A typed answer may be a number ("2" facilities visited): no numbered lines here, words instead.
        words = [_("Type “back” for the previous question.") if back else "",
                 _("Type “skip” if you have none.") if skip else "", _("Type “cancel” to stop.")]
        blocks.append(Block(Italic(" ".join(w for w in words if w))))
        return [Reply(blocks=tuple(blocks))]
    if skip:
        rows.append((skip,))
    rows.append(tuple(c for c in (back, cancel) if c))
    return [Reply(blocks=tuple(blocks), choices=tuple(rows))]


def _lookup_rows(_: Gettext, state: FormState, options: list[FormChoice], page: int) -> list[tuple[Choice, ...]]:
    pages = max(1, -(-len(options) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = options[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    rows: list[tuple[Choice, ...]] = [
        (_choice(_, state, _(c.label) if c.translate else c.label, A.FORM_CHOOSE, c.value),) for c in shown]
    nav = []
    if page > 0:
        nav.append(_choice(_, state, "◀", A.FORM_PAGE, str(page - 1)))
    if page + 1 < pages:
        nav.append(_choice(_, state, "▶", A.FORM_PAGE, str(page + 1)))
    if nav:
        rows.append(tuple(nav))
    return rows
