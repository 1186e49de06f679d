"""Benchmark: one scheduler tick over 50,000 在宅 members in 2,000 facilities (DESIGN §9).

    .venv/bin/python bench/tick.py [--members 50000] [--facilities 2000] [--backend both]

Builds the fixture with bulk inserts (executemany / COPY), then times ticks at 10:30 JST (the
burst: every missed start of the morning at once, nothing done before), 10:31 (steady state,
the previous minute done) and 10:31 again (a second replica or a repeated tick). Prints seconds
per tick, member-days loaded and rows written. Never fails on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time as clock
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.engine import Engine, make_url

from bot.services import ticks
from storage import db as storage_db
from storage.db import Database
from storage.models import (
    Alert,
    DailyReport,
    Facility,
    Identity,
    Member,
    OutboxMessage,
    Schedule,
    SupportRecord,
)

TOKYO = ZoneInfo("Asia/Tokyo")
DAY = date(2026, 7, 1)  # a Wednesday
PG_ADMIN = os.environ.get(
    "NIPPO_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def jst(hhmm: str) -> datetime:
    return datetime.combine(DAY, time.fromisoformat(hhmm), TOKYO).astimezone(UTC)


def fixture(members: int, facilities: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """60% start at 10:00, the rest spread 09:00-11:00; 95% linked; 85% of those whose start
    has passed by 10:31 have reported."""
    rnd = random.Random(seed)
    created = jst("08:00")
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in ("f", "m", "s", "i", "r")}
    for f in range(1, facilities + 1):
        rows["f"].append(
            dict(
                id=f, name=f"事業所{f}", tz="Asia/Tokyo", profile="national",
                alert_channel=f"C{f:05d}", default_start=time(10), default_end=time(15),
                ask_temperature=False, ladder={}, disclosure="full", created_at=created,
            )
        )  # fmt: skip
    for m in range(1, members + 1):
        fid = (m - 1) % facilities + 1
        rows["m"].append(
            dict(
                id=m, facility_id=fid, name=f"利用者{m}", usual_tasks=[], active=True,
                voice_contact_hard=False, created_at=created,
            )
        )  # fmt: skip
        minute = 0 if rnd.random() < 0.6 else rnd.randint(-60, 60)
        start = (datetime.combine(DAY, time(10)) + timedelta(minutes=minute)).time()
        for wd in range(5):
            rows["s"].append(
                dict(member_id=m, weekday=wd, mode="zaitaku", start=start, end=time(15))
            )
        if rnd.random() < 0.95:
            rows["i"].append(
                dict(
                    platform="line", platform_user_id=f"U{m:032d}", member_id=m, active=True,
                    link_failures=0, created_at=created, linked_at=created,
                )
            )  # fmt: skip
        if start <= time(10, 31) and rnd.random() < 0.85:
            started = jst(start.strftime("%H:%M")) + timedelta(minutes=rnd.randint(-5, 10))
            rows["r"].append(
                dict(
                    member_id=m, business_date=DAY, mode="zaitaku", status="started",
                    start_at=started, flags={}, created_at=started, updated_at=started,
                )
            )  # fmt: skip
    return rows


def sync_engine(url: str) -> Engine:
    """A blocking engine for bulk-loading fixtures (shared with the other benchmarks)."""
    driver = "postgresql+psycopg" if url.startswith("postgresql") else "sqlite"
    return create_engine(make_url(url).set(drivername=driver))


def load(url: str, rows: dict[str, list[dict[str, Any]]]) -> float:
    began = clock.perf_counter()
    engine = sync_engine(url)
    with engine.begin() as conn:
        for model, key in (
            (Facility, "f"), (Member, "m"), (Schedule, "s"), (Identity, "i"), (DailyReport, "r")
        ):  # fmt: skip
            batch = rows[key]
            for i in range(0, len(batch), 20_000):
                conn.execute(insert(model), batch[i : i + 20_000])
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval('facility_id_seq', (SELECT max(id) FROM facility))")
            conn.exec_driver_sql("SELECT setval('member_id_seq', (SELECT max(id) FROM member))")
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return clock.perf_counter() - began


async def written(db: Database) -> int:
    async with db.transaction() as session:
        total = 0
        for model in (OutboxMessage, Alert, SupportRecord):
            total += int(await session.scalar(select(func.count()).select_from(model)) or 0)
        return total


async def measure(url: str, label: str) -> None:
    db = Database(url)
    try:
        for hhmm in ("10:30", "10:31", "10:31"):
            before = await written(db)
            began = clock.perf_counter()
            summary = await ticks.tick(db, jst(hhmm), elect=False)
            took = clock.perf_counter() - began
            rows = await written(db) - before
            print(
                f"  {label:10} tick {hhmm}: {took:6.3f} s"
                f"  member-days loaded {summary.candidates:6}"
                f"  due {summary.due:6}  rows written {rows:6}"
                f"  (reminders {len(summary.reminders)}, alerts {len(summary.alerts)})"
            )
            print(f"RESULT tick {label} at={hhmm} seconds={took:.3f} rows_written={rows}")
    finally:
        await db.dispose()


def pg_database(name: str) -> str:
    """A fresh, empty PostgreSQL database (dropped first if it exists); its URL."""
    admin = make_url(PG_ADMIN).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_ADMIN).set(database=name).render_as_string(False)


def loaded_databases(
    choice: str, name: str, load_into: Callable[[str], float]
) -> Iterator[tuple[str, str]]:
    """Per backend asked for ("postgresql", "sqlite" or "both"): a new database, migrated and
    loaded by `load_into` (its seconds printed); yields (backend, url)."""
    backends = ("postgresql", "sqlite") if choice == "both" else (choice,)
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            if backend == "postgresql":
                url = pg_database(name)
            else:
                url = f"sqlite:///{Path(tmp) / name}.db"
            storage_db.upgrade(url)
            print(f"  {backend:10} fixture loaded in {load_into(url):.1f} s")
            yield backend, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--facilities", type=int, default=2_000)
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    args = parser.parse_args()
    rows = fixture(args.members, args.facilities)
    print(
        f"{args.members} members in {args.facilities} facilities; "
        f"{len(rows['r'])} started by 10:31, {len(rows['i'])} linked"
    )
    for backend, url in loaded_databases(args.backend, "nippo_bench", lambda u: load(u, rows)):
        asyncio.run(measure(url, backend))


if __name__ == "__main__":
    main()
