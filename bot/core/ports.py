"""Where the shell meets the core: the clock and the senders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.core.payloads import Payload

Clock = Callable[[], datetime]
"""The current instant, timezone-aware. The shell is given one (`system_clock`, or a test's
fake) and hands instants to the core, which never asks a clock itself."""


def system_clock() -> datetime:
    """The one real clock: every `Clock` parameter defaults to it."""
    return datetime.now(UTC)


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # the platform's trouble (429, 5xx, timeouts, network): retried, never failed
    FAILED = "failed"  # the message's own fault (4xx other than 429 …): retrying cannot help
    # Not tried: the sender holds it back to keep the platform's pace (Slack: about one post a
    # second per channel). Due again after `retry_after`; not an attempt, never a failure.
    PACED = "paced"


@dataclass(frozen=True)
class OutboxItem:
    """An outbox row as a sender sees it (no ORM object crosses into adapters); `payload` is
    decoded (bot.core.payloads), so a sender dispatches on its type."""

    id: int
    key: str
    platform: str
    recipient: str
    payload: Payload
    retry_key: str
    attempts: int
    reply_token: str | None = None
    reply_token_until: datetime | None = None
    member_id: int | None = None
    created_at: datetime | None = None  # when the row was queued (a late alert says so)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    via: str | None = None  # reply | push | api | console
    retry_after: float | None = None  # seconds, from the platform's Retry-After
    error: str | None = None
    external_id: str | None = None  # e.g. a Slack message ts
    extra: dict[str, Any] = field(default_factory=dict)


class Sender(Protocol):
    async def send(self, item: OutboxItem, now: datetime) -> SendResult: ...


@dataclass(frozen=True)
class Morpheme:
    """One word as a morphological analyser reads it.

    `lemma` is the dictionary's normalised form (しに, 死に -> 死ぬ; すいみん -> 睡眠), `pos`
    the coarse part of speech (動詞, 名詞, 助動詞 ...), `reading` in katakana.
    """

    surface: str
    lemma: str
    pos: str
    reading: str


class Analyser(Protocol):
    """Japanese morphological analysis, behind a port so the core stays pure and testable."""

    def analyse(self, text: str) -> tuple[Morpheme, ...]: ...
