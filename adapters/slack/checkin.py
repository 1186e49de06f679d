"""Members who use Slack instead of LINE: DMs and DM buttons into the one inbox.

Each Slack event is stored raw in inbox_event before Slack is answered (a bolt middleware),
once under team_id + event_id (a retry with X-Slack-Retry-Num is the same event) and each
button press under its action_ts. Right after the ack the one inbox service
(bot/services/inbox.py) handles the stored row, as it does LINE's, with `SlackPlatform`
saying how a stored Slack body reads; the scheduler's pass picks up any event a crash left
unhandled, and a failing one is retried, then quarantined. Replies leave through the outbox.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from adapters.slack.deps import Deps
from adapters.slack.errors import slack_error
from bot.core import texts
from bot.core.domain import ContactRef, InboundMessage, Platform, Reply
from bot.core.inbound import Inbound, Kind, Unanswerable
from bot.core.ports import Sender
from bot.queries import board
from bot.services import inbox
from bot.services.platforms import ContentSource, PlatformPlugin
from storage import repo

log = logging.getLogger(__name__)

INBOX_ID = "nippo_inbox_id"
CHECKIN_ACTION = re.compile(rf"^{bk.ACTION_CHECKIN}:\d+$")


def register(bolt: AsyncApp, deps: Deps, platform: PlatformPlugin) -> None:
    @bolt.middleware
    async def store_first(body: dict[str, Any], context: dict[str, Any], next: Any) -> Any:
        """Record a member's DM or button press before Slack is answered (bolt acks after)."""
        now = deps.clock()
        found = member_event(body, now)
        if found is not None:
            msg = found.msg
            async with deps.db.transaction() as session:
                context[INBOX_ID] = await repo.add_inbox(
                    session, platform.name, msg.event_id, body, now
                )
            if context[INBOX_ID] is None:
                log.info("duplicate slack event ignored", extra={"event_id": msg.event_id})
        return await next()

    async def process(inbox_id: int) -> None:
        await inbox.process_pending(deps.db, deps.clock(), platform, ids=[inbox_id])
        await deps.flush()

    # One listener for every message event: bolt runs only the first matching listener.
    @bolt.event("message")
    async def on_message(context: dict[str, Any]) -> None:
        if context.get(INBOX_ID) is not None:
            await process(int(context[INBOX_ID]))

    @bolt.action(CHECKIN_ACTION)
    async def on_button(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if context.get(INBOX_ID) is None:
            return
        await mark_tapped(client, body)
        await process(int(context[INBOX_ID]))


def member_event(body: dict[str, Any], received_at: datetime) -> Inbound | None:
    """A member's DM or DM button press as a neutral event; None for anything else."""
    if body.get("type") == "event_callback":
        event = body.get("event") or {}
        if event.get("type") != "message":
            return None
        msg = to_inbound(event, body, received_at)
        if msg is None:
            return None
        if event.get("subtype") == "file_share" and not msg.text.strip():
            return Inbound(Kind.UNSUPPORTED, msg)  # a file without words: nothing to keep
        return Inbound(Kind.TEXT, msg)
    if body.get("type") == "block_actions":
        actions = body.get("actions") or []
        if actions and CHECKIN_ACTION.match(str(actions[0].get("action_id") or "")):
            msg, day = button_inbound(body, received_at)
            return Inbound(Kind.CHOICE, msg, button_day=day)
    return None


def user_of(body: Any) -> str:
    """The member a stored DM or button press is from, "" when it names none."""
    if not isinstance(body, dict):
        return ""
    event, user = body.get("event"), body.get("user")
    if isinstance(event, dict) and event.get("user"):
        return str(event["user"])
    return str(user.get("id") or "") if isinstance(user, dict) else ""


@dataclass(frozen=True)
class SlackPlatform:
    """`PlatformPlugin` for Slack: members' DMs and DM buttons (staff use /nippo)."""

    sender: Sender
    name: str = Platform.SLACK.value
    label: str = "Slack"
    content: ContentSource | None = None  # files in a DM are not kept (yet)

    def normalise(self, raw: Any, received_at: datetime) -> Inbound | None:
        # Only member events are stored (`store_first`): one that does not read as one now
        # has nobody to answer.
        found = member_event(raw, received_at)
        if found is None:
            raise Unanswerable("not a member message")
        return found

    def user_of(self, raw: Any) -> str:
        return user_of(raw)

    async def staff_reply(self, session: AsyncSession, msg: InboundMessage) -> Reply | None:
        """A registered staff member who is not also linked as a member: no check-in dialog."""
        identity = await repo.identity_for(session, self.name, msg.sender.user_id)
        if identity is not None and identity.member_id is not None:
            return None
        if await board.staff_by_slack(session, msg.sender.user_id) is None:
            return None
        return Reply(texts.SLACK_STAFF_DM)


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


def to_inbound(
    event: dict[str, Any], body: dict[str, Any], received_at: datetime
) -> InboundMessage | None:
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
        sent_at=_instant(event.get("ts") or body.get("event_time"), received_at),
        text=str(event.get("text") or ""),
    )


def button_inbound(
    body: dict[str, Any], received_at: datetime
) -> tuple[InboundMessage, date | None]:
    action = body["actions"][0]
    day, choice = bk.parse_choice(str(action.get("value") or ""))
    team = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
    user = str(body["user"]["id"])
    msg = InboundMessage(
        event_id=f"{team}:action:{user}:{action.get('action_ts')}",
        sender=ContactRef(Platform.SLACK, user),
        sent_at=_instant(action.get("action_ts"), received_at),
        choice=choice,
    )
    return msg, day


def _instant(ts: object, received_at: datetime) -> datetime:
    """Slack's event time; the acknowledgement's when it has none that reads."""
    try:
        return datetime.fromtimestamp(float(str(ts)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return received_at
