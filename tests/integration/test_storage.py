"""Storage guarantees: URLs, SQLite tuning, aware timestamps, uniqueness that stops duplicates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.core.payloads import Notice
from storage import repo
from storage.db import Database, async_url
from storage.models import DailyReport, InboxEvent, Member
from tests.factories import identity
from tests.support import make_facility, make_member


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///nippo.db", "sqlite+aiosqlite:///nippo.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgres://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_plain_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert async_url(given) == expected


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite tuning only applies to SQLite (this run is on PostgreSQL)")
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() >= 5000


async def test_timestamps_come_back_aware_in_utc(db: Database, t0: datetime) -> None:
    jst = timezone(timedelta(hours=9))
    fid = await make_facility(db, t0.astimezone(jst))
    mid = await make_member(db, fid, t0)
    async with db.transaction() as s:
        member = await s.get_one(Member, mid)
    assert member.created_at == t0 and member.created_at.tzinfo is not None
    assert member.created_at.utcoffset() == timedelta(0)


async def test_naive_datetimes_are_refused(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as s:
            s.add(Member(facility_id=fid, name="x", created_at=datetime(2026, 7, 1)))  # noqa: DTZ001


async def test_one_report_per_member_and_day(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    row = dict(
        member_id=mid, business_date=date(2026, 7, 1), flags={}, created_at=t0, updated_at=t0
    )
    async with db.transaction() as s:
        s.add(DailyReport(**row))
    with pytest.raises(IntegrityError):
        async with db.transaction() as s:
            s.add(DailyReport(**row))


async def test_one_identity_per_platform_user(db: Database, t0: datetime) -> None:
    async with db.transaction() as s:
        s.add(identity("U1", t0))
    with pytest.raises(IntegrityError):
        async with db.transaction() as s:
            s.add(identity("U1", t0))
    async with db.transaction() as s:  # the same id on another platform is someone else
        s.add(identity("U1", t0, platform="slack"))


async def test_inbox_and_outbox_ignore_repeats(db: Database, t0: datetime) -> None:
    async with db.transaction() as s:
        first = await repo.add_inbox(s, "line", "ev1", {"a": 1}, t0)
        again = await repo.add_inbox(s, "line", "ev1", {"a": 2}, t0)
        out1 = await repo.enqueue(
            s, key="k", platform="line", recipient="U", payload=Notice(), now=t0
        )
        out2 = await repo.enqueue(
            s, key="k", platform="line", recipient="U", payload=Notice(), now=t0
        )
    assert first is not None and again is None
    assert out1 is not None and out2 is None
    async with db.transaction() as s:
        stored = await s.get_one(InboxEvent, first)
    assert stored.body == {"a": 1}  # the first delivery is what we keep
    assert stored.received_at == t0.astimezone(UTC)
