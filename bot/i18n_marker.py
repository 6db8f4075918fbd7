"""Marks strings for extraction without translating them at definition time.

Services and form definitions are channel- and framework-neutral: they hold message ids
(marked with `N_`) and the presentation layer translates them in the reader's locale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def N_(message: str) -> str:
    return message


@dataclass(frozen=True)
class Text:
    """A message id plus `.format()` parameters, translated only when rendered."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, gettext: Any) -> str:
        text = gettext(self.msgid)
        return text.format(**self.params) if self.params else text
