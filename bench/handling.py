"""In-process handling of pending LINE events (issue #18): wall, CPU and SQL per event.

    .venv/bin/python bench/handling.py [--members 100] [--rounds 3] [--database URL]
    .venv/bin/python bench/handling.py --profile /tmp/h.prof     # cProfile one round

Seeds facilities of 50 linked members, then per round stores each member's morning check-in
as pending inbox rows (開始します, 体調, 睡眠 as postbacks, then the work typed: 4 events a
member, as `answer.py --burst` sends them) and drains them with `inbox.drain` over
`process_pending` — the after-ack worker's path, without the webhook and without delivery.
Prints per handled event: wall ms, CPU ms (this process) and SQL statements executed. The
figure `answer.py` cannot isolate: the handling alone, on an otherwise idle event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from answer import postback_event, seed, text_event  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

DAY = "2026-07-01"  # `answer.seed` plans 在宅 on every weekday, so any date would do
AT = datetime(2026, 7, 1, 0, 55, tzinfo=UTC)  # 09:55 in Tokyo
TAPS = (("postback", f"v1|{DAY}|start"), ("postback", f"v1|{DAY}|health:4"),
        ("postback", f"v1|{DAY}|sleep:7"), ("text", "データ入力"))  # fmt: skip


class Statements:
    def __init__(self) -> None:
        self.count = 0
        event.listen(Engine, "before_cursor_execute", self._one)

    def _one(self, *_: Any) -> None:
        self.count += 1


def morning(users: list[str], tag: str, at: datetime) -> list[dict[str, Any]]:
    """Every member's four taps, in the order a burst interleaves them: each member's first,
    then each one's second, …"""
    out = []
    for n, (kind, value) in enumerate(TAPS):
        for m, user in enumerate(users):
            eid = f"01H{tag}{m:07d}{n:02d}".ljust(26, "0")
            make = postback_event if kind == "postback" else text_event
            ev = make(user, f"tok-{eid}", value, eid)
            ev["timestamp"] = int((at + timedelta(seconds=n)).timestamp() * 1000)
            out.append(ev)
    return out


async def main(args: argparse.Namespace) -> None:
    from adapters.line.inbox import LinePlatform
    from adapters.line.sender import LineApi, LineContent, LineSender
    from bot.services import inbox
    from storage import repo
    from storage.audit_chain import acting_as
    from storage.db import Database

    statements = Statements()
    db = Database(args.url)
    api = LineApi("bench", "http://127.0.0.1:9", "http://127.0.0.1:9")  # nothing is sent
    platform = LinePlatform(LineSender(api, db), LineContent(api))
    rows: list[tuple[float, float, int, int]] = []
    try:
        for n in range(args.rounds):
            users = await seed(args.url, args.members, f"h{n}")
            at = AT + timedelta(minutes=n)
            events = morning(users, f"{n:02d}", at)
            async with db.transaction() as s:
                for ev in events:
                    await repo.add_inbox(s, "line", ev["webhookEventId"], ev, at)
            now = at + timedelta(seconds=5)

            async def one_pass(aside: inbox.SetAside, now: datetime = now) -> int:
                with acting_as("bot"):
                    return await inbox.process_pending(db, now, platform, aside=aside)

            profiler = cProfile.Profile() if args.profile and n == args.rounds - 1 else None
            sql0, wall0, cpu0 = statements.count, time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            handled = await inbox.drain(one_pass)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            rows.append((wall, cpu, statements.count - sql0, handled))
            print(
                f"round {n + 1}: {handled}/{len(events)} handled, "
                f"{wall * 1000 / handled:.1f} ms wall, {cpu * 1000 / handled:.1f} ms CPU, "
                f"{(statements.count - sql0) / handled:.1f} statements per event",
                file=sys.stderr,
            )
    finally:
        await db.dispose()
    backend = "postgresql" if args.url.startswith("postgres") else "sqlite"
    rows.sort(key=lambda r: r[1] / r[3])
    wall, cpu, sql, handled = rows[len(rows) // 2]
    print(
        f"RESULT handling {backend} wall_ms={wall * 1000 / handled:.2f} "
        f"cpu_ms={cpu * 1000 / handled:.2f} statements={sql / handled:.1f} events={handled}"
    )
    if args.profile:
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="postgresql://… (default: a temporary SQLite)")
    parser.add_argument("--profile", help="cProfile the last round into this file")
    a = parser.parse_args()
    from storage import db as storage_db

    a.url = a.database or f"sqlite:///{tempfile.mkdtemp(prefix='nippo-handling-')}/bench.db"
    storage_db.upgrade(a.url)
    asyncio.run(main(a))
