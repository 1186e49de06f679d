"""What the audit log costs (issue #16 §1): check-ins through the real service with the audit
listener off, on (entries sealed at commit), and on PostgreSQL also with a commit that waits
for the chain's lock instead of leaving its entries to the next seal.

    .venv/bin/python bench/audit.py                          # SQLite (a temporary file)
    .venv/bin/python bench/audit.py --database-url postgresql://postgres@127.0.0.1:5432/EMPTY

Each round sends one start report (「開始 体調4 睡眠7 データ入力」) from each of `--members`
linked members through `bot.services.inbox.receive`, each in its own transaction, `--concurrency`
at a time, on a business day of its own; the modes alternate round by round. It prints the
median seconds per check-in of each mode, the ratio to "off", the audit entries per check-in
and how many entries a round left unsealed. It prints figures and never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Connection, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.core.domain import ContactRef, InboundMessage, Platform
from bot.services import inbox
from storage import audit_chain
from storage import db as storage_db
from storage.db import Database
from storage.models import AuditLog
from tests.support import jst, link_accounts, make_facility, make_member

TEXT = "開始 体調4 睡眠7 データ入力"
FIRST_DAY = date(2026, 7, 1)  # a Wednesday; each round takes the next one


def mode_off(db: Database) -> None:
    db.sessions = async_sessionmaker(db.engine, expire_on_commit=False)


def mode_on(db: Database) -> None:
    db.sessions = async_sessionmaker(
        db.engine, expire_on_commit=False, sync_session_class=audit_chain.AuditedSession
    )


async def checkins(db: Database, users: list[str], day: date, concurrency: int) -> float:
    """Seconds per check-in for one start report from every user on `day`."""
    slots = asyncio.Semaphore(concurrency)
    at = jst(day.isoformat(), "10:02")

    async def one(user: str) -> None:
        msg = InboundMessage(
            event_id=f"bench-{day}-{user}",
            sender=ContactRef(Platform.CONSOLE, user),
            sent_at=at,
            text=TEXT,
        )
        async with slots, db.transaction() as session:
            await inbox.receive(session, msg, at)

    start = time.perf_counter()
    await asyncio.gather(*(one(u) for u in users))
    return (time.perf_counter() - start) / len(users)


async def counts(db: Database) -> tuple[int, int]:
    async with db.transaction() as s:
        total = (await s.execute(select(func.count()).select_from(AuditLog))).scalar_one()
        unsealed = (
            await s.execute(select(func.count()).where(AuditLog.seq.is_(None)))
        ).scalar_one()
    return int(total), int(unsealed)


async def main(url: str, members: int, rounds: int, concurrency: int) -> None:
    await asyncio.to_thread(storage_db.upgrade, url)
    db = Database(url)
    now = jst(FIRST_DAY.isoformat(), "08:00")
    fid = await make_facility(db, now, name="ベンチ事業所")
    users = []
    for i in range(members):
        mid = await make_member(db, fid, now, f"利用者 {i:03d}", kana=None)
        users.append(f"bench{i:04d}")
        await link_accounts(db, now, [(mid, users[-1])], platform="console")
    modes: dict[str, Callable[[Database], None]] = {"off": mode_off, "on": mode_on}
    real_lock = audit_chain._lock
    if db.dialect == "postgresql":
        modes["on, commit waits for the lock"] = mode_on
    figures: dict[str, list[float]] = {m: [] for m in modes}
    per_checkin: dict[str, list[float]] = {m: [] for m in modes}
    unsealed: dict[str, list[int]] = {m: [] for m in modes}
    day = FIRST_DAY
    try:
        await checkins(db, users, day, concurrency)  # warm-up (statement caches), not counted
        await audit_chain.seal_pending(db)
        day += timedelta(days=7)
        for _ in range(rounds):
            for name, setup in modes.items():
                setup(db)
                waits = name.endswith("waits for the lock")

                def lock(connection: Connection, *, wait: bool, waits: bool = waits) -> bool:
                    return real_lock(connection, wait=wait or waits)

                audit_chain._lock = lock
                before, _ = await counts(db)
                figures[name].append(await checkins(db, users, day, concurrency))
                after, left = await counts(db)
                per_checkin[name].append((after - before) / members)
                unsealed[name].append(left)
                await audit_chain.seal_pending(db)
                day += timedelta(days=7)
    finally:
        audit_chain._lock = real_lock
        await db.dispose()
    backend = "SQLite" if storage_db.is_sqlite(url) else "PostgreSQL"
    print(f"{backend}: {rounds} rounds x {members} check-ins, concurrency {concurrency}")
    print("| audit | ms per check-in | ratio to off | entries per check-in | left unsealed |")
    print("|---|---|---|---|---|")
    off = statistics.median(figures["off"])
    for name in modes:
        ms = statistics.median(figures[name])
        entries = statistics.median(per_checkin[name])
        left = max(unsealed[name])
        print(f"| {name} | {ms * 1e3:.2f} | {ms / off:.2f}× | {entries:.1f} | ≤ {left} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        asyncio.run(main(url, args.members, args.rounds, args.concurrency))
