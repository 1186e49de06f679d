"""Use case: one scheduler tick (DESIGN §3 "the database is the truth", §6).

Load the day's view for every facility with a few set-based queries (only members for whom
something can be due), let the pure `policy.decide` say what is due, drop what exists already,
and apply the rest in one transaction. Every effect has a unique key (outbox, alert, 支援記録),
so a repeated tick, a late tick after a restart, or two replicas ticking at once produce each
effect exactly once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import dialog, payloads, policy, texts
from bot.core.domain import (
    AlertLevel,
    AlertState,
    DayMode,
    Phase,
    Reply,
    ReportSnapshot,
    ReportStatus,
    SupportKind,
)
from bot.core.policy import (
    Action,
    Audience,
    Escalate,
    FacilityDay,
    Ladder,
    MemberDay,
    MissedKind,
    Remind,
    RemindEvaluations,
    Renotify,
    Resolve,
    SendDigest,
    TickView,
)
from bot.services import escalation
from bot.services.alerting import AlertRequest, raise_alerts
from bot.services.digests import remind_evaluations, send_digests, warn_approvals
from bot.services.platforms import STAFF_PLATFORM
from storage import repo
from storage.db import Database
from storage.models import (
    Alert,
    Conversation,
    DailyReport,
    Facility,
    FacilityClosure,
    Identity,
    Member,
    OutboxMessage,
    Schedule,
    ScheduleException,
    SupportRecord,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", Member, Facility)

# pg_try_advisory_xact_lock key: one ticking replica at a time (the others skip that minute).
TICK_LOCK = 0x6E6970706F  # "nippo"
CHUNK = 1000
OPEN_STATES = (AlertState.OPEN.value, AlertState.ACKED.value)


@dataclass
class TickSummary:
    at: datetime
    skipped: bool = False  # another replica held the tick lock
    candidates: int = 0  # member-days loaded
    due: int = 0  # actions the policy found due, before dropping those done
    applied: int = 0  # actions not done before, applied in this tick
    reminders: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    evaluations: list[str] = field(default_factory=list)
    approvals: list[str] = field(default_factory=list)  # 在宅 approvals ending soon
    renotified: list[str] = field(default_factory=list)

    @property
    def effects(self) -> list[str]:
        return (
            self.reminders
            + self.alerts
            + self.resolved
            + self.digests
            + self.evaluations
            + self.approvals
            + self.renotified
        )


async def tick(db: Database, now: datetime, *, elect: bool = True) -> TickSummary:
    """One tick at `now`, in one transaction. `elect` lets one PostgreSQL replica tick."""
    async with db.transaction() as session:
        if elect and db.dialect == "postgresql":
            got = await session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": TICK_LOCK}
            )
            if not got:
                return TickSummary(now, skipped=True)
        return await run_tick(session, now)


async def run_tick(session: AsyncSession, now: datetime) -> TickSummary:
    summary = TickSummary(now)
    view = await load_view(session, now)
    summary.candidates = len(view.members)
    due = policy.decide(view, now)
    summary.due = len(due)
    done = await existing_keys(session, due)
    actions = policy.decide(replace(view, done=done), now)
    summary.applied = len(actions)
    await apply(session, view, actions, now, summary)
    log.info(
        "tick",
        extra={"candidates": summary.candidates, "due": summary.due, "applied": len(actions)},
    )
    return summary


# --- loading the view ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Zone:
    tz: str
    day: date
    local: time
    offset_minutes: int


def _zone(tz: str, now: datetime) -> _Zone:
    local = now.astimezone(ZoneInfo(tz))
    offset = local.utcoffset() or timedelta(0)
    return _Zone(tz, local.date(), local.time(), int(offset.total_seconds() // 60))


def _ahead(zone: _Zone, minutes: int) -> time:
    """The local time `minutes` from now (a facility may remind before the planned time),
    capped at the end of the day."""
    if minutes <= 0:
        return zone.local
    later = datetime.combine(zone.day, zone.local) + timedelta(minutes=minutes)
    return later.time() if later.date() == zone.day else time.max


async def load_view(session: AsyncSession, now: datetime) -> TickView:
    tzs = (await session.scalars(select(Facility.tz).distinct())).all()
    members: list[MemberDay] = []
    facilities: list[FacilityDay] = []
    alerts: list[policy.OpenAlert] = []
    for tz in tzs:
        zone = _zone(tz, now)
        fac_days, ladders = await _facility_days(session, zone)
        facilities.extend(fac_days)
        members.extend(await _member_days(session, zone, ladders, now))
        alerts.extend(await escalation.open_alerts(session, tz, zone.offset_minutes, ladders))
    return TickView(tuple(members), tuple(facilities), alerts=tuple(alerts))


async def _facility_days(
    session: AsyncSession, zone: _Zone
) -> tuple[list[FacilityDay], dict[int, Ladder]]:
    closed = exists().where(
        FacilityClosure.facility_id == Facility.id, FacilityClosure.date == zone.day
    )
    rows = await session.execute(
        select(Facility.id, Facility.default_end, Facility.ladder, closed).where(
            Facility.tz == zone.tz
        )
    )
    days, ladders = [], {}
    for fid, default_end, ladder_json, is_closed in rows:
        ladder = Ladder.from_json(ladder_json)
        ladders[fid] = ladder
        days.append(
            FacilityDay(fid, zone.day, zone.offset_minutes, default_end, bool(is_closed), ladder)
        )
    return days, ladders


async def _member_days(
    session: AsyncSession, zone: _Zone, ladders: dict[int, Ladder], now: datetime
) -> list[MemberDay]:
    """Member-days where something can be due: the planned start has passed and the member
    has not reported (start ladder), has started (or ended without outputs) and the planned
    end has passed (end ladder), or has an open missed-contact alert (to resolve). Nobody else
    is loaded. A day is 在宅 as its 日報 records it, else as planned: a planned 通所 day the
    member spent at home gets its end check, a 在宅 day staff classified 通所 gets none."""
    day = zone.day
    has_exc = ScheduleException.id.is_not(None)
    planned_mode = case((has_exc, ScheduleException.mode), else_=Schedule.mode)
    mode = func.coalesce(DailyReport.mode, planned_mode)
    start = func.coalesce(
        case((has_exc, ScheduleException.start), else_=Schedule.start), Facility.default_start
    )
    end = func.coalesce(
        case((has_exc, ScheduleException.end), else_=Schedule.end), Facility.default_end
    )
    open_alert = exists().where(
        Alert.state.in_(OPEN_STATES),
        Alert.member_id == Member.id,
        Alert.business_date == day,
        Alert.kind.in_((MissedKind.START.value, MissedKind.END.value)),
    )
    reachable = exists().where(Identity.member_id == Member.id, Identity.active.is_(True))
    in_crisis = exists().where(
        Alert.member_id == Member.id,
        Alert.business_date == day,
        Alert.level == AlertLevel.CRISIS.value,
        Alert.state.in_(OPEN_STATES),
    )
    closed = exists().where(
        FacilityClosure.facility_id == Member.facility_id, FacilityClosure.date == day
    )
    answering = exists().where(
        Conversation.member_id == Member.id,
        Conversation.kind.in_((Phase.START.value, Phase.END.value)),
        Conversation.updated_at > now - timedelta(minutes=policy.ANSWERING_MINUTES),
    )
    recorded_zaitaku = DailyReport.mode == DayMode.ZAITAKU.value
    conditions = [
        Member.active.is_(True),
        mode == DayMode.ZAITAKU.value,
        start <= _ahead(zone, max((-lad.start_reminder for lad in ladders.values()), default=0)),
        or_(
            DailyReport.id.is_(None),
            DailyReport.status == ReportStatus.OPEN.value,
            and_(
                DailyReport.status.in_((ReportStatus.STARTED.value, ReportStatus.ENDING.value)),
                end
                <= _ahead(zone, max((-lad.end_reminder for lad in ladders.values()), default=0)),
            ),
            open_alert,
        ),
    ]
    # Cheap pre-filters; the policy decides the same again from the flags.
    if policy.is_holiday(day):
        conditions.append(or_(has_exc, open_alert, recorded_zaitaku))
    stmt = (
        select(
            Member.id,
            Member.facility_id,
            start.label("start"),
            end.label("end"),
            has_exc.label("from_exception"),
            DailyReport.status,
            DailyReport.start_at,
            DailyReport.end_at,
            closed.label("closed"),
            reachable.label("reachable"),
            in_crisis.label("in_crisis"),
            func.coalesce(recorded_zaitaku, False).label("recorded_zaitaku"),
            answering.label("answering"),
        )
        .join(Facility, Facility.id == Member.facility_id)
        .outerjoin(
            ScheduleException,
            and_(ScheduleException.member_id == Member.id, ScheduleException.date == day),
        )
        .outerjoin(
            Schedule, and_(Schedule.member_id == Member.id, Schedule.weekday == day.weekday())
        )
        .outerjoin(
            DailyReport, and_(DailyReport.member_id == Member.id, DailyReport.business_date == day)
        )
        .where(Facility.tz == zone.tz, *conditions)
    )
    rows = (await session.execute(stmt)).all()
    open_kinds = await _open_alert_kinds(session, [r.id for r in rows if r.status], day)
    return [
        MemberDay(
            member_id=r.id,
            facility_id=r.facility_id,
            business_date=day,
            tz_offset_minutes=zone.offset_minutes,
            mode=DayMode.ZAITAKU,
            planned_start=r.start,
            planned_end=r.end,
            status=ReportStatus(r.status or ReportStatus.OPEN.value),
            start_at=r.start_at,
            end_at=r.end_at,
            from_exception=bool(r.from_exception),
            recorded_zaitaku=bool(r.recorded_zaitaku),
            answering=bool(r.answering),
            closed=bool(r.closed),
            reachable=bool(r.reachable),
            in_crisis=bool(r.in_crisis),
            open_alerts=open_kinds.get(r.id, frozenset()),
            ladder=ladders.get(r.facility_id, Ladder()),
        )
        for r in rows
    ]


async def _open_alert_kinds(
    session: AsyncSession, member_ids: Sequence[int], day: date
) -> dict[int, frozenset[MissedKind]]:
    """Open missed-contact alerts of members who reported (the only ones to resolve)."""
    found: dict[int, set[MissedKind]] = defaultdict(set)
    for ids in _chunks(member_ids):
        rows = await session.execute(
            select(Alert.member_id, Alert.kind).where(
                Alert.state.in_(OPEN_STATES),
                Alert.member_id.in_(ids),
                Alert.business_date == day,
                Alert.kind.in_((MissedKind.START.value, MissedKind.END.value)),
            )
        )
        for member_id, kind in rows:
            found[member_id].add(MissedKind(kind))
    return {k: frozenset(v) for k, v in found.items()}


async def existing_keys(session: AsyncSession, actions: Sequence[Action]) -> frozenset[str]:
    """Which of these effects happened already (index lookups on the unique keys)."""
    alert_keys = [a.key for a in actions if isinstance(a, Escalate)]
    outbox_keys = [a.key for a in actions if not isinstance(a, Escalate)]
    found: set[str] = set()
    for keys in _chunks(alert_keys):
        found.update((await session.scalars(select(Alert.key).where(Alert.key.in_(keys)))).all())
    for keys in _chunks(outbox_keys):
        found.update(
            (
                await session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(keys)))
            ).all()
        )
    return frozenset(found)


# --- applying the actions ------------------------------------------------------------------


async def apply(
    session: AsyncSession,
    view: TickView,
    actions: Sequence[Action],
    now: datetime,
    summary: TickSummary,
) -> None:
    if not actions:
        return
    member_ids = {a.member_id for a in actions if isinstance(a, Remind | Escalate | Resolve)}
    members = await _by_id(session, Member, member_ids)
    facility_ids = {m.facility_id for m in members.values()} | {
        a.facility_id for a in actions if isinstance(a, SendDigest | RemindEvaluations | Renotify)
    }
    facilities = await _by_id(session, Facility, facility_ids)
    days = {d.member_id: d for d in view.members}

    reminders = [a for a in actions if isinstance(a, Remind)]
    summary.reminders = await _remind(session, reminders, members, days, now)
    escalations = [a for a in actions if isinstance(a, Escalate)]
    summary.alerts = await _escalate(session, escalations, members, facilities, days, now)
    for a in actions:
        if isinstance(a, Resolve):
            member = members[a.member_id]
            if await _resolve(session, a, member, facilities[member.facility_id], days, now):
                summary.resolved.append(a.key)
    digests = [a for a in actions if isinstance(a, SendDigest)]
    summary.digests = await send_digests(session, digests, facilities, now)
    evals = [a for a in actions if isinstance(a, RemindEvaluations)]
    summary.evaluations = await remind_evaluations(session, evals, facilities, now)
    summary.approvals = await warn_approvals(session, digests, facilities, now)
    renotifications = [a for a in actions if isinstance(a, Renotify)]
    summary.renotified = await escalation.renotify(session, renotifications, facilities, now)


async def _remind(
    session: AsyncSession,
    actions: Sequence[Remind],
    members: dict[int, Member],
    days: dict[int, MemberDay],
    now: datetime,
) -> list[str]:
    """Reminders in bulk (the 10:00 peak): outbox rows, then a 支援記録 for each one new."""
    if not actions:
        return []
    identities = await _active_identities(session, [a.member_id for a in actions])
    rows, records = [], {}
    for a in actions:
        ident = identities.get(a.member_id)
        if ident is None:  # unlinked since the view was loaded: staff alerts still fire
            continue
        member = members[a.member_id]
        day = days[a.member_id]
        report = ReportSnapshot(business_date=a.business_date, status=day.status)
        reply = Reply(_reminder_text(a, member.name, day.status), dialog.menu_for(report))
        rows.append(
            repo.outbox_row(
                key=a.key,
                platform=ident[0],
                recipient=ident[1],
                member_id=a.member_id,
                payload=payloads.Replies((reply,), a.business_date),
                now=now,
            )
        )
        records[a.key] = {
            "member_id": a.member_id,
            "business_date": a.business_date,
            "at": now,
            "kind": SupportKind.REMINDER.value,
            "channel": ident[0],
            "staff_id": None,
            "entered_at": now,
            "entered_by": "bot",
            "content": texts.REMINDER_RECORD.format(
                phase=texts.REMINDER_PHASES[a.phase.value], step=a.step
            ),
            "key": a.key,
        }
    new = set(await repo.insert_many_ignore(session, OutboxMessage, rows))
    await repo.insert_many_ignore(session, SupportRecord, [records[k] for k in new])
    return sorted(new)


def _reminder_text(a: Remind, name: str, status: ReportStatus) -> str:
    if a.phase is Phase.END and status is ReportStatus.ENDING:
        return texts.EVENING_RESUME.format(name=name)  # the end time came, the outputs not yet
    if a.phase is Phase.END:
        return texts.EVENING.format(name=name)
    return (texts.MORNING if a.step == 1 else texts.MORNING_AGAIN).format(name=name)


async def _escalate(
    session: AsyncSession,
    actions: Sequence[Escalate],
    members: dict[int, Member],
    facilities: dict[int, Facility],
    days: dict[int, MemberDay],
    now: datetime,
) -> list[str]:
    """Missed-contact alerts in bulk (a morning's missed starts arrive in one tick).

    The phone-call step's mentions are not part of its detail (which Slack shows escaped, as
    the member's own words would be): the Slack sender mentions the member's 担当, 代理 and the
    managers above every new alert, and re-notifies an untaken urgent one (bot/escalation)."""
    if not actions:
        return []
    requests = []
    for a in actions:
        member = members[a.member_id]
        facility = facilities[member.facility_id]
        planned = a.planned.strftime("%H:%M")
        minutes = _ladder_minutes(a, facility)
        day = days.get(a.member_id)
        if a.kind is MissedKind.END and day is not None and day.end_at is not None:
            ended = day.end_at.astimezone(ZoneInfo(facility.tz)).strftime("%H:%M")
            detail = texts.MISSED_END_PARTIAL_DETAIL.format(
                ended=ended, planned=planned, minutes=minutes
            )
            level = AlertLevel.WARNING
        elif a.kind is MissedKind.END:
            detail = texts.MISSED_END_DETAIL.format(planned=planned, minutes=minutes)
            level = AlertLevel.WARNING
        elif a.audience is Audience.MANAGER:
            detail = texts.MISSED_START_CALL.format(planned=planned, minutes=minutes)
            level = AlertLevel.URGENT
        else:
            detail = texts.MISSED_START_DETAIL.format(planned=planned, minutes=minutes)
            level = AlertLevel.WARNING
        requests.append(
            AlertRequest(facility, member, a.business_date, a.kind.value, level, detail, a.key)
        )
    return sorted(await raise_alerts(session, requests, now))


def _ladder_minutes(a: Escalate, facility: Facility) -> int:
    ladder = Ladder.from_json(facility.ladder)
    if a.kind is MissedKind.END:
        return ladder.end_staff
    return ladder.start_manager if a.audience is Audience.MANAGER else ladder.start_staff


async def _resolve(
    session: AsyncSession,
    a: Resolve,
    member: Member,
    facility: Facility,
    days: dict[int, MemberDay],
    now: datetime,
) -> bool:
    """Close the open missed-contact alerts and tell staff once."""
    result = await session.execute(
        update(Alert)
        .where(
            Alert.member_id == a.member_id,
            Alert.business_date == a.business_date,
            Alert.kind == a.kind.value,
            Alert.state.in_(OPEN_STATES),
        )
        .values(state=AlertState.RESOLVED.value, resolved_at=now, resolution="late_report")
        .returning(Alert.id)
    )
    alert_ids = sorted(r[0] for r in result)
    if not alert_ids:
        return False
    day = days.get(a.member_id)
    md = f"{a.business_date.month}/{a.business_date.day}"
    if a.kind is MissedKind.END:
        msg = texts.RESOLVED_END.format(member=member.name, date=md)
    else:
        if day is not None and day.start_at is not None:
            hm = day.start_at.astimezone(ZoneInfo(facility.tz)).strftime("%H:%M")
            what = texts.RESOLVED_WHAT_START.format(time=hm)
        else:
            what = texts.RESOLVED_WHAT_ABSENT
        msg = texts.RESOLVED_START.format(member=member.name, date=md, what=what)
    new = await repo.enqueue(
        session,
        key=a.key,
        platform=STAFF_PLATFORM,
        recipient=facility.alert_channel or "",
        payload=payloads.AlertResolved(tuple(alert_ids), msg),
        member_id=member.id,
        now=now,
    )
    return new is not None


# --- helpers -------------------------------------------------------------------------------


async def _active_identities(
    session: AsyncSession, member_ids: Sequence[int]
) -> dict[int, tuple[str, str]]:
    """Each member's most recently linked active account: (platform, platform user id)."""
    out: dict[int, tuple[str, str]] = {}
    for ids in _chunks(member_ids):
        rows = await session.execute(
            select(Identity.member_id, Identity.platform, Identity.platform_user_id)
            .where(Identity.member_id.in_(ids), Identity.active.is_(True))
            .order_by(Identity.id)
        )
        for member_id, platform, user_id in rows:
            if member_id is not None:
                out[member_id] = (platform, user_id)
    return out


async def _by_id(session: AsyncSession, model: type[M], ids: Iterable[int]) -> dict[int, M]:
    out: dict[int, M] = {}
    for chunk in _chunks(sorted(ids)):
        for obj in (await session.scalars(select(model).where(model.id.in_(chunk)))).all():
            out[obj.id] = obj
    return out


def _chunks(items: Iterable[T]) -> Iterable[list[T]]:
    items = list(items)
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]
