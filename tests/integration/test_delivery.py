"""The outbox: exactly once, in order per recipient, patient with busy platforms."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.core.domain import Reply
from bot.core.payloads import DeliveryFailed, Notice, Replies
from bot.core.ports import OutboxItem, Outcome, SendResult
from bot.services import delivery
from storage import repo
from storage.db import Database
from storage.models import OutboxMessage


@dataclass
class Platform:
    """Answers from a script of outcomes, then SENT; records every attempt."""

    script: Iterator[SendResult] = field(default_factory=lambda: iter(()))
    attempts: list[OutboxItem] = field(default_factory=list)

    async def send(self, item: OutboxItem, now: datetime) -> SendResult:
        self.attempts.append(item)
        return next(self.script, SendResult(Outcome.SENT, via="push"))

    def delivered(self) -> list[str]:
        return [a.key for a in self.attempts]


async def _enqueue(db: Database, now: datetime, *keys_for: tuple[str, str]) -> None:
    async with db.transaction() as s:
        for key, recipient in keys_for:
            await repo.enqueue(
                s, key=key, platform="line", recipient=recipient, payload=Notice(kind="x"), now=now
            )


async def _rows(db: Database) -> dict[str, OutboxMessage]:
    async with db.transaction() as s:
        return {r.key: r for r in (await s.execute(select(OutboxMessage))).scalars()}


async def test_sent_once_in_order_per_recipient(db: Database, t0: datetime) -> None:
    await _enqueue(db, t0, ("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"))
    line = Platform()
    result = await delivery.flush(db, {"line": line}, t0)
    assert result.sent == 4
    assert [k for k in line.delivered() if k.startswith("a")] == ["a1", "a2", "a3"]
    assert (await delivery.flush(db, {"line": line}, t0 + timedelta(hours=1))).sent == 0
    assert all(r.status == "sent" and r.attempts == 1 for r in (await _rows(db)).values())


async def test_retry_after_is_honoured_and_later_messages_wait(db: Database, t0: datetime) -> None:
    await _enqueue(db, t0, ("a1", "A"), ("a2", "A"), ("b1", "B"))
    line = Platform(iter([SendResult(Outcome.RETRY, retry_after=120, error="429")]))
    first = await delivery.flush(db, {"line": line}, t0)
    assert (first.sent, first.retried) == (1, 1)  # B went; A waits
    rows = await _rows(db)
    assert rows["a1"].next_attempt_at == t0 + timedelta(seconds=120)
    assert rows["a2"].status == "pending" and rows["b1"].status == "sent"
    assert (await delivery.flush(db, {"line": line}, t0 + timedelta(seconds=60))).sent == 0
    assert (await delivery.flush(db, {"line": line}, t0 + timedelta(seconds=121))).sent == 2
    assert line.delivered() == ["a1", "b1", "a1", "a2"]
    # The retry reused the same retry key: the platform can drop a duplicate.
    assert line.attempts[0].retry_key == line.attempts[2].retry_key


async def test_server_errors_back_off_exponentially_up_to_a_cap(db: Database, t0: datetime) -> None:
    await _enqueue(db, t0, ("a1", "A"))
    line = Platform(iter([SendResult(Outcome.RETRY, error="500")] * 3))
    now = t0
    waits = []
    for _ in range(3):
        await delivery.flush(db, {"line": line}, now)
        nxt = (await _rows(db))["a1"].next_attempt_at
        waits.append(nxt - now)
        now = nxt
    assert waits == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]
    assert (await delivery.flush(db, {"line": line}, now)).sent == 1
    assert delivery.backoff(20, None) == delivery.MAX_BACKOFF


async def test_a_permanent_failure_is_recorded_and_staff_are_told(
    db: Database, t0: datetime
) -> None:
    from tests.support import make_facility, make_member

    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    async with db.transaction() as s:
        await repo.enqueue(
            s, key="m1", platform="line", recipient="U", payload=Notice(), now=t0, member_id=mid
        )
    line = Platform(iter([SendResult(Outcome.FAILED, error="400 The user hasn't added the bot")]))
    staff = Platform()
    result = await delivery.flush(db, {"line": line, "slack": staff}, t0)
    assert result.failed == 1
    rows = await _rows(db)
    assert rows["m1"].status == "failed" and "hasn't added" in (rows["m1"].last_error or "")
    notice = rows[f"delivery-failed:{rows['m1'].id}"]
    assert notice.platform == "slack" and notice.payload["kind"] == "delivery_failed"
    assert staff.delivered() == [notice.key]


async def test_senders_get_typed_payloads_and_an_unreadable_row_fails_alone(
    db: Database, t0: datetime
) -> None:
    from tests.support import make_facility, make_member

    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    async with db.transaction() as s:
        for key, recipient in (("broken", "A"), ("a2", "A"), ("b1", "B")):
            await repo.enqueue(
                s,
                key=key,
                platform="line",
                recipient=recipient,
                payload=Replies((Reply(f"{key}です"),), t0.date()),
                now=t0,
                member_id=mid,
            )
        broken = (await s.scalars(select(OutboxMessage).where(OutboxMessage.key == "broken"))).one()
        broken.payload = {"kind": "replies", "replies": "おはよう"}  # written by hand, say
    line, staff = Platform(), Platform()
    result = await delivery.flush(db, {"line": line, "slack": staff}, t0)
    assert result.sent == 3 and sorted(line.delivered()) == ["a2", "b1"]  # A's next one too
    assert {a.key: a.payload for a in line.attempts} == {
        "a2": Replies((Reply("a2です"),), t0.date()),
        "b1": Replies((Reply("b1です"),), t0.date()),
    }
    rows = await _rows(db)
    assert rows["broken"].status == "failed" and "replies" in (rows["broken"].last_error or "")
    (told,) = staff.attempts  # the member's staff hear of the lost message, as with any failure
    assert isinstance(told.payload, DeliveryFailed) and told.payload.outbox_id == rows["broken"].id


async def test_a_crash_mid_send_is_retried_after_the_lease(db: Database, t0: datetime) -> None:
    await _enqueue(db, t0, ("a1", "A"))
    claimed = await delivery.claim(db, {"line"}, t0)  # a replica claims, then dies
    assert [c.key for c in claimed] == ["a1"]
    assert await delivery.claim(db, {"line"}, t0 + timedelta(seconds=30)) == []  # leased
    line = Platform()
    assert (
        await delivery.flush(db, {"line": line}, t0 + delivery.LEASE + timedelta(seconds=1))
    ).sent == 1
    assert line.attempts[0].retry_key == claimed[0].retry_key


async def test_a_sender_that_raises_does_not_lose_the_message(db: Database, t0: datetime) -> None:
    await _enqueue(db, t0, ("a1", "A"))

    class Broken:
        async def send(self, item: OutboxItem, now: datetime) -> SendResult:
            raise ConnectionError("network down")

    assert (await delivery.flush(db, {"line": Broken()}, t0)).retried == 1
    row = (await _rows(db))["a1"]
    assert row.status == "pending" and row.last_error == "ConnectionError"


@dataclass
class DatabaseGoesAway:
    """Sends fine, but PostgreSQL stops taking connections right after the first send and
    comes back a second later (a restart, a failover)."""

    db_url: str
    attempts: list[OutboxItem] = field(default_factory=list)
    back: asyncio.Task[None] | None = None

    def _admin(self, sql: str) -> None:
        url = make_url(self.db_url)
        name = url.database
        admin = url.set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute(sql.format(name=name))
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )

    async def send(self, item: OutboxItem, now: datetime) -> SendResult:
        self.attempts.append(item)
        if self.back is None:
            await asyncio.to_thread(self._admin, 'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            self.back = asyncio.create_task(self._return())
        return SendResult(Outcome.SENT, via="push")

    async def _return(self) -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(self._admin, 'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def test_a_database_outage_mid_pass_does_not_hold_untried_messages(
    db_url: str, db: Database, t0: datetime
) -> None:
    """The pass dies recording its first send; the other recipients' messages are free again
    as soon as the database is back, not after the minute's lease. Only the message whose
    outcome is unknown waits out its lease (then goes again: a rare duplicate, never a loss)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("runs in the PostgreSQL pass (it stops the test database taking connections)")
    await _enqueue(db, t0, ("a1", "A"), ("b1", "B"), ("c1", "C"), ("a2", "A"))
    line = DatabaseGoesAway(db_url)
    with pytest.raises(OperationalError):
        await delivery.flush(db, {"line": line}, t0)
    assert line.back is not None
    await line.back
    assert [i.key for i in line.attempts] == ["a1"]
    rows = await _rows(db)
    assert (rows["b1"].status, rows["b1"].next_attempt_at) == ("pending", t0)
    assert (rows["c1"].status, rows["c1"].next_attempt_at) == ("pending", t0)
    assert rows["a1"].status == "sending"  # sent, but not recorded: uncertain

    again = Platform()
    assert (await delivery.flush(db, {"line": again}, t0 + timedelta(seconds=5))).sent == 2
    assert again.delivered() == ["b1", "c1"]  # A's next message still waits behind a1
    later = await delivery.flush(db, {"line": again}, t0 + delivery.LEASE + timedelta(seconds=1))
    assert later.sent == 2 and again.delivered()[2:] == ["a1", "a2"]
