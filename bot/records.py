"""Use cases on the records staff keep: 日報 edits and sign-off, 支援記録, evaluations, 担当.

Every 日報 change goes through `record_change`, the one place that writes a field: it locks the
report row (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
writers) unless the caller read it locked in the same transaction, compares with the current
value and keeps a revision, so the current value always equals the last revision's `after` and
concurrent member and staff edits never lose one another. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import AdminError
from bot.domain import FieldValue, ReportField, ReportStatus, SupportKind
from storage import repo
from storage.models import (
    DailyReport,
    Evaluation,
    Facility,
    Member,
    ReportRevision,
    Staff,
    SupportRecord,
)

SIGN_OFF_FIELD = "signed_off"

# What staff type (Japanese, as on the forms) → the stored channel / method value.
CONTACT_METHODS = {
    "電話": "phone",
    "訪問": "visit",
    "通所": "tsusho",
    "メッセージ": "message",
    "ビデオ": "video",
}
EVALUATION_METHODS = {"訪問": "visit", "通所": "tsusho", "電話": "phone", "ICT": "ict"}
EVALUATION_KINDS = ("weekly", "monthly")
SHEET_FIELDS = (
    "goal",
    "activities",
    "achievement",
    "issues",
    "plan",
    "health_notes",
    "continuation",
)


class RecordsError(AdminError):
    """A request about records that cannot be done as asked; the message says why."""


# --- one change to one 日報 field ----------------------------------------------------------


async def record_change(
    session: AsyncSession,
    report: DailyReport,
    field: ReportField,
    value: FieldValue,
    *,
    at: datetime,
    source: str,
    by_member_id: int | None = None,
    by_staff_id: int | None = None,
    clears_flag: bool = False,
    locked: bool = False,
) -> bool:
    """Set one field and keep the change as a revision; False when the value is unchanged.

    `locked`: the caller read (or created) the report under a row lock in this transaction,
    so its values are current and need not be read again. The row and its revision are
    written at the next flush (one UPDATE for several fields changed in a row).
    """
    if not locked:
        await session.flush()  # pending changes first: the refresh below reloads the row
        await session.refresh(report, with_for_update=True)
    before: FieldValue = getattr(report, field.value)
    if before == value:
        return False
    setattr(report, field.value, value)
    session.add(
        ReportRevision(
            report_id=report.id,
            field=field.value,
            before=_text(before),
            after=_text(value),
            by_member_id=by_member_id,
            by_staff_id=by_staff_id,
            source=source,
            at=at,
        )
    )
    if field is ReportField.START_AT and report.status in ("open", "absent"):
        report.status = ReportStatus.STARTED.value
    if field is ReportField.END_AT and value is not None:
        report.status = ReportStatus.ENDED.value
    if clears_flag and report.flags and field.value in report.flags:
        report.flags = {k: v for k, v in report.flags.items() if k != field.value}
    report.updated_at = at
    return True


def _text(v: FieldValue) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.astimezone(UTC).isoformat()  # one zone in the history, whatever came in
    return str(v)


def parse_value(field: ReportField, text: str, day: date, tz: str) -> FieldValue:
    """A value typed by staff for a field: HH:MM times on the report's date, numbers, text."""
    text = text.strip()
    if not text:
        return None
    try:
        if field in (ReportField.START_AT, ReportField.END_AT):
            return datetime.combine(day, time.fromisoformat(text.zfill(5)), ZoneInfo(tz))
        if field in (ReportField.HEALTH_START, ReportField.HEALTH_END):
            health = int(text)
            if not 1 <= health <= 5:
                raise ValueError(text)
            return health
        if field in (ReportField.SLEEP_HOURS, ReportField.TEMPERATURE):
            return float(text)
    except ValueError as exc:
        raise RecordsError(f"{text!r} is not a valid value for {field.value}") from exc
    return text


async def staff_edit(
    session: AsyncSession,
    report_id: int,
    field: str,
    value: FieldValue,
    staff_id: int,
    now: datetime,
) -> bool:
    """Staff correct a 日報 field (a string value is parsed for the field's type)."""
    try:
        report_field = ReportField(field)
    except ValueError as exc:
        names = ", ".join(f.value for f in ReportField)
        raise RecordsError(f"unknown field {field!r}; choose one of {names}") from exc
    report = await session.get(DailyReport, report_id)
    if report is None:
        raise RecordsError(f"no 日報 with id {report_id}")
    member = await session.get_one(Member, report.member_id)
    await _staff(session, staff_id, member)
    if isinstance(value, str):
        facility = await session.get_one(Facility, member.facility_id)
        value = parse_value(report_field, value, report.business_date, facility.tz)
    return await record_change(
        session,
        report,
        report_field,
        value,
        at=now,
        source="staff_edit",
        by_staff_id=staff_id,
        clears_flag=True,
    )


async def sign_off(session: AsyncSession, report_id: int, staff_id: int, now: datetime) -> None:
    """A staff member confirms the day's 日報: who and when, kept as a revision too."""
    report = await session.get(DailyReport, report_id)
    if report is None:
        raise RecordsError(f"no 日報 with id {report_id}")
    staff = await _staff(session, staff_id, await session.get_one(Member, report.member_id))
    await session.refresh(report, with_for_update=True)
    before = f"staff:{report.signed_off_by}" if report.signed_off_by else None
    report.signed_off_by, report.signed_off_at = staff.id, now
    session.add(
        ReportRevision(
            report_id=report.id,
            field=SIGN_OFF_FIELD,
            before=before,
            after=f"staff:{staff.id}",
            by_staff_id=staff.id,
            source="sign_off",
            at=now,
        )
    )
    await session.flush()


async def _staff(session: AsyncSession, staff_id: int, member: Member) -> Staff:
    """An active staff member of the member's own facility: no one edits another's records."""
    staff = await session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.facility_id != member.facility_id:
        raise RecordsError(f"no active staff member with id {staff_id} at this facility")
    return staff


# --- history -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevisionView:
    field: str
    before: str | None
    after: str | None
    source: str
    by: str  # member:ID or staff:ID
    by_name: str
    at: datetime


@dataclass(frozen=True)
class ReportHistory:
    report_id: int
    business_date: date
    status: str
    current: dict[str, FieldValue]
    signed_off_by: str | None
    signed_off_at: datetime | None
    revisions: tuple[RevisionView, ...]


async def report_history(session: AsyncSession, member_id: int, day: date) -> ReportHistory | None:
    """The day's 日報 as it stands, with every change that led there, oldest first."""
    report = (
        await session.execute(
            select(DailyReport).where(
                DailyReport.member_id == member_id, DailyReport.business_date == day
            )
        )
    ).scalar_one_or_none()
    if report is None:
        return None
    revs = (
        (
            await session.execute(
                select(ReportRevision)
                .where(ReportRevision.report_id == report.id)
                .order_by(ReportRevision.at, ReportRevision.id)
            )
        )
        .scalars()
        .all()
    )
    names = await _names(session, revs, report)
    signer = await session.get(Staff, report.signed_off_by) if report.signed_off_by else None
    return ReportHistory(
        report_id=report.id,
        business_date=report.business_date,
        status=report.status,
        current={f.value: getattr(report, f.value) for f in ReportField},
        signed_off_by=signer.name if signer else None,
        signed_off_at=report.signed_off_at,
        revisions=tuple(
            RevisionView(
                field=r.field,
                before=r.before,
                after=r.after,
                source=r.source,
                by=_who(r),
                by_name=names.get(_who(r), ""),
                at=r.at,
            )
            for r in revs
        ),
    )


def _who(r: ReportRevision) -> str:
    return f"staff:{r.by_staff_id}" if r.by_staff_id is not None else f"member:{r.by_member_id}"


async def _names(
    session: AsyncSession, revs: Sequence[ReportRevision], report: DailyReport
) -> dict[str, str]:
    out: dict[str, str] = {}
    member = await session.get(Member, report.member_id)
    if member is not None:
        out[f"member:{member.id}"] = member.name
    for staff_id in {r.by_staff_id for r in revs if r.by_staff_id is not None}:
        staff = await session.get(Staff, staff_id)
        if staff is not None:
            out[f"staff:{staff_id}"] = staff.name
    return out


# --- 支援記録 logged by hand ---------------------------------------------------------------


def contact_channel(method: str) -> str:
    """電話 → phone …; the English values are accepted too."""
    method = method.strip()
    if method in CONTACT_METHODS:
        return CONTACT_METHODS[method]
    if method in CONTACT_METHODS.values():
        return method
    raise RecordsError(f"unknown method {method!r}; use {'/'.join(CONTACT_METHODS)}")


async def log_contact(
    session: AsyncSession,
    member_id: int,
    staff_id: int | None,
    method: str,
    text: str,
    at: datetime,
    now: datetime | None = None,
) -> SupportRecord:
    """A contact staff made by phone, visit, 通所, message or video, as a 支援記録 entry."""
    channel = contact_channel(method)
    if not text.strip():
        raise RecordsError("write what was talked about or checked (--text)")
    member = await session.get(Member, member_id)
    if member is None:
        raise RecordsError(f"no member with id {member_id}")
    if staff_id is not None:
        await _staff(session, staff_id, member)
    facility = await session.get_one(Facility, member.facility_id)
    record = SupportRecord(
        member_id=member.id,
        business_date=at.astimezone(ZoneInfo(facility.tz)).date(),
        at=at,
        kind=SupportKind.STAFF_CONTACT.value,
        channel=channel,
        staff_id=staff_id,
        content=text.strip(),
        entered_at=now or at,
        entered_by=f"staff:{staff_id}" if staff_id is not None else "cli",
    )
    session.add(record)
    await session.flush()
    return record


# --- evaluations (R5, R6) ------------------------------------------------------------------


def evaluation_method(method: str) -> str:
    method = method.strip()
    if method in EVALUATION_METHODS:
        return EVALUATION_METHODS[method]
    if method.lower() in EVALUATION_METHODS.values():
        return method.lower()
    raise RecordsError(f"unknown method {method!r}; use {'/'.join(EVALUATION_METHODS)}")


async def record_evaluation(
    session: AsyncSession,
    member_id: int,
    *,
    kind: str,
    day: date,
    method: str,
    now: datetime,
    staff_id: int | None = None,
    **sheet: str | None,
) -> Evaluation:
    """A weekly or monthly evaluation with the 評価シート fields.

    The monthly one is on site (訪問 or 通所); a weekly one done by 通所 may stand for it (R6).
    """
    if kind not in EVALUATION_KINDS:
        raise RecordsError("kind is weekly or monthly")
    unknown = set(sheet) - set(SHEET_FIELDS)
    if unknown:
        raise RecordsError(f"unknown sheet fields: {', '.join(sorted(unknown))}")
    stored_method = evaluation_method(method)
    if kind == "monthly" and stored_method not in ("visit", "tsusho"):
        raise RecordsError("the monthly evaluation is done on site: 訪問 or 通所")
    member = await session.get(Member, member_id)
    if member is None:
        raise RecordsError(f"no member with id {member_id}")
    if staff_id is not None:
        await _staff(session, staff_id, member)
    evaluation = Evaluation(
        member_id=member.id,
        kind=kind,
        date=day,
        method=stored_method,
        staff_id=staff_id,
        counts_as_monthly=kind == "weekly" and stored_method == "tsusho",
        created_at=now,
        **{k: (v.strip() or None) if v else None for k, v in sheet.items()},
    )
    session.add(evaluation)
    await session.flush()
    return evaluation


# --- 担当職員 ------------------------------------------------------------------------------


async def assign_staff(
    session: AsyncSession, member: Member, primary: Staff, substitute: Staff | None = None
) -> None:
    for s in (primary, substitute):
        if s is not None and s.facility_id != member.facility_id:
            raise RecordsError(f"{s.name} works at another facility")
    if substitute is not None and substitute.id == primary.id:
        raise RecordsError("the substitute must be someone else")
    member.primary_staff_id = primary.id
    member.substitute_staff_id = substitute.id if substitute else None
    await session.flush()


async def mention_order(session: AsyncSession, member: Member) -> list[str]:
    """Slack user ids to mention for a member's alert: 担当, 代理, then the managers."""
    ordered: list[Staff] = []
    for staff_id in (member.primary_staff_id, member.substitute_staff_id):
        staff = await session.get(Staff, staff_id) if staff_id else None
        if staff is not None and staff.active:
            ordered.append(staff)
    ordered.extend(await repo.managers(session, member.facility_id))
    out: list[str] = []
    for s in ordered:
        if s.slack_user_id and s.slack_user_id not in out:
            out.append(s.slack_user_id)
    return out


async def staff_by_slack_user(session: AsyncSession, facility: Facility, slack_user: str) -> Staff:
    staff = (
        await session.execute(
            select(Staff).where(Staff.slack_user_id == slack_user, Staff.facility_id == facility.id)
        )
    ).scalar_one_or_none()
    if staff is None or not staff.active:
        raise RecordsError(f"no active staff member with Slack user {slack_user!r}")
    return staff


async def sign_off_day(
    session: AsyncSession, facility_id: int, day: date, staff_id: int, now: datetime
) -> int:
    """Sign off every 日報 of a facility's day (the digest's button); how many were signed."""
    stmt = (
        select(DailyReport.id)
        .join(Member, Member.id == DailyReport.member_id)
        .where(Member.facility_id == facility_id, DailyReport.business_date == day)
        .order_by(DailyReport.id)
    )
    ids = list((await session.execute(stmt)).scalars())
    for report_id in ids:
        await sign_off(session, report_id, staff_id, now)
    return len(ids)
