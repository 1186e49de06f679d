"""Processing stored LINE events: the inbox → the checkin.

The webhook only stores raw events and answers 200; `process_pending_inbox` does the work
afterwards. It runs right after each acknowledgement (a background task) and from the
scheduler's loop, which retries whatever a dead process left pending. Each event is handled in
its own transaction that first re-checks and locks its inbox row, so two processors never
handle the same event twice. Photos and files are downloaded before that transaction (LINE
deletes user content after a while, and no lock is held during the download).

An event whose handling raises is counted on its row (attempts, a short error without the
body) and retried by later passes; after its last try it is quarantined (status "failed") and
never tried again (`nippo inbox failed|retry`, bot/cli/inbox.py). A pass never raises for one
event, so neither the after-ack pass nor the scheduler's tick depends on every event being
readable (issue #23). Senders are served round-robin; see `process_pending_inbox`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.line.events import Kind, LineInbound, MalformedEvent, to_inbound
from bot.core import texts
from bot.usecases import checkin, intake
from bot.usecases.intake import Evidence
from bot.usecases.metrics import REGISTRY
from storage.db import Database
from storage.models import Identity, InboxEvent

log = logging.getLogger(__name__)

PLATFORM = "line"
MAX_ATTEMPTS = 5  # passes that try to download a photo or file before giving up
MAX_HANDLING_ATTEMPTS = 3  # passes that try any other failing event before quarantining it
ERROR_CHARS = 200
UNLINKED_BACKLOG = 5  # waiting events of an account not linked to a member that are answered
UNLINKED_FLOOD_NOTE = "not answered: too many waiting events from an account not linked"
MAX_CONTENT_BYTES = 20 * 1024 * 1024
BATCH = 100
SCAN = 5  # a pass looks at up to SCAN × its limit of pending rows to serve senders in turn
MAX_SCANS = 20  # windows a pass may set an unlinked account's flood aside in
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
    """Handle pending LINE inbox rows, round-robin over their senders; the number handled.

    Call it from the scheduler loop with the current instant; `ids` narrows it to the rows
    one webhook request just stored; `step_aside` is awaited before each event (the
    webhook's acknowledgements go first). Each event is handled on its own: one that fails
    is counted on its row and retried by later passes (then quarantined), and never stops
    the other events of the pass. Only reading the pending rows can make the pass raise.

    Fairness: of the oldest `SCAN × limit` pending rows, the pass takes every sender's oldest
    event first, then every sender's second, and so on (at most `limit`), and handles them in
    that order, so one account's burst never queues ahead of a member's message. Of an
    account not linked to a member, only the newest UNLINKED_BACKLOG of the events waiting
    there are answered; older ones are set "ignored" with a note (each answer would be a
    reply, or a paid push once late). The sender is read in Python, not with the database's
    JSON functions: PostgreSQL's refuse a body with a \\u0000, which a member can send.
    """
    stmt = (
        select(InboxEvent.id, InboxEvent.body, InboxEvent.received_at)
        .where(InboxEvent.platform == PLATFORM, InboxEvent.status == "pending")
        .order_by(InboxEvent.id)
        .limit(limit * SCAN)
    )
    if ids is not None:
        stmt = stmt.where(InboxEvent.id.in_(ids))
    dropped: set[int] = set()
    for _ in range(MAX_SCANS):  # a flood bigger than the window: set it aside, look again
        async with db.transaction() as session:
            scanned: list[Any] = list((await session.execute(stmt)).all())
            flood = await _unlinked_flood(session, scanned)
            await _ignore_flood(session, flood, now)
        dropped |= flood
        if not flood or len(scanned) < limit * SCAN:
            break
    rows = _round_robin([r for r in scanned if r[0] not in dropped], limit)
    # One sender's events in order; different senders side by side where the database
    # takes concurrent writers (PostgreSQL). SQLite has one writer: one at a time.
    by_user: dict[str, list[tuple[int, Any, datetime]]] = {}
    for row_id, body, received_at in sorted(rows, key=lambda r: int(r[0])):
        by_user.setdefault(_user_of(body), []).append((row_id, body, received_at))
    slots = asyncio.Semaphore(PARALLEL_USERS if db.dialect == "postgresql" else 1)
    held: set[str] = set()

    async def one(user: str, rid: int, body: Any, received_at: datetime) -> bool:
        async with slots:
            if step_aside is not None:
                await step_aside()
            outcome = await _process(db, rid, body, received_at, now, content)
        if outcome is Outcome.HOLD:
            # This sender's later events wait for the next pass, behind this one: a
            # member's events are handled in the order they were sent.
            held.add(user)
        return outcome is Outcome.HANDLED

    handled = 0
    for turn in range(max((len(q) for q in by_user.values()), default=0)):
        round_ = [(u, *q[turn]) for u, q in by_user.items() if turn < len(q) and u not in held]
        handled += sum(await asyncio.gather(*(one(*event) for event in round_)))
    return handled


async def _linked(session: AsyncSession, users: set[str]) -> set[str]:
    """Those of `users` whose LINE account is linked to a member."""
    stmt = select(Identity.platform_user_id).where(
        Identity.platform == PLATFORM,
        Identity.platform_user_id.in_(sorted(users)),
        Identity.member_id.is_not(None),
    )
    return set((await session.scalars(stmt)).all())


async def _unlinked_flood(session: AsyncSession, scanned: list[Any]) -> set[int]:
    """The rows to leave unanswered: all but the newest UNLINKED_BACKLOG of each unlinked
    sender that has more waiting among `scanned` (rows of id, body, …, oldest first)."""
    waiting: dict[str, list[int]] = {}
    for row in scanned:
        waiting.setdefault(_user_of(row[1]), []).append(int(row[0]))
    flooding = {u for u, rids in waiting.items() if u and len(rids) > UNLINKED_BACKLOG}
    if not flooding:
        return set()
    unlinked = flooding - await _linked(session, flooding)
    return {rid for u in unlinked for rid in waiting[u][:-UNLINKED_BACKLOG]}


async def _ignore_flood(session: AsyncSession, ids: set[int], now: datetime) -> None:
    """Set these pending rows (an unlinked account's older waiting events) "ignored"."""
    if not ids:
        return
    await session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(sorted(ids)), InboxEvent.status == "pending")
        .values(status="ignored", processed_at=now, error=UNLINKED_FLOOD_NOTE)
        .execution_options(synchronize_session=False)
    )
    REGISTRY.inc("nippo_inbox_flood_ignored_total", len(ids), platform=PLATFORM)
    log.warning(
        "LINE: an unlinked account's older waiting events ignored", extra={"events": len(ids)}
    )


def _round_robin(rows: list[Any], limit: int) -> list[Any]:
    """At most `limit` rows: each sender's first, then each sender's second, …"""
    queues: dict[str, list[Any]] = {}
    for row in rows:
        queues.setdefault(_user_of(row[1]), []).append(row)
    picked: list[Any] = []
    for turn in range(max((len(q) for q in queues.values()), default=0)):
        picked += [q[turn] for q in queues.values() if turn < len(q)]
        if len(picked) >= limit:
            break
    return picked[:limit]


class Outcome(Enum):
    HANDLED = "handled"
    SKIPPED = "skipped"  # another processor had it, or has handled it
    HOLD = "hold"  # handling failed; the sender's later events wait behind it
    LATER = "later"  # failed, nothing waits behind it: malformed (it never will be handled),
    # or its photo could not be downloaded (it is filed on its own, whenever LINE gives it)


def _user_of(body: Any) -> str:
    source = body.get("source") if isinstance(body, dict) else None
    return str(source.get("userId", "")) if isinstance(source, dict) else ""


def describe(exc: BaseException) -> str:
    """What an inbox row keeps of a failure: the exception's type and the first line of its
    message, shortened. A database error is described by the driver's error, whose first line
    has no statement and no parameters; the event's body is never part of it."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    first = next(iter(str(exc).splitlines()), "")
    return f"{type(exc).__name__}: {first}"[:ERROR_CHARS]


async def _process(
    db: Database,
    row_id: int,
    body: Any,
    received_at: datetime,
    now: datetime,
    content: ContentSource | None,
) -> Outcome:
    inbound: LineInbound | None = None
    downloading = False
    try:
        if not isinstance(body, dict):
            raise MalformedEvent("the event is not an object")
        inbound = to_inbound(body, received_at)
        downloading = True
        evidence, problem = await _download(db, inbound, content)
        downloading = False
        async with db.transaction() as session:
            if db.dialect == "postgresql":
                # One member's events one at a time, in order, across replicas.
                user = inbound.msg.sender.user_id if inbound else ""
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"line:{user}"}
                )
            row = await _locked_pending(session, db, row_id)
            if row is None:  # another processor got there first
                return Outcome.SKIPPED
            await _dispatch(session, inbound, evidence, problem, now)
            row.status = "done" if inbound is not None else "ignored"
            row.processed_at, row.attempts = now, row.attempts + 1
            if inbound is not None and inbound.note is not None:
                row.error = inbound.note  # the row says why the report time is its receipt
        if inbound is not None and inbound.note is not None:
            REGISTRY.inc("nippo_inbox_timestamps_replaced_total", platform=PLATFORM)
            log.warning(
                "LINE event timestamp not believed; the receipt time is used",
                extra={"inbox_id": row_id, "event_id": inbound.msg.event_id},
            )
        return Outcome.HANDLED
    except Exception as exc:  # this event only; the next pass retries it
        await _failed(db, row_id, exc, inbound, now, downloading)
        return Outcome.LATER if downloading or isinstance(exc, MalformedEvent) else Outcome.HOLD


async def _locked_pending(session: AsyncSession, db: Database, row_id: int) -> InboxEvent | None:
    """The row, locked, if it is still pending and no other processor holds it."""
    locked = select(InboxEvent).where(InboxEvent.id == row_id, InboxEvent.status == "pending")
    if db.dialect == "postgresql":
        locked = locked.with_for_update(skip_locked=True)
    return (await session.execute(locked)).scalar_one_or_none()


async def _failed(
    db: Database,
    row_id: int,
    exc: Exception,
    inbound: LineInbound | None,
    now: datetime,
    downloading: bool,
) -> None:
    """Count the failure on the row; quarantine it (status "failed") after its last try. A
    download that keeps failing gets MAX_ATTEMPTS passes (LINE may be down for a while); any
    other failure MAX_HANDLING_ATTEMPTS (it is most likely the event itself)."""
    error = describe(exc)
    limit = MAX_ATTEMPTS if downloading else MAX_HANDLING_ATTEMPTS
    log.warning(
        "LINE inbox event failed",
        extra={"inbox_id": row_id, "error_type": type(exc).__name__},
    )
    log.debug("LINE inbox event failed", exc_info=exc, extra={"inbox_id": row_id})
    try:
        async with db.transaction() as session:
            row = await _locked_pending(session, db, row_id)
            if row is None:
                return
            row.attempts += 1
            row.error = error
            if row.attempts < limit:
                return
            row.status, row.processed_at = "failed", now
            if inbound is not None and inbound.kind is Kind.EVIDENCE:
                # Giving up: the member hears the photo was not kept (if that can be said).
                try:
                    async with session.begin_nested():
                        await intake.save_evidence(session, inbound.msg, None, now)
                except Exception as told:
                    log.warning(
                        "LINE inbox: could not tell the member a photo was lost",
                        extra={"inbox_id": row_id, "error_type": type(told).__name__},
                    )
        REGISTRY.inc("nippo_inbox_quarantined_total", platform=PLATFORM)
        log.warning(
            "LINE inbox event quarantined",
            extra={"inbox_id": row_id, "attempts": limit, "error_type": type(exc).__name__},
        )
    except Exception as lost:  # the database itself failed: nothing counted, retried later
        log.warning(
            "LINE inbox: could not record a failure",
            extra={"inbox_id": row_id, "error_type": type(lost).__name__},
        )


async def _download(
    db: Database, inbound: LineInbound | None, content: ContentSource | None
) -> tuple[Evidence | None, str]:
    """Fetch a member's photo or file now; strangers' content is never downloaded, nor a
    member's whose consent does not cover keeping evidence (intake answers both)."""
    if inbound is None or inbound.kind is not Kind.EVIDENCE or not inbound.message_id:
        return None, texts.PHOTO_FAILED
    async with db.transaction() as session:
        if not await intake.wants_evidence(session, inbound.msg):
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
            await checkin.greet(session, msg, now)
        case Kind.UNFOLLOW:
            await checkin.deactivate(session, msg.sender.platform.value, msg.sender.user_id)
        case Kind.TEXT:
            await checkin.handle_message(session, msg, now)
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
