"""Processing stored LINE events: the inbox → the service.

The webhook only stores raw events and answers 200; `process_pending_inbox` does the work
afterwards. It runs right after each acknowledgement (a background task) and from the
scheduler's loop, which retries whatever a dead process left pending. Each event is handled in
its own transaction that first re-checks and locks its inbox row, so two processors never
handle the same event twice. Photos and files are downloaded before that transaction (LINE
deletes user content after a while, and no lock is held during the download).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.line.events import Kind, LineInbound, to_inbound
from bot import intake, service, texts
from bot.intake import Evidence
from storage.db import Database
from storage.models import InboxEvent

log = logging.getLogger(__name__)

PLATFORM = "line"
MAX_ATTEMPTS = 5
MAX_CONTENT_BYTES = 20 * 1024 * 1024
BATCH = 100
PARALLEL_USERS = 8  # below the PostgreSQL pool size (10 + 10 overflow)


class ContentGone(Exception):
    """LINE will not give us the content (deleted, expired, or never hosted by LINE)."""


class ContentSource(Protocol):
    async def fetch(self, message_id: str) -> tuple[bytes, str]:
        """The content bytes and their media type; ContentGone when it cannot be had."""
        ...


async def process_pending_inbox(
    db: Database,
    now: datetime,
    content: ContentSource | None = None,
    *,
    ids: list[int] | None = None,
    limit: int = BATCH,
    step_aside: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Handle pending LINE inbox rows (oldest first); the number handled.

    Call it from the scheduler loop with the current instant; `ids` narrows it to the rows
    one webhook request just stored; `step_aside` is awaited before each event (the
    webhook's acknowledgements go first).
    """
    stmt = (
        select(InboxEvent.id, InboxEvent.body)
        .where(InboxEvent.platform == PLATFORM, InboxEvent.status == "pending")
        .order_by(InboxEvent.id)
        .limit(limit)
    )
    if ids is not None:
        stmt = stmt.where(InboxEvent.id.in_(ids))
    async with db.transaction() as session:
        rows = (await session.execute(stmt)).all()
    # One member's events in order; different members side by side where the database
    # takes concurrent writers (PostgreSQL). SQLite has one writer: one at a time.
    by_user: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for row_id, body in rows:
        by_user.setdefault(_user_of(body), []).append((row_id, dict(body)))
    slots = asyncio.Semaphore(PARALLEL_USERS if db.dialect == "postgresql" else 1)

    async def one_user(events: list[tuple[int, dict[str, Any]]]) -> int:
        handled = 0
        async with slots:
            for rid, body in events:
                if step_aside is not None:
                    await step_aside()
                handled += await _process(db, rid, body, now, content)
        return handled

    return sum(await asyncio.gather(*(one_user(evs) for evs in by_user.values())))


def _user_of(body: Any) -> str:
    source = body.get("source") if isinstance(body, dict) else None
    return str(source.get("userId", "")) if isinstance(source, dict) else ""


async def _process(
    db: Database,
    row_id: int,
    body: dict[str, Any],
    now: datetime,
    content: ContentSource | None,
) -> bool:
    inbound = to_inbound(body)
    try:
        evidence, problem = await _download(db, inbound, content)
        async with db.transaction() as session:
            if db.dialect == "postgresql":
                # One member's events one at a time, in order, across replicas.
                user = inbound.msg.sender.user_id if inbound else ""
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"line:{user}"}
                )
            locked = select(InboxEvent).where(
                InboxEvent.id == row_id, InboxEvent.status == "pending"
            )
            if db.dialect == "postgresql":
                locked = locked.with_for_update(skip_locked=True)
            row = (await session.execute(locked)).scalar_one_or_none()
            if row is None:  # another processor got there first
                return False
            await _dispatch(session, inbound, evidence, problem, now)
            row.status = "done" if inbound is not None else "ignored"
            row.processed_at, row.attempts = now, row.attempts + 1
        return True
    except Exception as exc:  # keep the row; the next pass retries it
        log.exception("LINE inbox event failed", extra={"inbox_id": row_id})
        async with db.transaction() as session:
            row = await session.get(InboxEvent, row_id)
            if row is not None and row.status == "pending":
                row.attempts += 1
                row.error = f"{type(exc).__name__}: {exc}"[:2000]
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                    if inbound is not None and inbound.kind is Kind.EVIDENCE:
                        # Giving up: the member hears the photo was not kept.
                        await intake.save_evidence(session, inbound.msg, None, now)
        return False


async def _download(
    db: Database, inbound: LineInbound | None, content: ContentSource | None
) -> tuple[Evidence | None, str]:
    """Fetch a member's photo or file now; strangers' content is never downloaded."""
    if inbound is None or inbound.kind is not Kind.EVIDENCE or not inbound.message_id:
        return None, texts.PHOTO_FAILED
    async with db.transaction() as session:
        if not await intake.is_linked(session, inbound.msg):
            return None, texts.PHOTO_FAILED
    if inbound.file_size is not None and inbound.file_size > MAX_CONTENT_BYTES:
        return None, texts.PHOTO_TOO_LARGE
    if content is None or inbound.external:
        return None, texts.PHOTO_FAILED
    try:
        data, media_type = await content.fetch(inbound.message_id)
    except ContentGone:
        log.warning("LINE content unavailable", extra={"event_id": inbound.msg.event_id})
        return None, texts.PHOTO_FAILED
    if len(data) > MAX_CONTENT_BYTES:
        return None, texts.PHOTO_TOO_LARGE
    return Evidence(inbound.message_id, media_type, data, inbound.filename), texts.PHOTO_FAILED


async def _dispatch(
    session: AsyncSession,
    inbound: LineInbound | None,
    evidence: Evidence | None,
    problem: str,
    now: datetime,
) -> None:
    if inbound is None:
        return
    msg = inbound.msg
    match inbound.kind:
        case Kind.FOLLOW:
            await service.greet(session, msg, now)
        case Kind.UNFOLLOW:
            await service.deactivate(session, msg.sender.platform.value, msg.sender.user_id)
        case Kind.TEXT:
            await service.handle_message(session, msg, now)
        case Kind.CHOICE:
            await intake.choose(session, msg, inbound.button_day, now)
        case Kind.STALE:
            await intake.stale_button(session, msg, now)
        case Kind.STICKER:
            await intake.sticker(session, msg, now)
        case Kind.EVIDENCE:
            await intake.save_evidence(session, msg, evidence, now, problem=problem)
        case Kind.UNSUPPORTED:
            await intake.unsupported(session, msg, now)


SHUTDOWN_GRACE_S = 10.0


class AfterAckWorker:
    """One per process: runs passes over the inbox after acknowledgements, one at a time.

    A webhook request pokes it once its events are committed and returns at once: the 200
    does not wait for the handling, and no request stays in memory until its events are
    handled. Pokes arriving during a pass share the next one. One pass at a time keeps the
    database's writers few, so acknowledgements are not queued behind a crowd of concurrent
    handlers (SQLite has a single writer). What a pass misses (a crash, a failure) the
    scheduler's recovery pass handles from the inbox.
    """

    def __init__(self, run_pass: Callable[[], Awaitable[None]]) -> None:
        self._run_pass = run_pass
        self._requested = False
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Ask for a pass that starts after now."""
        self._requested = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())

    async def settled(self) -> None:
        """Wait until every pass asked for so far has run (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _loop(self) -> None:
        while self._requested:
            self._requested = False
            try:
                await self._run_pass()
            except Exception:  # the scheduler's pass retries whatever is still pending
                log.exception("LINE pass after acknowledgement failed")

    async def aclose(self) -> None:
        """Let the pass under way finish, for up to SHUTDOWN_GRACE_S, then stop it: a pass cut
        short may have sent a reply it has not yet recorded as sent."""
        if self._task is None or self._task.done():
            return
        try:
            async with asyncio.timeout(SHUTDOWN_GRACE_S):
                await self.settled()
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
