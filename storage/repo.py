"""Queries and idempotent inserts shared by the services.

Every function takes the caller's session and never commits: the unit of work belongs to the
request or the job.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.domain import ReportSnapshot, ReportStatus, StaffRole, WorkedDay
from bot.core.payloads import Payload, to_json
from storage.models import (
    Base,
    DailyReport,
    Facility,
    Heartbeat,
    Identity,
    InboxEvent,
    Member,
    OutboxMessage,
    Schedule,
    ScheduleException,
    Staff,
)


def _insert(session: AsyncSession, model: type[Base] | Table) -> postgresql.Insert | sqlite.Insert:
    """A dialect-aware INSERT that can be told to ignore unique conflicts."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


_IGNORING: dict[tuple[str, str], Any] = {}  # (dialect, table): INSERT … ON CONFLICT DO NOTHING


async def insert_ignore(session: AsyncSession, model: type[Base], **values: Any) -> int | None:
    """Insert a row unless a unique constraint says it exists; the new id, or None. One
    statement per table, built once on the table (not the model) and run with the values as
    parameters: building it with `.values()` for each row, through the ORM's bulk insert,
    cost more than running it (bench/README.md, "One INSERT statement a table")."""
    table = cast(Table, model.__table__)
    key = (session.get_bind().dialect.name, table.name)
    stmt = _IGNORING.get(key)
    if stmt is None:  # built once: the values go as parameters, not into the statement
        stmt = _insert(session, table).on_conflict_do_nothing().returning(table.c.id)
        _IGNORING[key] = stmt
    row = (await session.execute(stmt, values)).first()  # the session flushes first
    return int(row[0]) if row is not None else None


async def add_inbox(
    session: AsyncSession, platform: str, event_id: str, body: dict[str, Any], now: datetime
) -> int | None:
    """Record a raw inbound event; None when the same platform event was stored before."""
    return await insert_ignore(
        session,
        InboxEvent,
        platform=platform,
        event_id=event_id,
        body=body,
        status="pending",
        attempts=0,
        received_at=now,
    )


def stored_payload(payload: Payload) -> dict[str, Any]:
    """The one place an outbox payload becomes its stored JSON (bot.core.payloads)."""
    return to_json(payload)


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    platform: str,
    recipient: str,
    payload: Payload,
    now: datetime,
    member_id: int | None = None,
    reply_token: str | None = None,
    reply_token_until: datetime | None = None,
    later: bool = False,
) -> int | None:
    """Put a message in the outbox once per key; None when the key was used before.
    `later`: where the transaction collects its outbox rows (`collect_later`), the row joins
    them, written with the others in one statement (`write_later`), and None is returned."""
    row = outbox_row(
        key=key,
        platform=platform,
        recipient=recipient,
        member_id=member_id,
        payload=payload,
        now=now,
    )
    row["reply_token"], row["reply_token_until"] = reply_token, reply_token_until
    collected: list[dict[str, Any]] | None = session.info.get(LATER)
    if later and collected is not None:
        collected.append(row)
        return None
    return await insert_ignore(session, OutboxMessage, **row)


LATER = "outbox_later"  # session.info: outbox rows waiting for `write_later`


def collect_later(session: AsyncSession) -> None:
    """From now on, outbox rows enqueued `later` wait in the session for `write_later`."""
    session.info[LATER] = []


async def write_later(session: AsyncSession) -> None:
    """Write the outbox rows collected so far in one multi-row INSERT: at the end of the
    inbox's batch, and before a statement that must see them (`accounts._unlink` cancelling
    an account's waiting messages)."""
    rows: list[dict[str, Any]] | None = session.info.get(LATER)
    if rows:
        session.info[LATER] = []
        await insert_many_ignore(session, OutboxMessage, rows)


async def identity_for(session: AsyncSession, platform: str, user_id: str) -> Identity | None:
    stmt = select(Identity).where(
        Identity.platform == platform, Identity.platform_user_id == user_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def identities_for(
    session: AsyncSession, platform: str, user_ids: Sequence[str]
) -> list[Identity]:
    """`identity_for` for many accounts in one query (an inbox batch's senders)."""
    if not user_ids:
        return []
    stmt = select(Identity).where(
        Identity.platform == platform, Identity.platform_user_id.in_(sorted(user_ids))
    )
    return list((await session.scalars(stmt)).all())


async def active_identity(
    session: AsyncSession, platform: str, user_id: str, now: datetime
) -> Identity:
    """The account that just wrote or followed, created unlinked on first contact; marked
    active either way (it is reachable again after an unfollow)."""
    identity = await identity_for(session, platform, user_id)
    if identity is None:
        identity = Identity(
            platform=platform,
            platform_user_id=user_id,
            active=True,
            link_failures=0,
            created_at=now,
        )
        session.add(identity)
        await session.flush()
    identity.active = True
    return identity


async def report_for(session: AsyncSession, member_id: int, day: date) -> DailyReport | None:
    stmt = select(DailyReport).where(
        DailyReport.member_id == member_id, DailyReport.business_date == day
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def report_and_previous(
    session: AsyncSession, member_id: int, day: date
) -> tuple[DailyReport | None, DailyReport | None]:
    """The member's 日報 for `day` and the latest one before it, in one query.

    Both rows come locked (FOR UPDATE on PostgreSQL; SQLite's writer lock is already held),
    so changes made to them later in the transaction need not re-read them.
    """
    stmt = (
        select(DailyReport)
        .where(DailyReport.member_id == member_id, DailyReport.business_date <= day)
        .order_by(DailyReport.business_date.desc())
        .limit(2)
        .with_for_update()
    )
    rows = list((await session.execute(stmt)).scalars())
    today = rows.pop(0) if rows and rows[0].business_date == day else None
    return today, (rows[0] if rows else None)


async def reports_and_previous(
    session: AsyncSession, member_ids: Sequence[int], day: date
) -> tuple[dict[int, DailyReport], dict[int, DailyReport]]:
    """`report_and_previous` for many members in two queries, both locked the same way: by
    member id, the 日報 of `day` and the latest one before it."""
    if not member_ids:
        return {}, {}
    ids = sorted(set(member_ids))
    today = select(DailyReport).where(
        DailyReport.member_id.in_(ids), DailyReport.business_date == day
    )
    earlier = (
        select(DailyReport.member_id, func.max(DailyReport.business_date).label("latest"))
        .where(DailyReport.member_id.in_(ids), DailyReport.business_date < day)
        .group_by(DailyReport.member_id)
        .subquery()
    )
    previous = select(DailyReport).join(
        earlier,
        (DailyReport.member_id == earlier.c.member_id)
        & (DailyReport.business_date == earlier.c.latest),
    )
    found = (await session.scalars(today.with_for_update())).all()
    before = (await session.scalars(previous.with_for_update(of=DailyReport))).all()
    return {r.member_id: r for r in found}, {r.member_id: r for r in before}


async def worked_days(
    session: AsyncSession, member_id: int, first: date, before: date
) -> tuple[WorkedDay, ...]:
    """The member's days from `first` up to (not including) `before` with a start recorded,
    oldest first: times only, so no encrypted column is read."""
    stmt = (
        select(DailyReport.business_date, DailyReport.start_at, DailyReport.end_at)
        .where(
            DailyReport.member_id == member_id,
            DailyReport.business_date >= first,
            DailyReport.business_date < before,
            DailyReport.start_at.is_not(None),
        )
        .order_by(DailyReport.business_date)
    )
    rows = (await session.execute(stmt)).all()
    return tuple(WorkedDay(d, s, e) for d, s, e in rows if s is not None)


def snapshot(report: DailyReport | None, day: date) -> ReportSnapshot:
    if report is None:
        return ReportSnapshot(business_date=day)
    return ReportSnapshot(
        business_date=report.business_date,
        status=ReportStatus(report.status),
        start_at=report.start_at,
        health_start=report.health_start,
        sleep_hours=report.sleep_hours,
        temperature=report.temperature,
        planned_work=report.planned_work,
        end_at=report.end_at,
        work_done=report.work_done,
        outputs=report.outputs,
        health_end=report.health_end,
        note=report.note,
    )


async def day_plan(
    session: AsyncSession, member: Member, day: date
) -> tuple[str, Schedule | ScheduleException | None]:
    """The member's mode for a date: a dated exception wins over the weekly pattern."""
    return (await day_plans(session, [member.id], day))[member.id]


async def day_plans(
    session: AsyncSession, member_ids: Sequence[int], day: date
) -> dict[int, tuple[str, Schedule | ScheduleException | None]]:
    """`day_plan` for many members in two queries (boards list a whole facility)."""
    plans: dict[int, tuple[str, Schedule | ScheduleException | None]] = {
        m: ("off", None) for m in member_ids
    }
    if not member_ids:
        return plans
    weekly = await session.execute(
        select(Schedule).where(
            Schedule.member_id.in_(member_ids), Schedule.weekday == day.weekday()
        )
    )
    for row in weekly.scalars():
        plans[row.member_id] = (row.mode, row)
    exceptions = await session.execute(
        select(ScheduleException).where(
            ScheduleException.member_id.in_(member_ids), ScheduleException.date == day
        )
    )
    for exc in exceptions.scalars():
        plans[exc.member_id] = (exc.mode, exc)
    return plans


async def facilities(session: AsyncSession) -> Sequence[Facility]:
    return (await session.execute(select(Facility).order_by(Facility.id))).scalars().all()


async def insert_many_ignore(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]], chunk: int = 500
) -> dict[str, int]:
    """Multi-row INSERT … ON CONFLICT DO NOTHING for keyed tables: {key: new id} of the rows
    that were new (bursts of reminders and alerts in one round trip per chunk)."""
    new: dict[str, int] = {}
    if not rows:
        return new
    table = model.__table__
    # executemany with RETURNING: SQLAlchemy batches it into multi-row statements
    # ("insertmanyvalues") compiled once, instead of one round trip per row.
    stmt = _insert(session, model).on_conflict_do_nothing().returning(table.c.key, table.c.id)
    for i in range(0, len(rows), chunk * 10):
        result = await session.execute(stmt, list(rows[i : i + chunk * 10]))
        new.update((str(k), int(v)) for k, v in result)
    return new


def outbox_row(
    *,
    key: str,
    platform: str,
    recipient: str,
    member_id: int | None,
    payload: Payload,
    now: datetime,
) -> dict[str, Any]:
    """The values of a new outbox row, for multi-row inserts (see `enqueue`)."""
    return {
        "key": key,
        "platform": platform,
        "recipient": recipient,
        "member_id": member_id,
        "payload": stored_payload(payload),
        "reply_token": None,
        "reply_token_until": None,
        "retry_key": str(uuid.uuid4()),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def heartbeat(session: AsyncSession, now: datetime) -> None:
    """Write the heartbeat row (a real write, committed by the caller)."""
    result = await session.execute(update(Heartbeat).where(Heartbeat.id == 1).values(at=now))
    if not result.rowcount:  # type: ignore[attr-defined]
        await insert_ignore(session, Heartbeat, id=1, at=now)


async def managers(
    session: AsyncSession, facility_id: int, *, on_slack: bool = False
) -> list[Staff]:
    """A facility's active managers in a stable order; `on_slack`: only those who can be
    mentioned or messaged in Slack."""
    stmt = select(Staff).where(
        Staff.facility_id == facility_id,
        Staff.role == StaffRole.MANAGER.value,
        Staff.active.is_(True),
    )
    if on_slack:
        stmt = stmt.where(Staff.slack_user_id.is_not(None))
    return list((await session.scalars(stmt.order_by(Staff.id))).all())
