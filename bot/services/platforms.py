"""The platform contract: what the use cases need of a messaging platform (DESIGN §3).

A platform (LINE, Slack, later LINE WORKS) is one adapter package with one object meeting
`PlatformPlugin`; the composition root (bot/app/platforms.py) builds the configured ones
from settings into a `Platforms` registry. The use cases see only this contract: how a stored
raw event reads (`normalise`, `user_of`), where its content comes from (`content`), who on it
is staff (`staff_reply`) and the outbox sender, which renders neutral replies (`Reply`) and
mentions (staff ids in the payload) in the platform's own format.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.domain import InboundMessage, Platform, Reply
from bot.core.inbound import Inbound
from bot.core.ports import Sender

# Staff work on one platform (DESIGN §1: Slack): staff rows carry its user id, and every staff
# outbox row (alerts, digests, notices) is addressed to it. The one place that says so.
STAFF_PLATFORM = Platform.SLACK.value


class ContentGone(Exception):
    """The platform will not give us the content (deleted, expired, or never hosted there)."""


class ContentSource(Protocol):
    async def fetch(self, message_id: str, chat: str) -> tuple[bytes, str]:
        """The content bytes and their media type; ContentGone when it cannot be had.
        `chat`: whose message it is (the platform may show them an answer is coming)."""
        ...


class PlatformPlugin(Protocol):
    @property
    def name(self) -> str:
        """The platform's key: inbox and outbox rows' `platform`, identities' platform."""
        ...

    @property
    def label(self) -> str:
        """How operators read its name in logs ("LINE")."""
        ...

    @property
    def sender(self) -> Sender:
        """Delivers its outbox rows (renders replies, cards and mentions)."""
        ...

    @property
    def content(self) -> ContentSource | None:
        """Downloads a member's photos and files; None where the platform has none for us."""
        ...

    def normalise(self, raw: Any, received_at: datetime) -> Inbound | None:
        """A stored raw event as a neutral one; None for events Nippo ignores. Raises
        MalformedEvent (retried, then quarantined) or Unanswerable (quarantined at once).
        `received_at`: when it was acknowledged, for events without a believable time."""
        ...

    def user_of(self, raw: Any) -> str:
        """Whose event it is ("" when unknown), cheaply and without raising: serving senders
        in turn and keeping each one's order happen before an event is read in full."""
        ...

    async def staff_reply(self, session: AsyncSession, msg: InboundMessage) -> Reply | None:
        """The answer for a registered staff member writing to the bot (who gets no check-in
        dialog nor a link code), or None for anyone else."""
        ...


Platforms = Mapping[str, PlatformPlugin]  # by name; filled by the composition root
