"""One member's month as staff read it: each day's plan and what became of it, with the day's
日報 (its history and 修正理由) and 支援記録. For the staff console's month page and its print."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.compliance import month_days
from bot.core.domain import DayMode, ReportStatus
from bot.services import records
from bot.services.records import DayRecord, ReportHistory
from storage import repo
from storage.models import DailyReport, Facility, Member


@dataclass(frozen=True)
class MonthDay:
    day: date
    planned: str  # the DayMode value the schedule gives
    # What the day was (a key of texts.CONSOLE_DAY_MARKS): zaitaku | tsusho | absent |
    # missing (a 在宅 day up to today without a report) | off | planned (still ahead)
    mark: str
    history: ReportHistory | None
    records: tuple[DayRecord, ...]  # the day's 支援記録 (also in `history` when there is one)


@dataclass(frozen=True)
class MemberMonth:
    member_id: int
    name: str
    recipient_no: str | None
    facility_name: str
    tz: str
    first: date
    days: tuple[MonthDay, ...]

    @property
    def kept(self) -> tuple[MonthDay, ...]:
        """The days with a 日報 or a 支援記録: what the printout lists."""
        return tuple(d for d in self.days if d.history is not None or d.records)


def mark(planned: str, report: DailyReport | None, day: date, today: date) -> str:
    if report is not None and report.status == ReportStatus.ABSENT.value:
        return "absent"
    if report is not None and report.status != ReportStatus.OPEN.value:
        return "tsusho" if report.mode == DayMode.TSUSHO.value else "zaitaku"
    if planned == DayMode.ZAITAKU.value:
        return "missing" if day <= today else "planned"
    return planned  # tsusho | off


async def member_month(
    session: AsyncSession, member: Member, month: date, today: date
) -> MemberMonth:
    facility = await session.get_one(Facility, member.facility_id)
    first, last = month_days(month)
    stmt = select(DailyReport).where(
        DailyReport.member_id == member.id,
        DailyReport.business_date >= first,
        DailyReport.business_date <= last,
    )
    reports = {r.business_date: r for r in (await session.execute(stmt)).scalars()}
    days = []
    for i in range((last - first).days + 1):
        d = first + timedelta(days=i)
        planned, _ = await repo.day_plan(session, member, d)
        report = reports.get(d)
        history = await records.report_history(session, member.id, d) if report else None
        kept = history.records if history else await records.day_records(session, member.id, d)
        days.append(MonthDay(d, planned, mark(planned, report, d, today), history, kept))
    return MemberMonth(
        member_id=member.id,
        name=member.name,
        recipient_no=member.recipient_no,
        facility_name=facility.name,
        tz=facility.tz,
        first=first,
        days=tuple(days),
    )
