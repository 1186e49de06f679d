"""Staff act on alerts: take one (「対応します」), write to the member (「メッセージを送る」)
and close it (「対応済み」).

Each change is a conditional UPDATE, so two staff pressing at once cannot both win; each
winning action leaves a 支援記録 entry naming the staff member. Taking an alert also tells the
member, once (outbox key `taken:{alert}`), who has seen it (DESIGN §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import payloads, texts
from bot.core.domain import (
    ALERT_RESOLUTION_METHODS,
    AlertLevel,
    AlertState,
    ContactMethod,
    Reply,
    SupportKind,
)
from bot.services import alert_thread, records
from storage import repo
from storage.models import Alert, Facility, Identity, Member, Staff, SupportRecord

# Contact methods offered in the 対応済み form, with the support_record channel they map to.
METHODS = {texts.CONTACT_METHOD_LABELS[m]: m.value for m in ALERT_RESOLUTION_METHODS}


@dataclass(frozen=True)
class ActionResult:
    ok: bool  # this staff member's action changed the alert
    state: str  # the alert's state afterwards
    holder: str | None = None  # who has it (acked_by), when someone else won
    allowed: bool = True  # False: the alert belongs to another facility or does not exist


async def _alert_for(session: AsyncSession, alert_id: int, staff: Staff) -> Alert | None:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        return None
    member = await session.get_one(Member, alert.member_id)
    return alert if member.facility_id == staff.facility_id else None


async def take(
    session: AsyncSession, alert_id: int, staff: Staff, now: datetime, *, channel: str = "slack"
) -> ActionResult:
    """Claim an open alert; only the first of several concurrent presses wins. `channel`:
    where staff pressed it (the 支援記録's 手段)."""
    alert = await _alert_for(session, alert_id, staff)
    if alert is None:
        return ActionResult(False, "", allowed=False)
    result = await session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.state == AlertState.OPEN.value)
        .values(state=AlertState.ACKED.value, acked_by=staff.id, acked_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(alert)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        holder = await session.get(Staff, alert.acked_by) if alert.acked_by else None
        return ActionResult(False, alert.state, holder.name if holder else None)
    await repo.insert_ignore(
        session,
        SupportRecord,
        member_id=alert.member_id,
        business_date=alert.business_date,
        at=now,
        kind=SupportKind.ALERT_ACTION.value,
        channel=channel,
        staff_id=staff.id,
        entered_at=now,
        entered_by=f"staff:{staff.id}",
        content=f"アラート対応開始: {texts.CONCERN_TITLES.get(alert.kind, alert.kind)}",
        key=f"alert:{alert_id}:take",
    )
    await tell_member_taken(session, alert, staff, now)
    return ActionResult(True, AlertState.ACKED, staff.name)


# Alerts the member is not waiting on: an absence notice or a plain information.
QUIET_KINDS = frozenset({"absence", "early_finish"})


async def tell_member_taken(
    session: AsyncSession, alert: Alert, staff: Staff, now: datetime
) -> bool:
    """「○○さんが確認しました」 to the member's most recently linked active account, once."""
    if alert.kind in QUIET_KINDS or alert.level == AlertLevel.INFO.value:
        return False
    ident = await member_account(session, alert.member_id)
    if ident is None:
        return False
    crisis = alert.level == AlertLevel.CRISIS.value
    text = (texts.ALERT_TAKEN_MEMBER_CRISIS if crisis else texts.ALERT_TAKEN_MEMBER).format(
        staff=staff.name
    )
    new = await repo.enqueue(
        session,
        key=f"taken:{alert.id}",
        platform=ident[0],
        recipient=ident[1],
        payload=payloads.Replies((Reply(text),), alert.business_date),
        member_id=alert.member_id,
        now=now,
    )
    return new is not None


async def member_account(session: AsyncSession, member_id: int) -> tuple[str, str] | None:
    """The member's most recently linked active account: (platform, platform user id)."""
    row = (
        await session.execute(
            select(Identity.platform, Identity.platform_user_id)
            .where(Identity.member_id == member_id, Identity.active.is_(True))
            .order_by(Identity.id.desc())
            .limit(1)
        )
    ).first()
    return (str(row[0]), str(row[1])) if row is not None else None


@dataclass(frozen=True)
class MessageResult:
    sent: bool  # queued for the member (now or by an earlier submission of the same form)
    platform: str | None = None  # the member's platform it goes to
    allowed: bool = True  # False: the alert or member is another facility's or does not exist
    name: str = ""  # the member's name, for what staff are told


async def member_for(session: AsyncSession, member_id: int, staff: Staff) -> Member | None:
    """An active member of this staff member's own facility, else None."""
    member = await session.get(Member, member_id)
    if member is None or not member.active or member.facility_id != staff.facility_id:
        return None
    return member


async def _target(
    session: AsyncSession, staff: Staff, alert_id: int | None, member_id: int | None
) -> tuple[Alert | None, Member] | None:
    """What staff act from: an alert (and its member), or a member alone (the board, the
    report view); None when it is not theirs to see."""
    if alert_id is not None:
        alert = await _alert_for(session, alert_id, staff)
        return (alert, await session.get_one(Member, alert.member_id)) if alert else None
    member = await member_for(session, member_id, staff) if member_id is not None else None
    return (None, member) if member is not None else None


async def send_message(
    session: AsyncSession,
    alert_id: int | None,
    staff: Staff,
    text: str,
    *,
    ref: str,
    now: datetime,
    member_id: int | None = None,
) -> MessageResult:
    """Words from a staff member to the member, signed 「(名前より)」, on the member's own
    platform; kept as a 支援記録 (method メッセージ, by this staff member, entered now). From an
    alert it is also noted in the alert's thread, whose mirroring of the member's answers it
    starts; without one (`member_id`: from the board or the report view) there is no thread.
    `ref`: what makes this submission one (the form's id), so a repeat sends nothing."""
    target = await _target(session, staff, alert_id, member_id)
    if target is None:
        return MessageResult(False, allowed=False)
    alert, member = target
    account = await member_account(session, member.id)
    if account is None:
        return MessageResult(False, name=member.name)
    platform, user_id = account
    text = text.strip()
    signed = texts.STAFF_MESSAGE_SIGNED.format(text=text, staff=staff.name)
    new = await repo.enqueue(
        session,
        key=f"staff_message:{ref}",
        platform=platform,
        recipient=user_id,
        payload=payloads.StaffMessage(alert.id if alert else None, staff.id, signed),
        member_id=member.id,
        now=now,
    )
    if new is None:
        return MessageResult(True, platform, name=member.name)
    if alert is not None:
        title = texts.CONCERN_TITLES.get(alert.kind, alert.kind)
        content = texts.STAFF_MESSAGE_RECORD.format(title=title, text=text)
        key = alert_thread.message_key(alert.id, ref)
    else:
        content = texts.STAFF_MESSAGE_RECORD_DIRECT.format(text=text)
        key = f"member:{member.id}:message:{ref}"  # not an alert's: starts no mirroring
    channel = ContactMethod.MESSAGE.value
    await records.log_contact(session, member.id, staff.id, channel, content, now, now, key=key)
    if alert is not None:
        await alert_thread.staff_sent(session, alert, staff, text, ref, now)
    return MessageResult(True, platform, name=member.name)


# The calls staff log from Slack (「電話・ビデオを記録」), by support_record channel.
CALL_METHODS = (ContactMethod.PHONE.value, ContactMethod.VIDEO.value)


@dataclass(frozen=True)
class CallResult:
    logged: bool  # a 支援記録 now holds it (or held it already: the same form twice)
    allowed: bool = True  # False: the alert or member is another facility's or does not exist
    name: str = ""  # the member's name
    error: str = ""  # why it was not logged (in Japanese), when allowed


async def log_call(
    session: AsyncSession,
    staff: Staff,
    *,
    alert_id: int | None,
    member_id: int | None,
    method: str,
    note: str,
    at: datetime,
    ref: str,
    now: datetime,
) -> CallResult:
    """A phone or video call staff had with the member at `at`, written down `now`: a
    支援記録 by this staff member, and for an alert a line in its thread saying who called and
    how (the note itself stays in the record: it may be about health). Logging a call does
    not take or resolve the alert: 「対応済み」 is a decision of its own."""
    target = await _target(session, staff, alert_id, member_id)
    if target is None:
        return CallResult(False, allowed=False)
    alert, member = target
    if method not in CALL_METHODS:
        return CallResult(False, name=member.name, error=f"unknown method {method!r}")
    key = f"call:{ref}"
    if await session.scalar(select(SupportRecord.id).where(SupportRecord.key == key)):
        return CallResult(True, name=member.name)
    note = note.strip()
    if alert is not None:
        title = texts.CONCERN_TITLES.get(alert.kind, alert.kind)
        label = texts.CALL_LOG_METHODS[method]
        content = texts.CALL_LOG_RECORD.format(title=title, method=label, note=note)
    else:
        content = note
    try:  # the same path as a message's: kind staff_contact, counted where the profile says
        await records.log_contact(session, member.id, staff.id, method, content, at, now, key=key)
    except records.RecordsError as exc:
        return CallResult(False, name=member.name, error=str(exc))
    if alert is not None:
        facility = await session.get_one(Facility, member.facility_id)
        line = texts.THREAD_CALL_LOGGED.format(
            staff=staff.name,
            method=texts.CALL_LOG_METHODS[method],
            time=at.astimezone(ZoneInfo(facility.tz)).strftime("%H:%M"),
        )
        await alert_thread.note(session, alert, line, f"thread:{key}", now)
    return CallResult(True, name=member.name)


async def resolve(
    session: AsyncSession,
    alert_id: int,
    staff: Staff,
    *,
    method: str,
    outcome: str,
    now: datetime,
) -> ActionResult:
    """Close an open or taken alert with how staff reached the member and what came of it."""
    alert = await _alert_for(session, alert_id, staff)
    if alert is None:
        return ActionResult(False, "", allowed=False)
    resolution = f"{method}: {outcome}".strip()
    result = await session.execute(
        update(Alert)
        .where(
            Alert.id == alert_id, Alert.state.in_((AlertState.OPEN.value, AlertState.ACKED.value))
        )
        .values(
            state=AlertState.RESOLVED.value,
            resolved_by=staff.id,
            resolved_at=now,
            resolution=resolution,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(alert)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        holder = await session.get(Staff, alert.resolved_by) if alert.resolved_by else None
        return ActionResult(False, alert.state, holder.name if holder else None)
    if alert.acked_by is None:
        alert.acked_by, alert.acked_at = staff.id, now
    await repo.insert_ignore(
        session,
        SupportRecord,
        member_id=alert.member_id,
        business_date=alert.business_date,
        at=now,
        kind=SupportKind.ALERT_ACTION.value,
        channel=METHODS.get(method, ContactMethod.OTHER.value),
        staff_id=staff.id,
        entered_at=now,
        entered_by=f"staff:{staff.id}",
        content=(
            f"アラート対応済み: {texts.CONCERN_TITLES.get(alert.kind, alert.kind)}"
            f" / 方法: {method} / 結果: {outcome}"
        ),
        key=f"alert:{alert_id}:resolve",
    )
    return ActionResult(True, AlertState.RESOLVED, staff.name)


async def record_message(session: AsyncSession, alert_id: int, channel: str, ts: str) -> None:
    """Remember where the alert was posted so buttons and updates find the message."""
    alert = await session.get(Alert, alert_id)
    if alert is not None:
        alert.slack_channel, alert.slack_ts = channel, ts


async def visible(session: AsyncSession, alert_id: int, staff: Staff) -> bool:
    """Whether this staff member may see and act on the alert (same facility)."""
    return await _alert_for(session, alert_id, staff) is not None
