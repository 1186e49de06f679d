"""Use cases for inbound events beyond typed text: buttons from another day, stickers,
message types we cannot use, and photos or files kept as evidence of the day's outputs.

The inbox (bot/services/inbox.py) dispatches here by kind, for every platform: the rule for
a button from another day is `choose` (LINE postbacks and Slack buttons alike). Like
`checkin`, everything runs inside the caller's transaction; an unlinked account only ever
gets the linking prompt.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import dialog, texts
from bot.core.calendar import business_date
from bot.core.domain import InboundMessage, Reply, SupportKind
from bot.services import checkin, consent
from storage import repo
from storage.models import Attachment, Facility, Member, SupportRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evidence:
    """A downloaded photo or file (None data: the platform would not give it to us)."""

    message_id: str
    content_type: str
    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class _Linked:
    member: Member
    facility: Facility
    day: date


async def _linked(session: AsyncSession, msg: InboundMessage) -> _Linked | None:
    identity = await repo.identity_for(session, msg.sender.platform.value, msg.sender.user_id)
    if identity is None or identity.member_id is None:
        return None
    member = await session.get(Member, identity.member_id)
    if member is None or not member.active:
        return None
    facility = await session.get_one(Facility, member.facility_id)
    return _Linked(member, facility, business_date(facility.tz, msg.sent_at))


async def wants_evidence(session: AsyncSession, msg: InboundMessage) -> bool:
    """A linked member whose consent covers keeping evidence: only then is content fetched."""
    linked = await _linked(session, msg)
    return linked is not None and consent.EVIDENCE in await consent.current_covers(
        session, linked.member.id
    )


async def _menu(session: AsyncSession, linked: _Linked) -> Reply:
    report = await repo.report_for(session, linked.member.id, linked.day)
    return Reply("", dialog.menu_for(repo.snapshot(report, linked.day)))


async def _answer_with_menu(
    session: AsyncSession, msg: InboundMessage, text: str, now: datetime
) -> None:
    linked = await _linked(session, msg)
    if linked is None:  # the linking prompt, nothing else
        await checkin.handle_message(session, replace(msg, text="", choice=None), now)
        return
    menu = await _menu(session, linked)
    await checkin.answer(session, msg, [replace(menu, text=text)], now, linked.day)


async def choose(
    session: AsyncSession, msg: InboundMessage, offered_for: date | None, now: datetime
) -> None:
    """A pressed button: applied only on the business date it was offered for."""
    linked = await _linked(session, msg)
    if linked is not None and offered_for is not None and offered_for != linked.day:
        log.info("stale button", extra={"event_id": msg.event_id})
        await stale_button(session, msg, now)
        return
    await checkin.handle_message(session, msg, now)


async def stale_button(session: AsyncSession, msg: InboundMessage, now: datetime) -> None:
    await _answer_with_menu(session, msg, texts.STALE_BUTTON, now)


async def sticker(session: AsyncSession, msg: InboundMessage, now: datetime) -> None:
    await _answer_with_menu(session, msg, texts.STICKER, now)


async def unsupported(session: AsyncSession, msg: InboundMessage, now: datetime) -> None:
    await _answer_with_menu(session, msg, texts.UNSUPPORTED, now)


async def save_evidence(
    session: AsyncSession,
    msg: InboundMessage,
    evidence: Evidence | None,
    now: datetime,
    *,
    problem: str = texts.PHOTO_FAILED,
) -> int | None:
    """Keep a photo or file with the day's 日報; the attachment id, None if not kept."""
    linked = await _linked(session, msg)
    if linked is None:
        await checkin.handle_message(session, replace(msg, text="", choice=None), now)
        return None
    if consent.EVIDENCE not in await consent.current_covers(session, linked.member.id):
        await _not_kept(session, msg, linked, now)
        return None
    if evidence is None:
        await checkin.answer(session, msg, [Reply(problem)], now, linked.day)
        return None
    report = await checkin.report_of_day(session, linked.member, linked.day, now)
    attachment_id = await repo.insert_ignore(
        session,
        Attachment,
        report_id=report.id,
        platform=msg.sender.platform.value,
        platform_message_id=evidence.message_id,
        content_type=evidence.content_type,
        filename=evidence.filename,
        sha256=hashlib.sha256(evidence.data).hexdigest(),
        data=evidence.data,
        at=msg.sent_at,
    )
    log.info("evidence kept", extra={"report_id": report.id, "attachment_id": attachment_id})
    await checkin.answer(session, msg, [Reply(texts.PHOTO_SAVED)], now, linked.day)
    return attachment_id


async def _not_kept(
    session: AsyncSession, msg: InboundMessage, linked: _Linked, now: datetime
) -> None:
    """No consent to keep evidence (APPI; 日立市 (1) 「あらかじめ利用者の同意を得る手続き」): the
    content is not kept, the member is told why, and a 支援記録 line says a photo came."""
    await repo.insert_ignore(
        session,
        SupportRecord,
        member_id=linked.member.id,
        business_date=linked.day,
        at=msg.sent_at,
        kind=SupportKind.EVIDENCE_NOT_KEPT.value,
        channel=msg.sender.platform.value,
        content=texts.EVIDENCE_NOT_KEPT_NOTE,
        key=f"evidence_not_kept:{msg.sender.platform.value}:{msg.event_id}",
        entered_at=now,
        entered_by=f"member:{linked.member.id}",
        late=False,
        flags={},
    )
    log.info("evidence not kept: no consent", extra={"member_id": linked.member.id})
    await checkin.answer(session, msg, [Reply(texts.PHOTO_NOT_KEPT_NO_CONSENT)], now, linked.day)
