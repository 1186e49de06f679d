"""Delivering the outbox: claim due rows, send them, record the outcome.

A row is leased before it is sent and the lease is committed, so a crash mid-send means the
row is tried again after the lease (LINE's X-Line-Retry-Key keeps a retried push from showing
twice). Messages to one recipient go out in order: a row waits while an older one to the same
recipient is still unsent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from bot.ports import OutboxItem, Outcome, Sender, SendResult
from storage import repo
from storage.db import Database
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=5)
MAX_ATTEMPTS = 12
BATCH = 50


@dataclass(frozen=True)
class Flushed:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """Capped exponential backoff; the platform's Retry-After wins when it says more."""
    delay = min(timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


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
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    async with db.transaction() as session:
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = (await session.execute(stmt)).scalars().all()
        items = []
        for row in rows:
            row.status, row.next_attempt_at = "sending", now + LEASE
            items.append(
                OutboxItem(
                    id=row.id,
                    key=row.key,
                    platform=row.platform,
                    recipient=row.recipient,
                    payload=dict(row.payload),
                    retry_key=row.retry_key,
                    attempts=row.attempts,
                    reply_token=row.reply_token,
                    reply_token_until=row.reply_token_until,
                    member_id=row.member_id,
                )
            )
    return items


async def record(db: Database, item: OutboxItem, result: SendResult, now: datetime) -> None:
    async with db.transaction() as session:
        row = await session.get_one(OutboxMessage, item.id)
        row.attempts += 1
        row.via = result.via or row.via
        if result.outcome is Outcome.SENT:
            row.status, row.sent_at, row.last_error = "sent", now, None
            row.external_id = result.external_id or row.external_id
            row.reply_token = None  # single use
            return
        row.last_error = (result.error or "")[:2000]
        if result.outcome is Outcome.RETRY and row.attempts < MAX_ATTEMPTS:
            row.status = "pending"
            row.next_attempt_at = now + backoff(row.attempts, result.retry_after)
            return
        row.status = "failed"
        log.warning("outbox message failed", extra={"outbox_id": row.id, "platform": row.platform})
        if row.member_id is not None and row.platform != "slack":
            await repo.enqueue(
                session,
                key=f"delivery-failed:{row.id}",
                platform="slack",
                recipient="",
                payload={
                    "kind": "delivery_failed",
                    "outbox_id": row.id,
                    "member_id": row.member_id,
                    "text": f"メッセージを届けられませんでした(送信ID {row.id}): {row.last_error}",
                },
                member_id=row.member_id,
                now=now,
            )


async def flush(
    db: Database, senders: Mapping[str, Sender], now: datetime, *, rounds: int = 20
) -> Flushed:
    """Send everything due now (a few rounds, so ordered follow-ups go in the same flush)."""
    sent = retried = failed = 0
    for _ in range(rounds):
        items = await claim(db, set(senders), now)
        if not items:
            break
        blocked: set[tuple[str, str]] = set()
        for index, item in enumerate(items):
            tried = False
            try:
                if (item.platform, item.recipient) in blocked:
                    await _release(db, [item], now)
                    continue
                tried = True
                try:
                    result = await senders[item.platform].send(item, now)
                except Exception as exc:  # a sender bug must not stop the others
                    log.exception("sender raised", extra={"outbox_id": item.id})
                    result = SendResult(Outcome.RETRY, error=type(exc).__name__)
                await record(db, item, result, now)
            except Exception:
                # The database went away mid-pass. A row just sent has an unknown outcome and
                # keeps its lease; the rows not tried yet go back to the queue at once rather
                # than hold up their recipients' later messages for the lease's whole minute.
                await _release_untried(db, items[index + 1 if tried else index :], now)
                raise
            if result.outcome is Outcome.SENT:
                sent += 1
            elif result.outcome is Outcome.RETRY:
                retried += 1
                blocked.add((item.platform, item.recipient))
            else:
                failed += 1
        if retried:
            break
    return Flushed(sent, retried, failed)


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
