"""Benchmark: `/nippo status` for a 40-member facility with 5 years of history.

    .venv/bin/python bench/status.py [--runs 200] [--backend both]

Fixture: one facility, 40 在宅 members (Mon–Fri), every weekday of five years reported (start,
end, revisions, two 支援記録 entries a day, a few alerts), plus four other facilities of the
same size so indexes matter. Timed: what a manager waits for after Slack's acknowledgement —
loading the day's board (`bot.queries.board.status_board`) and rendering it to Block Kit
(`adapters.slack.blocks.board_messages`) — on a business day at 11:00, `--runs` times after a
warm-up. Prints p50/p95/max in ms. Never fails on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from tick import loaded_databases, sync_engine  # the sibling benchmark's helpers

from adapters.slack.blocks import board_messages
from bot.queries import board
from storage.db import Database
from storage.models import (
    Alert,
    DailyReport,
    Facility,
    Member,
    ReportRevision,
    Schedule,
    SupportRecord,
)

TOKYO = ZoneInfo("Asia/Tokyo")
TODAY = date(2026, 7, 1)
YEARS = 5
MEMBERS = 40
FACILITIES = 5


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), TOKYO).astimezone(UTC)


def fixture(seed: int = 11) -> dict[type, list[dict[str, Any]]]:
    rnd = random.Random(seed)
    created = at(TODAY - timedelta(days=365 * YEARS + 2), "09:00")
    rows: dict[type, list[dict[str, Any]]] = {
        m: []
        for m in (Facility, Member, Schedule, DailyReport, ReportRevision, SupportRecord, Alert)
    }
    days = [
        TODAY - timedelta(days=n)
        for n in range(365 * YEARS, -1, -1)
        if (TODAY - timedelta(days=n)).weekday() < 5
    ]
    report_id = revision_id = 0
    for f in range(1, FACILITIES + 1):
        rows[Facility].append(
            dict(id=f, name=f"施設{f}", tz="Asia/Tokyo", profile="national", capacity=40,
                 default_start=time(10), default_end=time(15), ask_temperature=False, ladder={},
                 disclosure="full", created_at=created)
        )  # fmt: skip
        for i in range(MEMBERS):
            mid = (f - 1) * MEMBERS + i + 1
            rows[Member].append(
                dict(id=mid, facility_id=f, name=f"利用者{mid:03d} 名前", kana=None,
                     usual_tasks=["データ入力"], active=True, voice_contact_hard=False,
                     created_at=created)
            )  # fmt: skip
            for wd in range(5):
                rows[Schedule].append(
                    dict(member_id=mid, weekday=wd, mode="zaitaku", start=time(10), end=time(15))
                )
            for d in days:
                if d == TODAY and rnd.random() < 0.3:
                    continue  # today: some have not reported yet
                report_id += 1
                start, end = at(d, "10:02"), at(d, "15:01")
                done = d < TODAY
                rows[DailyReport].append(
                    dict(id=report_id, member_id=mid, business_date=d, mode="zaitaku",
                         status="ended" if done else "started", start_at=start, health_start=4,
                         sleep_hours=7.0, planned_work="データ入力",
                         end_at=end if done else None, work_done="データ入力" if done else None,
                         outputs=f"入力{rnd.randint(50, 150)}件" if done else None,
                         health_end=3 if done else None, flags={}, created_at=start,
                         updated_at=end)
                )  # fmt: skip
                answers = (
                    ("start_at", start.isoformat()),
                    ("health_start", "4"),
                    ("sleep_hours", "7.0"),
                    ("planned_work", "データ入力"),
                )
                for field_name, after in answers:
                    revision_id += 1
                    rows[ReportRevision].append(
                        dict(id=revision_id, report_id=report_id, field=field_name, before=None,
                             after=after, by_member_id=mid, source="member", at=start)
                    )  # fmt: skip
                rows[SupportRecord].append(
                    dict(member_id=mid, business_date=d, at=start, kind="start_check",
                         channel="line", content="開始確認 10:02 / 作業内容: データ入力")
                )  # fmt: skip
                if done:
                    rows[SupportRecord].append(
                        dict(member_id=mid, business_date=d, at=end, kind="end_check",
                             channel="line", content="終了確認 15:01 / 成果: 入力100件")
                    )  # fmt: skip
                if rnd.random() < 0.02:
                    rows[Alert].append(
                        dict(key=f"a:{mid}:{d}", member_id=mid, business_date=d, kind="low_health",
                             level="warning", state="open" if d == TODAY else "resolved",
                             detail="体調 2", opened_at=start)
                    )  # fmt: skip
    return rows


def load(url: str, rows: dict[type, list[dict[str, Any]]]) -> float:
    began = clock.perf_counter()
    engine = sync_engine(url)
    with engine.begin() as conn:
        for model, batch in rows.items():
            for i in range(0, len(batch), 20_000):
                conn.execute(insert(model), batch[i : i + 20_000])
        if engine.dialect.name == "postgresql":
            for table in ("facility", "member", "daily_report", "report_revision"):
                conn.exec_driver_sql(
                    f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"
                )
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return clock.perf_counter() - began


async def measure(url: str, runs: int) -> list[float]:
    db = Database(url)
    now = at(TODAY, "11:00")
    timings: list[float] = []
    try:
        for i in range(runs + 10):
            began = clock.perf_counter()
            async with db.transaction() as session:
                facility = (
                    await session.execute(select(Facility).where(Facility.id == 3))
                ).scalar_one()
                b = await board.status_board(session, facility, TODAY, now)
            messages = board_messages(b)
            took = clock.perf_counter() - began
            if i >= 10:  # warm-up excluded
                timings.append(took * 1000)
        assert len(b.rows) == MEMBERS and messages
    finally:
        await db.dispose()
    return timings


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    args = parser.parse_args()
    rows = fixture()
    print(
        f"{FACILITIES} facilities x {MEMBERS} members, {YEARS} years: "
        f"{len(rows[DailyReport])} reports, {len(rows[ReportRevision])} revisions, "
        f"{len(rows[SupportRecord])} support records, {len(rows[Alert])} alerts"
    )
    databases = loaded_databases(args.backend, "nippo_bench_status", lambda u: load(u, rows))
    for backend, url in databases:
        t = asyncio.run(measure(url, args.runs))
        print(
            f"  {backend:10} /nippo status (40 members): p50 {statistics.median(t):.1f} ms"
            f"  p95 {pct(t, 95):.1f} ms  max {max(t):.1f} ms  ({len(t)} runs)"
        )
        print(f"RESULT status {backend} p95_ms={pct(t, 95):.1f}")


if __name__ == "__main__":
    main()
