"""Use case: a member's message comes in.

One path for every front door (LINE, Slack DM, console): record the raw event (a repeat is a
no-op) → find the account → link it if unknown → step the pure dialog → write the 日報,
revisions, 支援記録 and alerts → put the replies in the outbox. All inside the caller's
transaction; nothing here commits or sends.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import accounts, dialog, nlp, parsing, texts
from bot.alerting import raise_alert
from bot.domain import (
    AbsenceNoticed,
    AlertLevel,
    CheckInCompleted,
    Concern,
    ConsultRequested,
    DialogEvent,
    DialogState,
    EntryFlagged,
    Facts,
    FieldRecorded,
    InboundMessage,
    Phase,
    Reply,
    ReportSnapshot,
    ReportStatus,
    SupportKind,
    reply_to_json,
)
from bot.hours import BusinessHours, crisis_contacts_from_json
from bot.records import record_change
from storage import repo
from storage.models import (
    Conversation,
    DailyReport,
    Facility,
    Identity,
    InboxEvent,
    LinkCode,
    Member,
    SupportRecord,
)

log = logging.getLogger(__name__)

LINK_ATTEMPTS = 5
LINK_LOCK = timedelta(hours=24)
# LINE documents reply tokens as valid for up to a minute; we keep a margin for delivery.
REPLY_TOKEN_TTL = timedelta(seconds=50)
CODE = re.compile(r"\d{6}")


async def receive(
    session: AsyncSession, msg: InboundMessage, now: datetime, body: dict[str, Any] | None = None
) -> bool:
    """Record and handle one inbound message; False when it was seen before."""
    inbox_id = await repo.add_inbox(
        session, msg.sender.platform.value, msg.event_id, body or _body(msg), now
    )
    if inbox_id is None:
        log.info("duplicate inbound event ignored", extra={"event_id": msg.event_id})
        return False
    await handle_message(session, msg, now)
    inbox = await session.get(InboxEvent, inbox_id)
    if inbox is not None:
        inbox.status, inbox.processed_at, inbox.attempts = "done", now, inbox.attempts + 1
    return True


async def handle_message(session: AsyncSession, msg: InboundMessage, now: datetime) -> None:
    """Handle a message whose raw event is already in the inbox."""
    platform = msg.sender.platform.value
    identity = await repo.identity_for(session, platform, msg.sender.user_id)
    if identity is None:
        identity = Identity(
            platform=platform,
            platform_user_id=msg.sender.user_id,
            active=True,
            link_failures=0,
            created_at=now,
        )
        session.add(identity)
        await session.flush()
    identity.active = True
    _seen(identity, msg)
    day: date | None = None
    if identity.member_id is None:
        replies = await _link(session, identity, msg, now)
    else:
        replies, day = await _converse(session, identity.member_id, msg, now)
    await _send(session, msg, replies, now, identity.member_id, day)


def _seen(identity: Identity, msg: InboundMessage) -> None:
    """Remember when this account last wrote (the platform's time, never moving back)."""
    if identity.last_seen_at is None or identity.last_seen_at < msg.sent_at:
        identity.last_seen_at = msg.sent_at


async def greet(session: AsyncSession, msg: InboundMessage, now: datetime) -> None:
    """A new or returning account (LINE follow): the linking prompt, or welcome back."""
    identity = await repo.identity_for(session, msg.sender.platform.value, msg.sender.user_id)
    if identity is None:
        identity = Identity(
            platform=msg.sender.platform.value,
            platform_user_id=msg.sender.user_id,
            active=True,
            link_failures=0,
            created_at=now,
        )
        session.add(identity)
        await session.flush()
    identity.active = True
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
    facts, report, mode = await load_facts(session, member, facility, msg.sent_at)
    conv = (
        await session.execute(select(Conversation).where(Conversation.member_id == member.id))
    ).scalar_one_or_none()
    state = DialogState.from_json(conv.state if conv else None)

    result = dialog.step(state, msg, facts, nlp.analyser())

    await apply_events(
        session, member, facility, facts.business_date, report, result.events, msg, now, mode
    )
    await _save_state(session, conv, member.id, result.state, now)
    return list(result.replies), facts.business_date


def business_date(facility: Facility, at: datetime) -> date:
    """The facility's calendar date at an instant."""
    return at.astimezone(ZoneInfo(facility.tz)).date()


async def load_facts(
    session: AsyncSession, member: Member, facility: Facility, at: datetime
) -> tuple[Facts, DailyReport | None, str]:
    """What the dialog needs to know, the day's 日報 (locked) if any, and the day's mode."""
    day = business_date(facility, at)
    report, previous = await repo.report_and_previous(session, member.id, day)
    mode, plan = await repo.day_plan(session, member, day)
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
    )
    return facts, report, mode


async def _today_snapshot(session: AsyncSession, member: Member, at: datetime) -> ReportSnapshot:
    facility = await session.get_one(Facility, member.facility_id)
    day = business_date(facility, at)
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


async def apply_events(
    session: AsyncSession,
    member: Member,
    facility: Facility,
    day: date,
    report: DailyReport | None,
    events: tuple[DialogEvent, ...],
    msg: InboundMessage,
    now: datetime,
    mode: str,
) -> DailyReport | None:
    """Write what the dialog decided. `report` is the day's 日報 as `load_facts` read it
    (locked), or None: the first event that needs one opens it in the day's `mode`."""
    channel = msg.sender.platform.value
    for event in events:
        if isinstance(event, FieldRecorded):
            report = report or await _open_report(session, member, day, now, mode)
            await _set_field(session, report, event, member.id, msg.sent_at)
        elif isinstance(event, CheckInCompleted):
            report = report or await _open_report(session, member, day, now, mode)
            await _support(
                session,
                member,
                day,
                msg.sent_at,
                _check_kind(event.phase),
                channel,
                _check_content(report, event.phase, facility),
                now=now,
                key=f"check:{event.phase}:{report.id}",
            )
        elif isinstance(event, AbsenceNoticed):
            if event.day is not None and event.day != day:  # notice for a later day
                await _absence_ahead(session, member, facility, event, msg, now)
                continue
            report = report or await _open_report(session, member, day, now, mode)
            await _mark_absent(session, member, facility, report, event, msg, now)
        elif isinstance(event, ConsultRequested):
            await _support(
                session,
                member,
                day,
                msg.sent_at,
                SupportKind.CONSULT,
                channel,
                f"相談の希望: {event.text}".strip(),
                now=now,
            )
        elif isinstance(event, Concern):
            await raise_alert(
                session,
                facility=facility,
                member=member,
                day=day,
                kind=event.kind.value,
                level=event.level,
                detail=event.detail,
                key=f"concern:{event.kind}:{member.id}:{day}:{msg.event_id}",
                now=now,
            )
        elif isinstance(event, EntryFlagged):
            report = report or await _open_report(session, member, day, now, mode)
            report.flags = {**(report.flags or {}), event.field.value: event.reason}
    await session.flush()
    return report


async def _mark_absent(
    session: AsyncSession,
    member: Member,
    facility: Facility,
    report: DailyReport,
    event: AbsenceNoticed,
    msg: InboundMessage,
    now: datetime,
) -> None:
    """The member will not work that day: the 日報 says so, staff are told without alarm."""
    day = report.business_date
    if report.start_at is None:
        report.status = ReportStatus.ABSENT.value
    report.absence_note = event.note or report.absence_note
    report.updated_at = now
    when = "" if day == business_date(facility, msg.sent_at) else f"{day.month}/{day.day} "
    await _support(
        session,
        member,
        day,
        msg.sent_at,
        SupportKind.ABSENCE,
        msg.sender.platform.value,
        f"欠席の連絡: {when}{event.note}".strip(),
        now=now,
    )
    await raise_alert(
        session,
        facility=facility,
        member=member,
        day=day,
        kind="absence",
        level=AlertLevel.INFO,
        detail=event.note,
        key=f"absence:{member.id}:{day}",
        now=now,
    )


async def _absence_ahead(
    session: AsyncSession,
    member: Member,
    facility: Facility,
    event: AbsenceNoticed,
    msg: InboundMessage,
    now: datetime,
) -> None:
    """「あしたは休みます」: that day's 日報 is opened as absent, today's is untouched."""
    assert event.day is not None
    report = await repo.report_for(session, member.id, event.day)
    report = report or await _open_report(session, member, event.day, now)
    await _mark_absent(session, member, facility, report, event, msg, now)


async def _open_report(
    session: AsyncSession, member: Member, day: date, now: datetime, mode: str | None = None
) -> DailyReport:
    if mode is None:
        mode, _ = await repo.day_plan(session, member, day)
    report = DailyReport(
        member_id=member.id,
        business_date=day,
        mode=mode if mode != "off" else "zaitaku",
        status=ReportStatus.OPEN.value,
        flags={},
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    await session.flush()
    return report


async def _set_field(
    session: AsyncSession, report: DailyReport, event: FieldRecorded, member_id: int, at: datetime
) -> None:
    """Change one field through the shared path that keeps every change as a revision."""
    await record_change(
        session,
        report,
        event.field,
        event.value,
        at=at,
        source="member_correction" if event.correction else "member",
        by_member_id=member_id,
        clears_flag=event.correction,
        locked=True,  # read under lock by load_facts, or opened in this transaction
    )


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
    session: AsyncSession,
    member: Member,
    day: date,
    at: datetime,
    kind: SupportKind,
    channel: str,
    content: str,
    *,
    now: datetime,
    key: str | None = None,
) -> None:
    """A 支援記録 row the member's own message made: `at` is when they sent it, `now` when
    Nippo wrote it down."""
    values: dict[str, Any] = dict(
        member_id=member.id,
        business_date=day,
        at=at,
        kind=kind.value,
        channel=channel,
        content=content,
        key=key,
        entered_at=now,
        entered_by=f"member:{member.id}",
    )
    if key is None:
        session.add(SupportRecord(**values))
    else:
        await repo.insert_ignore(session, SupportRecord, **values)


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
    payload: dict[str, Any] = {"kind": "replies", "replies": [reply_to_json(r) for r in replies]}
    if day is not None:
        payload["business_date"] = day.isoformat()
    elif member_id is not None:
        member = await session.get(Member, member_id)
        if member is not None:
            facility = await session.get_one(Facility, member.facility_id)
            payload["business_date"] = business_date(facility, msg.sent_at).isoformat()
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
    )


def _body(msg: InboundMessage) -> dict[str, Any]:
    """The raw form of a message that came without a platform body (console, tests)."""
    return {
        "platform": msg.sender.platform.value,
        "user_id": msg.sender.user_id,
        "sent_at": msg.sent_at.isoformat(),
        "text": msg.text,
        "choice": msg.choice,
    }


async def answer(
    session: AsyncSession, msg: InboundMessage, replies: list[Reply], now: datetime
) -> None:
    """Reply to an event handled outside the dialog (old buttons, stickers, files)."""
    identity = await repo.identity_for(session, msg.sender.platform.value, msg.sender.user_id)
    if identity is not None and identity.member_id is not None:
        _seen(identity, msg)
    await _send(session, msg, replies, now, identity.member_id if identity else None)


async def report_of_day(
    session: AsyncSession, member: Member, day: date, now: datetime
) -> DailyReport:
    """The member's 日報 for a date, opened if there is none yet."""
    return await repo.report_for(session, member.id, day) or await _open_report(
        session, member, day, now
    )
