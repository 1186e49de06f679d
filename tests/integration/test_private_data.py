"""Health answers stay out of logs, and a SQLite database is its owner's alone (issue #23)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import stat
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage import db as storage_db
from storage.db import Database
from storage.models import DailyReport
from tests.support import make_facility, make_member

SECRET = "つらくて眠れません"


async def test_a_database_error_logs_no_health_text(
    db: Database, t0: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)

    def report() -> DailyReport:
        return DailyReport(
            member_id=mid, business_date=date(2026, 7, 1), mode="zaitaku", status="started",
            note=SECRET, flags={}, created_at=t0, updated_at=t0,
        )  # fmt: skip

    async with db.transaction() as s:
        s.add(report())
    log = logging.getLogger("nippo.test")
    with pytest.raises(IntegrityError) as caught:  # the second report for the same day
        async with db.transaction() as s:
            s.add(report())
    log.error("write failed", exc_info=caught.value)
    assert "parameters hidden" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text and "write failed" in caplog.text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _touch(url: str) -> None:
    """Open the database and write once, as the server does (WAL and shared memory appear)."""

    async def go() -> None:
        database = Database(url)
        async with database.transaction() as s:
            await s.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            await s.execute(text("INSERT INTO probe VALUES (1)"))
        await database.dispose()

    asyncio.run(go())


def test_a_new_sqlite_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "nippo.db"
    url = f"sqlite:///{path}"
    storage_db.upgrade(url)
    _touch(url)
    assert _mode(path) == 0o600
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{path}{suffix}")
        assert not extra.exists() or _mode(extra) & 0o077 == 0


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    _touch(f"sqlite:///{path}")
    assert _mode(path) == 0o640  # the group's read bit is the operator's choice; others lose it
