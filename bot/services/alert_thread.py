"""An alert's thread on the staff platform: the conversation with the member in one place.

Once a staff member has written to the member from an alert (`alert_actions.send_message`,
a 支援記録 keyed `alert:{id}:message:{ref}`), the member's next messages of that business day
are mirrored into the alert's thread until the alert is resolved. What a mirrored line says
follows the alert's rule for details (`consent.slack_details`): the member's words only when
the facility's disclosure and the member's consent both allow them in Slack, else only that
an answer came. Each line is one outbox row (`ThreadNote`), so the staff platform's sender
posts it in turn with the channel's other messages.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import payloads, texts
from bot.core.calendar import business_date
from bot.core.domain import AlertState, InboundMessage
from bot.services import consent
from bot.services.platforms import STAFF_PLATFORM
from storage import repo
from storage.models import Alert, Facility, Member, Staff, SupportRecord

MESSAGE_KEY = "alert:{alert_id}:message:{ref}"  # the 支援記録 of a message sent from an alert
MESSAGE_KEYS = "alert:%:message:%"
OPEN_STATES = (AlertState.OPEN.value, AlertState.ACKED.value)
MIRRORED_TEXT = 1500  # a long message is clipped in the thread (the 日報 keeps it whole)


def message_key(alert_id: int, ref: str) -> str:
    return MESSAGE_KEY.format(alert_id=alert_id, ref=ref)


async def _details_shown(session: AsyncSession, member: Member, facility: Facility) -> bool:
    covers = await consent.current_covers(session, member.id)
    return consent.slack_details(facility.disclosure, covers)


def _hm(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def _clip(text: str) -> str:
    return text if len(text) <= MIRRORED_TEXT else text[: MIRRORED_TEXT - 1] + "…"


async def note(
    session: AsyncSession, alert: Alert, text: str, key: str, now: datetime
) -> int | None:
    """One line in the alert's thread (nothing when the alert was never posted)."""
    if not alert.slack_channel or not alert.slack_ts:
        return None
    return await repo.enqueue(
        session,
        key=key,
        platform=STAFF_PLATFORM,
        recipient=alert.slack_channel,
        payload=payloads.ThreadNote(alert.id, text),
        member_id=alert.member_id,
        now=now,
    )


async def staff_sent(
    session: AsyncSession, alert: Alert, staff: Staff, text: str, ref: str, now: datetime
) -> None:
    """「✉️ 佐藤さんがメッセージを送りました」 in the thread, with the words as disclosure allows
    (staff may write about the member's health too)."""
    member = await session.get_one(Member, alert.member_id)
    facility = await session.get_one(Facility, member.facility_id)
    at = _hm(now, facility.tz)
    if await _details_shown(session, member, facility):
        line = texts.THREAD_STAFF_SENT.format(staff=staff.name, time=at, text=_clip(text))
    else:
        line = texts.THREAD_STAFF_SENT_SHORT.format(staff=staff.name, time=at)
    await note(session, alert, line, f"thread:staff_message:{ref}", now)


async def members_with_threads(session: AsyncSession, member_ids: list[int], day: date) -> set[int]:
    """Of these members, those a staff member wrote to from an alert on `day` (a superset of
    whom `mirror` writes for: it also checks the time and that the alert is still open); one
    query for an inbox batch, so most typed messages skip `mirror`."""
    stmt = select(SupportRecord.member_id).where(
        SupportRecord.member_id.in_(sorted(member_ids)),
        SupportRecord.business_date == day,
        SupportRecord.key.like(MESSAGE_KEYS),
    )
    return set((await session.scalars(stmt.distinct())).all())


async def mirror(session: AsyncSession, member_id: int, msg: InboundMessage, now: datetime) -> int:
    """The member's typed message into the thread of each of the day's unresolved alerts a
    staff member wrote to them from (before this message); how many threads it went to."""
    text = msg.text.strip()
    if not text or msg.choice is not None:
        return 0
    member = await session.get(Member, member_id)
    if member is None:
        return 0
    facility = await session.get_one(Facility, member.facility_id)
    day = business_date(facility.tz, msg.sent_at)
    keys = await session.scalars(
        select(SupportRecord.key).where(
            SupportRecord.member_id == member.id,
            SupportRecord.business_date == day,
            SupportRecord.key.like(MESSAGE_KEYS),
            SupportRecord.at <= msg.sent_at,
        )
    )
    alert_ids = {int(k.split(":")[1]) for k in keys if k and k.split(":")[1].isdigit()}
    if not alert_ids:
        return 0
    alerts = await session.scalars(
        select(Alert)
        .where(Alert.id.in_(alert_ids), Alert.state.in_(OPEN_STATES), Alert.member_id == member.id)
        .order_by(Alert.id)
    )
    at = _hm(msg.sent_at, facility.tz)
    if await _details_shown(session, member, facility):
        line = texts.THREAD_MEMBER_SAID.format(name=member.name, time=at, text=_clip(text))
    else:
        line = texts.THREAD_MEMBER_WITHHELD.format(name=member.name, time=at)
    threads: set[tuple[str | None, str | None]] = set()
    for alert in alerts:
        if (alert.slack_channel, alert.slack_ts) in threads:  # a digest: one thread for all
            continue
        threads.add((alert.slack_channel, alert.slack_ts))
        key = f"mirror:{alert.id}:{msg.sender.platform.value}:{msg.event_id}"
        if await note(session, alert, line, key, now) is None:
            threads.discard((alert.slack_channel, alert.slack_ts))
    return len(threads)
