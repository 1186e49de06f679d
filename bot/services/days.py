"""Use case: staff classify a day the member reported outside the plan (issue #16 §2).

A report on a day with no 在宅 planned is recorded as said and flagged (`flags["day"]`); a
planned 通所 day the member spent at home is flagged too. Until staff say what the day was,
the month view does not count it as 在宅. Classifying sets the 日報's mode, keeps the change as
a `mode` revision with the staff member and the reason (修正理由), clears the flag, voids a
sign-off (the day changed after it was confirmed) and closes the notice staff were sent.
Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import provenance, texts
from bot.core.domain import DAY_FLAG, DAY_TSUSHO_AT_HOME, DayMode
from bot.services import records
from bot.services.checkin import MODE_FIELD, UNPLANNED_ALERT_KIND
from bot.services.records import RecordsError
from storage import repo
from storage.models import Alert, Facility, Member, ReportRevision, Staff

CLASSIFY_SOURCE = "staff_classify"
DAY_ALERT_KINDS = (UNPLANNED_ALERT_KIND, DAY_TSUSHO_AT_HOME)


@dataclass(frozen=True)
class Classified:
    before: str
    after: str
    flag_cleared: str | None  # the flag the day carried ("unplanned", …), now gone
    sign_off_voided: bool
    notices_closed: int  # open staff notices about the day, now resolved


async def classify_day(
    session: AsyncSession,
    member: Member,
    day: date,
    mode: DayMode,
    staff: Staff,
    reason: str,
    now: datetime,
) -> Classified:
    """Record what the day was (在宅, 通所 or no service) as staff decided, with why."""
    why = reason.strip()
    if not why:
        raise RecordsError(texts.REASON_REQUIRED)
    if staff.facility_id != member.facility_id or not staff.active:
        raise RecordsError(f"no active staff member with id {staff.id} at this facility")
    report = await repo.report_for(session, member.id, day)
    if report is None:
        raise RecordsError(f"no 日報 for {member.name} on {day.isoformat()}")
    await session.refresh(report, with_for_update=True)
    facility = await session.get_one(Facility, member.facility_id)
    late = provenance.is_late_for_day(day, now, facility.late_entry_grace_hours, facility.tz)
    before = report.mode
    revision = dict(report_id=report.id, by_staff_id=staff.id, at=now, late=late)
    # Kept even when the mode stays (a day staff confirm as 休み): the decision is the record.
    session.add(
        ReportRevision(
            field=MODE_FIELD,
            before=before,
            after=mode.value,
            source=CLASSIFY_SOURCE,
            reason=why,
            **revision,
        )
    )
    report.mode = mode.value
    flags = dict(report.flags or {})
    flag = flags.pop(DAY_FLAG, None)
    report.flags = flags
    voided = report.signed_off_at is not None
    if voided:
        session.add(
            ReportRevision(
                field=records.SIGN_OFF_FIELD,
                before=f"staff:{report.signed_off_by}",
                after=None,
                source=records.SIGN_OFF_VOIDED,
                reason=texts.SIGN_OFF_VOIDED_REASON.format(label=texts.FIELD_LABELS[MODE_FIELD]),
                **revision,
            )
        )
        report.signed_off_by, report.signed_off_at, report.signoff_voided_at = None, None, now
    report.updated_at = now
    label = texts.DAY_MODE_LABELS[mode.value]
    closed = await session.execute(
        update(Alert)
        .where(
            Alert.member_id == member.id,
            Alert.business_date == day,
            Alert.kind.in_(DAY_ALERT_KINDS),
            Alert.state.in_(("open", "acked")),
        )
        .values(
            state="resolved",
            resolved_by=staff.id,
            resolved_at=now,
            resolution=texts.DAY_CLASSIFIED.format(mode=label, reason=why),
        )
        .returning(Alert.id)
    )
    await session.flush()
    return Classified(before, mode.value, flag, voided, len(closed.all()))
