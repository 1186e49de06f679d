"""Helpers for scheduler tests: staff, schedule exceptions and the outbox as a timeline."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import admin
from storage.db import Database
from storage.models import Facility, OutboxMessage, ScheduleException

TOKYO = ZoneInfo("Asia/Tokyo")


async def add_staff(
    db: Database, facility_id: int, name: str, slack_user: str, role: str, now: datetime
) -> int:
    async with db.transaction() as session:
        facility = await session.get_one(Facility, facility_id)
        staff = await admin.add_staff(
            session, facility, name=name, slack_user=slack_user, role=role, now=now
        )
        return staff.id


async def add_exception(
    db: Database, member_id: int, day: date, mode: str, start: time | None, end: time | None
) -> None:
    async with db.transaction() as session:
        session.add(
            ScheduleException(member_id=member_id, date=day, mode=mode, start=start, end=end)
        )


async def effects(db: Database) -> list[tuple[str, str, str, str]]:
    """Scheduler and alert messages (not replies) as (local HH:MM, platform, recipient, key)."""
    async with db.transaction() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(~OutboxMessage.key.startswith("reply:"))
                .order_by(OutboxMessage.created_at, OutboxMessage.key)
            )
        ).all()
    return [
        (o.created_at.astimezone(TOKYO).strftime("%H:%M"), o.platform, o.recipient, o.key)
        for o in rows
    ]
