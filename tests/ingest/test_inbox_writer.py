"""Group commit of webhook events: each request answered only once its own events are stored."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TypeVar

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import Connection, func, select, text
from sqlalchemy.engine import make_url

from adapters.line.webhook import line_router
from storage.db import INBOX_APPLICATION_NAME, Database
from storage.inbox_writer import InboxWriter
from storage.models import InboxEvent
from tests.line.conftest import SECRET, event, sign, webhook
from tests.support import FakeClock, keep_storing

T = TypeVar("T")


async def stored_ids(db: Database) -> list[str]:
    async with db.transaction() as s:
        rows = await s.execute(select(InboxEvent.event_id).order_by(InboxEvent.id))
        return [str(r) for r in rows.scalars()]


class Spy(Database):
    """The real database; records each batch's commit and can fail the next ones."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.commits: list[int] = []  # events committed per batch
        self.fail = 0

    async def run_sync(self, work: Callable[[Connection], T]) -> T:
        def maybe_fail(conn: Connection) -> T:
            if self.fail:  # the statement failed (on PostgreSQL it commits on its own)
                self.fail -= 1
                raise ConnectionError("database went away")
            return work(conn)

        result = await super().run_sync(maybe_fail)
        self.commits.append(await _count(self))
        return result


async def _count(db: Database) -> int:
    async with Database.transaction(db) as s:
        return int((await s.execute(select(func.count()).select_from(InboxEvent))).scalar_one())


@pytest.fixture
async def spy(db: Database, db_url: str) -> AsyncIterator[Spy]:
    database = Spy(db_url)
    yield database
    await database.dispose()


async def test_concurrent_requests_share_commits_and_each_sees_its_own(
    spy: Spy, t0: datetime
) -> None:
    writer = InboxWriter(spy, "line", FakeClock(t0))
    seen_by: dict[int, int] = {}

    async def request(n: int) -> list[int | None]:
        ids = await writer.store([(f"ev{n}", {"n": n})])
        seen_by[n] = await _count(spy)  # its answer comes after its commit
        return ids

    results = await asyncio.gather(*(request(n) for n in range(30)))
    assert all(isinstance(ids[0], int) for ids in results)
    assert len({ids[0] for ids in results}) == 30
    assert len(spy.commits) < 30  # batched, not one commit per request
    assert sorted(await stored_ids(spy)) == sorted(f"ev{n}" for n in range(30))
    assert all(seen_by[n] >= 1 for n in range(30))


async def test_requests_arriving_turn_after_turn_share_one_commit(spy: Spy, t0: datetime) -> None:
    """A server reads requests over several turns of its event loop; those already read
    when a commit starts are in it, rather than one commit each."""
    writer = InboxWriter(spy, "line", FakeClock(t0))

    async def request(n: int) -> list[int | None]:
        for _ in range(n):  # request n reaches `store` n turns after the first
            await asyncio.sleep(0)
        return await writer.store([(f"ev{n}", {"n": n})])

    results = await asyncio.gather(*(request(n) for n in range(10)))
    assert all(isinstance(ids[0], int) for ids in results)
    assert spy.commits == [10]


async def test_a_writer_in_another_process_delays_the_batch_but_never_freezes_the_server(
    db: Database, db_url: str, t0: datetime
) -> None:
    """SQLite: while another process holds the write lock, the batch waits for it without
    blocking the event loop (other requests, health checks, timers go on), then commits."""
    if db.dialect != "sqlite":
        pytest.skip("SQLite's file lock; runs in the SQLite pass")
    other = sqlite3.connect(make_url(db_url).database or "", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. a `nippo` command writing at that moment
    loop = asyncio.get_running_loop()
    writer = InboxWriter(db, "line", FakeClock(t0))
    try:
        request = asyncio.create_task(writer.store([("ev1", {"n": 1})]))
        gaps, last = [], loop.time()
        for _ in range(30):
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - last)
            last = loop.time()
        assert not request.done()
        assert max(gaps) < 0.2  # the loop kept turning
    finally:
        other.execute("COMMIT")
        other.close()
    assert (await asyncio.wait_for(request, 5))[0] is not None
    assert await stored_ids(db) == ["ev1"]


async def test_repeats_in_one_batch_and_across_batches_are_stored_once(
    spy: Spy, t0: datetime
) -> None:
    writer = InboxWriter(spy, "line", FakeClock(t0))
    first, second, third = await asyncio.gather(
        writer.store([("a", {}), ("b", {})]),
        writer.store([("b", {}), ("c", {}), ("c", {})]),
        writer.store([("a", {})]),
    )
    assert first[0] is not None and first[1] is not None
    assert second[0] is None and second[1] is not None and second[2] is None
    assert third == [None]
    assert await writer.store([("a", {}), ("d", {})]) == [None, (await _id(spy, "d"))]
    assert sorted(await stored_ids(spy)) == ["a", "b", "c", "d"]


async def test_a_batch_keeps_every_body_whole_and_in_order(spy: Spy, t0: datetime) -> None:
    writer = InboxWriter(spy, "line", FakeClock(t0))
    texts = [
        'quote " backslash \\ \\" brace } comma , NULL',
        "\u0000 \u001e \u001f \x7f separators and controls",
        "開始 😀 \u202e\u2028 ASCII and beyond",
        "",
    ]
    bodies = [{"n": n, "message": {"text": t}, "list": [t, {"k": t}]} for n, t in enumerate(texts)]
    await asyncio.gather(*(writer.store([(f"odd{n}", b)]) for n, b in enumerate(bodies)))
    assert spy.commits == [len(bodies)]  # one batch
    async with spy.transaction() as s:
        rows = await s.execute(select(InboxEvent.event_id, InboxEvent.body).order_by(InboxEvent.id))
        assert [tuple(r) for r in rows] == [(f"odd{n}", b) for n, b in enumerate(bodies)]


async def _id(db: Database, eid: str) -> int:
    async with db.transaction() as s:
        stmt = select(InboxEvent.id).where(InboxEvent.event_id == eid)
        return int((await s.execute(stmt)).scalar_one())


async def test_a_failed_batch_fails_only_its_requests_and_stores_nothing(
    spy: Spy, t0: datetime
) -> None:
    writer = InboxWriter(spy, "line", FakeClock(t0))
    spy.fail = 1
    failed = await asyncio.gather(
        writer.store([("x", {})]), writer.store([("y", {})]), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in failed)
    assert await stored_ids(spy) == []
    # The next batch is not affected; LINE's redelivery of x is stored then.
    assert (await writer.store([("x", {}), ("z", {})]))[0] is not None
    assert sorted(await stored_ids(spy)) == ["x", "z"]


async def test_a_dead_connection_between_batches_fails_no_request(
    db: Database, db_url: str, t0: datetime
) -> None:
    """PostgreSQL restarted, or cut an idle connection, between two batches: the next batch
    is stored all the same, on a new connection (the writer's pool has no pre-ping)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's connections; runs in the PostgreSQL pass")
    writer = InboxWriter(db, "line", FakeClock(t0))
    assert (await writer.store([("a", {})]))[0] is not None
    async with db.transaction() as s:
        killed = await s.execute(
            text(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": INBOX_APPLICATION_NAME},
        )
        assert killed.scalars().all() == [True]  # the writer's one pooled connection
    assert (await writer.store([("b", {})]))[0] is not None
    assert await stored_ids(db) == ["a", "b"]


async def test_webhook_answers_503_when_its_batch_fails_and_200_after(
    spy: Spy, t0: datetime
) -> None:
    app = FastAPI()
    app.include_router(line_router(SECRET, spy, FakeClock(t0)))
    bodies = [webhook(event("00_message_text", t0)) for _ in range(3)]

    async def post(client: AsyncClient, body: bytes) -> int:
        headers = {"X-Line-Signature": sign(body)}
        return (await client.post("/callback/line", content=body, headers=headers)).status_code

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        spy.fail = 1
        assert await post(client, bodies[0]) == 503
        assert await stored_ids(spy) == []
        statuses = await asyncio.gather(*(post(client, b) for b in bodies))  # redelivered
    assert statuses == [200, 200, 200]
    assert len(await stored_ids(spy)) == 3


async def test_handling_steps_aside_while_requests_wait(db: Database, t0: datetime) -> None:
    writer = InboxWriter(db, "line", FakeClock(t0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await writer.wait_idle(5.0)
    assert loop.time() - started < 1.0  # nothing arriving: no wait

    requests = [asyncio.create_task(writer.store([(f"b{n}", {})])) for n in range(20)]
    await asyncio.sleep(0)
    await writer.wait_idle(5.0)
    assert len(await stored_ids(db)) == 20  # it waited until their commit
    await asyncio.gather(*requests)

    busy = asyncio.create_task(keep_storing(writer, 1.0))
    await asyncio.sleep(0)
    started = loop.time()
    await writer.wait_idle(0.1)
    assert loop.time() - started < 0.5  # never held back longer than asked
    await busy
