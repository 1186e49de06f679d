"""Use cases on the records staff keep: 日報 edits and sign-off, 支援記録, evaluations, 担当.

Every 日報 change goes through `record_change`, the one place that writes a field: it locks the
report row (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
writers) unless the caller read it locked in the same transaction, compares with the current
value and keeps a revision, so the current value always equals the last revision's `after` and
concurrent member and staff edits never lose one another. Nothing here commits.

Records are evidence (DESIGN §3): each entry keeps the moment it describes, the moment it was
entered (the `now` passed in) and who entered it; one made after the facility's grace is a
事後記録 (`bot.core.provenance`), a moment in the future is refused, a staff correction carries its
修正理由, and any change to a signed-off 日報 voids the sign-off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import policy, provenance, texts
from bot.core.calendar import business_date
from bot.core.domain import (
    EVALUATION_CONTACT_METHODS,
    LOGGED_CONTACT_METHODS,
    ONSITE_CONTACT_METHODS,
    FieldValue,
    ReportField,
    ReportStatus,
    SupportKind,
    report_status,
)
from bot.core.provenance import local, staff_ref
from bot.services.admin import AdminError
from bot.services.escalation import staff_mentions
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
SIGN_OFF_VOIDED = "sign_off_voided"  # the revision source when a change voids a sign-off

# What staff type (Japanese, as on the forms) → the stored channel / method value.
CONTACT_METHODS = {texts.CONTACT_METHOD_LABELS[m]: m.value for m in LOGGED_CONTACT_METHODS}
EVALUATION_METHODS = {texts.CONTACT_METHOD_LABELS[m]: m.value for m in EVALUATION_CONTACT_METHODS}
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
# Sheet fields that describe the period itself: a copy of last time's text there reads as
# copied to an inspector. 訓練目標, 改善方針 and the standing notes may rightly stay the same.
PERIOD_FIELDS = ("activities", "achievement")


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
    reason: str | None = None,
    clears_flag: bool = False,
    locked: bool = False,
) -> bool:
    """Set one field and keep the change as a revision; False when the value is unchanged.

    `at` is when the change was made. A staff change needs a `reason` (修正理由; optional for
    members). A change later than the grace after the report's day is a 事後記録; a change to a
    signed-off report voids the sign-off (kept as a revision of its own).
    `locked`: the caller read (or created) the report under a row lock in this transaction,
    so its values are current and need not be read again. The row and its revision are
    written at the next flush (one UPDATE for several fields changed in a row).
    """
    reason = (reason or "").strip() or None
    if by_staff_id is not None and reason is None:
        raise RecordsError(texts.REASON_REQUIRED)
    if not locked:
        await session.flush()  # pending changes first: the refresh below reloads the row
        await session.refresh(report, with_for_update=True)
    before: FieldValue = getattr(report, field.value)
    if before == value:
        return False
    facility = await _facility_of(session, report.member_id)
    late = provenance.is_late_for_day(
        report.business_date, at, facility.late_entry_grace_hours, facility.tz
    )
    setattr(report, field.value, value)
    who = {"by_member_id": by_member_id, "by_staff_id": by_staff_id}
    session.add(
        ReportRevision(
            report_id=report.id,
            field=field.value,
            before=_text(before),
            after=_text(value),
            source=source,
            at=at,
            reason=reason,
            late=late,
            **who,
        )
    )
    if report.signed_off_at is not None:
        session.add(
            ReportRevision(
                report_id=report.id,
                field=SIGN_OFF_FIELD,
                before=f"staff:{report.signed_off_by}",
                after=None,
                source=SIGN_OFF_VOIDED,
                at=at,
                reason=texts.SIGN_OFF_VOIDED_REASON.format(
                    label=texts.FIELD_LABELS.get(field.value, field.value)
                ),
                late=late,
                **who,
            )
        )
        report.signed_off_by, report.signed_off_at, report.signoff_voided_at = None, None, at
    report.status = report_status(
        report.status, start_at=report.start_at, end_at=report.end_at, outputs=report.outputs
    ).value
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
    *,
    reason: str | None,
) -> bool:
    """Staff correct a 日報 field with a 修正理由 (a string value is parsed for the field)."""
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
    facility = await session.get_one(Facility, member.facility_id)
    if isinstance(value, str):
        value = parse_value(report_field, value, report.business_date, facility.tz)
    if isinstance(value, datetime):
        _not_future(value, now, facility.tz)
    return await record_change(
        session,
        report,
        report_field,
        value,
        at=now,
        source="staff_edit",
        by_staff_id=staff_id,
        reason=reason,
        clears_flag=True,
    )


async def sign_off(
    session: AsyncSession,
    report_id: int,
    staff_id: int,
    now: datetime,
    *,
    advice: str | None = None,
    channel: str = "console",
) -> bool:
    """A named staff member confirms the day's 日報, with optional advice (助言); True when the
    sign-off is a 事後記録.

    Kept on the report, as a revision (the advice is its reason) and as a 支援記録 row of the
    report's day, so the 支援記録 shows who confirmed each day's contacts and what they advised.
    """
    report = await session.get(DailyReport, report_id)
    if report is None:
        raise RecordsError(f"no 日報 with id {report_id}")
    staff = await _staff(session, staff_id, await session.get_one(Member, report.member_id))
    facility = await _facility_of(session, report.member_id)
    if provenance.is_future_day(report.business_date, now, facility.tz):
        raise RecordsError(texts.FUTURE_DAY.format(day=report.business_date))
    await session.refresh(report, with_for_update=True)
    advice = (advice or "").strip() or None
    late = provenance.is_late_for_day(
        report.business_date, now, facility.late_entry_grace_hours, facility.tz
    )
    before = f"staff:{report.signed_off_by}" if report.signed_off_by else None
    report.signed_off_by, report.signed_off_at, report.signoff_voided_at = staff.id, now, None
    session.add(
        ReportRevision(
            report_id=report.id,
            field=SIGN_OFF_FIELD,
            before=before,
            after=f"staff:{staff.id}",
            by_staff_id=staff.id,
            source="sign_off",
            at=now,
            reason=advice,
            late=late,
        )
    )
    flag = provenance.text_flag(advice, required=False)
    session.add(
        SupportRecord(
            member_id=report.member_id,
            business_date=report.business_date,
            at=now,
            kind=SupportKind.SIGN_OFF.value,
            channel=channel,
            staff_id=staff.id,
            content=texts.SIGN_OFF_RECORD_ADVICE.format(advice=advice)
            if advice
            else texts.SIGN_OFF_RECORD,
            entered_at=now,
            entered_by=staff_ref(staff.id),
            late=late,
            flags={"advice": flag} if flag else {},
        )
    )
    await session.flush()
    return late


async def _staff(session: AsyncSession, staff_id: int, member: Member) -> Staff:
    """An active staff member of the member's own facility: no one edits another's records."""
    staff = await session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.facility_id != member.facility_id:
        raise RecordsError(f"no active staff member with id {staff_id} at this facility")
    return staff


async def _facility_of(session: AsyncSession, member_id: int) -> Facility:
    member = await session.get_one(Member, member_id)
    return await session.get_one(Facility, member.facility_id)


def _not_future(at: datetime, now: datetime, tz: str) -> None:
    if provenance.is_future(at, now):
        raise RecordsError(texts.FUTURE_MOMENT.format(at=local(at, tz)))


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
    reason: str | None = None  # 修正理由 (the advice, for a sign-off)
    late: bool = False  # 事後記録


@dataclass(frozen=True)
class DayRecord:
    """One 支援記録 row of a day, as staff read it."""

    id: int
    at: datetime  # the moment it describes
    kind: str
    channel: str
    staff_name: str | None
    content: str
    entered_at: datetime
    entered_by: str  # staff:ID | member:ID | bot
    entered_by_name: str  # the staff member's name, 本人 or システム
    late: bool
    flags: dict[str, str]


@dataclass(frozen=True)
class ReportHistory:
    report_id: int
    business_date: date
    status: str
    current: dict[str, FieldValue]
    signed_off_by: str | None
    signed_off_at: datetime | None
    revisions: tuple[RevisionView, ...]
    signoff_voided_at: datetime | None = None
    created_at: datetime | None = None
    entered_by: str = provenance.BOT
    entered_by_name: str = ""
    late: bool = False  # the 日報 itself was entered after the grace (事後記録)
    records: tuple[DayRecord, ...] = ()

    @property
    def needs_sign_off(self) -> bool:
        """A sign-off was voided by a later change and nobody has signed again."""
        return self.signed_off_at is None and self.signoff_voided_at is not None


async def report_history(session: AsyncSession, member_id: int, day: date) -> ReportHistory | None:
    """The day's 日報 as it stands, every change that led there (oldest first) and the day's
    支援記録."""
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
                reason=r.reason,
                late=r.late,
            )
            for r in revs
        ),
        signoff_voided_at=report.signoff_voided_at,
        created_at=report.created_at,
        entered_by=report.entered_by,
        entered_by_name=await entered_by_name(session, report.entered_by),
        late=report.late,
        records=await day_records(session, member_id, day),
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


async def entered_by_name(session: AsyncSession, entered_by: str | None) -> str:
    """Who an `entered_by` names, as an officer reads it: the staff name, 本人 or システム."""
    kind, ident = provenance.parse_ref(entered_by)
    if kind == "staff" and ident is not None:
        staff = await session.get(Staff, ident)
        return staff.name if staff is not None else entered_by or ""
    return texts.WHO_MEMBER if kind == "member" else texts.WHO_BOT


async def day_records(session: AsyncSession, member_id: int, day: date) -> tuple[DayRecord, ...]:
    """A member's 支援記録 of one day, in the order they describe, with who entered them."""
    rows = (
        (
            await session.execute(
                select(SupportRecord)
                .where(SupportRecord.member_id == member_id, SupportRecord.business_date == day)
                .order_by(SupportRecord.at, SupportRecord.id)
            )
        )
        .scalars()
        .all()
    )
    out = []
    for r in rows:
        staff = await session.get(Staff, r.staff_id) if r.staff_id else None
        out.append(
            DayRecord(
                id=r.id,
                at=r.at,
                kind=r.kind,
                channel=r.channel,
                staff_name=staff.name if staff else None,
                content=r.content,
                entered_at=r.entered_at,
                entered_by=r.entered_by,
                entered_by_name=await entered_by_name(session, r.entered_by),
                late=r.late,
                flags=dict(r.flags or {}),
            )
        )
    return tuple(out)


# --- 支援記録 logged by hand ---------------------------------------------------------------


def contact_channel(method: str) -> str:
    """電話 → phone …; the English values are accepted too."""
    method = method.strip()
    if method in CONTACT_METHODS:
        return CONTACT_METHODS[method]
    if method in CONTACT_METHODS.values():
        return method
    raise RecordsError(f"unknown method {method!r}; use {'/'.join(CONTACT_METHODS)}")


def method_label(channel: str) -> str:
    """phone → 電話: the word staff use, for texts."""
    return texts.CHANNEL_LABELS.get(channel, channel)


async def log_contact(
    session: AsyncSession,
    member_id: int,
    staff_id: int,
    method: str,
    text: str,
    at: datetime,
    now: datetime,
    *,
    key: str | None = None,
) -> SupportRecord:
    """A contact a named staff member made by phone, visit, 通所, message or video, as a
    支援記録 entry: `at` is when it happened, `now` when it is written down. `key`: what the
    contact belongs to (a message sent from an alert: `alert:{id}:message:{ref}`).

    A text an inspector would doubt (「特になし」, a copy of the previous contact) is kept and
    flagged (`flags["content"]`); the caller tells staff once.
    """
    channel = contact_channel(method)
    if not text.strip():
        raise RecordsError("write what was talked about or checked (--text)")
    member = await session.get(Member, member_id)
    if member is None:
        raise RecordsError(f"no member with id {member_id}")
    await _staff(session, staff_id, member)
    facility = await session.get_one(Facility, member.facility_id)
    _not_future(at, now, facility.tz)
    day = business_date(facility.tz, at)
    previous = (
        await session.execute(
            select(SupportRecord.content)
            .where(
                SupportRecord.member_id == member.id,
                SupportRecord.kind == SupportKind.STAFF_CONTACT.value,
                SupportRecord.business_date < day,
            )
            .order_by(SupportRecord.business_date.desc(), SupportRecord.at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    flag = provenance.text_flag(text, previous)
    record = SupportRecord(
        member_id=member.id,
        business_date=day,
        at=at,
        kind=SupportKind.STAFF_CONTACT.value,
        channel=channel,
        staff_id=staff_id,
        content=text.strip(),
        key=key,
        entered_at=now,
        entered_by=staff_ref(staff_id),
        late=provenance.is_late(at, now, facility.late_entry_grace_hours),
        flags={"content": flag} if flag else {},
    )
    session.add(record)
    await session.flush()
    return record


# --- a day's 日報 from a staff call --------------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    """What staff confirmed with the member in a call: the day's times, work, outputs, 体調."""

    start: time | None = None
    end: time | None = None
    work: str | None = None
    outputs: str | None = None
    health: int | None = None  # 体調 1–5 at the call: the end's when an end was confirmed


async def create_report_from_contact(
    session: AsyncSession,
    member_id: int,
    staff_id: int,
    *,
    day: date,
    method: str,
    text: str,
    at: datetime,
    now: datetime,
    confirmed: Confirmed,
) -> tuple[DailyReport, SupportRecord]:
    """A day only staff reached the member (by phone, say): the call becomes a 支援記録 and
    what was confirmed becomes the day's 日報, entered by that staff member.

    Refused when the day already has a 日報 (edit it instead) or lies in the future.
    """
    if confirmed.start is None and confirmed.end is None:
        raise RecordsError(texts.REPORT_NEEDS_TIMES)
    if confirmed.health is not None and not 1 <= confirmed.health <= 5:
        raise RecordsError(f"{confirmed.health!r} is not a valid value for health (1–5)")
    member = await session.get(Member, member_id)
    if member is None:
        raise RecordsError(f"no member with id {member_id}")
    await _staff(session, staff_id, member)
    facility = await session.get_one(Facility, member.facility_id)
    tz = ZoneInfo(facility.tz)
    if provenance.is_future_day(day, now, facility.tz):
        raise RecordsError(texts.FUTURE_DAY.format(day=day))
    if business_date(facility.tz, at) != day:
        raise RecordsError(texts.REPORT_AT_OTHER_DAY.format(at=local(at, facility.tz), day=day))
    start = datetime.combine(day, confirmed.start, tz) if confirmed.start else None
    end = datetime.combine(day, confirmed.end, tz) if confirmed.end else None
    for moment in (start, end):
        if moment is not None:
            _not_future(moment, now, facility.tz)
    if await repo.report_for(session, member.id, day) is not None:
        raise RecordsError(texts.REPORT_EXISTS.format(day=day))
    contact = await log_contact(session, member.id, staff_id, method, text, at, now)
    mode, _ = await repo.day_plan(session, member, day)
    report = DailyReport(
        member_id=member.id,
        business_date=day,
        mode=mode if mode != "off" else "zaitaku",
        status=ReportStatus.OPEN.value,
        flags={},
        entered_by=staff_ref(staff_id),
        late=provenance.is_late_for_day(day, now, facility.late_entry_grace_hours, facility.tz),
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    await session.flush()
    work = (confirmed.work or "").strip() or None
    outputs = (confirmed.outputs or "").strip() or None
    values: list[tuple[ReportField, FieldValue]] = [
        (ReportField.START_AT, start),
        (ReportField.PLANNED_WORK, work if start or not end else None),
        (ReportField.HEALTH_START, confirmed.health if end is None else None),
        (ReportField.END_AT, end),
        (ReportField.WORK_DONE, work if end else None),
        (ReportField.OUTPUTS, outputs),
        (ReportField.HEALTH_END, confirmed.health if end is not None else None),
    ]
    reason = texts.REPORT_FROM_CONTACT_REASON.format(method=method_label(contact.channel))
    flags: dict[str, str] = {}
    for field, value in values:
        if value is None:
            continue
        await record_change(
            session, report, field, value, at=now, source="staff_contact",
            by_staff_id=staff_id, reason=reason, locked=True,
        )  # fmt: skip
        flag = provenance.text_flag(value, required=False) if isinstance(value, str) else None
        if flag:
            flags[field.value] = flag
    report.flags = flags
    await session.flush()
    return report, contact


# --- evaluations (R5, R6) ------------------------------------------------------------------


def evaluation_method(method: str) -> str:
    method = method.strip()
    if method in EVALUATION_METHODS:
        return EVALUATION_METHODS[method]
    if method.lower() in EVALUATION_METHODS.values():
        return method.lower()
    raise RecordsError(f"unknown method {method!r}; use {'/'.join(EVALUATION_METHODS)}")


def sheet_flags(
    kind: str, sheet: Mapping[str, str | None], previous: Mapping[str, str | None]
) -> dict[str, str]:
    """The 評価シート fields an inspector would doubt, with why.

    The monthly sheet needs every field (東大阪市 カ: 「訓練目標、取組内容、…在宅就労継続の妥当性を
    記載した評価シートを作成すること」), so a blank one is flagged; a weekly evaluation needs some
    content, and whatever it says must not be 「特になし」. A period field copied from the
    previous evaluation is flagged too.
    """
    out: dict[str, str] = {}
    for field in SHEET_FIELDS:
        before = previous.get(field) if field in PERIOD_FIELDS else None
        flag = provenance.text_flag(sheet.get(field), before, required=kind == "monthly")
        if flag:
            out[field] = flag
    if kind == "weekly" and not any((v or "").strip() for v in sheet.values()):
        out["activities"] = provenance.EMPTY
    return out


async def record_evaluation(
    session: AsyncSession,
    member_id: int,
    *,
    kind: str,
    day: date,
    method: str,
    now: datetime,
    staff_id: int,
    **sheet: str | None,
) -> Evaluation:
    """A weekly or monthly evaluation with the 評価シート fields, by a named staff member.

    The monthly one is on site (訪問 or 通所); a weekly one done by 通所 may stand for it (R6).
    A future date is refused; one entered after the grace past its day is a 事後記録; doubtful
    sheet fields are kept and flagged (`flags`).
    """
    if kind not in EVALUATION_KINDS:
        raise RecordsError("kind is weekly or monthly")
    unknown = set(sheet) - set(SHEET_FIELDS)
    if unknown:
        raise RecordsError(f"unknown sheet fields: {', '.join(sorted(unknown))}")
    stored_method = evaluation_method(method)
    if kind == "monthly" and stored_method not in ONSITE_CONTACT_METHODS:
        raise RecordsError("the monthly evaluation is done on site: 訪問 or 通所")
    member = await session.get(Member, member_id)
    if member is None:
        raise RecordsError(f"no member with id {member_id}")
    await _staff(session, staff_id, member)
    facility = await session.get_one(Facility, member.facility_id)
    if provenance.is_future_day(day, now, facility.tz):
        raise RecordsError(texts.FUTURE_DAY.format(day=day))
    values = {k: (v.strip() or None) if v else None for k, v in sheet.items()}
    last = (
        await session.execute(
            select(Evaluation)
            .where(Evaluation.member_id == member.id, Evaluation.date < day)
            .order_by(Evaluation.date.desc(), Evaluation.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    previous = {f: getattr(last, f) for f in SHEET_FIELDS} if last is not None else {}
    evaluation = Evaluation(
        member_id=member.id,
        kind=kind,
        date=day,
        method=stored_method,
        staff_id=staff_id,
        counts_as_monthly=kind == "weekly" and stored_method == "tsusho",
        created_at=now,
        entered_by=staff_ref(staff_id),
        late=provenance.is_late_for_day(day, now, facility.late_entry_grace_hours, facility.tz),
        flags=sheet_flags(kind, values, previous),
        **values,
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
            raise RecordsError(texts.ASSIGN_OTHER_FACILITY.format(name=s.name))
    if substitute is not None and substitute.id == primary.id:
        raise RecordsError(texts.ASSIGN_SAME_SUBSTITUTE)
    member.primary_staff_id = primary.id
    member.substitute_staff_id = substitute.id if substitute else None
    await session.flush()


async def mention_order(session: AsyncSession, member: Member) -> list[int]:
    """The staff ids a member's alert mentions, in `policy.mention_order` (the staff
    platform's adapter renders them as its own mentions)."""
    own, managers = (await staff_mentions(session, [member]))[member.id]
    return policy.mention_order(own, managers)


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
    session: AsyncSession,
    facility_id: int,
    day: date,
    staff_id: int,
    now: datetime,
    *,
    channel: str = "slack",
) -> int:
    """Sign off every 日報 of a facility's day not signed off yet (the digest's button: a second
    press adds no second sign-off row to the 支援記録); how many were signed."""
    stmt = (
        select(DailyReport.id)
        .join(Member, Member.id == DailyReport.member_id)
        .where(
            Member.facility_id == facility_id,
            DailyReport.business_date == day,
            DailyReport.signed_off_at.is_(None),
        )
        .order_by(DailyReport.id)
    )
    ids = list((await session.execute(stmt)).scalars())
    for report_id in ids:
        await sign_off(session, report_id, staff_id, now, channel=channel)
    return len(ids)
