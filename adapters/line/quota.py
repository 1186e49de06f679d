"""The month's LINE push quota: our own count, LINE's figures, and warnings to managers.

LINE counts pushes per month (replies are free). We count our own pushes (outbox rows sent
with via="push") and read LINE's quota and consumption; the larger usage wins, because other
tools may push on the same channel. The month's projection is that usage at the month's rate
so far (`projected`). At 80 % and 95 % each facility's managers get a Slack message (outbox
kind "quota_warning") that says the projection too, once per month and threshold thanks to
the outbox key. `nippo line quota` shows the same figures (`read`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
# A rate is not read from less than this much of the month: ten pushes in the first hour of
# the 1st are not a projection of 7,000.
MIN_ELAPSED = timedelta(days=1)


@dataclass(frozen=True)
class QuotaState:
    month: str  # YYYY-MM
    used: int
    limit: int | None  # None: no limit on this plan
    projected: int = 0  # the month's pushes at the rate so far
    ours: int = 0  # of `used`: the pushes Nippo itself sent

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.limit if self.limit else 0.0


def month_start(now: datetime) -> datetime:
    local = now.astimezone(LINE_ZONE)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def month_end(now: datetime) -> datetime:
    """The start of the next billing month."""
    return month_start(month_start(now) + timedelta(days=32))


def projected(used: int, now: datetime) -> int:
    """The month's pushes if they go on at this month's rate so far (at least `used`)."""
    start, end = month_start(now), month_end(now)
    elapsed = max(now - start, MIN_ELAPSED)
    if elapsed >= end - start:
        return used
    return max(used, round(used * ((end - start) / elapsed)))


async def pushes_this_month(session: AsyncSession, now: datetime) -> int:
    stmt = select(func.count()).where(
        OutboxMessage.platform == "line",
        OutboxMessage.via == "push",
        OutboxMessage.status == "sent",
        OutboxMessage.sent_at >= month_start(now),
    )
    return int((await session.execute(stmt)).scalar_one())


async def read(db: Database, api: AsyncMessagingApi, now: datetime) -> QuotaState:
    """LINE's quota and consumption beside our own count, and the month's projection."""
    limit_resp = await api.get_message_quota()
    used_resp = await api.get_message_quota_consumption()
    limit = limit_resp.value if str(limit_resp.type.value) == "limited" else None
    async with db.transaction() as session:
        ours = await pushes_this_month(session, now)
    used = max(ours, used_resp.total_usage)
    month = now.astimezone(LINE_ZONE).strftime("%Y-%m")
    return QuotaState(month, used, limit, projected(used, now), ours)


async def check(db: Database, api: AsyncMessagingApi, now: datetime) -> QuotaState:
    """Read the quota (`read`) and enqueue the warnings that are due."""
    state = await read(db, api, now)
    async with db.transaction() as session:
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
    text = texts.QUOTA_WARNING.format(
        percent=threshold, used=state.used, limit=state.limit, projected=state.projected
    )
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
