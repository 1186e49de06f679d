"""Members who use Slack instead of LINE: DMs and DM buttons into the one check-in service.

Each Slack event is recorded once under team_id + event_id (a retry with X-Slack-Retry-Num is
the same event), each button press under its action_ts; replies leave through the outbox.
A button shown for another business date is not applied to today.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from adapters.slack.deps import Deps
from bot import dialog, service, texts
from bot.domain import ContactRef, InboundMessage, Platform, Reply, reply_to_json
from storage import repo
from storage.models import Facility, Member

log = logging.getLogger(__name__)


def register(bolt: AsyncApp, deps: Deps) -> None:
    # One listener for every message event: bolt runs only the first matching listener.
    @bolt.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        msg = to_inbound(event, body)
        if msg is None:
            return
        async with deps.db.transaction() as session:
            await service.receive(session, msg, deps.clock.now(), body)
        await deps.flush()

    @bolt.action(re.compile(rf"^{bk.ACTION_CHECKIN}:\d+$"))
    async def on_button(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await mark_tapped(client, body)
        msg, day = button_inbound(body)
        async with deps.db.transaction() as session:
            if day is not None and await _stale(session, msg, day):
                await stale_button(session, msg, deps.clock.now(), body)
            else:
                await service.receive(session, msg, deps.clock.now(), body)
        await deps.flush()


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
        log.warning("could not mark a tapped button: %s", exc.response.get("error"))


def to_inbound(event: dict[str, Any], body: dict[str, Any]) -> InboundMessage | None:
    """A member's DM as a neutral message; None for anything that is not one."""
    if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
        return None
    if not event.get("user"):
        return None
    return InboundMessage(
        event_id=f"{body.get('team_id', '')}:{body.get('event_id', '')}",
        sender=ContactRef(Platform.SLACK, str(event["user"])),
        sent_at=_instant(event.get("ts") or body.get("event_time")),
        text=str(event.get("text") or ""),
    )


def button_inbound(body: dict[str, Any]) -> tuple[InboundMessage, Any]:
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


async def _stale(session: AsyncSession, msg: InboundMessage, day: Any) -> bool:
    member = await _member(session, msg.sender.user_id)
    if member is None:
        return False
    facility = await session.get_one(Facility, member.facility_id)
    return bool(service.business_date(facility, msg.sent_at) != day)


async def stale_button(
    session: AsyncSession, msg: InboundMessage, now: datetime, body: dict[str, Any]
) -> None:
    """Yesterday's button: record the press, say so, and offer today's menu instead."""
    if await repo.add_inbox(session, Platform.SLACK.value, msg.event_id, body, now) is None:
        return
    member = await _member(session, msg.sender.user_id)
    if member is None:
        return
    facility = await session.get_one(Facility, member.facility_id)
    day = service.business_date(facility, msg.sent_at)
    report = repo.snapshot(await repo.report_for(session, member.id, day), day)
    reply = Reply(texts.STALE_BUTTON, dialog.menu_for(report))
    log.info("stale slack button", extra={"member_id": member.id})
    await repo.enqueue(
        session,
        key=f"reply:{Platform.SLACK.value}:{msg.event_id}",
        platform=Platform.SLACK.value,
        recipient=msg.sender.user_id,
        payload={
            "kind": "replies",
            "replies": [reply_to_json(reply)],
            "business_date": day.isoformat(),
        },
        now=now,
        member_id=member.id,
    )
