"""What came in, whatever the platform: one closed set of kinds (pure).

Each platform's adapter turns its raw event (as stored in the inbox) into an `Inbound`; the
console and the tests build one directly (`of_message`). The one inbox service
(bot/services/inbox.py) dispatches on `kind` and never looks at a platform's raw body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from bot.core.domain import InboundMessage


class Kind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"  # one of our buttons
    STALE = "stale"  # a button we cannot read (old format or foreign)
    EVIDENCE = "evidence"  # a photo, file, voice or video of the day, to download and keep
    STICKER = "sticker"
    UNSUPPORTED = "unsupported"  # a message type we cannot use (location …)
    FOLLOW = "follow"  # the account added the bot (or came back)
    UNFOLLOW = "unfollow"  # the account blocked or removed the bot


@dataclass(frozen=True)
class EvidenceRef:
    """Content the platform holds for us to download (EVIDENCE)."""

    message_id: str
    filename: str | None = None
    file_size: int | None = None
    external: bool = False  # hosted elsewhere: the platform will not give it to us


@dataclass(frozen=True)
class Inbound:
    kind: Kind
    msg: InboundMessage
    button_day: date | None = None  # the business date a pressed button was made for
    evidence: EvidenceRef | None = None
    keywords: tuple[str, ...] = ()  # STICKER: words the platform gives for the sticker
    note: str | None = None  # why `msg.sent_at` is not the event's own timestamp


class MalformedEvent(ValueError):
    """A signed event without the platform's shape. The message names the field, never its
    value. Retried a few times like any failure, then quarantined."""


class Unanswerable(Exception):
    """A stored event that can never be handled (nobody to answer): quarantined at once."""


def of_message(msg: InboundMessage) -> Inbound:
    """A message built without a platform body (console, tests): a tap or typed text."""
    return Inbound(Kind.CHOICE if msg.choice is not None else Kind.TEXT, msg)
