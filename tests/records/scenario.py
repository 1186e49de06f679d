"""July 2026 at one facility, with known gaps, written through the real services.

July 2026 starts on a Wednesday; its weeks (Mon–Sun) start Jun 29, Jul 6, 13, 20 and 27.

- 青木 (東大阪市, approved 2026-01-01〜2026-08-10): 在宅 Mon–Thu (18 days), 通所 on the
  Fridays and Sat Jul 25 (6 days: 24 used > 31−8). Jul 14 has only the start check. Phone
  contacts on Jul 1 and Jul 8 only. Evaluations: Jul 3 weekly 通所 (stands for the monthly
  one), Jul 9 weekly 電話, none in the week of Jul 13, Jul 24 and Jul 31 weekly 通所.
  Jul 1 goes through the real chat; the rest is written as the service writes it.
- 坂本 (大阪市, voice contact hard): 在宅 every weekday (23 days), all checked, a weekly 電話
  evaluation each week, no monthly evaluation.
- 千葉 (東大阪市, no approval): one 通所 day (Jul 6), no 在宅 day.
- 土屋 (東大阪市, approved 2026-07-01〜2026-07-20): 在宅 Jul 15 and Jul 21 (the latter after
  the approval ends), video contacts both days, 通所 Jul 17 with the monthly evaluation, nothing
  in the week of Jul 20 (no 通所, no evaluation).
- 江口 (東大阪市, approved 2026-04-01〜2027-03-31): in hospital, no day at all.
Capacity 4: the 在宅 users are 青木, 坂本, 土屋 and 江口 (approval covers July).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.services import records
from bot.services.admin import add_staff
from storage.db import Database
from storage.models import DailyReport, Facility, Member, SupportRecord
from tests.support import Chat, jst, make_facility, make_member

JULY = date(2026, 7, 1)
T0 = jst("2026-06-30", "09:00")


def d(day: int) -> date:
    return date(2026, 7, day)


def weekdays(*days: int) -> list[date]:
    return [d(x) for x in days]


AOKI_ZAITAKU = weekdays(1, 2, 6, 7, 8, 9, 13, 14, 15, 16, 20, 21, 22, 23, 27, 28, 29, 30)
# 青木's other weekdays (3, 10, 17, 24, 25, 31) are 通所 days.
SAKAMOTO_ZAITAKU = [d(x) for x in range(1, 32) if d(x).weekday() < 5]  # 23 weekdays in July 2026


@dataclass
class Ids:
    facility: int
    staff: int
    aoki: int
    sakamoto: int
    chiba: int
    tsuchiya: int
    eguchi: int


async def _day(
    db: Database, member_id: int, day: date, mode: str, *, start: bool = True, end: bool = True
) -> None:
    """A 日報 and its start/end 支援記録 entries as the check-in service leaves them."""
    at = jst(day.isoformat(), "10:00")
    async with db.transaction() as s:
        report = DailyReport(
            member_id=member_id,
            business_date=day,
            mode=mode,
            status="ended" if end else "started",
            start_at=at if start else None,
            planned_work="データ入力",
            end_at=at + timedelta(hours=5) if end else None,
            work_done="データ入力" if end else None,
            outputs="入力80件" if end else None,
            flags={},
            created_at=at,
            updated_at=at,
        )
        s.add(report)
        await s.flush()
        for kind, ok, sent in (("start_check", start, at), ("end_check", end, report.end_at)):
            if ok and mode == "zaitaku" and sent is not None:
                s.add(
                    SupportRecord(
                        member_id=member_id,
                        business_date=day,
                        at=sent,  # when the member's message came
                        kind=kind,
                        channel="line",
                        content=f"{kind} {day}",
                        key=f"check:{kind}:{report.id}",
                        entered_at=sent,
                        entered_by=f"member:{member_id}",
                    )
                )


async def _contact(db: Database, member_id: int, staff_id: int, method: str, day: date) -> None:
    async with db.transaction() as s:
        at = jst(str(day), "13:00")
        await records.log_contact(
            s, member_id, staff_id, method, "作業の進み具合と体調を確認", at, at
        )


async def _eval(
    db: Database, member_id: int, staff_id: int, kind: str, day: date, method: str
) -> None:
    async with db.transaction() as s:
        await records.record_evaluation(
            s,
            member_id,
            kind=kind,
            day=day,
            method=method,
            now=jst(str(day), "16:00"),
            staff_id=staff_id,
            **sheet(kind, day),
        )


def sheet(kind: str, day: date) -> dict[str, str]:
    """A complete 評価シート (東大阪市 カ), its period fields written for the day (a copy of
    the previous one would be flagged)."""
    md = f"{day.month}/{day.day}"
    return {
        "goal": "毎日4時間の作業を続ける",
        "activities": f"{md}までデータ入力と封入作業",
        "achievement": "概ね達成" if kind == "monthly" else f"{md}までの目標はおおむね達成",
        "issues": "午後に集中が切れやすい",
        "plan": "午後の休憩を1回増やす",
        "health_notes": "睡眠時間に気をつける",
        "continuation": "在宅での継続が妥当",
    }


async def _member(
    db: Database,
    fid: int,
    name: str,
    municipality: str,
    approval: tuple[date, date] | None = None,
    voice_hard: bool = False,
) -> int:
    mid = await make_member(db, fid, T0, name, kana=None)
    async with db.transaction() as s:
        m = await s.get_one(Member, mid)
        m.municipality, m.recipient_no = municipality, f"27{mid:08d}"
        m.voice_contact_hard = voice_hard
        if approval:
            m.approval_from, m.approval_until = approval
    return mid


async def build(db: Database, profile: str, *, chat_day: bool = True) -> Ids:
    fid = await make_facility(db, T0, name=f"ひまわり({profile})", profile=profile, capacity=4)
    async with db.transaction() as s:
        f = await s.get_one(Facility, fid)
        staff = await add_staff(
            s, f, name="鈴木 一郎", slack_user=f"U-{profile}", role="staff", now=T0
        )
        staff_id = staff.id
    aoki = await _member(db, fid, "青木 葵", "東大阪市", (date(2026, 1, 1), date(2026, 8, 10)))
    sakamoto = await _member(db, fid, "坂本 咲", "大阪市", voice_hard=True)
    chiba = await _member(db, fid, "千葉 智", "東大阪市")
    tsuchiya = await _member(db, fid, "土屋 司", "東大阪市", (d(1), d(20)))
    eguchi = await _member(db, fid, "江口 栄", "東大阪市", (date(2026, 4, 1), date(2027, 3, 31)))

    # 青木
    if chat_day:
        chat = Chat(db)
        await chat.link("aoki", aoki, jst("2026-07-01", "09:00"))
        await chat.say("aoki", "開始 体調4 睡眠7 データ入力", jst("2026-07-01", "10:02"))
        await chat.say("aoki", "終了 入力120件 体調3", jst("2026-07-01", "15:01"))
    else:
        await _day(db, aoki, d(1), "zaitaku")
    for day in AOKI_ZAITAKU[1:]:
        await _day(db, aoki, day, "zaitaku", end=day != d(14))
    await _day(db, aoki, d(10), "tsusho")
    await _contact(db, aoki, staff_id, "通所", d(17))
    await _contact(db, aoki, staff_id, "通所", d(25))
    await _contact(db, aoki, staff_id, "電話", d(1))
    await _contact(db, aoki, staff_id, "電話", d(8))
    for day, method in ((3, "通所"), (9, "電話"), (24, "通所"), (31, "通所")):
        await _eval(db, aoki, staff_id, "weekly", d(day), method)

    # 坂本
    for day in SAKAMOTO_ZAITAKU:
        await _day(db, sakamoto, day, "zaitaku")
    for day in (2, 9, 16, 23, 30):
        await _eval(db, sakamoto, staff_id, "weekly", d(day), "電話")

    # 千葉
    await _contact(db, chiba, staff_id, "通所", d(6))

    # 土屋
    for day in (15, 21):
        await _day(db, tsuchiya, d(day), "zaitaku")
        await _contact(db, tsuchiya, staff_id, "ビデオ", d(day))
    await _day(db, tsuchiya, d(17), "tsusho")
    await _eval(db, tsuchiya, staff_id, "monthly", d(17), "通所")

    return Ids(fid, staff_id, aoki, sakamoto, chiba, tsuchiya, eguchi)


def at(day: int, hhmm: str = "18:00") -> datetime:
    return jst(d(day).isoformat(), hhmm)
