"""Delivering the outbox: claim due rows, send them, record the outcome.

A row is leased before it is sent and the lease is committed, so a crash mid-send means the
row is tried again after the lease (LINE's X-Line-Retry-Key keeps a retried push from showing
twice). Messages to one recipient go out in order: a row waits while an older one to the same
recipient is still unsent.

Only the message's own fault (Outcome.FAILED: a 4xx other than 429, an unknown recipient …)
fails a row. The platform's trouble (Outcome.RETRY: 429, 5xx, timeouts, connection errors) is
retried for as long as it lasts, every five minutes at most (with jitter) once the backoff is
capped: an outage of hours delays staff alerts, it never drops them (issue #23). A backlog
older than `BACKLOG_ALERT` is visible (`oldest_pending`: /healthz, /metrics); while Slack's
lasts, staff with a LINE account linked as staff are told on LINE, and when it clears, each
facility's alert channel gets one summary of what came late.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from bot.core import payloads, texts
from bot.core.ports import OutboxItem, Outcome, Sender, SendResult
from bot.services.metrics import REGISTRY
from bot.services.platforms import STAFF_PLATFORM
from storage import repo
from storage.db import Database
from storage.models import Facility, Identity, InboxEvent, Member, OutboxMessage, Staff

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=5)
JITTER = 0.25  # at the cap, a retry comes up to this share of it sooner (3¾–5 minutes)
BATCH = 50
SEND_AT_ONCE = 16  # concurrent sends of a round, over each platform's one HTTP client
BACKLOG_ALERT = timedelta(seconds=300)  # OUTBOX_BACKLOG_ALERT_SECONDS; see `configure`
OUTAGE_LOOKBACK = timedelta(days=7)  # how far back a recovery summary looks for late rows
WAITING = ("pending", "sending")
# member DMs and the summary itself (an unreadable row is not counted either)
NOT_COUNTED = (payloads.Replies, payloads.OutageSummary, type(None))


@dataclass
class _Policy:
    backlog_alert: timedelta = BACKLOG_ALERT


POLICY = _Policy()


def configure(*, backlog_alert_seconds: float) -> None:
    """Set the backlog threshold for every `flush` of this process (the composition root calls
    it from the settings; the scheduler's delivery loop calls `flush` without arguments)."""
    POLICY.backlog_alert = timedelta(seconds=backlog_alert_seconds)


@dataclass(frozen=True)
class Flushed:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    paced: int = 0  # held back to keep a channel's pace; due again within seconds
    more: bool = False  # every round found rows due: there may be more


def backoff(attempts: int, retry_after: float | None, jitter: float = 0.0) -> timedelta:
    """Capped exponential backoff; the platform's Retry-After wins when it says more.

    Once capped (a long outage), `jitter` in [0, 1) brings the retry up to `JITTER` of the cap
    sooner, so a backlog's rows (and replicas) do not all knock at once every five minutes.
    The short steps before the cap stay exact (2, 4, 8 … s)."""
    delay = timedelta(seconds=2 ** min(attempts, 16))
    if delay >= MAX_BACKOFF:
        delay = MAX_BACKOFF * (1 - JITTER * min(max(jitter, 0.0), 1.0))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def jitter_for(row_id: int, attempts: int) -> float:
    """A spread in [0, 1) derived from the row and the attempt: deterministic, no random
    source to inject, and different for each row."""
    digest = hashlib.blake2b(f"{row_id}:{attempts}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


async def claim(
    db: Database, platforms: set[str], now: datetime, limit: int = BATCH
) -> list[OutboxItem]:
    """Lease due rows for the given platforms (oldest first, one replica each)."""
    older = aliased(OutboxMessage)
    blocked = exists().where(
        older.recipient == OutboxMessage.recipient,
        older.platform == OutboxMessage.platform,
        older.id < OutboxMessage.id,
        older.status.in_(("pending", "sending")),
    )
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.platform.in_(platforms),
            or_(
                and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
                and_(OutboxMessage.status == "sending", OutboxMessage.next_attempt_at <= now),
            ),
            ~blocked,
        )
        # Replies whose token runs out soonest first (an answer sent later becomes a paid
        # push), then the rest, oldest first.
        .order_by(
            case((OutboxMessage.reply_token_until > now, 0), else_=1),
            OutboxMessage.reply_token_until,
            OutboxMessage.id,
        )
        .limit(limit)
    )
    async with db.transaction(on_loop=True) as session:  # short: one statement, then leases
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = (await session.execute(stmt)).scalars().all()
        items = []
        for row in rows:
            try:
                payload = payloads.from_json(row.payload)
            except payloads.PayloadError as exc:  # no sender can say it; the others go on
                row.status, row.attempts, row.last_error = "failed", row.attempts + 1, str(exc)
                log.warning("outbox payload unreadable", extra={"outbox_id": row.id})
                await _tell_staff_failed(session, row, now)
                continue
            items.append(
                OutboxItem(
                    id=row.id,
                    key=row.key,
                    platform=row.platform,
                    recipient=row.recipient,
                    payload=payload,
                    retry_key=row.retry_key,
                    attempts=row.attempts,
                    reply_token=row.reply_token,
                    reply_token_until=row.reply_token_until,
                    member_id=row.member_id,
                    created_at=row.created_at,
                )
            )
        if items:  # the leases in one statement (set on the ORM rows: one UPDATE each)
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([item.id for item in items]))
                .values(status="sending", next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
    return items


async def record(db: Database, item: OutboxItem, result: SendResult, now: datetime) -> None:
    await record_all(db, [(item, result)], now)


async def record_all(
    db: Database, results: Sequence[tuple[OutboxItem, SendResult]], now: datetime
) -> None:
    """The outcomes of one round of sends, in one transaction (one commit for the round);
    if that fails, each on its own, so one row's trouble never loses the others'."""
    if not results:
        return
    try:
        async with db.transaction(on_loop=True) as session:
            ids = [item.id for item, _ in results]
            stmt = select(OutboxMessage).where(OutboxMessage.id.in_(ids))
            # held here: the session keeps unchanged rows only as long as someone does
            rows = {row.id: row for row in (await session.scalars(stmt)).all()}
            sent = [await _record(session, rows[i.id], i, result, now) for i, result in results]
            # after the rows' updates: one flush sends them together, not one per row
            handled = await _handling_times(session, [r for r in sent if r is not None], now)
        for platform, via, seconds in handled:  # once committed
            REGISTRY.observe("nippo_handling_seconds", seconds, platform=platform, via=via)
        return
    except Exception:
        if len(results) == 1:
            raise
        log.warning("outbox round not recorded at once; recording rows one at a time")
    for item, result in results:
        await record(db, item, result, now)


async def _record(
    session: AsyncSession, row: OutboxMessage, item: OutboxItem, result: SendResult, now: datetime
) -> OutboxMessage | None:
    """Note one row's outcome; the row when it went out."""
    if result.outcome is Outcome.PACED:  # not tried: due again soon, no attempt counted
        row.status = "pending"
        row.next_attempt_at = now + timedelta(seconds=result.retry_after or 1.0)
        return None
    row.attempts += 1
    row.via = result.via or row.via
    if result.outcome is Outcome.SENT:
        row.status, row.sent_at, row.last_error = "sent", now, None
        row.external_id = result.external_id or row.external_id
        row.reply_token = None  # single use
        _count_push(item, result, now)
        return row
    row.last_error = (result.error or "")[:2000]
    if result.outcome is Outcome.RETRY:  # the platform's trouble: never a failure
        row.status = "pending"
        wait = backoff(row.attempts, result.retry_after, jitter_for(row.id, row.attempts))
        row.next_attempt_at = now + wait
        return None
    row.status = "failed"
    log.warning("outbox message failed", extra={"outbox_id": row.id, "platform": row.platform})
    await _tell_staff_failed(session, row, now)
    return None


def _count_push(item: OutboxItem, result: SendResult, now: datetime) -> None:
    """An answer to a member's message that went out as a push (paid, on LINE), and why."""
    if result.via != "push" or not item.key.startswith("reply:"):
        return
    if item.reply_token is None:
        reason = "no_token"  # the event came without one (or it was used)
    elif item.attempts > 0:
        reason = "reply_failed"  # a reply attempt failed; a token is single-use
    elif item.reply_token_until is None or item.reply_token_until <= now:
        reason = "token_expired"  # answered too late for the token's window
    else:
        reason = "token_refused"  # LINE refused a token we thought fresh
    REGISTRY.inc("nippo_answers_pushed_total", platform=item.platform, reason=reason)


async def _tell_staff_failed(session: AsyncSession, row: OutboxMessage, now: datetime) -> None:
    """A message to a member that will never arrive: the member's staff hear of it."""
    if row.member_id is not None and row.platform != STAFF_PLATFORM:
        await repo.enqueue(
            session,
            key=f"delivery-failed:{row.id}",
            platform=STAFF_PLATFORM,
            recipient="",
            payload=payloads.DeliveryFailed(
                outbox_id=row.id,
                member_id=row.member_id,
                text=f"メッセージを届けられませんでした(送信ID {row.id}): {row.last_error}",
            ),
            member_id=row.member_id,
            now=now,
        )


async def _handling_times(
    session: AsyncSession, rows: Sequence[OutboxMessage], now: datetime
) -> list[tuple[str, str, float]]:
    """Members' replies (key `reply:{platform}:{event_id}`) that went out: each one's
    platform, how it went and the seconds since its inbound event was received, in one
    query per platform (the console's messages have no inbox row)."""
    wanted: dict[str, dict[str, str]] = defaultdict(dict)  # platform → event id → via
    for row in rows:
        parts = row.key.split(":", 2)
        if parts[0] == "reply" and len(parts) == 3 and row.via != "skipped":
            wanted[parts[1]][parts[2]] = row.via or ""
    out = []
    for platform, vias in wanted.items():
        stmt = select(InboxEvent.event_id, InboxEvent.received_at).where(
            InboxEvent.platform == platform, InboxEvent.event_id.in_(sorted(vias))
        )
        for event_id, received in await session.execute(stmt):
            seconds = max(0.0, (now - _aware(received)).total_seconds())
            out.append((platform, vias[event_id], seconds))
    return out


async def flush(
    db: Database,
    senders: Mapping[str, Sender],
    now: datetime,
    *,
    rounds: int = 20,
    backlog_alert: timedelta | None = None,
) -> Flushed:
    """Send everything due now (a few rounds, so ordered follow-ups go in the same flush);
    then, when Slack refused something or delivered something late, look at its backlog."""
    threshold = backlog_alert if backlog_alert is not None else POLICY.backlog_alert
    sent = retried = failed = paced = 0
    more = True
    staff_refused = staff_late = False
    slots = asyncio.Semaphore(SEND_AT_ONCE)

    async def send(item: OutboxItem) -> SendResult:
        async with slots:
            try:
                return await senders[item.platform].send(item, now)
            except Exception as exc:  # a sender bug must not stop the others
                log.exception("sender raised", extra={"outbox_id": item.id})
                return SendResult(Outcome.RETRY, error=type(exc).__name__)

    for _ in range(rounds):
        items = await claim(db, set(senders), now)
        if not items:
            more = False
            break
        # A round holds each recipient's oldest unsent row only (`claim`). Its first row goes
        # out and is recorded alone: if the database has gone away, that one row's outcome is
        # unknown (it keeps its lease) and the untried rows go back to the queue at once rather
        # than hold up their recipients for the lease's minute. The rest go out side by side,
        # SEND_AT_ONCE at a time, and are recorded together (an outage now leaves them leased;
        # LINE's retry key covers a repeated push).
        first = (items[0], await send(items[0]))
        try:
            await record(db, *first, now)
        except Exception:
            await _release_untried(db, items[1:], now)
            raise
        rest = items[1:]
        results = [first, *zip(rest, await asyncio.gather(*(send(i) for i in rest)), strict=True)]
        await record_all(db, results[1:], now)
        for item, result in results:
            if result.outcome is Outcome.SENT:
                sent += 1
            elif result.outcome is Outcome.PACED:  # the platform is fine: no backlog watch
                paced += 1
                continue
            elif result.outcome is Outcome.RETRY:
                retried += 1
            else:
                failed += 1
            if item.platform == STAFF_PLATFORM:
                staff_refused |= result.outcome is Outcome.RETRY
                staff_late |= result.outcome is not Outcome.RETRY and _late(item, now, threshold)
        if retried:
            more = False
            break
    if staff_refused or staff_late:
        try:
            await watch_backlog(db, senders, now, threshold, delivered_late=staff_late)
        except Exception:  # telling people about an outage must never stop delivery
            log.exception("backlog watch failed")
    return Flushed(sent, retried, failed, paced, more)


def _late(item: OutboxItem, now: datetime, threshold: timedelta) -> bool:
    return item.created_at is not None and now - item.created_at > threshold


async def _release(db: Database, items: list[OutboxItem], now: datetime) -> None:
    """Unlease claimed rows that were not tried: due again now."""
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([i.id for i in items]), OutboxMessage.status == "sending")
            .values(status="pending", next_attempt_at=now)
        )


RELEASE_WAITS_S = (0.0, 0.5, 1.0, 2.0, 4.0)  # a database restart takes a few seconds


async def _release_untried(db: Database, items: list[OutboxItem], now: datetime) -> None:
    """Best effort while the database comes back; otherwise the lease runs out as usual."""
    if not items:
        return
    for wait in RELEASE_WAITS_S:
        await asyncio.sleep(wait)
        try:
            await _release(db, items, now)
            return
        except Exception:
            continue
    log.warning("claimed outbox rows stay leased", extra={"rows": len(items)})


# --- backlog: how old the oldest waiting message is, and who is told -----------------------


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


async def oldest_pending(
    session: AsyncSession | AsyncConnection, now: datetime, platforms: Sequence[str] | None = None
) -> dict[str, float]:
    """Per platform, seconds since the oldest unsent row was queued (platforms with nothing
    waiting are absent unless named in `platforms`, then 0)."""
    stmt = (
        select(OutboxMessage.platform, func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status.in_(WAITING))
        .group_by(OutboxMessage.platform)
    )
    ages = {p: 0.0 for p in platforms or ()}
    for platform, oldest in await session.execute(stmt):
        if oldest is not None and (platforms is None or platform in platforms):
            ages[platform] = max(0.0, (now - _aware(oldest)).total_seconds())
    return ages


async def watch_backlog(
    db: Database,
    senders: Mapping[str, Sender],
    now: datetime,
    threshold: timedelta,
    *,
    delivered_late: bool,
) -> None:
    """While Slack's backlog is older than `threshold`, tell staff who have LINE linked (once
    per outage each); once it is back under, post each facility one summary of the late ones."""
    async with db.transaction() as session:
        age = (await oldest_pending(session, now, [STAFF_PLATFORM]))[STAFF_PLATFORM]
        if age > threshold.total_seconds():
            if "line" in senders:
                await _tell_staff_on_line(session, now, threshold)
        elif delivered_late:
            await _summarise_outage(session, now, threshold)


async def _by_facility(
    session: AsyncSession, rows: Sequence[OutboxMessage]
) -> dict[int, list[OutboxMessage]]:
    """Outbox rows by facility: its facility id, else its member's, else its channel's."""
    about = {r.id: _about(r) for r in rows}
    member_ids = {r.member_id or about[r.id][1] for r in rows} - {None}
    members: dict[int, int] = {}
    if member_ids:
        stmt = select(Member.id, Member.facility_id).where(Member.id.in_(member_ids))
        members = {m: f for m, f in await session.execute(stmt)}
    stmt2 = select(Facility.alert_channel, Facility.id).where(Facility.alert_channel.is_not(None))
    channels = {str(c): f for c, f in await session.execute(stmt2)}
    out: dict[int, list[OutboxMessage]] = defaultdict(list)
    for r in rows:
        facility_id, member_id = about[r.id]
        fid: int | None = None
        if facility_id is not None:
            fid = facility_id
        elif (mid := r.member_id or member_id) is not None:
            fid = members.get(mid)
        else:
            fid = channels.get(r.recipient)
        if fid is not None:
            out[fid].append(r)
    return dict(out)


def _decoded(row: OutboxMessage) -> payloads.Payload | None:
    try:
        return payloads.from_json(row.payload)
    except payloads.PayloadError:
        return None


def _about(row: OutboxMessage) -> tuple[int | None, int | None]:
    """The facility and member a row's payload names, if any."""
    payload = _decoded(row)
    if payload is None:
        return None, None
    return payloads.facility_of(payload), payloads.member_of(payload)


def _counted(row: OutboxMessage) -> bool:
    return not isinstance(_decoded(row), NOT_COUNTED)


async def _outage_epoch(session: AsyncSession) -> int:
    """The id of the latest recovery summary (0 before any): an outage is what comes after."""
    stmt = select(func.max(OutboxMessage.id)).where(OutboxMessage.key.like("outage:slack:%"))
    return int((await session.scalar(stmt)) or 0)


async def _tell_staff_on_line(session: AsyncSession, now: datetime, threshold: timedelta) -> None:
    """A short LINE push, without names or details, to each active staff member of an affected
    facility whose LINE account is linked as staff; once per staff member and outage."""
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.platform == STAFF_PLATFORM,
            OutboxMessage.status.in_(WAITING),
            OutboxMessage.created_at <= now - threshold,
        )
        .order_by(OutboxMessage.id)
    )
    waiting = [r for r in (await session.scalars(stmt)).all() if _counted(r)]
    grouped = await _by_facility(session, waiting)
    if not grouped:
        return
    epoch = await _outage_epoch(session)
    staff = await session.execute(
        select(Identity.id, Identity.platform_user_id, Staff.facility_id)
        .join(Staff, Staff.id == Identity.staff_id)
        .where(
            Identity.platform == "line",
            Identity.active.is_(True),
            Staff.active.is_(True),
            Staff.facility_id.in_(grouped),
        )
        .order_by(Identity.id)
    )
    for identity_id, user_id, facility_id in staff.all():
        rows = grouped[facility_id]
        oldest = min(_aware(r.created_at) for r in rows)
        text = texts.OUTAGE_LINE_NOTICE.format(
            minutes=int((now - oldest).total_seconds() // 60), count=len(rows)
        )
        new = await repo.enqueue(
            session,
            key=f"outage:line:{epoch}:{identity_id}",
            platform="line",
            recipient=user_id,
            payload=payloads.OutageNotice(text, facility_id),
            now=now,
        )
        if new is not None:
            log.warning(
                "staff told of a Slack outage on LINE",
                extra={"outbox_id": new, "identity_id": identity_id, "facility_id": facility_id},
            )


async def _summarise_outage(session: AsyncSession, now: datetime, threshold: timedelta) -> None:
    """One notice per facility in its alert channel: how many Slack messages came late (more
    than `threshold` after they were queued) since its last summary, and the longest delay.
    Only after an outage: at least one of them was refused by Slack and retried."""
    stmt = select(OutboxMessage).where(
        OutboxMessage.platform == STAFF_PLATFORM,
        OutboxMessage.status == "sent",
        OutboxMessage.sent_at >= now - OUTAGE_LOOKBACK,
        OutboxMessage.created_at <= now - threshold,
    )
    late = [
        r
        for r in (await session.scalars(stmt)).all()
        if _counted(r)
        and r.via != "skipped"
        and r.sent_at is not None
        and _aware(r.sent_at) - _aware(r.created_at) > threshold
    ]
    for facility_id, rows in sorted((await _by_facility(session, late)).items()):
        last = await session.scalar(
            select(OutboxMessage.created_at)
            .where(OutboxMessage.key.like(f"outage:slack:{facility_id}:%"))
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        rows = [r for r in rows if last is None or _aware(r.sent_at or now) > _aware(last)]
        if not any(r.attempts > 1 for r in rows):  # late, but Slack never refused: no outage
            continue
        longest = max(_aware(r.sent_at or now) - _aware(r.created_at) for r in rows)
        managers = [m.id for m in await repo.managers(session, facility_id, on_slack=True)]
        text = texts.OUTAGE_SUMMARY.format(
            count=len(rows), minutes=int(longest.total_seconds() // 60)
        )
        first = min(r.id for r in rows)
        new = await repo.enqueue(
            session,
            key=f"outage:slack:{facility_id}:{first}",
            platform=STAFF_PLATFORM,
            recipient="",
            payload=payloads.OutageSummary(
                facility_id=facility_id,
                text=text,
                count=len(rows),
                mentions=payloads.Mentions(tuple(managers)),
            ),
            now=now,
        )
        if new is not None:
            log.warning(
                "Slack outage summary queued",
                extra={"outbox_id": new, "facility_id": facility_id, "late": len(rows)},
            )
