"""Members who use Slack instead of LINE: DMs and DM buttons into the one check-in checkin.

Each Slack event is stored raw in inbox_event before Slack is answered (a bolt middleware),
once under team_id + event_id (a retry with X-Slack-Retry-Num is the same event) and each
button press under its action_ts; it is handled right after the ack, and `process_pending`
picks up any event a crash left unhandled. Replies leave through the outbox. A button shown
for another business date is not applied to today.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from adapters.slack.deps import Deps
from adapters.slack.errors import slack_error
from bot.core import dialog, texts
from bot.core.domain import ContactRef, InboundMessage, Platform, Reply, reply_to_json
from bot.readmodels import board
from bot.usecases import checkin
from storage import repo
from storage.db import Database
from storage.models import Facility, InboxEvent, Member

log = logging.getLogger(__name__)

INBOX_ID = "nippo_inbox_id"
CHECKIN_ACTION = re.compile(rf"^{bk.ACTION_CHECKIN}:\d+$")
GRACE = timedelta(minutes=1)
MAX_ATTEMPTS = 5


def register(bolt: AsyncApp, deps: Deps) -> None:
    @bolt.middleware
    async def store_first(body: dict[str, Any], context: dict[str, Any], next: Any) -> Any:
        """Record a member's DM or button press before Slack is answered (bolt acks after)."""
        found = normalize(body)
        if found is not None:
            msg = found[0]
            async with deps.db.transaction() as session:
                context[INBOX_ID] = await repo.add_inbox(
                    session, Platform.SLACK.value, msg.event_id, body, deps.clock()
                )
            if context[INBOX_ID] is None:
                log.info("duplicate slack event ignored", extra={"event_id": msg.event_id})
        return await next()

    # One listener for every message event: bolt runs only the first matching listener.
    @bolt.event("message")
    async def on_message(context: dict[str, Any]) -> None:
        if context.get(INBOX_ID) is not None:
            await process(deps, int(context[INBOX_ID]))

    @bolt.action(CHECKIN_ACTION)
    async def on_button(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if context.get(INBOX_ID) is None:
            return
        await mark_tapped(client, body)
        await process(deps, int(context[INBOX_ID]))


async def process(deps: Deps, inbox_id: int) -> None:
    async with deps.db.transaction() as session:
        await handle(session, inbox_id, deps.clock())
    await deps.flush()


async def handle(session: AsyncSession, inbox_id: int, now: datetime) -> bool:
    """Handle one stored Slack event (once: the row is locked and must still be pending)."""
    stmt = select(InboxEvent).where(InboxEvent.id == inbox_id, InboxEvent.status == "pending")
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return False
    found = normalize(row.body)
    row.attempts += 1
    if found is None:
        row.status, row.error = "failed", "not a member message"
        return False
    msg, day = found
    is_file = (row.body.get("event") or {}).get("subtype") == "file_share"
    if await _staff_only(session, msg.sender.user_id):
        await _enqueue(session, msg, now, Reply(texts.SLACK_STAFF_DM), None, None)
    elif is_file and not msg.text.strip():
        await reply_only(session, msg, now, texts.UNSUPPORTED)
    elif day is not None and await _stale(session, msg, day):
        await reply_only(session, msg, now, texts.STALE_BUTTON)
    else:
        await checkin.handle_message(session, msg, now)
    row.status, row.processed_at = "done", now
    return True


async def process_pending(
    db: Database, now: datetime, ids: list[int] | None = None, grace: timedelta = GRACE
) -> int:
    """Events stored but never handled (a crash after the ack): handle them now.

    For the scheduler's loop; `grace` leaves events that are being handled right now alone;
    `ids` limits the pass to some rows.
    """
    stmt = (
        select(InboxEvent.id)
        .where(
            InboxEvent.platform == Platform.SLACK.value,
            InboxEvent.status == "pending",
            InboxEvent.received_at < now - grace,
        )
        .order_by(InboxEvent.id)
        .limit(100)
    )
    if ids is not None:
        stmt = stmt.where(InboxEvent.id.in_(ids))
    async with db.transaction() as session:
        ids = list((await session.execute(stmt)).scalars())
    done = 0
    for inbox_id in ids:
        try:
            async with db.transaction() as session:
                done += await handle(session, inbox_id, now)
        except Exception as exc:  # one bad event must not stop the others, nor loop forever
            log.exception("slack inbox event failed", extra={"inbox_id": inbox_id})
            async with db.transaction() as session:
                row = await session.get_one(InboxEvent, inbox_id)
                row.attempts += 1
                row.error = type(exc).__name__
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
    return done


def normalize(body: dict[str, Any]) -> tuple[InboundMessage, date | None] | None:
    """A member's DM or DM button press as a neutral message (and the button's date)."""
    if body.get("type") == "event_callback":
        event = body.get("event") or {}
        if event.get("type") != "message":
            return None
        msg = to_inbound(event, body)
        return (msg, None) if msg is not None else None
    if body.get("type") == "block_actions":
        actions = body.get("actions") or []
        if actions and CHECKIN_ACTION.match(str(actions[0].get("action_id") or "")):
            return button_inbound(body)
    return None


async def mark_tapped(client: AsyncWebClient, body: dict[str, Any]) -> None:
    """Replace the tapped row of buttons with what was chosen, so it is not tapped twice."""
    message = body.get("message") or {}
    container = body.get("container") or {}
    action = body["actions"][0]
    if not message.get("blocks") or not container.get("message_ts"):
        return
    label = str((action.get("text") or {}).get("text") or "")
    blocks = [
        bk.context(f"✔ {bk.escape(label)}") if b.get("block_id") == action.get("block_id") else b
        for b in message["blocks"]
    ]
    try:
        await client.chat_update(
            channel=str(container.get("channel_id") or (body.get("channel") or {}).get("id")),
            ts=container["message_ts"],
            text=str(message.get("text") or label),
            blocks=blocks,
        )
    except SlackApiError as exc:  # cosmetic: the answer itself is already on its way
        log.warning("could not mark a tapped button: %s", slack_error(exc))


def to_inbound(event: dict[str, Any], body: dict[str, Any]) -> InboundMessage | None:
    """A member's DM as a neutral message; None for anything that is not one."""
    if event.get("channel_type") != "im" or event.get("bot_id"):
        return None
    if event.get("subtype") not in (None, "file_share"):  # edits, deletions, joins …
        return None
    if not event.get("user"):
        return None
    return InboundMessage(
        event_id=f"{body.get('team_id', '')}:{body.get('event_id', '')}",
        sender=ContactRef(Platform.SLACK, str(event["user"])),
        sent_at=_instant(event.get("ts") or body.get("event_time")),
        text=str(event.get("text") or ""),
    )


def button_inbound(body: dict[str, Any]) -> tuple[InboundMessage, date | None]:
    action = body["actions"][0]
    day, choice = bk.parse_choice(str(action.get("value") or ""))
    team = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
    user = str(body["user"]["id"])
    msg = InboundMessage(
        event_id=f"{team}:action:{user}:{action.get('action_ts')}",
        sender=ContactRef(Platform.SLACK, user),
        sent_at=_instant(action.get("action_ts")),
        choice=choice,
    )
    return msg, day


def _instant(ts: object) -> datetime:
    try:
        return datetime.fromtimestamp(float(str(ts)), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


async def _member(session: AsyncSession, user: str) -> Member | None:
    identity = await repo.identity_for(session, Platform.SLACK.value, user)
    if identity is None or identity.member_id is None:
        return None
    return await session.get(Member, identity.member_id)


async def _stale(session: AsyncSession, msg: InboundMessage, day: date) -> bool:
    member = await _member(session, msg.sender.user_id)
    if member is None:
        return False
    facility = await session.get_one(Facility, member.facility_id)
    return bool(checkin.business_date(facility, msg.sent_at) != day)


async def reply_only(session: AsyncSession, msg: InboundMessage, now: datetime, text: str) -> None:
    """Answer without touching the 日報 (yesterday's button, a file): today's menu with it."""
    member = await _member(session, msg.sender.user_id)
    if member is None:  # not linked yet: the service asks for the link code
        await checkin.handle_message(session, msg, now)
        return
    facility = await session.get_one(Facility, member.facility_id)
    day = checkin.business_date(facility, msg.sent_at)
    report = repo.snapshot(await repo.report_for(session, member.id, day), day)
    await _enqueue(session, msg, now, Reply(text, dialog.menu_for(report)), member.id, day)


async def _enqueue(
    session: AsyncSession,
    msg: InboundMessage,
    now: datetime,
    reply: Reply,
    member_id: int | None,
    day: date | None,
) -> None:
    payload: dict[str, Any] = {"kind": "replies", "replies": [reply_to_json(reply)]}
    if day is not None:
        payload["business_date"] = day.isoformat()
    await repo.enqueue(
        session,
        key=f"reply:{Platform.SLACK.value}:{msg.event_id}",
        platform=Platform.SLACK.value,
        recipient=msg.sender.user_id,
        payload=payload,
        now=now,
        member_id=member_id,
    )


async def _staff_only(session: AsyncSession, user: str) -> bool:
    """A registered staff member who is not also linked as a member: no check-in dialog."""
    if await _member(session, user) is not None:
        return False
    return await board.staff_by_slack(session, user) is not None
