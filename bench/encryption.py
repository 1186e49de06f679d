"""What encryption at rest costs (issue #23): the webhook's group commit and reading rows,
with and without NIPPO_DATA_KEY, side by side.

    .venv/bin/python bench/encryption.py                      # SQLite (a temporary file)
    .venv/bin/python bench/encryption.py --database-url postgresql://postgres@127.0.0.1:5432/x

Each round writes `--batches` batches of `--events` LINE text events through
`storage.inbox_writer.insert_new` (the webhook's one-statement batch), then reads them back
through the ORM (decrypting), once without a key and once with one, alternating, on fresh
tables; it prints the median per-event time of each and the ratio keyed / plain. It prints
figures and never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, select

from storage import db as storage_db
from storage.crypto import Keyring, new_key, parse_key
from storage.db import Database
from storage.inbox_writer import insert_new
from storage.models import InboxEvent

TEXT = "終了 入力120件 体調2 ひとこと 今日は腰が痛くて集中できませんでした"


def body(tag: str, i: int) -> dict[str, Any]:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": 1_780_000_000_000 + i,
        "source": {"type": "user", "userId": f"Ubench{i % 50:04d}"},
        "webhookEventId": f"01{tag}{i:012d}",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": f"bench-{tag}-{i}",
        "message": {"id": str(10**9 + i), "type": "text", "quoteToken": "q", "text": TEXT},
    }


async def one_round(db: Database, tag: str, batches: int, events: int) -> tuple[float, float]:
    """Seconds per event: writing (group commit), reading back (ORM, decrypting)."""
    now = datetime.now(UTC)
    write = []
    for b in range(batches):
        rows = [(f"01{tag}{b:04d}{i:06d}", body(f"{tag}{b}", i)) for i in range(events)]
        start = time.perf_counter()
        await db.run_sync(lambda conn, rows=rows: insert_new(conn, "line", rows, now))
        write.append((time.perf_counter() - start) / events)
    start = time.perf_counter()
    async with db.transaction() as s:
        bodies = (await s.execute(select(InboxEvent.body))).scalars().all()
    read = (time.perf_counter() - start) / max(len(bodies), 1)
    assert all(b["message"]["text"] == TEXT for b in bodies)
    async with db.transaction() as s:
        await s.execute(delete(InboxEvent))
    return statistics.median(write), read


async def main(url: str, rounds: int, batches: int, events: int) -> None:
    await asyncio.to_thread(storage_db.upgrade, url)
    plain = Database(url, keyring=Keyring())
    keyed = Database(url, keyring=Keyring(parse_key(new_key())))
    figures: dict[str, list[tuple[float, float]]] = {"plain": [], "keyed": []}
    try:
        for r in range(rounds):
            for name, db in (("plain", plain), ("keyed", keyed)):
                figures[name].append(await one_round(db, f"{name[0]}{r}", batches, events))
    finally:
        await plain.dispose()
        await keyed.dispose()
    backend = "SQLite" if storage_db.is_sqlite(url) else "PostgreSQL"
    print(f"{backend}: {rounds} rounds x {batches} batches x {events} events")
    print("| measure | no key | with key | ratio |")
    print("|---|---|---|---|")
    for i, label in enumerate(("group commit, per event", "ORM read, per row")):
        p = statistics.median(f[i] for f in figures["plain"]) * 1e6
        k = statistics.median(f[i] for f in figures["keyed"]) * 1e6
        print(f"| {label} | {p:.1f} µs | {k:.1f} µs | {k / p:.2f}× |")
    ring = Keyring(parse_key(new_key()))
    n = 20_000
    start = time.perf_counter()
    sealed = [ring.encrypt(TEXT) for _ in range(n)]
    enc = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for s in sealed:
        ring.decrypt(s)
    dec = (time.perf_counter() - start) / n * 1e6
    print(f"one value of {len(TEXT)} characters: encrypt {enc:.1f} µs, decrypt {dec:.1f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        asyncio.run(main(url, args.rounds, args.batches, args.events))
