"""One member's month as staff read it: each day's plan and what became of it, with the day's
日報 (its history and 修正理由), 支援記録 and evidence files. For the staff console's month page
and its print.

Evidence (photos, files, voice, video) is shown only while the member's consent covers it: on
the file's day and now. Nothing is kept without consent (bot/services/intake.py); once the
member withdraws it, staff no longer see the files here (the city's export still lists them,
marked, bot/queries/evidence.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.compliance import month_days
from bot.core.domain import DayMode, ReportStatus
from bot.services import consent, records
from bot.services.records import DayRecord, ReportHistory
from storage import repo
from storage.models import Attachment, DailyReport, Facility, Member

# What the console may show in the page itself; anything else is only offered as a download
# (a member's file could be HTML or SVG: never rendered on the console's origin).
INLINE_TYPES = {
    "image/jpeg": "image",
    "image/png": "image",
    "image/gif": "image",
    "image/webp": "image",
    "audio/m4a": "audio",
    "audio/x-m4a": "audio",
    "audio/mp4": "audio",
    "audio/aac": "audio",
    "audio/mpeg": "audio",
    "video/mp4": "video",
    "video/quicktime": "video",
}


@dataclass(frozen=True)
class EvidenceFile:
    """One kept file as the page lists it (its bytes come from `evidence_data`)."""

    attachment_id: int
    day: date
    content_type: str
    filename: str | None
    at: datetime  # when the member sent it

    @property
    def kind(self) -> str:
        """image | audio | video: shown in the page; file: a download link only."""
        return INLINE_TYPES.get(self.media_type, "file")

    @property
    def media_type(self) -> str:
        return self.content_type.split(";")[0].strip().lower()


@dataclass(frozen=True)
class MonthDay:
    day: date
    planned: str  # the DayMode value the schedule gives
    # What the day was (a key of texts.CONSOLE_DAY_MARKS): zaitaku | tsusho | absent |
    # missing (a 在宅 day up to today without a report) | off | planned (still ahead)
    mark: str
    history: ReportHistory | None
    records: tuple[DayRecord, ...]  # the day's 支援記録 (also in `history` when there is one)
    evidence: tuple[EvidenceFile, ...] = ()  # shown under consent only


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
        """The days with a 日報, a 支援記録 or evidence: what the printout lists."""
        return tuple(d for d in self.days if d.history is not None or d.records or d.evidence)


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
    files = await evidence_files(session, member, first, last)
    days = []
    for i in range((last - first).days + 1):
        d = first + timedelta(days=i)
        planned, _ = await repo.day_plan(session, member, d)
        report = reports.get(d)
        history = await records.report_history(session, member.id, d) if report else None
        kept = history.records if history else await records.day_records(session, member.id, d)
        days.append(
            MonthDay(d, planned, mark(planned, report, d, today), history, kept, files.get(d, ()))
        )
    return MemberMonth(
        member_id=member.id,
        name=member.name,
        recipient_no=member.recipient_no,
        facility_name=facility.name,
        tz=facility.tz,
        first=first,
        days=tuple(days),
    )


def _shown(terms: list[consent.Term], day: date) -> bool:
    covers = consent.covered(terms, day) & consent.current(terms)
    return consent.EVIDENCE in covers


async def evidence_files(
    session: AsyncSession, member: Member, first: date, last: date, attachment_id: int | None = None
) -> dict[date, tuple[EvidenceFile, ...]]:
    """The member's evidence from `first` to `last` by day, in the order it came, as far as
    consent lets staff see it (`attachment_id`: that one file only)."""
    stmt = (
        select(
            Attachment.id,
            DailyReport.business_date,
            Attachment.content_type,
            Attachment.filename,
            Attachment.at,
        )
        .join(DailyReport, Attachment.report_id == DailyReport.id)
        .where(DailyReport.member_id == member.id, DailyReport.business_date.between(first, last))
        .order_by(DailyReport.business_date, Attachment.at, Attachment.id)
    )
    if attachment_id is not None:
        stmt = stmt.where(Attachment.id == attachment_id)
    terms = (await consent.terms_of(session, [member.id]))[member.id]
    out: dict[date, list[EvidenceFile]] = {}
    for aid, day, content_type, filename, at in (await session.execute(stmt)).all():
        if _shown(terms, day):
            out.setdefault(day, []).append(EvidenceFile(int(aid), day, content_type, filename, at))
    return {d: tuple(fs) for d, fs in out.items()}


async def evidence_data(
    session: AsyncSession, member: Member, attachment_id: int
) -> tuple[EvidenceFile, bytes] | None:
    """One of the member's files and its bytes, None when it is not theirs, gone, or not
    covered by their consent."""
    found = await evidence_files(session, member, date.min, date.max, attachment_id)
    files = [f for fs in found.values() for f in fs]
    if not files:
        return None
    file = files[0]
    data = await session.scalar(select(Attachment.data).where(Attachment.id == attachment_id))
    return (file, bytes(data)) if data is not None else None
