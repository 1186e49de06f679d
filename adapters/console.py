"""The console front door: a person chats as a member in the terminal.

Buttons become numbered choices; a staff notice is printed as such.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.core.domain import Choice, Reply
from bot.core.payloads import Replies, text_of
from bot.core.ports import OutboxItem, Outcome, SendResult

Write = Callable[[str], None]


def render(reply: Reply) -> list[str]:
    """A reply as terminal lines: the text, the card, then numbered choices."""
    lines = [reply.text]
    if reply.card is not None:
        lines.append(f"  ┌ {reply.card.title}")
        lines.extend(f"  │ {label}: {value}" for label, value in reply.card.rows)
        lines.append("  └")
    if reply.choices:
        lines.append("  " + "  ".join(f"[{i}] {c.label}" for i, c in enumerate(reply.choices, 1)))
    return lines


def pick(choices: tuple[Choice, ...], typed: str) -> str | None:
    """The value of the numbered choice a person typed, if they typed a number."""
    typed = typed.strip()
    if typed.isdigit() and 1 <= int(typed) <= len(choices):
        return choices[int(typed) - 1].value
    return None


class ConsoleSender:
    """Prints outbox messages; remembers the last choices shown to each recipient."""

    def __init__(self, write: Write, *, prefix: str = "bot") -> None:
        self.write = write
        self.prefix = prefix
        self.last_choices: dict[str, tuple[Choice, ...]] = {}

    async def send(self, item: OutboxItem, now: datetime) -> SendResult:
        payload = item.payload
        if isinstance(payload, Replies):
            for reply in payload.replies:
                for i, line in enumerate(render(reply)):
                    self.write(f"{self.prefix:>6} │ {line}" if i == 0 else f"{'':>6} │ {line}")
                if reply.choices:
                    self.last_choices[item.recipient] = reply.choices
        else:
            self.write(f"{'職員へ':>5} │ {text_of(payload)}")
        return SendResult(Outcome.SENT, via="console")
