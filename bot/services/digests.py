"""Staff summaries the tick sends: the end-of-day digest (DESIGN §6), evaluations coming
due (R5 weekly, R6 monthly) and 在宅 approvals about to end (the managers mentioned). One
outbox row per facility (or member) and key; built with set-based queries over all
facilities that are due at once.

The digest also lists every alert of the facility not yet resolved (any date; open or taken),
most serious first, so a watch alert nobody took, or a taken one left unfinished, is seen
again each day until someone closes it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.core import compliance, payloads, texts
from bot.core.domain import AlertLevel, AlertState, DayMode, ReportStatus, StaffRole
from bot.core.policy import EvaluationKind, RemindEvaluations, SendDigest
from bot.services.platforms import STAFF_PLATFORM
from storage import repo
from storage.models import (
    Alert,
    DailyReport,
    Evaluation,
    Facility,
    Member,
    OutboxMessage,
    Schedule,
    ScheduleException,
    Staff,
)

CHUNK = 1000
SKIPPED = "skipped"  # an outbox status delivery never claims


# --- end of day: the staff digest ----------------------------------------------------------


async def send_digests(
    session: AsyncSession,
    actions: Sequence[SendDigest],
    facilities: dict[int, Facility],
    now: datetime,
) -> list[str]:
    if not actions:
        return []
    by_day: dict[date, list[SendDigest]] = defaultdict(list)
    for a in actions:
        by_day[a.business_date].append(a)
    rows = []
    for day, due in by_day.items():
        lines = await digest_members(session, [a.facility_id for a in due], day)
        waiting = await unresolved_alerts(session, [a.facility_id for a in due])
        for a in due:
            facility = facilities[a.facility_id]
            entries = lines.get(a.facility_id, [])
            alerts = waiting.get(a.facility_id, [])
            row = repo.outbox_row(
                key=a.key,
                platform=STAFF_PLATFORM,
                recipient=facility.alert_channel or "",
                member_id=None,
                payload=digest_payload(facility, day, entries, alerts),
                now=now,
            )
            rows.append(row if entries or alerts else _skipped(row))
    return await _insert(session, rows)


def _skipped(row: dict[str, Any]) -> dict[str, Any]:
    """Nothing to tell staff (e.g. a weekend with nobody 在宅): the row records that the key
    was considered, so later ticks do not ask again, and delivery never claims it."""
    return {**row, "status": SKIPPED}


async def _insert(session: AsyncSession, rows: list[dict[str, Any]]) -> list[str]:
    """Insert once per key; the keys of new messages that will actually be sent."""
    new = await repo.insert_many_ignore(session, OutboxMessage, rows)
    skipped = {r["key"] for r in rows if r["status"] == SKIPPED}
    return sorted(k for k in new if k not in skipped)


async def digest_members(
    session: AsyncSession, facility_ids: Sequence[int], day: date
) -> dict[int, list[dict[str, Any]]]:
    """Each facility's 在宅 members of the day with their 日報 status and flagged entries."""
    has_exc = ScheduleException.id.is_not(None)
    mode = case((has_exc, ScheduleException.mode), else_=Schedule.mode)
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ids in _chunks(list(facility_ids)):
        stmt = (
            select(
                Member.id,
                Member.facility_id,
                Member.name,
                DailyReport.status,
                DailyReport.start_at,
                DailyReport.end_at,
                DailyReport.flags,
                DailyReport.id.label("report_id"),
            )
            .outerjoin(
                ScheduleException,
                and_(ScheduleException.member_id == Member.id, ScheduleException.date == day),
            )
            .outerjoin(
                Schedule,
                and_(Schedule.member_id == Member.id, Schedule.weekday == day.weekday()),
            )
            .outerjoin(
                DailyReport,
                and_(DailyReport.member_id == Member.id, DailyReport.business_date == day),
            )
            .where(
                Member.facility_id.in_(ids),
                Member.active.is_(True),
                or_(mode == DayMode.ZAITAKU.value, DailyReport.id.is_not(None)),
            )
            .order_by(Member.facility_id, Member.id)
        )
        for r in await session.execute(stmt):
            out[r.facility_id].append(
                {
                    "member_id": r.id,
                    "name": r.name,
                    "report_id": r.report_id,
                    "status": r.status or ReportStatus.OPEN.value,
                    "start_at": r.start_at.isoformat() if r.start_at else None,
                    "end_at": r.end_at.isoformat() if r.end_at else None,
                    "flags": dict(r.flags or {}),
                }
            )
    return out


DIGEST_GROUPS = ("crisis", "urgent", "warning", "other")


def alert_group(level: str, kind: str) -> str:
    """Which digest group an alert is listed in: crisis, urgent, watch, then 相談 and notices."""
    if kind == "consult" or level not in DIGEST_GROUPS:
        return "other"
    return level


def _rank(level: str) -> int:
    try:
        return AlertLevel(level).rank
    except ValueError:
        return -1


async def unresolved_alerts(
    session: AsyncSession, facility_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each facility's alerts that are open or taken but not resolved, most serious first."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ids in _chunks(list(facility_ids)):
        stmt = (
            select(
                Alert.id,
                Alert.kind,
                Alert.level,
                Alert.state,
                Alert.opened_at,
                Member.facility_id,
                Member.id.label("member_id"),
                Member.name,
                Staff.name.label("taken_by"),
            )
            .join(Member, Member.id == Alert.member_id)
            .outerjoin(Staff, Staff.id == Alert.acked_by)
            .where(
                Member.facility_id.in_(ids),
                Alert.state.in_((AlertState.OPEN.value, AlertState.ACKED.value)),
                # notices (an absence, an early finish) need no one to act: they were said
                # once; listing them until someone closes them would fill every digest
                Alert.level != AlertLevel.INFO.value,
            )
            .order_by(Alert.opened_at, Alert.id)
        )
        for r in await session.execute(stmt):
            out[r.facility_id].append(
                {
                    "alert_id": r.id,
                    "kind": r.kind,
                    "level": r.level,
                    "group": alert_group(r.level, r.kind),
                    "title": texts.CONCERN_TITLES.get(r.kind, r.kind),
                    "member_id": r.member_id,
                    "name": r.name,
                    "state": r.state,
                    "opened_at": r.opened_at.isoformat(),
                    "taken_by": r.taken_by if r.state == AlertState.ACKED else None,
                }
            )
    for alerts in out.values():
        alerts.sort(key=lambda a: (DIGEST_GROUPS.index(a["group"]), -_rank(a["level"])))
    return out


def alert_lines(alerts: Sequence[dict[str, Any]], tz: ZoneInfo) -> list[str]:
    """The digest's unresolved alerts as plain lines, under one heading per group."""
    if not alerts:
        return []
    lines = [texts.DIGEST_ALERTS_HEAD.format(count=len(alerts))]
    for group in DIGEST_GROUPS:
        members = [a for a in alerts if a.get("group") == group]
        if not members:
            continue
        lines.append(texts.DIGEST_ALERT_GROUPS[group])
        for a in members:
            opened = datetime.fromisoformat(str(a["opened_at"])).astimezone(tz)
            state = (
                texts.DIGEST_ALERT_TAKEN.format(name=a["taken_by"])
                if a.get("taken_by")
                else texts.DIGEST_ALERT_OPEN
            )
            lines.append(
                texts.DIGEST_ALERT_LINE.format(
                    member=a["name"],
                    title=a["title"],
                    since=f"{opened.month}/{opened.day} {opened:%H:%M}",
                    state=state,
                )
            )
    return lines


def digest_payload(
    facility: Facility,
    day: date,
    members: list[dict[str, Any]],
    alerts: Sequence[dict[str, Any]] = (),
) -> payloads.Digest:
    tz = ZoneInfo(facility.tz)
    lines = [texts.DIGEST_TITLE.format(date=f"{day.month}/{day.day}", count=len(members))]
    if not members:
        lines.append(texts.DIGEST_NONE)
    for m in members:
        times = [
            datetime.fromisoformat(v).astimezone(tz).strftime("%H:%M") if v else "--:--"
            for v in (m["start_at"], m["end_at"])
        ]
        shown = f" ({times[0]}〜{times[1]})" if m["start_at"] else ""
        status = texts.DIGEST_STATUS.get(m["status"], m["status"])
        lines.append(texts.DIGEST_LINE.format(member=m["name"], status=status, times=shown))
        for f, reason in m["flags"].items():
            label = texts.FIELD_LABELS.get(f, f)
            why = texts.FLAG_REASONS.get(reason, reason)
            lines.append(texts.DIGEST_FLAG.format(label=label, reason=why))
    lines.extend(alert_lines(alerts, tz))
    lines.append(texts.DIGEST_SIGN_OFF)
    return payloads.Digest(
        facility_id=facility.id,
        date=day,
        text="\n".join(lines),
        members=tuple(_digest_member(m) for m in members),
        alerts=tuple(_digest_alert(a) for a in alerts),
        sign_off=payloads.SignOff("digest_sign_off", f"{facility.id}:{day.isoformat()}"),
    )


def _digest_member(m: dict[str, Any]) -> payloads.DigestMember:
    return payloads.DigestMember(
        member_id=m["member_id"],
        name=m["name"],
        report_id=m["report_id"],
        status=ReportStatus(m["status"]),
        start_at=datetime.fromisoformat(m["start_at"]) if m["start_at"] else None,
        end_at=datetime.fromisoformat(m["end_at"]) if m["end_at"] else None,
        flags=dict(m["flags"]),
    )


def _digest_alert(a: dict[str, Any]) -> payloads.DigestAlert:
    return payloads.DigestAlert(
        alert_id=a["alert_id"],
        kind=a["kind"],
        level=AlertLevel(a["level"]),
        group=a["group"],
        title=a["title"],
        member_id=a["member_id"],
        name=a["name"],
        state=AlertState(a["state"]),
        opened_at=datetime.fromisoformat(a["opened_at"]),
        taken_by=a["taken_by"],
    )


# --- evaluations coming due (R5 weekly, R6 monthly) ----------------------------------------


async def remind_evaluations(
    session: AsyncSession,
    actions: Sequence[RemindEvaluations],
    facilities: dict[int, Facility],
    now: datetime,
) -> list[str]:
    groups: dict[tuple[EvaluationKind, date], list[RemindEvaluations]] = defaultdict(list)
    for a in actions:
        groups[(a.kind, a.period_start)].append(a)
    lacking: dict[tuple[EvaluationKind, date, int], list[tuple[int, str]]] = {}
    for (kind, period), due in groups.items():
        found = await members_without_evaluation(
            session, kind, period, [a.facility_id for a in due]
        )
        lacking.update(
            {(kind, period, fid): found.get(fid, []) for fid in (a.facility_id for a in due)}
        )
    rows = []
    for a in actions:
        missing = lacking[(a.kind, a.period_start, a.facility_id)]
        facility = facilities[a.facility_id]
        names = "、".join(f"{name}さん" for _, name in missing)
        if a.kind is EvaluationKind.WEEKLY:
            msg = texts.EVALUATION_WEEKLY.format(
                period=f"{a.period_start.month}/{a.period_start.day}", members=names
            )
        else:
            msg = texts.EVALUATION_MONTHLY.format(
                period=f"{a.period_start.year}年{a.period_start.month}月", members=names
            )
        row = repo.outbox_row(
            key=a.key,
            platform=STAFF_PLATFORM,
            recipient=facility.alert_channel or "",
            member_id=None,
            payload=payloads.EvaluationDue(
                evaluation=a.kind,
                facility_id=a.facility_id,
                period_start=a.period_start,
                member_ids=tuple(m for m, _ in missing),
                text=msg,
            ),
            now=now,
        )
        rows.append(row if missing else _skipped(row))
    return await _insert(session, rows)


async def members_without_evaluation(
    session: AsyncSession, kind: EvaluationKind, period_start: date, facility_ids: Sequence[int]
) -> dict[int, list[tuple[int, str]]]:
    """Per facility: active members with a 在宅 weekday and no evaluation of the period yet."""
    if kind is EvaluationKind.WEEKLY:
        until = period_start + timedelta(days=7)
        counts: ColumnElement[bool] = Evaluation.kind.in_(
            (EvaluationKind.WEEKLY.value, EvaluationKind.MONTHLY.value)
        )
    else:
        until = (period_start.replace(day=28) + timedelta(days=4)).replace(day=1)
        counts = or_(
            Evaluation.kind == EvaluationKind.MONTHLY.value, Evaluation.counts_as_monthly.is_(True)
        )
    evaluated = exists().where(
        Evaluation.member_id == Member.id,
        Evaluation.date >= period_start,
        Evaluation.date < until,
        counts,
    )
    zaitaku = exists().where(
        Schedule.member_id == Member.id, Schedule.mode == DayMode.ZAITAKU.value
    )
    out: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for ids in _chunks(list(facility_ids)):
        stmt = (
            select(Member.facility_id, Member.id, Member.name)
            .where(Member.facility_id.in_(ids), Member.active.is_(True), zaitaku, ~evaluated)
            .order_by(Member.id)
        )
        for fid, mid, name in await session.execute(stmt):
            out[fid].append((mid, name))
    return out


def _chunks(items: list[int]) -> list[list[int]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


# --- 在宅 approvals about to end (every profile; managers mentioned) ------------------------


def approval_key(member_id: int, until: date) -> str:
    """Once per member and end date: a longer approval entered later is told again."""
    return f"approval-expiring:{member_id}:{until.isoformat()}"


async def warn_approvals(
    session: AsyncSession,
    actions: Sequence[SendDigest],
    facilities: dict[int, Facility],
    now: datetime,
) -> list[str]:
    """With the day's digest: one notice per member whose approval ends within the profile's
    warning days, mentioning the facility's managers (they renew or end it)."""
    if not actions:
        return []
    days = {a.facility_id: a.business_date for a in actions}
    horizon = max(days.values()) + timedelta(
        days=max(compliance.profile(facilities[f].profile).approval_warn_days for f in days)
    )
    members: dict[int, list[Member]] = defaultdict(list)
    managers: dict[int, list[int]] = defaultdict(list)
    for ids in _chunks(list(days)):
        found = await session.scalars(
            select(Member)
            .where(
                Member.facility_id.in_(ids),
                Member.active.is_(True),
                Member.approval_until.between(min(days.values()), horizon),
            )
            .order_by(Member.id)
        )
        for m in found:
            members[m.facility_id].append(m)
        staff = await session.scalars(
            select(Staff)
            .where(
                Staff.facility_id.in_(ids),
                Staff.role == StaffRole.MANAGER.value,
                Staff.active.is_(True),
                Staff.slack_user_id.is_not(None),
            )
            .order_by(Staff.id)
        )
        for s in staff:
            managers[s.facility_id].append(s.id)
    rows = []
    for fid, day in days.items():
        facility = facilities[fid]
        profile = compliance.profile(facility.profile)
        for m in members[fid]:
            facts = compliance.MemberFacts(
                m.id, m.name, municipality=m.municipality, approval_from=m.approval_from,
                approval_until=m.approval_until, approval_kind=m.approval_kind,
            )  # fmt: skip
            if compliance.approval_warning(profile, day, facts) is None or not m.approval_until:
                continue
            until = m.approval_until
            note = texts.APPROVAL_NOT_RENEWABLE if m.approval_kind == "three_months" else ""
            text = texts.APPROVAL_EXPIRING_NOTICE.format(
                member=m.name,
                until=f"{until.year}年{until.month}月{until.day}日",
                days=(until - day).days,
                note=note,
            )
            rows.append(
                repo.outbox_row(
                    key=approval_key(m.id, until),
                    platform=STAFF_PLATFORM,
                    recipient=facility.alert_channel or "",
                    member_id=None,
                    payload=payloads.ApprovalExpiring(
                        facility_id=fid,
                        member_ids=(m.id,),
                        approval_until=until,
                        mentions=payloads.Mentions(tuple(managers[fid])),
                        text=text,
                    ),
                    now=now,
                )
            )
    return await _insert(session, rows)
