"""The calendar on the real database: public holidays, facility closures, schedule exceptions,
other time zones, and accounts that left (LINE unfollow)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from bot.services import checkin, ticks
from storage.db import Database
from storage.models import Facility, FacilityClosure
from tests.scheduler.helpers import add_exception, alert_ids, effects, split_renotify
from tests.support import Chat, jst, make_facility, make_member


async def _day(db: Database, day: str, start: str = "09:00", end: str = "18:00") -> list[str]:
    at, applied = jst(day, start), []
    while at <= jst(day, end):
        applied += (await ticks.tick(db, at)).effects
        at += timedelta(minutes=1)
    return applied


async def test_holiday_is_skipped_unless_an_exception_says_the_member_works(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C")
    rests = await make_member(db, fid, t0, "山田 太郎")
    works = await make_member(db, fid, t0, "佐藤 花子")
    chat = Chat(db)
    await chat.link("u-rest", rests, t0)
    await chat.link("u-work", works, t0)
    umi_no_hi = date(2026, 7, 20)  # 海の日 (Monday)
    await add_exception(db, works, umi_no_hi, "zaitaku", time(13, 0), time(16, 0))
    applied, renotified = split_renotify(await _day(db, "2026-07-20", "09:00", "16:00"))
    assert applied == [
        f"remind:start:{works}:2026-07-20:1",
        f"remind:start:{works}:2026-07-20:2",
        f"alert:missed-start:{works}:2026-07-20:staff",
        f"alert:missed-start:{works}:2026-07-20:manager",
    ]
    # the untaken urgent (phone-call) alert re-notifies from 14:10: +10, +20, then every 30
    manager = (await alert_ids(db))[f"alert:missed-start:{works}:2026-07-20:manager"]
    assert renotified == [f"renotify:{manager}:{n}" for n in range(1, 6)]


@pytest.mark.slow
async def test_facility_closure_skips_the_day_and_an_off_exception_skips_a_member(
    db: Database, t0: datetime
) -> None:
    closed = await make_facility(db, t0, name="休業所", alert_channel="C1")
    await make_member(db, closed, t0, "山田 太郎")
    open_ = await make_facility(db, t0, name="営業所", alert_channel="C2")
    off = await make_member(db, open_, t0, "佐藤 花子")
    moved = await make_member(db, open_, t0, "鈴木 一郎")
    async with db.transaction() as session:
        session.add(FacilityClosure(facility_id=closed, date=date(2026, 7, 1), note="夏季休業"))
    await add_exception(db, off, date(2026, 7, 1), "off", None, None)
    await add_exception(db, moved, date(2026, 7, 1), "zaitaku", time(11, 0), time(14, 0))
    applied, renotified = split_renotify(await _day(db, "2026-07-01", "09:00", "16:40"))
    manager = (await alert_ids(db))[f"alert:missed-start:{moved}:2026-07-01:manager"]
    assert {k.rsplit(":", 1)[0] for k in renotified} == {f"renotify:{manager}"}
    assert applied == [
        f"alert:missed-start:{moved}:2026-07-01:staff",  # 11:30 (not linked: no reminder)
        f"alert:missed-start:{moved}:2026-07-01:manager",  # 12:00
        f"digest:{open_}:2026-07-01",  # 16:30; none for the closed facility
    ]


async def test_each_facility_ticks_in_its_own_time_zone(db: Database, t0: datetime) -> None:
    bangkok = await make_facility(db, t0, name="バンコク", alert_channel="C", tz="Asia/Bangkok")
    mid = await make_member(db, bangkok, t0, "山田 太郎")
    await Chat(db).link("u1", mid, t0)
    assert (await ticks.tick(db, jst("2026-07-01", "11:59"))).effects == []
    # 10:00 in Bangkok is 12:00 in Tokyo.
    assert (await ticks.tick(db, jst("2026-07-01", "12:00"))).effects == [
        f"remind:start:{mid}:2026-07-01:1"
    ]


async def test_an_account_that_left_gets_no_reminder_but_staff_still_hear(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C")
    mid = await make_member(db, fid, t0, "山田 太郎")
    await Chat(db).link("u1", mid, t0)
    async with db.transaction() as session:
        await checkin.deactivate(session, "console", "u1")  # LINE unfollow
    await _day(db, "2026-07-01", "09:55", "10:35")
    assert [(e[0], e[3]) for e in await effects(db)] == [
        ("10:30", f"notify:alert:missed-start:{mid}:2026-07-01:staff")
    ]


async def test_a_facility_may_remind_before_the_planned_start(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0, alert_channel="C")
    async with db.transaction() as session:
        facility = await session.get_one(Facility, fid)
        facility.ladder = {"start_reminder": -10, "end_reminder": -5}  # 9:50 and 14:55
    mid = await make_member(db, fid, t0, "山田 太郎")
    chat = Chat(db)
    await chat.link("u1", mid, t0)
    applied = await _day(db, "2026-07-01", "09:40", "10:05")
    assert applied == [f"remind:start:{mid}:2026-07-01:1"]
    assert [e[0] for e in await effects(db)] == ["09:50"]
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst("2026-07-01", "10:05"))
    assert await _day(db, "2026-07-01", "14:50", "14:56") == [f"remind:end:{mid}:2026-07-01:1"]
