"""Read models for staff: the day's status board, one 日報 with its revisions, a week, alerts.

Plain dataclasses out, so the Slack adapter renders without touching the ORM. Callers write
the audit row (who viewed what) through `bot.services.admin.audit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import texts
from bot.core.calendar import business_date
from bot.core.domain import AlertLevel, DayMode, ReportSnapshot, ReportStatus
from bot.core.hours import BusinessHours
from bot.services import admin
from storage import repo
from storage.models import (
    Alert,
    DailyReport,
    Facility,
    FacilityClosure,
    Member,
    ReportRevision,
    Staff,
)


class Standing(IntEnum):
    """Where a member stands on the board, problems first (the board's order)."""

    ALERT = 0  # an open crisis or urgent alert
    MISSING = 1  # 未報告: the planned start has passed with no word
    WORRYING = 2  # an open watch-level alert, or a low 体調 answer
    WORKING = 3  # started (or half-way through the end)
    UPCOMING = 4  # nothing yet, and the planned start is still to come
    ENDED = 5
    ABSENT = 6


SERIOUS = (AlertLevel.CRISIS.value, AlertLevel.URGENT.value)
LEVEL_ORDER = {"crisis": 0, "urgent": 1, "warning": 2, "info": 3}  # worst first
LOW_HEALTH = 2  # 体調 2 and below are worrying (bot.core.concern: 2 watch, 1 urgent)


@dataclass(frozen=True)
class BoardRow:
    member_id: int
    name: str
    planned_start: time | None
    planned_end: time | None
    report: ReportSnapshot
    overdue_minutes: int | None  # planned start passed and no start reported (today only)
    absence_note: str | None = None
    alerts: tuple[AlertItem, ...] = ()  # the member's open alerts (notices aside), worst first

    @property
    def standing(self) -> Standing:
        levels = {a.level for a in self.alerts}
        r = self.report
        if levels & set(SERIOUS):
            return Standing.ALERT
        if self.overdue_minutes is not None:
            return Standing.MISSING
        health = [h for h in (r.health_start, r.health_end) if h is not None]
        if AlertLevel.WARNING.value in levels or (health and min(health) <= LOW_HEALTH):
            return Standing.WORRYING
        return {
            ReportStatus.STARTED: Standing.WORKING,
            ReportStatus.ENDING: Standing.WORKING,
            ReportStatus.ENDED: Standing.ENDED,
            ReportStatus.ABSENT: Standing.ABSENT,
        }.get(r.status, Standing.UPCOMING)


@dataclass(frozen=True)
class AlertItem:
    alert_id: int
    member_id: int
    member_name: str
    kind: str
    title: str
    level: str
    state: str
    detail: str
    opened_at: datetime
    acked_by: str | None
    acked_at: datetime | None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None


@dataclass(frozen=True)
class Board:
    facility_name: str
    tz: str
    day: date
    rows: tuple[BoardRow, ...]
    alerts: tuple[AlertItem, ...]
    is_today: bool = True  # a past day's missing reports are not "overdue by N minutes"
    mine: bool = False  # only the viewer's 担当 (`/nippo status mine`)
    plan: bool = False  # a day to come: who is planned, and when (`/nippo tomorrow`)

    def count(self, status: ReportStatus) -> int:
        return sum(1 for r in self.rows if r.report.status is status)

    @property
    def ranked(self) -> list[BoardRow]:
        """Problems first: serious alerts (worst, oldest first), then 未報告 (longest overdue
        first), worrying answers, working, yet to start, ended, absent."""

        def key(r: BoardRow) -> tuple[int, int, int, str, int]:
            worst = min((LEVEL_ORDER.get(a.level, 9) for a in r.alerts), default=9)
            start = r.planned_start.hour * 60 + r.planned_start.minute if r.planned_start else 0
            return (r.standing, worst, -(r.overdue_minutes or 0), f"{start:04d}", r.member_id)

        return sorted(self.rows, key=key)

    @property
    def missing(self) -> int:
        return sum(1 for r in self.rows if r.overdue_minutes is not None)


@dataclass(frozen=True)
class Revision:
    field: str
    before: str | None
    after: str | None
    source: str
    at: datetime
    late: bool = False  # 事後記録
    reason: str | None = None  # 修正理由 (a sign-off's advice)
    by_name: str | None = None  # the staff member who made it (None: the member)


@dataclass(frozen=True)
class ReportView:
    member_id: int
    name: str
    tz: str
    mode: str
    report: ReportSnapshot
    revisions: tuple[Revision, ...]
    flags: dict[str, str]


async def staff_by_slack(session: AsyncSession, slack_user_id: str) -> Staff | None:
    """An active registered staff member or manager, else None (anyone else sees nothing)."""
    stmt = select(Staff).where(Staff.slack_user_id == slack_user_id, Staff.active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def status_board(
    session: AsyncSession,
    facility: Facility,
    day: date,
    now: datetime,
    *,
    staff_id: int | None = None,
) -> Board:
    """Every member working from home on `day`, with what they reported and what is missing;
    `staff_id`: only the members that staff member is 担当 (or 代理) of."""
    tz = ZoneInfo(facility.tz)
    members = await admin.list_members(session, facility)
    if staff_id is not None:
        members = [m for m in members if staff_id in (m.primary_staff_id, m.substitute_staff_id)]
    reports = await _reports(session, [m.id for m in members], day, day)
    plans = await repo.day_plans(session, [m.id for m in members], day)
    alerts = await open_alerts(session, facility)
    if staff_id is not None:
        alerts = [a for a in alerts if a.member_id in {m.id for m in members}]
    # notices (an absence) inform; the row says it already
    pressing = [a for a in alerts if a.level != AlertLevel.INFO.value]
    rows = []
    for m in members:
        mode, plan = plans[m.id]
        report = reports.get((m.id, day))
        if mode != DayMode.ZAITAKU.value and report is None:
            continue
        start = plan.start if plan is not None else None
        snap = repo.snapshot(report, day)
        rows.append(
            BoardRow(
                member_id=m.id,
                name=m.name,
                planned_start=start,
                planned_end=plan.end if plan is not None else None,
                report=snap,
                overdue_minutes=_overdue(snap, day, start, tz, now),
                absence_note=report.absence_note if report is not None else None,
                alerts=tuple(
                    sorted(
                        (a for a in pressing if a.member_id == m.id),
                        key=lambda a: (LEVEL_ORDER.get(a.level, 9), a.opened_at),
                    )
                ),
            )
        )
    today = business_date(facility.tz, now)
    return Board(
        facility_name=facility.name,
        tz=facility.tz,
        day=day,
        rows=tuple(rows),
        alerts=tuple(alerts),
        is_today=day == today,
        mine=staff_id is not None,
        plan=day > today,
    )


async def next_business_day(session: AsyncSession, facility: Facility, after: date) -> date:
    """The facility's next open day after `after`: its business weekdays, not a public
    holiday (unless it opens on those) nor a closure day."""
    hours = BusinessHours.from_json(facility.business_hours)
    closed = set(
        await session.scalars(
            select(FacilityClosure.date).where(
                FacilityClosure.facility_id == facility.id,
                FacilityClosure.date > after,
                FacilityClosure.date <= after + timedelta(days=31),
            )
        )
    )
    for ahead in range(1, 32):
        day = after + timedelta(days=ahead)
        if hours.is_open_day(day) and day not in closed:
            return day
    return after + timedelta(days=1)


def _overdue(
    snap: ReportSnapshot, day: date, start: time | None, tz: ZoneInfo, now: datetime
) -> int | None:
    if start is None or snap.status is not ReportStatus.OPEN:
        return None
    planned = datetime.combine(day, start, tzinfo=tz)
    if now <= planned:
        return None
    return int((now - planned).total_seconds() // 60)


async def _reports(
    session: AsyncSession, member_ids: Sequence[int], first: date, last: date
) -> dict[tuple[int, date], DailyReport]:
    if not member_ids:
        return {}
    stmt = select(DailyReport).where(
        DailyReport.member_id.in_(member_ids),
        DailyReport.business_date >= first,
        DailyReport.business_date <= last,
    )
    return {(r.member_id, r.business_date): r for r in (await session.execute(stmt)).scalars()}


async def open_alerts(
    session: AsyncSession, facility: Facility, *, acked_by: int | None = None
) -> list[AlertItem]:
    """Alerts not yet resolved for the facility's members (optionally: taken by one staff)."""
    stmt = (
        select(Alert, Member)
        .join(Member, Member.id == Alert.member_id)
        .where(Member.facility_id == facility.id, Alert.state.in_(("open", "acked")))
        .order_by(Alert.opened_at, Alert.id)
    )
    if acked_by is not None:
        stmt = stmt.where(Alert.acked_by == acked_by)
    rows = (await session.execute(stmt)).all()
    names = await _staff_names(session, [a.acked_by for a, _ in rows])
    return [_item(a, m, names) for a, m in rows]


async def alert_item(session: AsyncSession, alert_id: int) -> AlertItem | None:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        return None
    member = await session.get_one(Member, alert.member_id)
    names = await _staff_names(session, [alert.acked_by, alert.resolved_by])
    return _item(alert, member, names)


def _item(a: Alert, m: Member, names: dict[int, str]) -> AlertItem:
    return AlertItem(
        alert_id=a.id,
        member_id=m.id,
        member_name=m.name,
        kind=a.kind,
        title=texts.CONCERN_TITLES.get(a.kind, a.kind),
        level=a.level,
        state=a.state,
        detail=a.detail,
        opened_at=a.opened_at,
        acked_by=names.get(a.acked_by) if a.acked_by else None,
        acked_at=a.acked_at,
        resolved_by=names.get(a.resolved_by) if a.resolved_by else None,
        resolved_at=a.resolved_at,
        resolution=a.resolution,
    )


async def _staff_names(session: AsyncSession, ids: Sequence[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(wanted)))
    return {int(i): str(n) for i, n in rows.all()}


async def report_view(session: AsyncSession, member: Member, day: date) -> ReportView:
    """One member's 日報 for a day with every change made to it."""
    facility = await session.get_one(Facility, member.facility_id)
    report = await repo.report_for(session, member.id, day)
    mode, _ = await repo.day_plan(session, member, day)
    revisions: tuple[Revision, ...] = ()
    if report is not None:
        stmt = (
            select(ReportRevision)
            .where(ReportRevision.report_id == report.id)
            .order_by(ReportRevision.at, ReportRevision.id)
        )
        rows = list((await session.execute(stmt)).scalars())
        names = await _staff_names(session, [r.by_staff_id for r in rows])
        revisions = tuple(
            Revision(
                r.field,
                r.before,
                r.after,
                r.source,
                r.at,
                late=r.late,
                reason=r.reason,
                by_name=names.get(r.by_staff_id) if r.by_staff_id else None,
            )
            for r in rows
        )
    return ReportView(
        member_id=member.id,
        name=member.name,
        tz=facility.tz,
        mode=report.mode if report is not None else mode,
        report=repo.snapshot(report, day),
        revisions=revisions,
        flags=dict(report.flags or {}) if report is not None else {},
    )


@dataclass(frozen=True)
class WeekRow:
    member_id: int
    name: str
    days: tuple[tuple[date, str, ReportSnapshot], ...]  # (date, planned mode, report)


async def week(
    session: AsyncSession, facility: Facility, members: Sequence[Member], last: date
) -> tuple[WeekRow, ...]:
    """Seven days ending on `last` for each member."""
    first = last - timedelta(days=6)
    reports = await _reports(session, [m.id for m in members], first, last)
    out = []
    for m in members:
        days = []
        for i in range(7):
            d = first + timedelta(days=i)
            mode, _ = await repo.day_plan(session, m, d)
            days.append((d, mode, repo.snapshot(reports.get((m.id, d)), d)))
        out.append(WeekRow(m.id, m.name, tuple(days)))
    return tuple(out)
