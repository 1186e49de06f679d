"""Use case: a member's text or tap, after the inbox (bot/services/inbox.py) dispatched it.

One path for every front door (LINE, Slack DM, console): find the account → link it if
unknown → step the pure dialog → write the 日報, revisions, 支援記録 and alerts (`apply_events`,
one handler per dialog event) → put the replies in the outbox (`_send`, the one reply row).
All inside the caller's transaction; nothing here commits or sends.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, assert_never
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import calendar, dialog, parsing, policy, provenance, texts
from bot.core.domain import (
    DAY_FLAG,
    DAY_TSUSHO_AT_HOME,
    DAY_UNPLANNED,
    AbsenceNoticed,
    AlertLevel,
    CheckInCompleted,
    Concern,
    ConsultRequested,
    DayKind,
    DayMode,
    DayModeChosen,
    DialogEvent,
    DialogState,
    EntryFlagCleared,
    EntryFlagged,
    Facts,
    FieldRecorded,
    InboundMessage,
    Phase,
    Reply,
    ReportSnapshot,
    ReportStatus,
    SupportKind,
    UnplannedDayReported,
)
from bot.core.hours import BusinessHours, crisis_contacts_from_json
from bot.core.payloads import Replies
from bot.services import accounts, alert_thread, nlp
from bot.services.alerting import raise_alert
from bot.services.records import record_change
from storage import repo
from storage.models import (
    Conversation,
    DailyReport,
    Facility,
    FacilityClosure,
    Identity,
    LinkCode,
    Member,
    ReportRevision,
    ScheduleException,
    SupportRecord,
)

log = logging.getLogger(__name__)

LINK_ATTEMPTS = 5
LINK_LOCK = timedelta(hours=24)
# LINE documents reply tokens as valid for up to a minute; we keep a margin for delivery.
REPLY_TOKEN_TTL = timedelta(seconds=50)
CODE = re.compile(r"\d{6}")


# --- a batch's reads, set-based ------------------------------------------------------------

LOADED = "checkin_loaded"  # session.info: the `Loaded` of the event being handled


@dataclass
class Loaded:
    """What one sender's next message needs, read with the rest of its batch (`preload`):
    the account, its member and facility, and for the message's business date the
    conversation, the 日報 and the one before it (locked), the plan, and whether the day is a
    closure, its mode settled and a staff message sent from an alert (`alert_thread.mirror`).
    Valid for that one message only: the inbox hands it over (`use`) just before it."""

    identity: Identity
    member: Member | None = None
    facility: Facility | None = None
    day: date | None = None
    conversation: Conversation | None = None
    report: DailyReport | None = None
    previous: DailyReport | None = None
    plan: tuple[str, Any] = ("off", None)
    closed: bool = False
    mode_settled: bool = False
    threads: bool = False
    rows: list[Any] = field(default_factory=list)  # ORM objects to attach again


async def preload(
    session: AsyncSession, platform: str, firsts: Sequence[InboundMessage]
) -> dict[str, Loaded]:
    """For each sender's first message of a batch, what `handle_message` reads, in a few
    IN-queries for the whole batch instead of a dozen per message; by user id. Accounts not
    yet known, or not linked, are left out (their message reads for itself)."""
    users = sorted({m.sender.user_id for m in firsts})
    identities = {
        i.platform_user_id: i for i in await repo.identities_for(session, platform, users)
    }
    linked = {u: i for u, i in identities.items() if i.member_id is not None}
    loaded = {u: Loaded(i, rows=[i]) for u, i in identities.items()}
    if not linked:
        return loaded
    member_ids = {i.member_id for i in linked.values()}
    members = {m.id: m for m in await _all(session, Member, Member.id, member_ids)}
    facilities = {
        f.id: f
        for f in await _all(
            session, Facility, Facility.id, {m.facility_id for m in members.values()}
        )
    }
    days: dict[date, list[int]] = {}
    seen: set[int] = set()
    for msg in firsts:
        got = loaded.get(msg.sender.user_id)
        member = members.get(got.identity.member_id or 0) if got is not None else None
        if got is None or member is None:
            continue
        if member.id in seen:  # two accounts of one member: the second reads for itself
            continue  # (its day stays None), after the first one's writes
        seen.add(member.id)
        got.member, got.facility = member, facilities[member.facility_id]
        got.day = calendar.business_date(got.facility.tz, msg.sent_at)
        got.rows += [member, got.facility]
        days.setdefault(got.day, []).append(member.id)
    by_member = {g.member.id: g for g in loaded.values() if g.member is not None}
    for conv in await _all(session, Conversation, Conversation.member_id, by_member):
        by_member[conv.member_id].conversation = conv
        by_member[conv.member_id].rows.append(conv)
    for day, mids in days.items():
        today, previous = await repo.reports_and_previous(session, mids, day)
        plans = await repo.day_plans(session, mids, day)
        closed = await _closures(session, {members[m].facility_id for m in mids}, day)
        settled = await _settled(session, [r.id for r in today.values()])
        threads = await alert_thread.members_with_threads(session, mids, day)
        for mid in mids:
            got = by_member[mid]
            got.report, got.previous = today.get(mid), previous.get(mid)
            got.rows += [r for r in (got.report, got.previous) if r is not None]
            got.plan = plans[mid]
            got.closed = members[mid].facility_id in closed
            got.mode_settled = got.report is not None and got.report.id in settled
            got.threads = mid in threads
    return loaded


async def _all(session: AsyncSession, model: Any, column: Any, keys: Any) -> list[Any]:
    stmt = select(model).where(column.in_(sorted(keys)))
    return list((await session.scalars(stmt)).all())


async def _closures(session: AsyncSession, facility_ids: set[int], day: date) -> set[int]:
    stmt = select(FacilityClosure.facility_id).where(
        FacilityClosure.facility_id.in_(sorted(facility_ids)), FacilityClosure.date == day
    )
    return set((await session.scalars(stmt)).all())


async def _settled(session: AsyncSession, report_ids: list[int]) -> set[int]:
    if not report_ids:
        return set()
    stmt = select(ReportRevision.report_id).where(
        ReportRevision.report_id.in_(sorted(report_ids)), ReportRevision.field == MODE_FIELD
    )
    return set((await session.scalars(stmt.distinct())).all())


def use(session: AsyncSession, loaded: Loaded | None) -> None:
    """Hand `loaded` to the message about to be handled in `session` (None: it reads for
    itself). Its rows are attached again: the inbox detaches everything between messages."""
    session.info.pop(LOADED, None)
    if loaded is None:
        return
    for row in loaded.rows:
        session.add(row)
    session.info[LOADED] = loaded


def _loaded(session: AsyncSession, *, member_id: int | None = None) -> Loaded | None:
    got: Loaded | None = session.info.get(LOADED)
    if got is None or (member_id is not None and got.identity.member_id != member_id):
        return None
    return got


def loaded_identity(session: AsyncSession, platform: str, user_id: str) -> Identity | None:
    """The account of the message being handled, when its batch read it."""
    got = _loaded(session)
    if got is None:
        return None
    identity = got.identity
    return (
        identity if (identity.platform, identity.platform_user_id) == (platform, user_id) else None
    )


async def handle_message(session: AsyncSession, msg: InboundMessage, now: datetime) -> None:
    """Handle typed text or a tap whose raw event is already in the inbox."""
    platform, user = msg.sender.platform.value, msg.sender.user_id
    identity = loaded_identity(session, platform, user)
    if identity is not None:
        identity.active = True  # as `repo.active_identity` marks it
    else:
        identity = await repo.active_identity(session, platform, user, now)
    _seen(identity, msg)
    day: date | None = None
    if identity.member_id is None:
        replies = await _link(session, identity, msg, now)
    else:
        replies, day = await _converse(session, identity.member_id, msg, now)
        got = _loaded(session, member_id=identity.member_id)
        if got is None or got.day is None or got.threads:  # staff wrote from an alert?
            await alert_thread.mirror(session, identity.member_id, msg, now)
    await _send(session, msg, replies, now, identity.member_id, day)


def _seen(identity: Identity, msg: InboundMessage) -> None:
    """Remember when this account last wrote (the platform's time, never moving back), to
    the minute staff are shown: a member's taps within one minute write the account (and
    its audit entry) once, not once a tap."""
    seen = identity.last_seen_at
    if seen is None or _minute(seen) < _minute(msg.sent_at):
        identity.last_seen_at = msg.sent_at


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)  # UTC: every zone's offset is whole minutes


async def greet(session: AsyncSession, msg: InboundMessage, now: datetime) -> None:
    """A new or returning account (LINE follow): the linking prompt, or welcome back."""
    identity = await repo.active_identity(
        session, msg.sender.platform.value, msg.sender.user_id, now
    )
    member = await session.get(Member, identity.member_id) if identity.member_id else None
    if member is None:
        replies = [Reply(texts.LINK_PROMPT)]
    else:
        report = await _today_snapshot(session, member, msg.sent_at)
        replies = [Reply(texts.WELCOME_BACK.format(name=member.name), dialog.menu_for(report))]
    await _send(session, msg, replies, now, identity.member_id)


async def deactivate(session: AsyncSession, platform: str, user_id: str) -> None:
    """The account left (LINE unfollow): no more pushes until it comes back."""
    identity = await repo.identity_for(session, platform, user_id)
    if identity is not None:
        identity.active = False


# --- linking an unknown account ------------------------------------------------------------


async def _link(
    session: AsyncSession, identity: Identity, msg: InboundMessage, now: datetime
) -> list[Reply]:
    """Only the linking prompt; an unlinked account learns nothing about anyone."""
    if identity.locked_until is not None and identity.locked_until > now:
        return [Reply(texts.LINK_LOCKED)]
    text = parsing.normalize(msg.text)
    if not CODE.fullmatch(text):
        return [Reply(texts.LINK_PROMPT)]
    if await accounts.linking_paused(session, now):  # too many wrong codes, installation-wide
        return [Reply(texts.LINK_PAUSED)]
    code = (
        await session.execute(
            select(LinkCode)
            .where(
                LinkCode.code == text,
                LinkCode.used_at.is_(None),
                LinkCode.voided_at.is_(None),
                LinkCode.expires_at > now,
            )
            .with_for_update()  # two accounts sending one code at once: only one links
        )
    ).scalar_one_or_none()
    member = await session.get(Member, code.member_id) if code is not None else None
    if code is None or member is None or not member.active:
        await accounts.record_failure(session, identity, now)
        identity.link_failures += 1
        if identity.link_failures >= LINK_ATTEMPTS:
            identity.locked_until = now + LINK_LOCK
            identity.link_failures = 0
            log.warning("link attempts exhausted", extra={"identity_id": identity.id})
            return [Reply(texts.LINK_LOCKED)]
        return [Reply(texts.LINK_WRONG)]
    code.used_at = now
    identity.member_id, identity.linked_at, identity.link_failures = member.id, now, 0
    log.info("account linked", extra={"identity_id": identity.id, "member_id": member.id})
    await accounts.linked(session, identity, member, now, code_id=code.id)
    report = await _today_snapshot(session, member, msg.sent_at)
    return [Reply(texts.LINK_DONE.format(name=member.name), dialog.menu_for(report))]


# --- the check-in dialog -------------------------------------------------------------------


async def _converse(
    session: AsyncSession, member_id: int, msg: InboundMessage, now: datetime
) -> tuple[list[Reply], date | None]:
    """The dialog's replies, and the business date they belong to."""
    member = await session.get(Member, member_id)
    if member is None:
        return [Reply(texts.LINK_PROMPT)], None
    facility = await session.get_one(Facility, member.facility_id)
    facts, report, mode = await load_facts(
        session, member, facility, msg.sent_at, month=dialog.asks_month(msg)
    )
    got = _loaded(session, member_id=member.id)
    if got is not None and got.day == facts.business_date:
        conv = got.conversation
    else:
        conv = (
            await session.execute(select(Conversation).where(Conversation.member_id == member.id))
        ).scalar_one_or_none()
    state = DialogState.from_json(conv.state if conv else None)

    result = dialog.step(state, msg, facts, nlp.analyser())

    turn = Turn(session, member, facility, facts.business_date, msg, now, mode, report)
    await apply_events(turn, result.events)
    await _save_state(session, conv, member.id, result.state, now)
    return list(result.replies), facts.business_date


async def load_facts(
    session: AsyncSession, member: Member, facility: Facility, at: datetime, *, month: bool = True
) -> tuple[Facts, DailyReport | None, str]:
    """What the dialog needs to know, the day's 日報 (locked) if any, and the mode a 日報
    opened now starts with. `month`: also the month's worked days (`dialog.asks_month`: only
    今月の記録 shows them)."""
    day = calendar.business_date(facility.tz, at)
    got = _loaded(session, member_id=member.id)
    if got is not None and got.day == day:
        report, previous = got.report, got.previous
    else:
        got = None
        report, previous = await repo.report_and_previous(session, member.id, day)
    kind, mode, plan = await day_standing(session, member, facility, day, report, got)
    offset = at.astimezone(ZoneInfo(facility.tz)).utcoffset() or timedelta(hours=9)
    facts = Facts(
        member_name=member.name,
        business_date=day,
        report=repo.snapshot(report, day),
        tz_offset_minutes=int(offset.total_seconds() // 60),
        ask_temperature=facility.ask_temperature,
        usual_tasks=tuple(member.usual_tasks or ()),
        previous_report=repo.snapshot(previous, previous.business_date) if previous else None,
        planned_start=plan.start if plan is not None else None,
        planned_end=plan.end if plan is not None else None,
        business_hours=BusinessHours.from_json(facility.business_hours),
        crisis_contacts=crisis_contacts_from_json(facility.crisis_contacts),
        day_kind=kind,
        month_days=(
            await repo.worked_days(session, member.id, day.replace(day=1), day) if month else ()
        ),
    )
    return facts, report, mode.value


async def day_standing(
    session: AsyncSession,
    member: Member,
    facility: Facility,
    day: date,
    report: DailyReport | None,
    loaded: Loaded | None = None,
) -> tuple[DayKind, DayMode, Any]:
    """What the date is for the check-in (`policy.day_kind`), the mode a new 日報 opens with,
    and the day's plan (schedule or exception row, or None); `loaded`: read by the batch."""
    plan_value, plan = loaded.plan if loaded else await repo.day_plan(session, member, day)
    planned = DayMode(plan_value)
    from_exception = isinstance(plan, ScheduleException)
    closed = False
    if planned is not DayMode.OFF and not from_exception:
        closed = loaded.closed if loaded else await _closed(session, facility.id, day)
    flag = (report.flags or {}).get(DAY_FLAG) if report is not None else None
    facts = dict(from_exception=from_exception, closed=closed, holiday=policy.is_holiday(day))
    kind = policy.day_kind(planned, day_flag=flag, **facts)
    if kind is not DayKind.PLANNED and report is not None:
        settled = loaded.mode_settled if loaded else await _mode_settled(session, report)
        if settled:
            kind = policy.day_kind(planned, day_flag=flag, settled=True, **facts)
    return kind, policy.opening_mode(kind, planned), plan


async def _closed(session: AsyncSession, facility_id: int, day: date) -> bool:
    stmt = select(FacilityClosure.id).where(
        FacilityClosure.facility_id == facility_id, FacilityClosure.date == day
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def _mode_settled(session: AsyncSession, report: DailyReport) -> bool:
    """The member said where they work, or staff classified the day (a `mode` revision)."""
    stmt = select(ReportRevision.id).where(
        ReportRevision.report_id == report.id, ReportRevision.field == MODE_FIELD
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def _today_snapshot(session: AsyncSession, member: Member, at: datetime) -> ReportSnapshot:
    facility = await session.get_one(Facility, member.facility_id)
    day = calendar.business_date(facility.tz, at)
    return repo.snapshot(await repo.report_for(session, member.id, day), day)


async def _save_state(
    session: AsyncSession,
    conv: Conversation | None,
    member_id: int,
    state: DialogState,
    now: datetime,
) -> None:
    expires = datetime.fromisoformat(state.expires_at) if state.expires_at else None
    if conv is None:
        if state.idle:
            return
        conv = Conversation(member_id=member_id, state={}, updated_at=now)
        session.add(conv)
    conv.state, conv.kind, conv.expires_at, conv.updated_at = (
        state.to_json(),
        state.flow,
        expires,
        now,
    )


# --- turning dialog events into records ----------------------------------------------------


@dataclass
class Turn:
    """One message's dialog events being written: whose, for which business date, and the
    day's 日報 as `load_facts` read it (locked), or None until the first event that needs one
    opens it in the day's `mode`."""

    session: AsyncSession
    member: Member
    facility: Facility
    day: date
    msg: InboundMessage
    now: datetime
    mode: str
    report: DailyReport | None = None

    async def day_report(self) -> DailyReport:
        """The day's 日報, opened (in `mode`) the first time an event needs it."""
        if self.report is None:
            self.report = await _open_report(
                self.session, self.member, self.day, self.now, self.mode
            )
        return self.report


async def apply_events(turn: Turn, events: Sequence[DialogEvent]) -> DailyReport | None:
    """Write what the dialog decided, one handler per event, in the dialog's order."""
    for event in events:
        await _apply(turn, event)
    return turn.report  # written at the session's next flush (an inbox batch: its end)


async def _apply(turn: Turn, event: DialogEvent) -> None:
    match event:
        case FieldRecorded():
            await _field_recorded(turn, event)
        case CheckInCompleted():
            await _check_in_completed(turn, event)
        case AbsenceNoticed():
            await _absence_noticed(turn, event)
        case ConsultRequested():
            await _consult_requested(turn, event)
        case Concern():
            await _concern(turn, event)
        case EntryFlagged():
            await _entry_flagged(turn, event)
        case EntryFlagCleared():
            _entry_flag_cleared(turn, event)
        case DayModeChosen():
            await _day_mode_chosen(turn, event)
        case UnplannedDayReported():
            await _unplanned_day(turn)
        case _:  # a new event type without a handler fails type checking here
            assert_never(event)


async def _field_recorded(turn: Turn, event: FieldRecorded) -> None:
    """Change one field through the shared path that keeps every change as a revision."""
    await record_change(
        turn.session,
        await turn.day_report(),
        event.field,
        event.value,
        at=turn.msg.sent_at,
        source="member_correction" if event.correction else "member",
        by_member_id=turn.member.id,
        clears_flag=event.correction,
        locked=True,  # read under lock by load_facts, or opened in this transaction
    )


async def _check_in_completed(turn: Turn, event: CheckInCompleted) -> None:
    """The start or end check is complete: its 支援記録 (R2), once per 日報 and phase."""
    report = await turn.day_report()
    await _support(
        turn,
        _check_kind(event.phase),
        _check_content(report, event.phase, turn.facility),
        key=f"check:{event.phase}:{report.id}",
    )


async def _absence_noticed(turn: Turn, event: AbsenceNoticed) -> None:
    """The member will not work that day. 「あしたは休みます」: that day's 日報 is opened as
    absent, today's is untouched."""
    if event.day is not None and event.day != turn.day:
        ahead = await repo.report_for(turn.session, turn.member.id, event.day)
        report = ahead or await _open_report(
            turn.session, turn.member, event.day, turn.now, facility=turn.facility
        )
    else:
        report = await turn.day_report()
    await _mark_absent(turn, report, event)


async def _consult_requested(turn: Turn, event: ConsultRequested) -> None:
    await _support(turn, SupportKind.CONSULT, f"相談の希望: {event.text}".strip())


async def _concern(turn: Turn, event: Concern) -> None:
    await raise_alert(
        turn.session,
        facility=turn.facility,
        member=turn.member,
        day=turn.day,
        kind=event.kind.value,
        level=event.level,
        detail=event.detail,
        key=f"concern:{event.kind}:{turn.member.id}:{turn.day}:{turn.msg.event_id}",
        now=turn.now,
    )


async def _entry_flagged(turn: Turn, event: EntryFlagged) -> None:
    report = await turn.day_report()
    report.flags = {**(report.flags or {}), event.field.value: event.reason}


def _entry_flag_cleared(turn: Turn, event: EntryFlagCleared) -> None:
    """Only a 日報 that exists has a flag to clear: none is opened for this."""
    report = turn.report
    if report is not None and event.field.value in (report.flags or {}):
        report.flags = {k: v for k, v in report.flags.items() if k != event.field.value}


MODE_FIELD = "mode"  # report_revision.field for the day's mode (not a ReportField: not typed)


async def _day_mode_chosen(turn: Turn, event: DayModeChosen) -> None:
    """The member said where they work today: the 日報's mode is their answer, kept as a
    revision (so it is not asked again); a planned 通所 day at home is told to staff as a
    notice, not an alarm."""
    report = await turn.day_report()
    member, facility, now = turn.member, turn.facility, turn.now
    before = report.mode
    report.mode = event.mode.value
    turn.session.add(
        ReportRevision(
            report_id=report.id,
            field=MODE_FIELD,
            before=before,
            after=event.mode.value,
            by_member_id=member.id,
            source="member",
            at=now,
            late=provenance.is_late_for_day(
                report.business_date, now, facility.late_entry_grace_hours, facility.tz
            ),
        )
    )
    flags = {k: v for k, v in (report.flags or {}).items() if k != DAY_FLAG}
    if event.mode is DayMode.ZAITAKU and before != DayMode.ZAITAKU.value:
        flags[DAY_FLAG] = DAY_TSUSHO_AT_HOME
        await raise_alert(
            turn.session,
            facility=facility,
            member=member,
            day=report.business_date,
            kind=DAY_TSUSHO_AT_HOME,
            level=AlertLevel.INFO,
            detail=texts.TSUSHO_AT_HOME_DETAIL,
            key=f"day:{DAY_TSUSHO_AT_HOME}:{member.id}:{report.business_date}",
            now=now,
        )
    report.flags = flags
    report.updated_at = now


UNPLANNED_ALERT_KIND = "unplanned_day"


async def _unplanned_day(turn: Turn) -> None:
    """Work on a day with no 在宅 planned: flagged until staff classify it (`nippo report
    classify`), and staff hear of it once as a notice."""
    report = await turn.day_report()
    report.flags = {**(report.flags or {}), DAY_FLAG: DAY_UNPLANNED}
    await raise_alert(
        turn.session,
        facility=turn.facility,
        member=turn.member,
        day=report.business_date,
        kind=UNPLANNED_ALERT_KIND,
        level=AlertLevel.INFO,
        detail=texts.UNPLANNED_DAY_DETAIL,
        key=f"day:{DAY_UNPLANNED}:{turn.member.id}:{report.business_date}",
        now=turn.now,
    )


async def _mark_absent(turn: Turn, report: DailyReport, event: AbsenceNoticed) -> None:
    """The 日報 (today's or a later day's) says absent; staff are told without alarm."""
    day = report.business_date
    if report.start_at is None:
        report.status = ReportStatus.ABSENT.value
    report.absence_note = event.note or report.absence_note
    report.updated_at = turn.now
    when = "" if day == turn.day else f"{day.month}/{day.day} "
    await _support(turn, SupportKind.ABSENCE, f"欠席の連絡: {when}{event.note}".strip(), day=day)
    await raise_alert(
        turn.session,
        facility=turn.facility,
        member=turn.member,
        day=day,
        kind="absence",
        level=AlertLevel.INFO,
        detail=event.note,
        key=f"absence:{turn.member.id}:{day}",
        now=turn.now,
    )


async def _open_report(
    session: AsyncSession,
    member: Member,
    day: date,
    now: datetime,
    mode: str | None = None,
    *,
    facility: Facility | None = None,
) -> DailyReport:
    """A new 日報, opened by the member's own message. `mode`: as `load_facts` decided; else
    the day's plan, where an unplanned day stays 休み (never silently made a 在宅 day)."""
    if mode is None:
        if facility is None:
            facility = await session.get_one(Facility, member.facility_id)
        _, opening, _ = await day_standing(session, member, facility, day, None)
        mode = opening.value
    report = DailyReport(
        member_id=member.id,
        business_date=day,
        mode=mode,
        status=ReportStatus.OPEN.value,
        flags={},
        entered_by=provenance.member_ref(member.id),
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    await session.flush()
    return report


def _check_kind(phase: Phase) -> SupportKind:
    return SupportKind.START_CHECK if phase is Phase.START else SupportKind.END_CHECK


def _check_content(report: DailyReport, phase: Phase, facility: Facility) -> str:
    """The 支援記録 text of a start/end check (R2: time + work content / time + outputs)."""
    tz = ZoneInfo(facility.tz)

    def hm(at: datetime | None) -> str:
        return at.astimezone(tz).strftime("%H:%M") if at else "未記入"

    if phase is Phase.START:
        parts = [f"開始確認 {hm(report.start_at)}", f"作業内容: {report.planned_work or '未記入'}"]
        if report.health_start is not None:
            parts.append(f"体調 {report.health_start}")
        if report.sleep_hours is not None:
            parts.append(f"睡眠 {report.sleep_hours:g}時間")
        if report.temperature is not None:
            parts.append(f"体温 {report.temperature:.1f}")
    else:
        parts = [
            f"終了確認 {hm(report.end_at)}",
            f"作業内容: {report.work_done or '未記入'}",
            f"成果: {report.outputs or '未記入'}",
        ]
        if report.health_end is not None:
            parts.append(f"体調 {report.health_end}")
    return " / ".join(parts)


async def _support(
    turn: Turn,
    kind: SupportKind,
    content: str,
    *,
    day: date | None = None,
    key: str | None = None,
) -> None:
    """A 支援記録 row the member's own message made (about `day`, by default the message's):
    `at` is when they sent it, `entered_at` when Nippo wrote it down."""
    values: dict[str, Any] = dict(
        member_id=turn.member.id,
        business_date=turn.day if day is None else day,
        at=turn.msg.sent_at,
        kind=kind.value,
        channel=turn.msg.sender.platform.value,
        content=content,
        key=key,
        entered_at=turn.now,
        entered_by=provenance.member_ref(turn.member.id),
    )
    if key is None:
        turn.session.add(SupportRecord(**values))
    else:
        await repo.insert_ignore(turn.session, SupportRecord, **values)


# --- replies -------------------------------------------------------------------------------


async def _send(
    session: AsyncSession,
    msg: InboundMessage,
    replies: list[Reply],
    now: datetime,
    member_id: int | None,
    day: date | None = None,
) -> None:
    """All replies to one event as one outbox row, so a LINE reply token is used once.
    `day`: the business date the replies belong to, when the caller knows it."""
    if not replies:
        return
    if day is None and member_id is not None:
        member = await session.get(Member, member_id)
        if member is not None:
            facility = await session.get_one(Facility, member.facility_id)
            day = calendar.business_date(facility.tz, msg.sent_at)
    payload = Replies(tuple(replies), day)
    await repo.enqueue(
        session,
        key=f"reply:{msg.sender.platform.value}:{msg.event_id}",
        platform=msg.sender.platform.value,
        recipient=msg.sender.user_id,
        payload=payload,
        now=now,
        member_id=member_id,
        reply_token=msg.reply_token,
        reply_token_until=(msg.sent_at + REPLY_TOKEN_TTL) if msg.reply_token else None,
        later=True,  # an inbox batch writes its replies together
    )


async def answer(
    session: AsyncSession,
    msg: InboundMessage,
    replies: list[Reply],
    now: datetime,
    day: date | None = None,
) -> None:
    """Reply to an event handled outside the dialog (old buttons, stickers, files); `day`:
    the business date, when the caller has worked it out already."""
    identity = await repo.identity_for(session, msg.sender.platform.value, msg.sender.user_id)
    if identity is not None and identity.member_id is not None:
        _seen(identity, msg)
    await _send(session, msg, replies, now, identity.member_id if identity else None, day)


async def report_of_day(
    session: AsyncSession, member: Member, day: date, now: datetime
) -> DailyReport:
    """The member's 日報 for a date, opened if there is none yet."""
    return await repo.report_for(session, member.id, day) or await _open_report(
        session, member, day, now
    )
