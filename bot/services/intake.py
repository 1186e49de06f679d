"""Use cases for inbound events beyond typed text: buttons from another day, stickers,
message types we cannot use, and photos, files, voice and video kept as evidence of the day
(shown to staff as consent allows).

The inbox (bot/services/inbox.py) dispatches here by kind, for every platform: the rule for
a button from another day is `choose` (LINE postbacks and Slack buttons alike). Like
`checkin`, everything runs inside the caller's transaction; an unlinked account only ever
gets the linking prompt.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import dialog, parsing, payloads, texts
from bot.core.calendar import business_date
from bot.core.domain import (
    DialogState,
    EvidenceSent,
    InboundMessage,
    Reply,
    ReportStatus,
    StickerMood,
    SupportKind,
)
from bot.services import checkin, consent
from bot.services.platforms import STAFF_PLATFORM
from storage import repo
from storage.models import Attachment, Conversation, Facility, Member, SupportRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evidence:
    """A downloaded photo, file, voice or video message."""

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
    platform, user = msg.sender.platform.value, msg.sender.user_id
    identity = checkin.loaded_identity(session, platform, user) or await repo.identity_for(
        session, platform, user
    )
    if identity is None or identity.member_id is None:
        return None
    member = await session.get(Member, identity.member_id)  # read by the batch, if loaded
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
    session: AsyncSession,
    msg: InboundMessage,
    text: str,
    now: datetime,
    sticker: StickerMood | None = None,
) -> None:
    linked = await _linked(session, msg)
    if linked is None:  # the linking prompt, nothing else
        await checkin.handle_message(session, replace(msg, text="", choice=None), now)
        return
    menu = await _menu(session, linked)
    reply = replace(menu, text=text, sticker=sticker)
    await checkin.answer(session, msg, [reply], now, linked.day)


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


async def sticker(
    session: AsyncSession, msg: InboundMessage, keywords: Sequence[str], now: datetime
) -> None:
    """A sticker gets a sticker back. One whose keywords say hello, on a day not begun and
    outside a question, is answered as 「おはよう」 is (the dialog's greeting: the buttons to
    start); nothing is recorded as if the member had typed it."""
    if not parsing.greets(keywords):
        await _answer_with_menu(session, msg, texts.STICKER, now, StickerMood.THANKS)
        return
    linked = await _linked(session, msg)
    text = texts.STICKER
    if linked is not None and await _day_not_begun(session, linked):
        text = texts.HELLO.format(name=linked.member.name)
    await _answer_with_menu(session, msg, text, now, StickerMood.HELLO)


async def _day_not_begun(session: AsyncSession, linked: _Linked) -> bool:
    report = await repo.report_for(session, linked.member.id, linked.day)
    if repo.snapshot(report, linked.day).status is not ReportStatus.OPEN:
        return False
    state = await session.scalar(
        select(Conversation.state).where(Conversation.member_id == linked.member.id)
    )
    return DialogState.from_json(state).idle  # mid-question, a sticker is no answer


async def unsupported(session: AsyncSession, msg: InboundMessage, now: datetime) -> None:
    await _answer_with_menu(session, msg, texts.UNSUPPORTED, now)


async def save_evidence(
    session: AsyncSession,
    msg: InboundMessage,
    evidence: Evidence | None,
    now: datetime,
    *,
    problem: str = texts.EVIDENCE_FAILED,
) -> int | None:
    """Keep a photo, file, voice or video with the day's 日報; the attachment id, None if not
    kept. `problem`: what the member hears when there is nothing to keep ({what}: the kind).
    Kept content goes through the dialog (it may be the 成果 asked for) and to staff."""
    sent = msg.evidence or EvidenceSent()
    what = texts.MEDIA_WORDS[sent.media]
    linked = await _linked(session, msg)
    if linked is None:  # nothing is kept: the linking prompt (no thanks for keeping it)
        await checkin.handle_message(
            session, replace(msg, text="", choice=None, evidence=None), now
        )
        return None
    if consent.EVIDENCE not in await consent.current_covers(session, linked.member.id):
        await _not_kept(session, msg, linked, now, what)
        return None
    if evidence is None:
        await checkin.answer(session, msg, [Reply(problem.format(what=what))], now, linked.day)
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
    outputs_before = report.outputs
    await checkin.handle_message(session, replace(msg, text="", choice=None, evidence=sent), now)
    if attachment_id is not None:
        await session.refresh(report, ["outputs"])
        as_outputs = report.outputs != outputs_before
        await _show_staff(session, linked, attachment_id, sent, as_outputs, now)
    return attachment_id


async def _show_staff(
    session: AsyncSession,
    linked: _Linked,
    attachment_id: int,
    sent: EvidenceSent,
    as_outputs: bool,
    now: datetime,
) -> None:
    """Staff see what came in the facility's alert channel: the file itself only when the
    member's consent covers Slack and the facility's disclosure is not minimal (Slack is
    abroad, APPI), as for alerts' details; otherwise who, what kind and where to find it."""
    covers = await consent.current_covers(session, linked.member.id)
    attach = consent.slack_details(linked.facility.disclosure, covers)
    seconds = texts.EVIDENCE_SECONDS.format(seconds=sent.seconds) if sent.seconds else ""
    what = texts.STAFF_MEDIA_WORDS[sent.media] + seconds
    day = f"{linked.day.month}/{linked.day.day}"
    lines = [texts.STAFF_EVIDENCE.format(member=linked.member.name, date=day, what=what)]
    if as_outputs:
        lines.append(texts.STAFF_EVIDENCE_AS_OUTPUTS)
    if not attach:
        lines.append(texts.STAFF_EVIDENCE_ELSEWHERE)
    await repo.enqueue(
        session,
        key=f"evidence:{attachment_id}",
        platform=STAFF_PLATFORM,
        recipient=linked.facility.alert_channel or "",
        member_id=linked.member.id,
        payload=payloads.EvidenceShared(attachment_id, linked.member.id, "\n".join(lines), attach),
        now=now,
    )


async def _not_kept(
    session: AsyncSession, msg: InboundMessage, linked: _Linked, now: datetime, what: str
) -> None:
    """No consent to keep evidence (APPI; 日立市 (1) 「あらかじめ利用者の同意を得る手続き」): the
    content is not kept, the member is told why, and a 支援記録 line says what came."""
    await repo.insert_ignore(
        session,
        SupportRecord,
        member_id=linked.member.id,
        business_date=linked.day,
        at=msg.sent_at,
        kind=SupportKind.EVIDENCE_NOT_KEPT.value,
        channel=msg.sender.platform.value,
        content=texts.EVIDENCE_NOT_KEPT.format(what=what),
        key=f"evidence_not_kept:{msg.sender.platform.value}:{msg.event_id}",
        entered_at=now,
        entered_by=f"member:{linked.member.id}",
        late=False,
        flags={},
    )
    log.info("evidence not kept: no consent", extra={"member_id": linked.member.id})
    told = Reply(texts.EVIDENCE_NOT_KEPT_NO_CONSENT.format(what=what))
    await checkin.answer(session, msg, [told], now, linked.day)
