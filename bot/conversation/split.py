"""Splitting runs of text into pieces that fit a channel's limit, in order, at natural breaks.

Lengths are measured the way the channel counts (Telegram counts UTF-16 code units of the text
after its markup is parsed); a piece breaks at an empty line, else a line end, else a space, and
only as a last resort inside a word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.conversation.replies import Run

Measure = Callable[[str], int]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut_point(text: str, budget: int, measure: Measure) -> int:
    """The longest prefix length (in characters) of `text` whose measure fits `budget`, moved back to
    the best break inside it."""
    lo, hi = 0, len(text)
    while lo < hi:  # largest n with measure(text[:n]) <= budget
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo >= len(text):
        return lo
    head = text[:lo]
    for sep in ("\n\n", "\n", " "):
        at = head.rfind(sep)
        if at > lo // 3:  # don't leave a tiny piece just to break at a separator
            return at + len(sep)
    return lo


def split_runs(runs: Sequence[Run], limit: int, measure: Measure = utf16_len) -> list[list[Run]]:
    """Cut a sequence of runs into pieces each measuring at most `limit` (visible text)."""
    pieces: list[list[Run]] = []
    current: list[Run] = []
    used = 0
    queue = list(runs)
    while queue:
        run = queue.pop(0)
        size = measure(run.text)
        if used + size <= limit:
            current.append(run)
            used += size
            continue
        cut = _cut_point(run.text, limit - used, measure) if limit - used > 0 else 0
        if cut == 0 and current:
            pieces.append(current)
            current, used = [], 0
            queue.insert(0, run)
            continue
        cut = cut or max(_cut_point(run.text, limit, measure), 1)
        current.append(run.with_text(run.text[:cut]))
        pieces.append(current)
        current, used = [], 0
        rest = run.text[cut:]
        if rest:
            queue.insert(0, run.with_text(rest))
    if current:
        pieces.append(current)
    return [_trim(piece) for piece in pieces if any(r.text.strip() for r in piece)]


def _trim(piece: list[Run]) -> list[Run]:
    """Drop the line breaks and spaces a split leaves at either end of a piece."""
    out = list(piece)
    while out and not out[0].text.strip():
        out.pop(0)
    while out and not out[-1].text.strip():
        out.pop()
    if out:
        out[0] = out[0].with_text(out[0].text.lstrip("\n "))
        out[-1] = out[-1].with_text(out[-1].text.rstrip("\n "))
    return out


def pack_blocks(blocks: Sequence[list[Run]], limit: int, measure: Measure = utf16_len,
                separator: str = "\n\n") -> list[list[Run]]:
    """Put whole blocks together into messages up to `limit`; a block longer than `limit` is split, its first
    piece filling the message before it (each message may count against a quota: as few as the text needs)."""
    messages: list[list[Run]] = []
    current: list[Run] = []
    used = 0
    sep_size = measure(separator)
    for block in blocks:
        size = sum(measure(r.text) for r in block)
        extra = size + (sep_size if current else 0)
        if current and used + extra <= limit:
            current.extend([Run(separator), *block])
            used += extra
            continue
        if current and size > limit and limit - used - sep_size > limit // 4:
            block = [*current, Run(separator), *block]  # the long block goes on in the room left here
        elif current:
            messages.append(current)
        current, used = [], 0
        if size <= limit:
            current, used = list(block), size
        elif parts := split_runs(block, limit, measure):
            *full, last = parts
            messages.extend(full)
            current, used = last, sum(measure(r.text) for r in last)
    if current:
        messages.append(current)
    return messages
