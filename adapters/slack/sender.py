"""The Slack `Sender` for outbox rows of platform "slack".

It dispatches on the payload's type (bot.core.payloads): `Alert` (to the facility's alert
channel, with the staff buttons; a crisis alert always alone, never folded into a digest),
`Renotify` (an untaken alert again, as a new message that mentions the step's people; nothing
is posted once the alert is taken), `Digest`, the staff notices (`DeliveryFailed`,
`QuotaWarning`, `OutageSummary` … and any other text), and `Replies` (check-in replies to a
member in a DM: conversations.open, then chat.postMessage), and `EvidenceShared` (a member's
photo, file, voice or video uploaded into the alert channel with its caption:
files.getUploadURLExternal, the upload, files.completeUploadExternal; or the caption alone when
consent does not cover Slack). `StaffMessage` (words staff wrote a member on Slack) goes to
the member's DM like `Replies`; `ThreadNote` is posted in its alert's thread (`thread_ts`);
`AlertResolved` posts nothing but edits the alerts' own messages (chat.update: resolved, no
buttons). Mentions are staff ids in the payload; they become `<@U…>`
here, from the staff rows as they are when the message is posted.

One message per member and day (issue #19): an alert for a member who already has an alert
message that business day in the channel, with at least one of its alerts not yet resolved,
joins that message instead of posting its own: it is recorded on it, the message is re-rendered
in place (chat.update: every alert of it, the most serious open one on top, buttons only for
open ones) and a short note goes into its thread. Once all of them are resolved, a new problem
posts a new message (it must notify). A crisis joins only a message of that member alone (never
a digest of several members) and its thread note is broadcast to the channel with the crisis
mentions, since chat.update never notifies. Likewise an alert arriving within `RECENT` of a
digest of several members (a 10:30 burst, the next tick) joins that digest while it has room and
an alert still open. A digest lists up to `DIGEST_MAX` alerts, one compact line each.

Pace: Slack takes about one chat.postMessage a second per channel. A send that would write to a
staff channel (a post, a thread note, an edit) less than `pace` after the last one to it is not
tried but answered `Outcome.PACED` (due again after the rest of the second; delivery counts no
attempt). The pace is kept in this process, by channel, on the `now` delivery passes; a
member's DM is not paced (one reply per message they send). A delivery loop every few seconds
with one `now` a round posts about one message per channel and round.

An alert or re-notification that lands more than `late_after` after it was queued (Slack was
down) says so in a context line: 「⏱ Slack の障害のため、N分遅れて届きました(発生 HH:MM)」.
Errors are classified for delivery: Slack's trouble (429, 5xx, 408, its transient error codes,
timeouts, connection errors) is RETRY and never fails a row; anything else is the message's own
fault (channel_not_found, not_in_channel, invalid_auth …) and FAILED at once.

Slack has no idempotency key, so a message must not be posted twice when a retry follows an
unknown outcome: the returned `ts` is stored at once (outbox_message.external_id and, for an
alert, alert.slack_channel/slack_ts), a row that already has one is not posted again, and each
message carries the outbox key in its metadata so that a retry after a lost response first
looks for it in the channel's recent history.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks as bk
from adapters.slack import evidence_post, views
from adapters.slack import record_blocks as rb
from adapters.slack.errors import slack_error
from bot.core import payloads as pl
from bot.core import texts
from bot.core.domain import AlertLevel, AlertState, Reply
from bot.core.ports import OutboxItem, Outcome, SendResult
from bot.queries import board, evidence
from bot.services import alert_actions
from storage.db import Database
from storage.models import Alert, Attachment, DailyReport, Facility, Member, OutboxMessage

log = logging.getLogger(__name__)

METADATA_EVENT = "nippo_outbox"
LOOKBACK = timedelta(hours=24)
DIGEST_MIN = 3  # this many alerts waiting for one channel go out as one message
# At most this many alerts in one digest: one line each in what 50 blocks leave.
DIGEST_MAX = bk.MAX_MESSAGE_BLOCKS - bk.DIGEST_FRAME_BLOCKS - views.SENDER_BLOCKS
RECENT = timedelta(minutes=10)  # a digest this young takes later alerts in place
PACE = timedelta(seconds=1)  # Slack: about one message a second per channel
OPEN_STATES = (AlertState.OPEN.value, AlertState.ACKED.value)
# Slack's own "not now" codes (which may come with HTTP 200): its trouble, not the message's.
RETRYABLE_ERRORS = {
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}
LATE_AFTER = timedelta(minutes=5)
LATE_KINDS = (pl.Alert, pl.Renotify)
# The title above a staff notice's text, by payload type (anything else: the text alone).
NOTICE_TITLES: dict[type[pl.Payload], str] = {
    pl.DeliveryFailed: texts.DELIVERY_FAILED_TITLE,
    pl.QuotaWarning: texts.QUOTA_WARNING_TITLE,
    pl.EvaluationDue: texts.EVALUATION_DUE_TITLE,
    pl.ApprovalExpiring: texts.APPROVAL_EXPIRING_TITLE,
    pl.OutageSummary: texts.OUTAGE_SUMMARY_TITLE,
}


class SlackSender:
    def __init__(
        self,
        client: AsyncWebClient,
        db: Database,
        *,
        late_after: timedelta = LATE_AFTER,
        pace: timedelta = PACE,
        console_url: str | None = None,
    ) -> None:
        self.client = client
        self.console_url = console_url  # PUBLIC_URL: evidence notices link the console
        self.db = db
        self.late_after = late_after
        self.pace = pace
        self._last_write: dict[str, datetime] = {}  # channel -> when this process last wrote

    def _paced(self, channel: str, now: datetime) -> SendResult | None:
        """PACED while `channel` was written to less than `pace` ago; else the slot is taken
        (at once, before any await, so concurrent sends to one channel cannot both pass)."""
        last = self._last_write.get(channel)
        if last is not None and timedelta(0) <= now - last < self.pace:
            wait = (self.pace - (now - last)).total_seconds()
            return SendResult(Outcome.PACED, retry_after=wait, error="paced")
        self._last_write[channel] = now
        return None

    async def send(self, item: OutboxItem, now: datetime) -> SendResult:
        posted = await self._posted_before(item)
        if posted is not None:
            return SendResult(Outcome.SENT, via="api", external_id=posted)
        if isinstance(item.payload, pl.EvidenceShared):
            if item.payload.attach:
                return await self._upload(item, item.payload, now)
            item = await evidence_post.with_console_link(
                self.db, item, item.payload, self.console_url
            )
        if isinstance(item.payload, pl.AlertResolved):
            return await self._edit_resolved(item.payload, now)
        if isinstance(item.payload, pl.Alert):
            result = await self._join(item, item.payload, now)
            if result is not None:
                return result
        try:
            rendered = await self._render(item, now)
            if rendered is None:  # a re-notification for an alert taken meanwhile
                return SendResult(Outcome.SENT, via="skipped")
            channel, text, blocks, joined = rendered
            late = await self._late_note(item, now)
            if late is not None:  # said first, in the notification's text too
                text = bk.clip(f"{late[1]} {text}", 3000)
                blocks = [late[0], *blocks][: bk.MAX_MESSAGE_BLOCKS]
            if not channel:
                return SendResult(Outcome.FAILED, error="no Slack channel for this message")
            found = await self._find_previous(item, channel, now) if item.attempts else None
            if found is not None:
                ts, joined = found  # posted before, with the rows it carried then
            elif not isinstance(item.payload, pl.Replies | pl.StaffMessage) and (
                paced := self._paced(channel, now)
            ):
                return paced
            else:
                meta = {"key": item.key, "joined": [outbox_id for outbox_id, _ in joined]}
                resp = await self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=await _thread_of(self.db, item.payload),
                    text=text,
                    blocks=blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata={"event_type": METADATA_EVENT, "event_payload": meta},
                )
                ts, channel = str(resp["ts"]), str(resp.get("channel") or channel)
        except SlackApiError as exc:
            return _classify(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The post may or may not have happened; the next attempt looks before posting.
            return SendResult(Outcome.RETRY, error=f"unknown outcome: {type(exc).__name__}")
        await self._remember(item, channel, ts, joined, now)
        return SendResult(Outcome.SENT, via="api", external_id=ts)

    async def _upload(
        self, item: OutboxItem, payload: pl.EvidenceShared, now: datetime
    ) -> SendResult:
        """The member's file into the facility's alert channel, its caption as the message;
        into the thread of the member's open alert when there is one. Named by ids like the
        evidence ZIP (YYYY-MM-DD_<member id>_<attachment id>), never by the member's name.
        Slack takes no idempotency key for uploads: the file id is kept at once, and a lost
        answer may, rarely, upload twice (better than losing it)."""
        async with self.db.transaction() as session:
            channel = item.recipient or await _staff_channel(session, payload, item.member_id)
            found = await session.get(Attachment, payload.attachment_id)
            report = await session.get(DailyReport, found.report_id) if found else None
        if found is None or report is None:
            return SendResult(Outcome.FAILED, error="the evidence is no longer kept")
        if not channel:
            return SendResult(Outcome.FAILED, error="no Slack channel for this message")
        ext = evidence.extension(found.content_type, found.filename)
        name = f"{report.business_date.isoformat()}_{report.member_id}_{found.id}.{ext}"
        thread = await evidence_post.alert_thread(self.db, report.member_id)
        channel, thread_ts = thread if thread is not None else (channel, None)
        try:
            resp = await self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                content=found.data,
                filename=name,
                title=name,
                initial_comment=payload.text,
            )
        except SlackApiError as exc:
            return _classify(exc)
        except (SlackRequestError, aiohttp.ClientError, TimeoutError) as exc:
            return SendResult(Outcome.RETRY, error=f"upload failed: {type(exc).__name__}")
        file_id = str((resp.get("file") or {}).get("id") or "")
        await self._remember(item, channel, file_id, [], now)
        return SendResult(Outcome.SENT, via="api", external_id=file_id)

    async def _edit_resolved(self, payload: pl.AlertResolved, now: datetime) -> SendResult:
        """The member's own report closed these alerts: each one's message is edited in place
        (no buttons, 「本人から連絡があり解消」) rather than followed by a post of its own."""
        async with self.db.transaction() as session:
            edits = {}
            for alert_id in payload.alert_ids:
                rendered = await views.alert_message(session, alert_id)
                if rendered is not None and rendered[2].slack_channel and rendered[2].slack_ts:
                    edits[(rendered[2].slack_channel, rendered[2].slack_ts)] = rendered[:2]
        for channel in dict.fromkeys(c for c, _ in edits):
            if paced := self._paced(channel, now):
                return paced
        try:
            for (channel, ts), (text, blocks) in edits.items():  # a digest is edited once
                await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            return _classify(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:  # an edit is safe to repeat
            return SendResult(Outcome.RETRY, error=f"unknown outcome: {type(exc).__name__}")
        return SendResult(Outcome.SENT, via="update")

    async def _join(self, item: OutboxItem, payload: pl.Alert, now: datetime) -> SendResult | None:
        """The alert into a message the channel has already (its member's of the day, or a
        recent digest): recorded on it, the message re-rendered in place, a note in its thread.
        None when it is to be posted as a message of its own."""
        async with self.db.transaction() as session:
            channel = item.recipient or await _staff_channel(session, payload, item.member_id)
            host = await _host_message(session, payload, channel, now) if channel else None
            if host is None:
                return None
            ts, room, digest = host
            crisis = payload.level is AlertLevel.CRISIS
            carried = (
                []
                if crisis
                else await _waiting_alerts(session, item, now, room - 1, ts, newcomers=digest)
            )
        if paced := self._paced(channel, now):
            return paced
        ids = [payload.alert_id, *(a for _, a in carried)]
        async with self.db.transaction() as session:  # first: the update shows them all
            for alert_id in ids:
                await alert_actions.record_message(session, alert_id, channel, ts)
        async with self.db.transaction() as session:
            rendered = await views.alert_message(session, payload.alert_id)
            note = await _joined_note(session, ids)
        if rendered is None or note is None:  # its row is gone: said as a plain notice
            self._last_write.pop(channel, None)
            return None
        try:
            await self.client.chat_update(
                channel=channel, ts=ts, text=rendered[0], blocks=rendered[1]
            )
            found = (
                await self._find_previous(item, channel, now) if crisis and item.attempts else None
            )
            if found is None:  # a broadcast note is in the history: never pinged twice
                meta = {"key": item.key, "joined": [outbox_id for outbox_id, _ in carried]}
                await self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=ts,
                    reply_broadcast=crisis,
                    text=note[0],
                    blocks=note[1],
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata={"event_type": METADATA_EVENT, "event_payload": meta},
                )
        except SlackApiError as exc:
            return _classify(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:  # an update is safe to repeat
            return SendResult(Outcome.RETRY, error=f"unknown outcome: {type(exc).__name__}")
        await self._remember(item, channel, ts, carried, now)
        return SendResult(Outcome.SENT, via="api", external_id=ts)

    # --- idempotency ---------------------------------------------------------------------

    async def _posted_before(self, item: OutboxItem) -> str | None:
        async with self.db.transaction() as session:
            row = await session.get(OutboxMessage, item.id)
            return row.external_id if row is not None else None

    async def _find_previous(
        self, item: OutboxItem, channel: str, now: datetime
    ) -> tuple[str, list[tuple[int, int]]] | None:
        """A message this row posted in an attempt whose response was lost, if any."""
        try:
            resp = await self.client.conversations_history(
                channel=channel,
                oldest=f"{(now - LOOKBACK).timestamp():.6f}",
                limit=100,
                include_all_metadata=True,
            )
        except SlackApiError as exc:  # e.g. a missing history scope: posting beats losing it
            log.warning("history lookup failed: %s", slack_error(exc))
            return None
        for message in resp.get("messages") or []:
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == METADATA_EVENT and payload.get("key") == item.key:
                async with self.db.transaction() as session:
                    joined = await _alerts_of(session, [int(i) for i in payload.get("joined", [])])
                return str(message["ts"]), joined
        return None

    async def _remember(
        self, item: OutboxItem, channel: str, ts: str, joined: list[tuple[int, int]], now: datetime
    ) -> None:
        """Keep the ts at once; rows carried in a digest are sent with this message."""
        async with self.db.transaction() as session:
            row = await session.get(OutboxMessage, item.id)
            if row is not None:
                row.external_id = ts
            if isinstance(item.payload, pl.Alert):
                await alert_actions.record_message(session, item.payload.alert_id, channel, ts)
            for outbox_id, alert_id in joined:
                other = await session.get_one(OutboxMessage, outbox_id)
                other.status, other.sent_at, other.external_id = "sent", now, ts
                other.via, other.attempts = "api", other.attempts + 1
                await alert_actions.record_message(session, alert_id, channel, ts)

    # --- rendering -----------------------------------------------------------------------

    async def _late_note(self, item: OutboxItem, now: datetime) -> tuple[bk.Block, str] | None:
        """For an alert (or a digest led by one) or a re-notification queued more than
        `late_after` ago: a context line saying how late it is and when it arose."""
        created = item.created_at
        if not isinstance(item.payload, LATE_KINDS) or created is None:
            return None
        if now - created <= self.late_after:
            return None
        async with self.db.transaction() as session:
            tz = await _facility_tz(session, item.payload, item.member_id)
        minutes = int((now - created).total_seconds() // 60)
        at = created.astimezone(ZoneInfo(tz)).strftime("%H:%M")
        note = texts.OUTAGE_LATE_NOTE.format(minutes=minutes, time=at)
        return bk.context(note), texts.OUTAGE_LATE_SHORT.format(minutes=minutes)

    async def _render(
        self, item: OutboxItem, now: datetime
    ) -> tuple[str, str, list[bk.Block], list[tuple[int, int]]] | None:
        """Channel, fallback text, blocks, and the (outbox id, alert id) rows carried along;
        None when there is nothing to post any more."""
        payload = item.payload
        if isinstance(payload, pl.Replies | pl.StaffMessage):  # to a member, in a DM
            replies, day = _to_member(payload)
            opened = await self.client.conversations_open(users=item.recipient)
            channel = str((opened.get("channel") or {}).get("id") or "")
            return channel, bk.reply_fallback(replies), bk.reply_blocks(replies, day), []
        async with self.db.transaction() as session:
            channel = item.recipient or await _staff_channel(session, payload, item.member_id)
            match payload:
                case pl.Renotify():
                    if await _superseded(session, item, payload.alert_id):
                        return None
                    again = await views.renotify_message(session, payload)
                    return None if again is None else (channel, again[0], again[1], [])
                case pl.Alert(alert_id=alert_id):
                    alone = payload.level is AlertLevel.CRISIS or not item.recipient
                    joined = [] if alone else await _waiting_alerts(session, item, now)
                    ids = [alert_id, *(a for _, a in joined)]
                    if len(ids) >= DIGEST_MIN or (joined and await _one_member(session, ids)):
                        text, blocks = await views.shared_message(session, ids)
                        mentions = await views.digest_mentions(session, ids)
                        return channel, text, [*mentions, *blocks][: bk.MAX_MESSAGE_BLOCKS], joined
                    rendered = await views.alert_message(session, alert_id)
                    if rendered is not None:
                        quiet = rendered[2].kind in alert_actions.QUIET_KINDS  # informs only
                        mentions = [] if quiet else await views.alert_mentions(session, alert_id)
                        return channel, rendered[0], [*mentions, *rendered[1]], []
                case pl.Digest():
                    facility = await session.get_one(Facility, payload.facility_id)
                    blocks = rb.digest_message(payload, facility.tz)
                    text = bk.escape(payload.text)  # names are in it
                    return channel, bk.clip(text, 3000), blocks, []
                case pl.ApprovalExpiring() | pl.OutageSummary():  # the managers, pinged
                    mentions = await views.mention_blocks(session, payload.mentions)
                    return channel, *_notice(payload, mentions), []
        return channel, *_notice(payload, []), []


def _to_member(payload: pl.Replies | pl.StaffMessage) -> tuple[list[Reply], date | None]:
    """What a member is sent, as neutral replies, and the business date its buttons carry."""
    if isinstance(payload, pl.Replies):
        return list(payload.replies), payload.business_date
    return [Reply(payload.text)], None


async def _thread_of(db: Database, payload: pl.Payload) -> str | None:
    """The message a thread note answers (its alert's), None for a post of its own."""
    if not isinstance(payload, pl.ThreadNote):
        return None
    async with db.transaction() as session:
        alert = await session.get(Alert, payload.alert_id)
        return alert.slack_ts if alert is not None else None


def _notice(payload: pl.Payload, mentions: list[bk.Block]) -> tuple[str, list[bk.Block]]:
    """A staff notice (or an alert whose row is gone): its title and text, as said."""
    text = pl.text_of(payload)
    title = NOTICE_TITLES.get(type(payload), "")
    blocks = [*mentions, *bk.notice_blocks(title, text)]
    return bk.clip(f"{title} {bk.escape(text)}".strip(), 3000), blocks


async def _superseded(session: AsyncSession, item: OutboxItem, alert_id: int) -> bool:
    """A later step of the same alert's re-notification is queued already (a Slack outage held
    them back): only the latest one goes out, and it mentions everyone the earlier ones would."""
    later = await session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.key.like(f"renotify:{alert_id}:%"),
            OutboxMessage.id > item.id,
        )
        .limit(1)
    )
    return later is not None


async def _waiting_alerts(
    session: AsyncSession,
    item: OutboxItem,
    now: datetime,
    room: int = DIGEST_MAX - 1,
    host: str | None = None,
    *,
    newcomers: bool = True,
) -> list[tuple[int, int]]:
    """Alerts queued right behind this one for the same channel (they wait for it anyway,
    since messages to one recipient go out in order), to be posted with it as one digest
    (or to join `host`, the message it joins; members without a message of the day only when
    `newcomers`, i.e. `host` is a recent digest). A crisis alert is never carried along: it
    goes out alone, in its own turn; nor is one whose member has another message of the day
    already (it joins that one, in its own turn)."""
    if room <= 0:
        return []
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.platform == item.platform,
            OutboxMessage.recipient == item.recipient,
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.id > item.id,
            OutboxMessage.key.like("notify:%"),
        )
        .order_by(OutboxMessage.id)
        .limit(room)
    )
    rows = (await session.execute(stmt)).scalars().all()
    out = []
    for r in rows:
        payload = _decoded(r)
        if not isinstance(payload, pl.Alert) or payload.level is AlertLevel.CRISIS:
            continue
        own = await _member_message(session, payload.alert_id, item.recipient)
        if (own is None and newcomers) or (own is not None and own == host):
            out.append((r.id, payload.alert_id))
    return out


async def _one_member(session: AsyncSession, alert_ids: list[int]) -> bool:
    stmt = select(Alert.member_id).where(Alert.id.in_(alert_ids)).distinct()
    return len((await session.execute(stmt)).all()) == 1


async def _member_message(session: AsyncSession, alert_id: int, channel: str) -> str | None:
    """The ts of the message its member's alerts of that business day share in `channel`,
    while at least one of them is not resolved (after that, a new problem is a new post)."""
    alert = await session.get(Alert, alert_id)
    if alert is None or not channel:
        return None
    stmt = (
        select(Alert.slack_ts)
        .where(
            Alert.member_id == alert.member_id,
            Alert.business_date == alert.business_date,
            Alert.slack_channel == channel,
            Alert.slack_ts.is_not(None),
            Alert.state.in_(OPEN_STATES),
            Alert.id != alert.id,
        )
        .order_by(Alert.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def _host_message(
    session: AsyncSession, payload: pl.Alert, channel: str, now: datetime
) -> tuple[str, int, bool] | None:
    """The message this alert joins, how many more alerts it has room for and whether it is
    a recent digest (that takes other members' alerts too), or None."""
    alert = await session.get(Alert, payload.alert_id)
    if alert is None:
        return None
    if alert.slack_ts is not None and alert.slack_channel == channel:
        return alert.slack_ts, 1, False  # joined by an attempt whose answer was lost
    crisis = payload.level is AlertLevel.CRISIS
    candidates = []
    if (ts := await _member_message(session, alert.id, channel)) is not None:
        candidates.append((ts, False))
    if not crisis:
        candidates.extend((ts, True) for ts in await _recent_digests(session, channel, now))
    for ts, digest in candidates:
        stmt = select(Alert.member_id, Alert.state).where(
            Alert.slack_channel == channel, Alert.slack_ts == ts
        )
        on = (await session.execute(stmt)).all()
        if crisis and {m for m, _ in on} != {alert.member_id}:
            continue  # a crisis is never folded into a digest of several members
        if len(on) < DIGEST_MAX and any(state in OPEN_STATES for _, state in on):
            return ts, DIGEST_MAX - len(on), digest
    return None


async def _recent_digests(session: AsyncSession, channel: str, now: datetime) -> list[str]:
    """Messages of several members' alerts in `channel` first posted within `RECENT`,
    newest first."""
    since = now - RECENT
    recent = (
        select(OutboxMessage.external_id)
        .where(
            OutboxMessage.key.like("notify:%"),
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at >= since,
            OutboxMessage.external_id.is_not(None),
        )
        .distinct()
    )
    stmt = (
        select(Alert.slack_ts)
        .where(Alert.slack_channel == channel, Alert.slack_ts.in_(recent))
        .group_by(Alert.slack_ts)
        .having(func.count(func.distinct(Alert.member_id)) > 1)
    )
    out = []
    for ts in (await session.execute(stmt)).scalars():
        first = await session.scalar(
            select(func.min(OutboxMessage.sent_at)).where(OutboxMessage.external_id == ts)
        )
        if first is not None and _aware(first) >= since:
            out.append((_aware(first), str(ts)))
    return [ts for _, ts in sorted(out, reverse=True)]


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


async def _joined_note(
    session: AsyncSession, alert_ids: list[int]
) -> tuple[str, list[bk.Block]] | None:
    """The thread's line for alerts that joined a message: what and when, mentioning whom
    a post of their own would have (a reply that names someone notifies them; the update of
    the message itself notifies nobody). Absence notices inform without mentions."""
    first = await board.alert_item(session, alert_ids[0])
    if first is None:
        return None
    member = await session.get_one(Member, first.member_id)
    facility = await session.get_one(Facility, member.facility_id)
    at = first.opened_at.astimezone(ZoneInfo(facility.tz)).strftime("%H:%M")
    more = texts.ALERT_JOINED_MORE.format(count=len(alert_ids) - 1) if len(alert_ids) > 1 else ""
    note = texts.ALERT_JOINED_NOTE.format(time=at, what=bk.alert_fallback(first) + more)
    pinged = [
        a
        for a in alert_ids
        if (found := await session.get(Alert, a)) is not None
        and found.kind not in alert_actions.QUIET_KINDS
    ]
    mentions = await views.digest_mentions(session, pinged) if pinged else []
    return bk.clip(note, 3000), [*mentions, bk.section(note)]


def _decoded(row: OutboxMessage) -> pl.Payload | None:
    try:
        return pl.from_json(row.payload)
    except pl.PayloadError:
        return None


async def _alerts_of(session: AsyncSession, outbox_ids: list[int]) -> list[tuple[int, int]]:
    out = []
    for outbox_id in outbox_ids:
        row = await session.get(OutboxMessage, outbox_id)
        payload = _decoded(row) if row is not None else None
        if row is not None and isinstance(payload, pl.Alert):
            out.append((row.id, payload.alert_id))
    return out


async def _staff_channel(session: AsyncSession, payload: pl.Payload, member_id: int | None) -> str:
    """Where a staff notice without a recipient goes: its facility's alert channel.

    A notice about a member goes only to that member's facility (never to another one's
    channel); a notice about no one in particular goes to the first facility with a channel.
    """
    mid = member_id or pl.member_of(payload)
    if fid := pl.facility_of(payload):
        facility = await session.get(Facility, fid)
    elif mid:
        member = await session.get(Member, mid)
        facility = await session.get(Facility, member.facility_id) if member else None
    else:
        stmt = select(Facility).where(Facility.alert_channel.is_not(None)).order_by(Facility.id)
        facility = (await session.execute(stmt.limit(1))).scalar_one_or_none()
    return (facility.alert_channel or "") if facility is not None else ""


async def _facility_tz(session: AsyncSession, payload: pl.Payload, member_id: int | None) -> str:
    mid = member_id or pl.member_of(payload)
    member = await session.get(Member, mid) if mid else None
    fid = member.facility_id if member is not None else pl.facility_of(payload)
    facility = await session.get(Facility, fid) if fid else None
    return facility.tz if facility is not None else "Asia/Tokyo"


def _classify(exc: SlackApiError) -> SendResult:
    """RETRY for Slack's trouble (429, 408, 5xx, its transient codes); FAILED otherwise."""
    resp = exc.response
    error = slack_error(exc)
    status = resp.status_code
    if status in (408, 429) or status >= 500 or error in RETRYABLE_ERRORS:
        raw = resp.headers.get("Retry-After") or resp.headers.get("retry-after")
        try:
            retry_after = float(raw) if raw is not None else None
        except (TypeError, ValueError):
            retry_after = None
        return SendResult(Outcome.RETRY, error=error, retry_after=retry_after)
    return SendResult(Outcome.FAILED, error=error)
