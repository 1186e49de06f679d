"""The month's LINE push quota: our own count, LINE's figures, and warnings to managers.

LINE counts pushes per month (replies are free). We count our own pushes (outbox rows sent
with via="push") and read LINE's quota and consumption; the larger usage wins, because other
tools may push on the same channel. At 80 % and 95 % each facility's managers get a Slack
message (outbox kind "quota_warning"), once per month and threshold thanks to the outbox key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from linebot.v3.messaging import AsyncMessagingApi
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import texts
from bot.core.payloads import QuotaWarning
from storage import repo
from storage.db import Database
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

THRESHOLDS = (80, 95)
LINE_ZONE = ZoneInfo("Asia/Tokyo")  # LINE's billing month in Japan


@dataclass(frozen=True)
class QuotaState:
    month: str  # YYYY-MM
    used: int
    limit: int | None  # None: no limit on this plan

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.limit if self.limit else 0.0


def month_start(now: datetime) -> datetime:
    local = now.astimezone(LINE_ZONE)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


async def pushes_this_month(session: AsyncSession, now: datetime) -> int:
    stmt = select(func.count()).where(
        OutboxMessage.platform == "line",
        OutboxMessage.via == "push",
        OutboxMessage.status == "sent",
        OutboxMessage.sent_at >= month_start(now),
    )
    return int((await session.execute(stmt)).scalar_one())


async def check(db: Database, api: AsyncMessagingApi, now: datetime) -> QuotaState:
    """Read LINE's quota, compare with our count, enqueue the warnings that are due."""
    limit_resp = await api.get_message_quota()
    used_resp = await api.get_message_quota_consumption()
    limit = limit_resp.value if str(limit_resp.type.value) == "limited" else None
    async with db.transaction() as session:
        ours = await pushes_this_month(session, now)
        state = QuotaState(
            now.astimezone(LINE_ZONE).strftime("%Y-%m"), max(ours, used_resp.total_usage), limit
        )
        await warn(session, state, now)
    return state


async def warn(session: AsyncSession, state: QuotaState, now: datetime) -> int:
    """Enqueue one warning per manager (or facility channel) per crossed threshold."""
    if not state.limit:
        return 0
    crossed = [t for t in THRESHOLDS if state.percent >= t]
    if not crossed:
        return 0
    threshold = max(crossed)
    text = texts.QUOTA_WARNING.format(percent=threshold, used=state.used, limit=state.limit)
    payload = QuotaWarning(threshold, state.month, state.used, state.limit, text)
    enqueued = 0
    for facility in await repo.facilities(session):
        managers = await repo.managers(session, facility.id, on_slack=True)
        targets = [(f"staff:{m.id}", m.slack_user_id or "") for m in managers] or [
            (f"facility:{facility.id}", facility.alert_channel or "")
        ]
        for who, recipient in targets:
            new = await repo.enqueue(
                session,
                key=f"quota_warning:{state.month}:{threshold}:{who}",
                platform="slack",
                recipient=recipient,
                payload=payload,
                now=now,
            )
            enqueued += new is not None
    if enqueued:
        log.warning("LINE push quota warning", extra={"threshold": threshold, "month": state.month})
    return enqueued
