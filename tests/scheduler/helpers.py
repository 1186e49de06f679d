"""Helpers for scheduler tests: staff, schedule exceptions and the outbox as a timeline."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.services import admin
from storage.db import Database
from storage.models import Alert, Facility, OutboxMessage, ScheduleException

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


async def alert_ids(db: Database) -> dict[str, int]:
    """Every alert's id by its key."""
    async with db.transaction() as session:
        return {a.key: a.id for a in (await session.scalars(select(Alert))).all()}


def renotify_effects(
    alert_id: int, opened: str, until: str, recipient: str
) -> list[tuple[str, str, str, str]]:
    """The default ladder's re-notifications of an alert nobody takes (issue #15): +10, +20,
    then every 30 minutes, as `effects` lists them, up to the local time `until`."""
    day = date(2026, 1, 1)
    start = datetime.combine(day, time.fromisoformat(opened))
    last = datetime.combine(day, time.fromisoformat(until))
    out = []
    step, offset = 1, 10
    while start + timedelta(minutes=offset) <= last:
        at = (start + timedelta(minutes=offset)).strftime("%H:%M")
        out.append((at, "slack", recipient, f"renotify:{alert_id}:{step}"))
        step += 1
        offset = 20 if step == 2 else offset + 30
    return out


def split_renotify(keys: list[str]) -> tuple[list[str], list[str]]:
    """(everything else, the re-notifications), each in the order given."""
    return (
        [k for k in keys if not k.startswith("renotify:")],
        [k for k in keys if k.startswith("renotify:")],
    )
