"""Use case: the one inbox path for every platform (stored raw event → handled once).

A front door only stores raw events and acknowledges them (LINE's webhook, Slack's bolt
middleware); `process_pending` does the work afterwards, right after the acknowledgement (a
background pass) and from the scheduler's loop, which retries whatever a dead process left
pending. The platform's plug-in (bot/services/platforms.py) says how its raw events read;
`dispatch` is the one place an event's kind becomes a use case. The console and the tests go
through `receive`: the same store and the same dispatch, in the caller's transaction.

A pass claims a batch of pending rows (each sender's oldest first, oldest senders first: an
event's reply token is as old as its row) and handles them in transactions of up to
TXN_EVENTS events that first re-check and lock their rows (`FOR UPDATE SKIP LOCKED` and a
per-sender advisory lock on PostgreSQL, where batches run side by side), so two processors
never handle one event twice and one sender's events go one at a time, in order; a batch in
which an event raises runs again with each event in a savepoint, so one member's failure
never fails the others (`_handle_ready`). Without savepoints a sender's last event in the
batch is not flushed on its own and the batch's replies are written in one INSERT at its end
(`_one_transaction`): a batch's writes take a few statements, not a few an event. Photos
and files are downloaded before that transaction (platforms delete user content after a
while, and no lock is held during the download). `drain` runs passes back to back until
nothing is left that they can take (the after-ack worker, and the scheduler's recovery as a
safety net).

An event whose handling raises is counted on its row (attempts, a short error without the
body) and retried by later passes; after its last try it is quarantined (status "failed") and
never tried again (`nippo inbox failed|retry`, bot/cli/inbox.py). A pass never raises for one
event, so neither the after-ack pass nor the scheduler's tick depends on every event being
readable (issue #23). Senders are served round-robin; see `process_pending`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import texts
from bot.core.domain import InboundMessage
from bot.core.inbound import Inbound, Kind, MalformedEvent, Unanswerable, of_message
from bot.services import checkin, intake
from bot.services.intake import Evidence
from bot.services.metrics import REGISTRY
from bot.services.platforms import ContentGone, PlatformPlugin
from storage import repo
from storage.db import Database
from storage.models import Identity, InboxEvent

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # passes that try to download a photo or file before giving up
MAX_HANDLING_ATTEMPTS = 3  # passes that try any other failing event before quarantining it
ERROR_CHARS = 200
UNLINKED_BACKLOG = 5  # waiting events of an account not linked to a member that are answered
UNLINKED_FLOOD_NOTE = "not answered: too many waiting events from an account not linked"
MAX_CONTENT_BYTES = 20 * 1024 * 1024
BATCH = 100
# A pass's events are handled in transactions of up to TXN_EVENTS events, each event in a
# savepoint: one commit for many events, while a transaction holding SQLite's one write lock
# stays short enough not to keep the webhooks' acknowledgements waiting behind it.
TXN_EVENTS = 10
SCAN = 5  # a pass looks at up to SCAN × its limit of pending rows to serve senders in turn
MAX_SCANS = 20  # windows a pass may set an unlinked account's flood aside in
PARALLEL_BATCHES = 4  # PostgreSQL: one connection each, well below the pool (10 + 10)


@dataclass
class SetAside:
    """What the passes of one drain leave for later: senders whose event failed (their later
    events wait behind it, in order) and rows that failed, were held or another processor
    has. The next drain (a new webhook, the scheduler's recovery) tries them again, so a
    failing event is retried once per drain, never in a tight loop."""

    users: set[str] = field(default_factory=set)
    ids: set[int] = field(default_factory=set)


class InboxPass(Protocol):
    """A pass over one platform's pending inbox rows (only `ids`, when given); the number of
    events handled. Rows it leaves for later go into `aside`, which later passes skip."""

    async def __call__(
        self, now: datetime, ids: list[int] | None = None, *, aside: SetAside | None = None
    ) -> int: ...


async def drain(
    run_pass: Callable[[SetAside], Awaitable[int]], *, passes: int | None = None
) -> int:
    """Run passes back to back while they make progress (events handled, or rows newly set
    aside), whoever stored the rows: this process, a dead one or another replica; at most
    `passes` of them when given. The number of events handled."""
    aside, handled, turn = SetAside(), 0, 0
    while passes is None or turn < passes:
        turn += 1
        before = len(aside.ids)
        done = await run_pass(aside)
        handled += done
        if done == 0 and len(aside.ids) == before:
            break
    return handled


Queued = tuple[int, Any, datetime]  # a pending row: id, raw body, received at


# --- the one dispatch ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """What came of downloading an EVIDENCE event's content, before its transaction."""

    evidence: Evidence | None = None
    problem: str = texts.EVIDENCE_FAILED  # what the member hears when there is none


async def dispatch(
    session: AsyncSession, event: Inbound, now: datetime, fetched: Fetched = Fetched()
) -> None:
    """Handle one neutral event inside the caller's transaction: its kind picks the use case."""
    msg = event.msg
    match event.kind:
        case Kind.FOLLOW:
            await checkin.greet(session, msg, now)
        case Kind.UNFOLLOW:
            await checkin.deactivate(session, msg.sender.platform.value, msg.sender.user_id)
        case Kind.TEXT:
            await checkin.handle_message(session, msg, now)
        case Kind.CHOICE:
            await intake.choose(session, msg, event.button_day, now)
        case Kind.STALE:
            await intake.stale_button(session, msg, now)
        case Kind.STICKER:
            await intake.sticker(session, msg, event.keywords, now)
        case Kind.EVIDENCE:
            await intake.save_evidence(session, msg, fetched.evidence, now, problem=fetched.problem)
        case Kind.UNSUPPORTED:
            await intake.unsupported(session, msg, now)


async def receive(
    session: AsyncSession, msg: InboundMessage, now: datetime, body: dict[str, Any] | None = None
) -> bool:
    """Store and handle one message built without a platform (console, demo, tests) in the
    caller's transaction; False when it was seen before."""
    inbox_id = await repo.add_inbox(
        session, msg.sender.platform.value, msg.event_id, body or _body(msg), now
    )
    if inbox_id is None:
        log.info("duplicate inbound event ignored", extra={"event_id": msg.event_id})
        return False
    await dispatch(session, of_message(msg), now)
    row = await session.get_one(InboxEvent, inbox_id)
    row.status, row.processed_at, row.attempts = "done", now, row.attempts + 1
    return True


def _body(msg: InboundMessage) -> dict[str, Any]:
    """The raw form of a message that came without a platform body (console, tests)."""
    return {
        "platform": msg.sender.platform.value,
        "user_id": msg.sender.user_id,
        "sent_at": msg.sent_at.isoformat(),
        "text": msg.text,
        "choice": msg.choice,
    }


# --- passes over stored events -------------------------------------------------------------


async def process_pending(
    db: Database,
    now: datetime,
    platform: PlatformPlugin,
    *,
    ids: list[int] | None = None,
    limit: int = BATCH,
    step_aside: Callable[[], Awaitable[None]] | None = None,
    aside: SetAside | None = None,
    committed: Callable[[], None] | None = None,
) -> int:
    """Handle one platform's pending inbox rows, round-robin over their senders; the number
    handled.

    Call it from the scheduler loop with the current instant; `ids` narrows it to the rows
    one request just stored; `step_aside` is awaited before each batch's transaction (the
    webhooks' acknowledgements go first); `committed` is called after each batch that handled
    an event has committed (its replies can go out while the pass goes on). Each event is
    handled on its own: one that fails is counted on its row and retried by later passes
    (then quarantined), and never stops the other events of the pass. Only reading the
    pending rows can make the pass raise. Rows and senders in `aside` are skipped; what this
    pass leaves for later is added to it (`drain`).

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
        .where(InboxEvent.platform == platform.name, InboxEvent.status == "pending")
        .order_by(InboxEvent.id)
        .limit(limit * SCAN)
    )
    if ids is not None:
        stmt = stmt.where(InboxEvent.id.in_(ids))
    aside = aside if aside is not None else SetAside()
    if aside.ids:
        stmt = stmt.where(InboxEvent.id.not_in(sorted(aside.ids)))
    dropped: set[int] = set()
    for _ in range(MAX_SCANS):  # a flood bigger than the window: set it aside, look again
        async with db.transaction() as session:
            scanned: list[Any] = list((await session.execute(stmt)).all())
            flood = await _unlinked_flood(session, platform, scanned)
            await _ignore_flood(session, platform, flood, now)
        dropped |= flood
        if not flood or len(scanned) < limit * SCAN:
            break
    waiting = [r for r in scanned if r[0] not in dropped]
    aside.ids.update(int(r[0]) for r in waiting if platform.user_of(r[1]) in aside.users)
    rows = _round_robin(platform, [r for r in waiting if r[0] not in aside.ids], limit)
    # One sender's events in order; different senders side by side where the database
    # takes concurrent writers (PostgreSQL). SQLite has one writer: one at a time.
    by_user: dict[str, list[tuple[int, Any, datetime]]] = {}
    for row_id, body, received_at in sorted(rows, key=lambda r: int(r[0])):
        by_user.setdefault(platform.user_of(body), []).append((row_id, body, received_at))
    slots = asyncio.Semaphore(PARALLEL_BATCHES if db.dialect == "postgresql" else 1)

    async def run(batch: list[list[Queued]]) -> int:
        async with slots:
            if step_aside is not None:
                await step_aside()
            handled = await _run_batch(db, platform, batch, now, aside)
        if handled and committed is not None:
            committed()
        return handled

    batches = _batches(list(by_user.values()), TXN_EVENTS)
    return sum(await asyncio.gather(*(run(batch) for batch in batches)))


def _batches(queues: list[list[Queued]], size: int) -> list[list[list[Queued]]]:
    """Senders' queues (oldest first) packed into batches of about `size` events; a sender's
    events all in one batch, so their order holds without a lock between batches."""
    batches: list[list[list[Queued]]] = []
    count = size
    for queue in queues:
        if count >= size:
            batches.append([])
            count = 0
        batches[-1].append(queue)
        count += len(queue)
    return batches


async def _linked(session: AsyncSession, platform: str, users: set[str]) -> set[str]:
    """Those of `users` whose account on `platform` is linked to a member."""
    stmt = select(Identity.platform_user_id).where(
        Identity.platform == platform,
        Identity.platform_user_id.in_(sorted(users)),
        Identity.member_id.is_not(None),
    )
    return set((await session.scalars(stmt)).all())


async def _unlinked_flood(
    session: AsyncSession, platform: PlatformPlugin, scanned: list[Any]
) -> set[int]:
    """The rows to leave unanswered: all but the newest UNLINKED_BACKLOG of each unlinked
    sender that has more waiting among `scanned` (rows of id, body, …, oldest first)."""
    waiting: dict[str, list[int]] = {}
    for row in scanned:
        waiting.setdefault(platform.user_of(row[1]), []).append(int(row[0]))
    flooding = {u for u, rids in waiting.items() if u and len(rids) > UNLINKED_BACKLOG}
    if not flooding:
        return set()
    unlinked = flooding - await _linked(session, platform.name, flooding)
    return {rid for u in unlinked for rid in waiting[u][:-UNLINKED_BACKLOG]}


async def _ignore_flood(
    session: AsyncSession, platform: PlatformPlugin, ids: set[int], now: datetime
) -> None:
    """Set these pending rows (an unlinked account's older waiting events) "ignored"."""
    if not ids:
        return
    await session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(sorted(ids)), InboxEvent.status == "pending")
        .values(status="ignored", processed_at=now, error=UNLINKED_FLOOD_NOTE)
        .execution_options(synchronize_session=False)
    )
    REGISTRY.inc("nippo_inbox_flood_ignored_total", len(ids), platform=platform.name)
    log.warning(
        "%s: an unlinked account's older waiting events ignored",
        platform.label,
        extra={"events": len(ids), "platform": platform.name},
    )


def _round_robin(platform: PlatformPlugin, rows: list[Any], limit: int) -> list[Any]:
    """At most `limit` rows: each sender's first, then each sender's second, …"""
    queues: dict[str, list[Any]] = {}
    for row in rows:
        queues.setdefault(platform.user_of(row[1]), []).append(row)
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
    LATER = "later"  # failed, nothing waits behind it: unreadable (it never will be handled),
    # or its content could not be downloaded (it is filed on its own, whenever it comes)


def describe(exc: BaseException) -> str:
    """What an inbox row keeps of a failure: the exception's type and the first line of its
    message, shortened. A database error is described by the driver's error, whose first line
    has no statement and no parameters; the event's body is never part of it."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    first = next(iter(str(exc).splitlines()), "")
    return f"{type(exc).__name__}: {first}"[:ERROR_CHARS]


def _outcome(exc: Exception, downloading: bool) -> Outcome:
    unreadable = isinstance(exc, MalformedEvent | Unanswerable)
    return Outcome.LATER if downloading or unreadable else Outcome.HOLD


@dataclass(frozen=True)
class _Ready:
    """An event read, and its content downloaded, before its batch's transaction."""

    row_id: int
    event: Inbound | None  # None: nothing to handle (the row is set "ignored")
    fetched: Fetched


async def _run_batch(
    db: Database,
    platform: PlatformPlugin,
    batch: list[list[Queued]],
    now: datetime,
    aside: SetAside,
) -> int:
    """Read the batch's events, handle them in one transaction, note what is left for
    later in `aside`; the number handled."""
    ready: dict[str, list[_Ready]] = {}
    for queue in batch:
        user = platform.user_of(queue[0][1])
        mine = ready.setdefault(user, [])
        for row_id, body, received_at in queue:
            got = await _read(db, platform, row_id, body, received_at, now)
            if isinstance(got, _Ready):
                mine.append(got)
                continue
            aside.ids.add(row_id)
            if got is Outcome.HOLD:  # the sender's later events wait behind it, in order
                aside.users.add(user)
                break
    outcomes = await _handle_ready(db, platform, ready, now)
    handled = 0
    for user, events in ready.items():
        for r in events:
            outcome = outcomes.get(r.row_id)  # None: not tried (behind a failure, or locked)
            if outcome is Outcome.HANDLED:
                handled += 1
                continue
            aside.ids.add(r.row_id)
            if outcome is Outcome.HOLD:
                aside.users.add(user)
    return handled


async def _read(
    db: Database,
    platform: PlatformPlugin,
    row_id: int,
    body: Any,
    received_at: datetime,
    now: datetime,
) -> _Ready | Outcome:
    """The stored event as a neutral one, its content downloaded (no lock is held); a
    failure is counted on its row here."""
    event: Inbound | None = None
    downloading = False
    try:
        if not isinstance(body, dict):
            raise MalformedEvent("the event is not an object")
        event = platform.normalise(body, received_at)
        downloading = True
        return _Ready(row_id, event, await _download(db, platform, event))
    except Exception as exc:  # this event only; the next drain retries it
        await _failed(db, platform, row_id, exc, event, now, downloading)
        return _outcome(exc, downloading)


async def _handle_ready(
    db: Database, platform: PlatformPlugin, ready: dict[str, list[_Ready]], now: datetime
) -> dict[int, Outcome]:
    """Handle a batch in one transaction; when the transaction itself fails (the database
    went away, a commit refused), its events one at a time, each in its own.

    The batch goes first without a savepoint per event (two statements an event fewer).
    Should one event raise, that transaction is rolled back and the batch runs again with
    each event in its own savepoint; the event that raised is not handled again there, its
    failure is counted on its row (once per drain, as any failure). The handling writes only
    to the database (replies are outbox rows), so the first try leaves nothing behind."""
    try:
        try:
            return await _one_transaction(db, platform, ready, now)
        except _Unguarded as failure:
            return await _one_transaction(db, platform, ready, now, failed=failure)
    except Exception as exc:
        events = [(user, r) for user, rs in ready.items() for r in rs]
        if not events:
            return {}
        if len(events) == 1:
            await _failed(db, platform, events[0][1].row_id, exc, events[0][1].event, now, False)
            return {events[0][1].row_id: _outcome(exc, False)}
        log.warning(
            "%s inbox batch failed; its events are handled one at a time",
            platform.label,
            extra={"events": len(events), "error_type": type(exc).__name__},
        )
    outcomes: dict[int, Outcome] = {}
    for user, rs in ready.items():
        for r in rs:
            got = (await _handle_ready(db, platform, {user: [r]}, now)).get(r.row_id)
            if got is None:
                break
            outcomes[r.row_id] = got
            if got is not Outcome.HANDLED:
                break
    return outcomes


class _Unguarded(Exception):
    """An event raised in a batch run without savepoints: run the batch again with them. The
    event that raised is `row_id`; None when it may be an earlier one whose writes had not
    been flushed yet (each then runs again in its savepoint, where its own writes fail)."""

    def __init__(self, row_id: int | None, error: Exception) -> None:
        super().__init__(row_id)
        self.row_id, self.error = row_id, error


async def _one_transaction(
    db: Database,
    platform: PlatformPlugin,
    ready: dict[str, list[_Ready]],
    now: datetime,
    failed: _Unguarded | None = None,
) -> dict[int, Outcome]:
    """The batch's events in one transaction that first re-checks and locks its rows.
    Without `failed`, no savepoints: an event that raises raises `_Unguarded`, rolling it
    all back. With it (the run before failed there), each event in a savepoint, so one
    member's failure is counted on its row and never fails the others."""
    guarded = failed is not None
    outcomes: dict[int, Outcome] = {}
    noted: list[_Ready] = []
    quarantined: list[tuple[int, Exception, int]] = []
    done: list[int] = []  # handled rows marked in one statement at the end (`_mark_done`)
    async with db.transaction(on_loop=True) as session:
        users = await _lock_users(session, db, platform, list(ready))
        ids = [r.row_id for u in users for r in ready[u]]  # only the senders locked here
        pending = select(InboxEvent.id).where(
            InboxEvent.id.in_(ids), InboxEvent.status == "pending"
        )
        if db.dialect == "postgresql":
            pending = pending.with_for_update(skip_locked=True)
        mine = set((await session.scalars(pending)).all())
        loaded = await checkin.preload(session, platform.name, _firsts(users, ready, mine))
        if not guarded:
            repo.collect_later(session)  # the batch's replies: one INSERT at its end
        unflushed = False  # an earlier event's writes wait for the next flush
        for user in users:
            last = max((r.row_id for r in ready[user] if r.row_id in mine), default=None)
            for r in ready[user]:
                if r.row_id not in mine:  # another processor has handled it, or holds it
                    outcomes[r.row_id] = Outcome.SKIPPED
                    if await _still_pending(session, r.row_id):
                        break  # held elsewhere (a failure being counted): order first
                    continue
                # The batch's reads serve the sender's first event only: later ones read
                # afresh what it wrote.
                checkin.use(session, loaded.pop(user, None))
                # Unguarded, a sender's last event here is not flushed on its own: the next
                # statement or the batch's end writes its rows with the others'. A database
                # error in a later event may then be its writes': that one is not blamed.
                alone = guarded or r.row_id != last
                try:
                    if failed is not None and failed.row_id == r.row_id:
                        raise failed.error  # not tried twice in one drain
                    if guarded:
                        async with session.begin_nested():
                            marked = await _apply(session, platform, r, now)
                    else:
                        marked = await _apply(session, platform, r, now)
                        if alone:
                            await session.flush()  # its writes' failures are its own
                    if not marked:
                        done.append(r.row_id)
                    outcomes[r.row_id] = Outcome.HANDLED
                    if r.event is not None and r.event.note is not None:
                        noted.append(r)
                except Exception as exc:  # this event only; the next drain retries it
                    if not guarded:  # a database error may be an earlier event's writes
                        blame = unflushed and isinstance(exc, SQLAlchemyError)
                        raise _Unguarded(None if blame else r.row_id, exc) from exc
                    loaded.clear()  # after a rollback, read afresh
                    checkin.use(session, None)
                    limit = await _count_failure(
                        session, db, platform, r.row_id, exc, r.event, now, False
                    )
                    if limit is not None:
                        quarantined.append((r.row_id, exc, limit))
                    outcomes[r.row_id] = _outcome(exc, False)
                finally:
                    # Each event reads afresh what the one before it wrote: statements that
                    # bypass the identity map (bulk updates) leave no stale object behind.
                    checkin.use(session, None)
                    if r.row_id in outcomes and alone:  # else unguarded: rolled back, or
                        await session.flush()  # the sender's last event here (see above)
                        session.expunge_all()
                    unflushed = not alone
                if outcomes[r.row_id] is not Outcome.HANDLED:
                    break
        try:
            await repo.write_later(session)
            await _mark_done(session, done, now)
        except Exception as exc:
            if guarded:
                raise
            raise _Unguarded(None, exc) from exc
    for row_id, error, limit in quarantined:
        _quarantined(platform, row_id, error, limit)
    for r in noted:
        assert r.event is not None
        REGISTRY.inc("nippo_inbox_timestamps_replaced_total", platform=platform.name)
        log.warning(
            "%s event timestamp not believed; the receipt time is used",
            platform.label,
            extra={"inbox_id": r.row_id, "event_id": r.event.msg.event_id},
        )
    return outcomes


PRELOADED = (Kind.TEXT, Kind.CHOICE)  # check-in events: what `checkin.preload` reads for


def _firsts(
    users: list[str], ready: dict[str, list[_Ready]], mine: set[int]
) -> list[InboundMessage]:
    """Each sender's first event to handle here, when it is a check-in message."""
    out = []
    for user in users:
        first = next((r for r in ready[user] if r.row_id in mine), None)
        if first is not None and first.event is not None and first.event.kind in PRELOADED:
            out.append(first.event.msg)
    return out


async def _still_pending(session: AsyncSession, row_id: int) -> bool:
    status = select(InboxEvent.status).where(InboxEvent.id == row_id)
    return await session.scalar(status) == "pending"


async def _lock_users(
    session: AsyncSession, db: Database, platform: PlatformPlugin, users: list[str]
) -> list[str]:
    """The senders whose events this transaction may handle. On PostgreSQL a per-sender
    advisory lock keeps one member's events one at a time, in order, across replicas; a
    sender another processor is handling right now is left for a later pass (no waiting)."""
    if db.dialect != "postgresql" or not users:
        return users
    keys = {f"{platform.name}:{u}": u for u in users}
    got = await session.scalars(
        text(
            "SELECT k FROM unnest(CAST(:keys AS text[])) AS k"
            " WHERE pg_try_advisory_xact_lock(hashtext(k))"
        ),
        {"keys": sorted(keys)},
    )
    locked = {keys[k] for k in got.all()}
    return [u for u in users if u in locked]


async def _apply(session: AsyncSession, platform: PlatformPlugin, r: _Ready, now: datetime) -> bool:
    """Handle one event inside the caller's savepoint; whether its row was marked here. A
    plain handled event is marked with its batch's others (`_mark_done`, one statement in
    the same transaction), which commits or fails with them."""
    if r.event is not None:
        await _handle(session, platform, r.event, r.fetched, now)
        if r.event.note is None:
            return False
    values: dict[str, Any] = {
        "status": "done" if r.event is not None else "ignored",
        "processed_at": now,
        "attempts": InboxEvent.attempts + 1,
    }
    if r.event is not None and r.event.note is not None:
        values["error"] = r.event.note  # the row says why the report time is its receipt
    await session.execute(
        update(InboxEvent)
        .where(InboxEvent.id == r.row_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return True


async def _mark_done(session: AsyncSession, row_ids: list[int], now: datetime) -> None:
    if not row_ids:
        return
    await session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(row_ids))
        .values(status="done", processed_at=now, attempts=InboxEvent.attempts + 1)
        .execution_options(synchronize_session=False)
    )


async def _handle(
    session: AsyncSession,
    platform: PlatformPlugin,
    event: Inbound,
    fetched: Fetched,
    now: datetime,
) -> None:
    """Staff writing to the bot are pointed to their own commands; anyone else is dispatched."""
    if event.kind is not Kind.UNFOLLOW:
        pointer = await platform.staff_reply(session, event.msg)
        if pointer is not None:
            await checkin.answer(session, event.msg, [pointer], now)
            return
    await dispatch(session, event, now, fetched)


async def _locked_pending(session: AsyncSession, db: Database, row_id: int) -> InboxEvent | None:
    """The row, locked, if it is still pending and no other processor holds it."""
    locked = (
        select(InboxEvent)
        .where(InboxEvent.id == row_id, InboxEvent.status == "pending")
        .execution_options(populate_existing=True)  # after a savepoint, read it afresh
    )
    if db.dialect == "postgresql":
        locked = locked.with_for_update(skip_locked=True)
    return (await session.execute(locked)).scalar_one_or_none()


async def _failed(
    db: Database,
    platform: PlatformPlugin,
    row_id: int,
    exc: Exception,
    event: Inbound | None,
    now: datetime,
    downloading: bool,
) -> None:
    """Count a failure met outside a batch's transaction (reading, downloading, or the
    transaction itself failing) in a transaction of its own."""
    try:
        async with db.transaction() as session:
            limit = await _count_failure(
                session, db, platform, row_id, exc, event, now, downloading
            )
        if limit is not None:
            _quarantined(platform, row_id, exc, limit)
    except Exception as lost:  # the database itself failed: nothing counted, retried later
        log.warning(
            "%s inbox: could not record a failure",
            platform.label,
            extra={
                "inbox_id": row_id,
                "platform": platform.name,
                "error_type": type(lost).__name__,
            },
        )


async def _count_failure(
    session: AsyncSession,
    db: Database,
    platform: PlatformPlugin,
    row_id: int,
    exc: Exception,
    event: Inbound | None,
    now: datetime,
    downloading: bool,
) -> int | None:
    """Count the failure on the row; quarantine it (status "failed") after its last try,
    then the number of tries it had (else None). A download that keeps failing gets
    MAX_ATTEMPTS passes (the platform may be down for a while); an Unanswerable event one;
    any other failure MAX_HANDLING_ATTEMPTS (it is most likely the event itself)."""
    error = describe(exc)
    if downloading:
        limit = MAX_ATTEMPTS
    else:
        limit = 1 if isinstance(exc, Unanswerable) else MAX_HANDLING_ATTEMPTS
    extra = {"inbox_id": row_id, "platform": platform.name}
    log.warning(
        "%s inbox event failed", platform.label, extra={**extra, "error_type": type(exc).__name__}
    )
    log.debug("%s inbox event failed", platform.label, exc_info=exc, extra=extra)
    row = await _locked_pending(session, db, row_id)
    if row is None:
        return None
    row.attempts += 1
    row.error = error
    if row.attempts < limit:
        return None
    row.status, row.processed_at = "failed", now
    if event is not None and event.kind is Kind.EVIDENCE:
        # Giving up: the member hears the photo was not kept (if that can be said).
        try:
            async with session.begin_nested():
                await intake.save_evidence(session, event.msg, None, now)
        except Exception as told:
            log.warning(
                "%s inbox: could not tell the member a photo was lost",
                platform.label,
                extra={**extra, "error_type": type(told).__name__},
            )
    return limit


def _quarantined(platform: PlatformPlugin, row_id: int, exc: Exception, attempts: int) -> None:
    REGISTRY.inc("nippo_inbox_quarantined_total", platform=platform.name)
    log.warning(
        "%s inbox event quarantined",
        platform.label,
        extra={
            "inbox_id": row_id,
            "platform": platform.name,
            "attempts": attempts,
            "error_type": type(exc).__name__,
        },
    )


async def _download(db: Database, platform: PlatformPlugin, event: Inbound | None) -> Fetched:
    """Fetch a member's photo or file now; strangers' content is never downloaded, nor a
    member's whose consent does not cover keeping evidence (intake answers both)."""
    ref = event.evidence if event is not None and event.kind is Kind.EVIDENCE else None
    if event is None or ref is None or not ref.message_id:
        return Fetched()
    async with db.transaction() as session:
        if not await intake.wants_evidence(session, event.msg):
            return Fetched()
    if ref.file_size is not None and ref.file_size > MAX_CONTENT_BYTES:
        return Fetched(problem=texts.EVIDENCE_TOO_LARGE)
    if platform.content is None or ref.external:
        return Fetched()
    try:
        data, media_type = await platform.content.fetch(ref.message_id, event.msg.sender.user_id)
    except ContentGone:
        log.warning(
            "%s content unavailable", platform.label, extra={"event_id": event.msg.event_id}
        )
        return Fetched()
    if len(data) > MAX_CONTENT_BYTES:
        return Fetched(problem=texts.EVIDENCE_TOO_LARGE)
    return Fetched(Evidence(ref.message_id, media_type, data, ref.filename))


# --- after the acknowledgement -------------------------------------------------------------

SHUTDOWN_GRACE_S = 10.0


class AfterAckWorker:
    """One per process and platform: runs passes over the inbox after acknowledgements, one
    at a time.

    A webhook request pokes it once its events are committed and returns at once: the 200
    does not wait for the handling, and no request stays in memory until its events are
    handled. Pokes arriving during a pass share the next one. One pass at a time keeps the
    database's writers few, so acknowledgements are not queued behind a crowd of concurrent
    handlers (SQLite has a single writer). A pass drains (`drain`): it goes on while there
    are pending rows it can take, whoever stored them. What it misses (a crash, a failure)
    the next drain or the scheduler's recovery pass handles from the inbox.
    """

    def __init__(self, run_pass: Callable[[], Awaitable[None]], name: str = "inbox") -> None:
        self._run_pass = run_pass
        self._name = name  # in the log, when a pass fails
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
                log.exception("%s pass after acknowledgement failed", self._name)

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
