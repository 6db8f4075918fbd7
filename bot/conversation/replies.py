"""What the bot says, before any channel is chosen: blocks of neutral markup, choices, media.

Markup is built from nodes, never from strings with tags: every `str` is text to show as written,
so a person's own words cannot become markup on any channel (the renderer escapes them).

    Reply.of(Block(Bold(_("Your needs")), " — ", str(total)), choices=[[Choice(_("Open"), OPEN, "12")]])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

# --- inline markup ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bold:
    parts: tuple[Inline, ...]

    def __init__(self, *parts: Inline) -> None:
        object.__setattr__(self, "parts", parts)


@dataclass(frozen=True)
class Italic:
    parts: tuple[Inline, ...]

    def __init__(self, *parts: Inline) -> None:
        object.__setattr__(self, "parts", parts)


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Code:
    text: str


Inline = Union[str, Bold, Italic, Link, Code]  # noqa: UP007 (a forward-referenced alias)


@dataclass(frozen=True)
class Block:
    """A paragraph. Blocks are separated by an empty line; a "\\n" inside text is a line break.
    Renderers split long replies between blocks first, so a list should be one block per item."""

    parts: tuple[Inline, ...]

    def __init__(self, *parts: Inline) -> None:
        object.__setattr__(self, "parts", parts)


# --- runs: the flat form renderers work on ------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A stretch of text with one style; what renderers measure, split and emit."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    url: str | None = None

    def with_text(self, text: str) -> Run:
        return Run(text, self.bold, self.italic, self.code, self.url)


def runs_of(parts: Iterable[Inline], *, bold: bool = False, italic: bool = False) -> list[Run]:
    """Flatten nested inline nodes into runs, merging neighbours of the same style."""
    out: list[Run] = []
    for part in parts:
        if isinstance(part, str):
            new = [Run(part, bold, italic)]
        elif isinstance(part, Bold):
            new = runs_of(part.parts, bold=True, italic=italic)
        elif isinstance(part, Italic):
            new = runs_of(part.parts, bold=bold, italic=True)
        elif isinstance(part, Link):
            new = [Run(part.label, bold, italic, url=part.url)]
        elif isinstance(part, Code):
            new = [Run(part.text, bold, italic, code=True)]
        else:
            raise TypeError(f"not inline markup: {part!r}")
        for run in new:
            if not run.text:
                continue
            if out and out[-1].with_text("") == run.with_text("") and run.url is None:
                out[-1] = out[-1].with_text(out[-1].text + run.text)
            else:
                out.append(run)
    return out


def plain_text(parts: Iterable[Inline]) -> str:
    return "".join(run.text for run in runs_of(parts))


# --- choices, media, the reply --------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A button on channels that have them, a numbered line on those that don't.
    `action` is an id from `bot.conversation.actions`; `arg` its argument (an id, a value)."""

    label: str
    action: str
    arg: str = ""
    # For a message sent later (the outbox), when the person may be mid-conversation and a number would
    # mean something else: the line a text channel shows instead, with a keyword to type
    # ("To sign up, type: DK 12"). Buttons ignore it.
    typed: str = ""


@dataclass(frozen=True)
class MediaRef:
    """A file in our media store, re-sent by each channel its own way."""

    ref: str
    kind: str  # "photo" | "document"
    name: str | None = None


@dataclass(frozen=True)
class FileData:
    """A file made for this reply (an export), sent as a document on channels that take documents.
    Never stored in the outbox: flows check `caps.documents` and say where to get it otherwise."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Block, ...] = ()
    choices: tuple[tuple[Choice, ...], ...] = ()
    media: MediaRef | None = None
    file: FileData | None = None
    # Replace the message the person acted on (an edit on Telegram; a new message elsewhere).
    replace_previous: bool = False
    # A brief notice (a toast on Telegram, a short message elsewhere); no choices.
    notice: bool = False
    # The persistent main menu (reply-keyboard words on Telegram); None leaves it as it is.
    keyboard: tuple[tuple[str, ...], ...] | None = None
    # "Share my phone number" on channels with contacts: a one-time keyboard above `keyboard`'s words.
    contact_button: str | None = None
    # The choices under the message acted on no longer apply (Telegram takes its buttons off).
    retire_previous: bool = False

    @classmethod
    def of(cls, *blocks: Block | str, choices: Sequence[Sequence[Choice]] = (), **kwargs: object) -> Reply:
        """A reply from blocks (a bare string is a plain block) and rows of choices."""
        return cls(
            blocks=tuple(b if isinstance(b, Block) else Block(b) for b in blocks),
            choices=tuple(tuple(row) for row in choices if row),
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def flat_choices(self) -> list[Choice]:
        return [choice for row in self.choices for choice in row]


@dataclass
class Rendered:
    """What a renderer produced for one reply: the channel's messages, and for text channels the
    numbers it showed (saved as the conversation's pending menu so "2" means what the person saw)."""

    messages: list[object] = field(default_factory=list)
    menu: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The reply these messages show (set by the pipeline): what the outbox sends if they cannot go at once.
    source: Reply | None = None


def from_staff_html(text: str) -> tuple[Inline, ...]:
    """Staff's stored announcement text (Telegram's HTML subset, already checked) as markup nodes, so it
    shows formatted on Telegram and as plain words elsewhere — never as raw tags or `&amp;`."""
    from html.parser import HTMLParser

    root: list[Inline] = []
    stack: list[tuple[str, list[Inline], str | None]] = []

    def sink() -> list[Inline]:
        return stack[-1][1] if stack else root

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            stack.append((tag, [], dict(attrs).get("href") if tag == "a" else None))

        def handle_endtag(self, tag: str) -> None:
            if not stack or stack[-1][0] != tag:
                return
            name, parts, href = stack.pop()
            if name in ("b", "strong"):
                sink().append(Bold(*parts))
            elif name in ("i", "em", "blockquote"):
                sink().append(Italic(*parts))
            elif name == "a" and href:
                sink().append(Link(plain_text(parts), href))
            elif name in ("code", "pre"):
                sink().append(Code(plain_text(parts)))
            else:  # u, s, spoilers: their words, plainly
                sink().extend(parts)

        def handle_data(self, data: str) -> None:
            sink().append(data)

    parser = Parser(convert_charrefs=True)
    parser.feed(text)
    parser.close()
    while stack:  # unclosed tags (not expected after the check): keep their words
        _name, parts, _href = stack.pop()
        sink().extend(parts)
    return tuple(root)


# --- storage: a reply kept in an outbox row, rendered for the recipient's channel when it is sent ----------


def _inline_to_json(part: Inline) -> Any:
    if isinstance(part, str):
        return part
    if isinstance(part, Bold):
        return {"b": [_inline_to_json(p) for p in part.parts]}
    if isinstance(part, Italic):
        return {"i": [_inline_to_json(p) for p in part.parts]}
    if isinstance(part, Link):
        return {"a": part.label, "href": part.url}
    if isinstance(part, Code):
        return {"code": part.text}
    raise TypeError(f"not inline markup: {part!r}")


def _inline_from_json(data: Any) -> Inline:
    if isinstance(data, str):
        return data
    if "b" in data:
        return Bold(*(_inline_from_json(p) for p in data["b"]))
    if "i" in data:
        return Italic(*(_inline_from_json(p) for p in data["i"]))
    if "a" in data:
        return Link(str(data["a"]), str(data["href"]))
    if "code" in data:
        return Code(str(data["code"]))
    raise ValueError(f"not stored markup: {data!r}")


def reply_to_json(reply: Reply) -> dict[str, Any]:
    if reply.file is not None:
        raise ValueError("a reply carrying a file is sent at once, never stored")
    out: dict[str, Any] = {"blocks": [[_inline_to_json(p) for p in block.parts] for block in reply.blocks]}
    if reply.choices:
        out["choices"] = [[[c.label, c.action, c.arg, *([c.typed] if c.typed else [])] for c in row]
                          for row in reply.choices]
    if reply.media is not None:
        out["media"] = [reply.media.ref, reply.media.kind, reply.media.name]
    for flag in ("replace_previous", "notice"):
        if getattr(reply, flag):
            out[flag] = True
    return out


def plain_reply_text(reply: Reply) -> str:
    """The words of a reply without markup or choices (what staff views and logs show of a queued message)."""
    return "\n\n".join(plain_text(block.parts) for block in reply.blocks)


def html_reply(text: str, *, choices: Sequence[Sequence[Choice]] = (), media: MediaRef | None = None) -> Reply:
    """A reply from a translated string holding Telegram's HTML subset (<b> tags, escaped user text):
    one block per paragraph."""
    blocks = [Block(*from_staff_html(part)) for part in text.split("\n\n") if part.strip()]
    return Reply.of(*blocks, choices=choices, media=media)


def reply_from_json(data: dict[str, Any]) -> Reply:
    media = data.get("media")
    return Reply(
        blocks=tuple(Block(*(_inline_from_json(p) for p in block)) for block in data.get("blocks", ())),
        choices=tuple(tuple(Choice(*(str(v) for v in choice)) for choice in row)
                      for row in data.get("choices", ())),
        media=MediaRef(str(media[0]), str(media[1]), media[2]) if media else None,
        replace_previous=bool(data.get("replace_previous")),
        notice=bool(data.get("notice")),
    )
