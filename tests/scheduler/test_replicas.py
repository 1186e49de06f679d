"""Replicas and restarts: two processes ticking the same database over a simulated day, and a
restart in the middle of a ladder. Each effect happens exactly once and none is lost."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.services import ticks
from storage.db import Database
from storage.models import Alert, OutboxMessage, SupportRecord
from tests.scheduler.helpers import TOKYO, alert_ids, effects, renotify_effects
from tests.support import Chat, jst, make_facility, make_member

DAY = "2026-07-01"


async def _world(db: Database, t0: datetime) -> tuple[int, int, int, int, Chat]:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    late = await make_member(db, fid, t0, "佐藤 花子")
    never = await make_member(db, fid, t0, "鈴木 一郎")
    unlinked = await make_member(db, fid, t0, "高橋 三郎")
    chat = Chat(db)
    await chat.link("u-late", late, t0)
    await chat.link("u-never", never, t0)
    return fid, late, never, unlinked, chat


def _with_renotify(
    db_ids: dict[str, int],
    members: tuple[int, ...],
    opened: str,
    rows: list[tuple[str, str, str, str]],
) -> list[tuple[str, str, str, str]]:
    """The phone-call (urgent) alerts nobody takes re-notify until 16:35 (issue #15)."""
    for m in members:
        alert = db_ids[f"alert:missed-start:{m}:{DAY}:manager"]
        rows = rows + renotify_effects(alert, opened, "16:35", "C-STAFF")
    return sorted(rows, key=lambda e: (e[0], e[3]))


def _expected(fid: int, late: int, never: int, unlinked: int) -> list[tuple[str, str, str, str]]:
    d = "2026-07-01"
    return [
        ("10:00", "console", "u-late", f"remind:start:{late}:{d}:1"),
        ("10:00", "console", "u-never", f"remind:start:{never}:{d}:1"),
        ("10:15", "console", "u-late", f"remind:start:{late}:{d}:2"),
        ("10:15", "console", "u-never", f"remind:start:{never}:{d}:2"),
        ("10:30", "slack", "C-STAFF", f"notify:alert:missed-start:{late}:{d}:staff"),
        ("10:30", "slack", "C-STAFF", f"notify:alert:missed-start:{never}:{d}:staff"),
        ("10:30", "slack", "C-STAFF", f"notify:alert:missed-start:{unlinked}:{d}:staff"),
        ("10:40", "slack", "C-STAFF", f"resolve:missed-start:{late}:{d}"),
        ("11:00", "slack", "C-STAFF", f"notify:alert:missed-start:{never}:{d}:manager"),
        ("11:00", "slack", "C-STAFF", f"notify:alert:missed-start:{unlinked}:{d}:manager"),
        ("15:00", "console", "u-late", f"remind:end:{late}:{d}:1"),
        ("16:00", "slack", "C-STAFF", f"notify:alert:missed-end:{late}:{d}:staff"),
        ("16:30", "slack", "C-STAFF", f"digest:{fid}:{d}"),
    ]


async def _counts(db: Database) -> tuple[int, int, int]:
    async with db.transaction() as session:
        outbox = await session.scalar(select(func.count()).select_from(OutboxMessage))
        alerts = await session.scalar(select(func.count()).select_from(Alert))
        records = await session.scalar(
            select(func.count()).select_from(SupportRecord).where(SupportRecord.kind == "reminder")
        )
    return int(outbox or 0), int(alerts or 0), int(records or 0)


async def _two_replicas_tick_a_day(db: Database, db_url: str, t0: datetime, elect: bool) -> None:
    fid, late, never, unlinked, chat = await _world(db, t0)
    other = Database(db_url)  # a second process: its own engine and connection pool
    applied: list[str] = []
    try:
        at = jst(DAY, "09:55")
        while at <= jst(DAY, "16:35"):
            if at.astimezone(TOKYO).strftime("%H:%M") == "10:40":
                await chat.say("u-late", "開始 体調4 睡眠7 データ入力", at)
            first, second = await asyncio.gather(
                ticks.tick(db, at, elect=elect), ticks.tick(other, at, elect=elect)
            )
            applied += first.effects + second.effects
            at += timedelta(minutes=1)
    finally:
        await other.dispose()
    ids = await alert_ids(db)
    expected = _with_renotify(
        ids, (never, unlinked), "11:00", _expected(fid, late, never, unlinked)
    )
    assert await effects(db) == expected
    # Each effect was applied by exactly one of the two ticks: none doubled, none lost.
    assert sorted(applied) == sorted(k.removeprefix("notify:") for *_, k in expected)
    # Outbox: + 2 linking replies and 1 answer; alerts: 3 staff, 2 manager, 1 missed end.
    assert await _counts(db) == (len(expected) + 3, 6, 5)


@pytest.mark.slow
async def test_two_replicas_ticking_concurrently_produce_each_effect_once(
    db: Database, db_url: str, t0: datetime
) -> None:
    """No election: the unique keys alone keep two tickers from doubling anything."""
    await _two_replicas_tick_a_day(db, db_url, t0, elect=False)


@pytest.mark.slow
async def test_two_replicas_with_the_tick_lock(db: Database, db_url: str, t0: datetime) -> None:
    """With election (PostgreSQL advisory lock) one replica ticks; still nothing lost."""
    await _two_replicas_tick_a_day(db, db_url, t0, elect=True)


async def test_restart_in_the_middle_of_the_ladder_loses_and_doubles_nothing(
    db: Database, db_url: str, t0: datetime
) -> None:
    fid, late, never, unlinked, chat = await _world(db, t0)
    at = jst(DAY, "09:55")
    while at <= jst(DAY, "10:20"):  # the first process runs until 10:20 …
        await ticks.tick(db, at)
        at += timedelta(minutes=1)
    await ticks.tick(db, jst(DAY, "10:20"))  # … ticks twice at its last minute …
    await db.dispose()  # … and dies.
    await chat.say("u-late", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:40"))

    restarted = Database(db_url)
    try:
        at = jst(DAY, "11:10")  # back 50 minutes later
        while at <= jst(DAY, "16:35"):
            await ticks.tick(restarted, at)
            at += timedelta(minutes=1)
        got = await effects(restarted)
        ids = await alert_ids(restarted)
    finally:
        await restarted.dispose()
    d = "2026-07-01"
    assert got == _with_renotify(
        ids,
        (never, unlinked),
        "11:10",
        [
            ("10:00", "console", "u-late", f"remind:start:{late}:{d}:1"),
            ("10:00", "console", "u-never", f"remind:start:{never}:{d}:1"),
            ("10:15", "console", "u-late", f"remind:start:{late}:{d}:2"),
            ("10:15", "console", "u-never", f"remind:start:{never}:{d}:2"),
            # Caught up at once after the restart; the late member had reported meanwhile.
            ("11:10", "slack", "C-STAFF", f"notify:alert:missed-start:{never}:{d}:manager"),
            ("11:10", "slack", "C-STAFF", f"notify:alert:missed-start:{never}:{d}:staff"),
            ("11:10", "slack", "C-STAFF", f"notify:alert:missed-start:{unlinked}:{d}:manager"),
            ("11:10", "slack", "C-STAFF", f"notify:alert:missed-start:{unlinked}:{d}:staff"),
            ("15:00", "console", "u-late", f"remind:end:{late}:{d}:1"),
            ("16:00", "slack", "C-STAFF", f"notify:alert:missed-end:{late}:{d}:staff"),
            ("16:30", "slack", "C-STAFF", f"digest:{fid}:{d}"),
        ],
    )


TICKER = """
import asyncio, sys
from datetime import datetime, timedelta
from bot.services import ticks
from storage.db import Database

async def main(url, start, minutes):
    db = Database(url)
    at = datetime.fromisoformat(start)
    applied = []
    try:
        for _ in range(int(minutes)):
            applied += (await ticks.tick(db, at, elect=False)).effects
            at += timedelta(minutes=1)
    finally:
        await db.dispose()
    print("\\n".join(applied))

asyncio.run(main(*sys.argv[1:]))
"""


async def test_two_os_processes_ticking_the_same_day(
    db: Database, db_url: str, t0: datetime
) -> None:
    """Two real processes, not in lockstep, each ticking every minute of the morning."""
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    members = [await make_member(db, fid, t0, f"利用者{i}") for i in range(6)]
    chat = Chat(db)
    for i, mid in enumerate(members[:4]):
        await chat.link(f"u{i}", mid, t0)
    start = jst(DAY, "09:55").isoformat()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            TICKER,
            db_url,
            start,
            "70",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    applied = [line for out, _ in outputs for line in out.decode().split()]
    d = "2026-07-01"
    expected = sorted(
        [f"remind:start:{m}:{d}:{step}" for m in members[:4] for step in (1, 2)]
        + [f"alert:missed-start:{m}:{d}:{who}" for m in members for who in ("staff", "manager")]
    )
    assert sorted(applied) == expected  # each effect applied by exactly one process
    assert sorted(k.removeprefix("notify:") for *_, k in await effects(db)) == expected
