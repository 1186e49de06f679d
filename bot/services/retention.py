"""Use case: delete records older than the retention period (R7: 5 years from the service date).

Dry-run by default. The period can be longer than 5 years, never shorter, and the cut-off is
computed by the pure `bot.core.compliance.retention_cutoff`, so nothing younger can go. Dependent
rows are deleted before the rows they point to; members themselves are kept.

The raw copies go with the records: outbox payloads and conversation states of the facility's
members by their dates, and raw inbound events (which belong to no facility until handled)
installation-wide, by the earliest cut-off of any facility, so none goes before its records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.calendar import business_date
from bot.core.compliance import retention_cutoff
from bot.services.admin import AdminError, audit
from storage import repo
from storage.models import (
    Alert,
    Attachment,
    Base,
    Conversation,
    DailyReport,
    Evaluation,
    Facility,
    InboxEvent,
    Member,
    OutboxMessage,
    ReportRevision,
    SupportRecord,
)

MIN_YEARS = 5
INSTALLATION = 0  # the facility_id of the installation-wide entry (raw inbound events)


@dataclass(frozen=True)
class FacilityRetention:
    facility_id: int  # INSTALLATION for the raw inbound events
    cutoff: date  # records with a service date before this may go
    counts: dict[str, int]


def check_years(years: int) -> int:
    if years < MIN_YEARS:
        raise AdminError(f"records are kept at least {MIN_YEARS} years; refusing {years}")
    return years


def _conditions(facility: Facility, cutoff: date) -> dict[str, tuple[type[Base], object]]:
    members = select(Member.id).where(Member.facility_id == facility.id)
    cutoff_at = datetime.combine(cutoff, time(0), ZoneInfo(facility.tz))
    old_reports = select(DailyReport.id).where(
        DailyReport.member_id.in_(members), DailyReport.business_date < cutoff
    )
    return {
        "report_revision": (ReportRevision, ReportRevision.report_id.in_(old_reports)),
        "attachment": (Attachment, Attachment.report_id.in_(old_reports)),
        "support_record": (
            SupportRecord,
            SupportRecord.member_id.in_(members) & (SupportRecord.business_date < cutoff),
        ),
        "alert": (Alert, Alert.member_id.in_(members) & (Alert.business_date < cutoff)),
        "daily_report": (DailyReport, DailyReport.id.in_(old_reports)),
        "evaluation": (
            Evaluation,
            Evaluation.member_id.in_(members) & (Evaluation.date < cutoff),
        ),
        "outbox_message": (
            OutboxMessage,
            OutboxMessage.member_id.in_(members) & (OutboxMessage.created_at < cutoff_at),
        ),
        "conversation": (
            Conversation,
            Conversation.member_id.in_(members) & (Conversation.updated_at < cutoff_at),
        ),
    }


async def run(
    session: AsyncSession, now: datetime, *, years: int, apply: bool, actor: str
) -> list[FacilityRetention]:
    """Count (and with `apply`, delete) what is past retention, per facility."""
    check_years(years)
    out = []
    earliest: datetime | None = None
    for facility in await repo.facilities(session):
        today = business_date(facility.tz, now)
        cutoff = retention_cutoff(today, years)
        cutoff_at = datetime.combine(cutoff, time(0), ZoneInfo(facility.tz))
        earliest = cutoff_at if earliest is None else min(earliest, cutoff_at)
        counts: dict[str, int] = {}
        for name, (model, where) in _conditions(facility, cutoff).items():
            count = select(func.count()).select_from(model).where(where)  # type: ignore[arg-type]
            counts[name] = int((await session.execute(count)).scalar_one())
            if apply and counts[name]:
                await session.execute(delete(model).where(where))  # type: ignore[arg-type]
        await audit(
            session,
            actor=actor,
            action="retention_apply" if apply else "retention_dry_run",
            target=f"facility:{facility.id}",
            now=now,
            cutoff=cutoff.isoformat(),
            years=years,
            counts=counts,
        )
        out.append(FacilityRetention(facility.id, cutoff, counts))
    if earliest is not None:
        out.append(await _inbox(session, earliest, now, apply=apply, actor=actor, years=years))
    return out


async def _inbox(
    session: AsyncSession,
    cutoff_at: datetime,
    now: datetime,
    *,
    apply: bool,
    actor: str,
    years: int,
) -> FacilityRetention:
    """Raw inbound events older than every facility's cut-off (their duplicates are long past
    any platform's redelivery)."""
    where = InboxEvent.received_at < cutoff_at
    count = int(
        (
            await session.execute(select(func.count()).select_from(InboxEvent).where(where))
        ).scalar_one()
    )
    if apply and count:
        await session.execute(delete(InboxEvent).where(where))
    counts = {"inbox_event": count}
    await audit(
        session,
        actor=actor,
        action="retention_apply" if apply else "retention_dry_run",
        target="installation",
        now=now,
        cutoff=cutoff_at.date().isoformat(),
        years=years,
        counts=counts,
    )
    return FacilityRetention(INSTALLATION, cutoff_at.date(), counts)
