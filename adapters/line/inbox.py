"""LINE as a platform plug-in of the one inbox (bot/services/inbox.py).

The webhook (adapters/line/webhook.py) stores raw events and acknowledges them; the inbox
service handles them afterwards and asks this plug-in how a stored LINE event reads
(adapters/line/events.py) and where its photos and files come from (LINE's content API,
downloaded before the event's transaction). Replies leave through `LineSender`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.line import events
from bot.core.domain import InboundMessage, Platform, Reply
from bot.core.inbound import Inbound
from bot.core.ports import Sender
from bot.services.platforms import ContentGone as ContentGone
from bot.services.platforms import ContentSource


@dataclass(frozen=True)
class LinePlatform:
    """`PlatformPlugin` for LINE: `sender` delivers, `content` downloads (None: nothing is)."""

    sender: Sender
    content: ContentSource | None = None
    name: str = Platform.LINE.value
    label: str = "LINE"

    def normalise(self, raw: Any, received_at: datetime) -> Inbound | None:
        return events.to_inbound(raw, received_at)

    def user_of(self, raw: Any) -> str:
        return events.user_of(raw)

    async def staff_reply(self, session: AsyncSession, msg: InboundMessage) -> Reply | None:
        return None  # staff are not registered by LINE account: everyone is a member
