"""Group commit for the webhook acknowledgement path.

Every webhook request must have its events committed before it answers 200. One transaction
per request makes concurrent requests queue for the database's writer (SQLite has one) and
pay a commit each. Here requests hand their events to one in-process writer that stores
everything waiting in one multi-row insert and one commit, then releases all those requests;
requests arriving meanwhile form the next batch. A request still waits for its own commit,
and a failed batch fails only its own requests (they answer 5xx, so the platform redelivers).
The batch is plain synchronous SQL run by `Database.run_sync` (on SQLite, on the event loop's
own thread: see there why not on another).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, text

from storage.db import Database
from storage.encrypted import EncryptedJSON, keyring_of, seal_json
from storage.models import InboxEvent

log = logging.getLogger(__name__)

QUIET_S = 0.01  # no webhook request for this long: a burst is over
GATHER_ROUNDS = 2  # event-loop iterations in which no request joined: the batch is complete
MAX_BATCH_EVENTS = 500
Event = tuple[str, dict[str, Any]]  # (platform event id, raw body)


@dataclass
class _Request:
    events: list[Event]
    done: asyncio.Future[list[int | None]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class InboxWriter:
    """One per process and platform: `await store(events)` once they are committed."""

    def __init__(self, db: Database, platform: str, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._platform = platform
        self._clock = clock
        self._queue: list[_Request] = []
        self._queued_events = 0
        self._task: asyncio.Task[None] | None = None
        # Loop time of the last `store` or commit: a request answered by a slow commit is
        # followed at once by the client's next one, which is not a quiet moment.
        self._active_at = 0.0
        self._aside = asyncio.Lock()

    async def store(self, events: list[Event]) -> list[int | None]:
        """Per event, its new inbox row id, or None when it was stored before (a repeat,
        also within the same batch). Raises when the batch could not be committed."""
        self._active_at = asyncio.get_running_loop().time()
        request = _Request(events)
        self._queue.append(request)
        self._queued_events += len(events)
        if not self._busy():
            self._task = asyncio.create_task(self._loop())
        # shield: a client that hangs up does not cancel the batch it is part of.
        return await asyncio.shield(request.done)

    async def wait_idle(self, at_most: float) -> None:
        """Until no request has come for a moment (`QUIET_S`), or `at_most` seconds: work
        that can wait (handling stored events) steps aside for acknowledgements in a burst,
        but is never starved. Callers wait in turn, so during a burst such work advances one
        step per `at_most`, whatever the number of callers."""
        async with self._aside:
            loop = asyncio.get_running_loop()
            until = loop.time() + at_most
            while (now := loop.time()) < until:
                quiet_at = self._active_at + QUIET_S
                if now >= quiet_at and not self._queue and not self._busy():
                    return
                await asyncio.sleep(min(max(quiet_at - now, 0.001), until - now))

    def _busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _gather(self) -> None:
        """Let the requests the server has already read join the batch: yield to the loop
        until `GATHER_ROUNDS` iterations pass without a new one (a request read in one
        iteration reaches `store` in the next), or the batch is full. Microseconds when
        idle; under load, one commit for every request in flight instead of one per few."""
        quiet = 0
        while quiet < GATHER_ROUNDS and self._queued_events < MAX_BATCH_EVENTS:
            waiting = len(self._queue)
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self._queue) == waiting else 0

    async def _loop(self) -> None:
        while self._queue:
            await self._gather()
            batch, self._queue, self._queued_events = self._queue, [], 0
            try:
                new = await self._write([e for r in batch for e in r.events])
            except Exception as exc:
                log.exception("inbox batch failed", extra={"requests": len(batch)})
                for r in batch:
                    r.done.set_exception(exc)
                continue
            self._active_at = asyncio.get_running_loop().time()
            for r in batch:
                # An id belongs to the first request of the batch naming that event.
                r.done.set_result([new.pop(eid, None) for eid, _ in r.events])

    async def _write(self, events: list[Event]) -> dict[str, int]:
        platform, now = self._platform, self._clock()
        return await self._db.run_sync(lambda conn: insert_new(conn, platform, events, now))


def _insert_from(rows: str) -> TextClause:
    columns = "platform, event_id, body, status, attempts, received_at"
    sql = (
        f"INSERT INTO inbox_event ({columns}) {rows} ON CONFLICT DO NOTHING RETURNING event_id, id"
    )
    return text(sql).bindparams(bindparam("now", type_=InboxEvent.__table__.c.received_at.type))


def _as_one_json_array(events: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"events": json.dumps(list(events.items()))}


_BODY_TYPE: EncryptedJSON = InboxEvent.__table__.c.body.type  # type: ignore[assignment]

# json.dumps escapes every control character (and, with ensure_ascii, all of non-ASCII), so
# this byte never occurs in a dumped body: it can join the batch's bodies into one text.
_BODY_SEPARATOR = "\x1e"


def _as_ids_and_bodies(events: dict[str, dict[str, Any]]) -> dict[str, Any]:
    # Each body is cast to `json` on its own: PostgreSQL's JSON functions would refuse a
    # \u0000 that members can send, and that the `json` type itself keeps. The bodies travel
    # as one text, not as an array: psycopg escapes every quote of every array element with
    # a regular expression in Python (measured: most of the batch's CPU time).
    bodies = _BODY_SEPARATOR.join(json.dumps(body, ensure_ascii=True) for body in events.values())
    return {"ids": list(events), "bodies": bodies}


# The whole batch is one constant statement that unpacks its rows in SQL, in order (ids follow
# arrival: the order of handling): one statement both drivers keep prepared, whatever the size.
_INSERT_NEW = {
    "sqlite": (
        _insert_from(
            "SELECT :platform, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
            " 'pending', 0, :now FROM json_each(:events) WHERE true ORDER BY key"
        ),
        _as_one_json_array,
    ),
    "postgresql": (
        _insert_from(
            "SELECT :platform, event_id, body, 'pending', 0, :now"
            " FROM unnest(CAST(:ids AS text[]),"
            f" CAST(string_to_array(:bodies, chr({ord(_BODY_SEPARATOR)})) AS json[]))"
            " WITH ORDINALITY AS t(event_id, body, n) ORDER BY n"
        ),
        _as_ids_and_bodies,
    ),
}


def insert_new(
    conn: Connection, platform: str, events: list[Event], now: datetime
) -> dict[str, int]:
    """Store raw inbound events (event id, body) as pending inbox rows in one statement;
    {event id: new row id} of those not stored before (a repeat within `events` counts once).
    With a data key, each body is stored as the column type would store it: encrypted, its
    sender (`source`) left readable."""
    first: dict[str, dict[str, Any]] = {}
    for eid, body in events:  # in order (it is the order of handling); the first id wins
        first.setdefault(eid, body)
    if not first:
        return {}
    keyring = keyring_of(conn.dialect)
    if keyring.enabled:
        first = {eid: seal_json(keyring, body, _BODY_TYPE.clear) for eid, body in first.items()}
    stmt, rows = _INSERT_NEW[conn.dialect.name]
    result = conn.execute(stmt, {"platform": platform, "now": now, **rows(first)})
    return {str(k): int(v) for k, v in result}
