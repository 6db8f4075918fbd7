"""The text renderer: replies for channels without buttons or markup (Zalo, the sandbox's text-only phone).

Choices become numbered lines ("1. …"); the numbers are returned as the pending menu, which the caller
saves with the conversation in the same transaction as the reply, so "2" later means what the person
saw. Long replies are split in order at the channel's limit; media go by URL (a photo) or as a link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.channels.capabilities import TEXT, Capabilities
from bot.conversation.replies import Choice, MediaRef, Rendered, Reply, Run, runs_of
from bot.conversation.split import pack_blocks


@dataclass(frozen=True)
class TextMessage:
    text: str
    photo_url: str | None = None  # send as a photo with `text` as its caption


def run_text(run: Run) -> str:
    if run.url and run.url != run.text:
        return f"{run.text} ({run.url})"
    return run.text


def menu_lines(choices: list[Choice], zero: Choice | None) -> tuple[list[list[Run]], dict[str, tuple[str, str]]]:
    """Numbered lines for the choices (and a "0." line), with the numbers they stand for."""
    lines: list[list[Run]] = []
    menu: dict[str, tuple[str, str]] = {}
    for number, choice in enumerate(choices, start=1):
        lines.append([Run(f"{number}. {choice.label}")])
        menu[str(number)] = (choice.action, choice.arg)
    if zero is not None:
        lines.append([Run(f"0. {zero.label}")])
        menu["0"] = (zero.action, zero.arg)
    return lines, menu


class TextRenderer:
    def __init__(self, caps: Capabilities = TEXT, *,
                 media_url: Callable[[MediaRef], str | None] = lambda _ref: None) -> None:
        self.caps = caps
        self.media_url = media_url

    def render(self, reply: Reply, *, zero: Choice | None = None, hint: str | None = None,
               unavailable: str | None = None) -> Rendered:
        """`zero` is the "0." line (e.g. back to the menu); `hint` a line under the numbers
        ("Type the number of your choice."); `unavailable` what to say of a file that has no link (no
        PUBLIC_BASE_URL), all already translated."""
        blocks = [runs_of(block.parts) for block in reply.blocks]
        blocks = [[r.with_text(run_text(r)) for r in block] for block in blocks if block]
        menu: dict[str, tuple[str, str]] = {}
        numbered = [c for c in reply.flat_choices if not c.typed]
        typed = [[Run(c.typed)] for c in reply.flat_choices if c.typed]
        if (numbered or typed) and not reply.notice:
            lines, menu = menu_lines(numbered, zero) if numbered else ([], {})
            lines = typed + lines  # a keyword line is typed as shown: it takes no number
            if hint and numbered:
                lines.append([Run(hint)])
            # The menu is one block (lines joined), so it stays together when it fits.
            joined: list[Run] = []
            for line in lines:
                joined.extend([Run("\n")] if joined else [])
                joined.extend(line)
            blocks.append(joined)
        media_line, photo_url = self._media(reply.media, unavailable)
        if media_line:
            blocks.insert(0, [Run(media_line)])
        texts = ["".join(r.text for r in piece) for piece in pack_blocks(blocks, self.caps.max_text, len)]
        messages = [TextMessage(text) for text in texts]
        if photo_url and texts and len(texts[0]) <= self.caps.max_caption:
            messages[0] = TextMessage(texts[0], photo_url)
        elif photo_url:
            messages.insert(0, TextMessage("", photo_url))
        return Rendered(messages=list(messages), menu=menu)

    def _media(self, media: MediaRef | None, unavailable: str | None) -> tuple[str | None, str | None]:
        """(a link line, a photo URL): photos go as photos when we can serve them, the rest as links;
        without a link, a line naming the file and where to get it."""
        if media is None:
            return None, None
        url = self.media_url(media)
        if url and media.kind == "photo":
            return None, url
        name = media.name or media.kind
        if url:
            return f"📎 {name}: {url}", None
        return (f"📎 {name} — {unavailable}" if unavailable else f"📎 {name}"), None


def resolve_number(text: str, menu: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """A typed number (ASCII digits, spaces and a trailing dot allowed) → the choice it stood for."""
    typed = text.strip().rstrip(".").strip()
    if not typed.isascii() or not typed.isdigit() or len(typed) > 4:
        return None
    return menu.get(str(int(typed)))
