"""The day recorded as it happened (issue #16 §2, §4), through the real service and database:
what the member is asked and told, the 日報 row, the 支援記録, what the ticks send and the
Slack text staff receive.

東大阪市 (domain/002) 【事業所の要件】イ: 「作業開始時における開始時間と作業内容の確認、作業終了時
における終了時間と成果内容の確認は必ず行い支援記録を作成すること」 — an end time alone is not the
end check. DESIGN §2: 「特になし」, empty entries and text copied from the previous day read as
fabricated to an inspector; Nippo nudges once for one concrete detail and flags them.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from adapters.slack import blocks as bk
from bot.core import texts
from bot.core.domain import DayMode, ReportStatus
from bot.queries import board
from bot.services import admin, ticks
from bot.services.admin import ScheduleSpec
from bot.services.digests import digest_members, digest_payload
from storage.db import Database
from storage.models import (
    Alert,
    DailyReport,
    Facility,
    Member,
    OutboxMessage,
    ReportRevision,
    SupportRecord,
)
from tests.scheduler.helpers import effects
from tests.support import Chat, jst, make_facility, make_member

WEDNESDAY = "2026-07-01"
SATURDAY = "2026-07-04"


async def _report(db: Database, member_id: int, day: str) -> DailyReport:
    async with db.transaction() as s:
        return (
            await s.execute(
                select(DailyReport).where(
                    DailyReport.member_id == member_id,
                    DailyReport.business_date == date.fromisoformat(day),
                )
            )
        ).scalar_one()


async def _records(db: Database, member_id: int) -> list[SupportRecord]:
    async with db.transaction() as s:
        stmt = (
            select(SupportRecord)
            .where(SupportRecord.member_id == member_id, SupportRecord.kind != "reminder")
            .order_by(SupportRecord.id)
        )
        return list((await s.scalars(stmt)).all())


async def _tsusho_on_wednesdays(db: Database, member_id: int) -> None:
    async with db.transaction() as s:
        member = await s.get_one(Member, member_id)
        await admin.set_schedule(
            s, member, ScheduleSpec((2,), DayMode.TSUSHO, time(10, 0), time(15, 0))
        )


async def _ticks(db: Database, day: str, first: str, last: str) -> None:
    at, until = jst(day, first), jst(day, last)
    while at <= until:
        await ticks.tick(db, at)
        at += timedelta(minutes=1)


# --- §2 a day with no 在宅 planned -----------------------------------------------------------


async def test_work_on_a_day_off_is_kept_flagged_and_told_to_staff_once(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    mid = await make_member(db, fid, t0)  # 在宅 Monday to Friday
    chat = Chat(db)
    await chat.link("u1", mid, t0)

    replies = await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(SATURDAY, "10:05"))
    assert [r.text for r in replies] == [
        texts.UNPLANNED_DAY_ACK,
        texts.STARTED.format(time="10:05"),
    ]
    r = await _report(db, mid, SATURDAY)
    # Recorded as said, never silently made a 在宅 day: 休み until staff classify it.
    assert (r.mode, r.status, r.flags) == ("off", "started", {"day": "unplanned"})
    assert (r.planned_work, r.health_start, r.entered_by) == ("データ入力", 4, f"member:{mid}")
    assert chat.recorder.staff_texts() == [
        "【お知らせ】山田 太郎さん: 予定にない日の報告(7/4) "
        "在宅の予定がない日に作業の報告がありました。記録はそのまま残しています。"
        "この日の扱い(在宅・通所・利用なし)を確認してください。"
    ]

    await chat.say("u1", "終了 入力50件 体調4", jst(SATURDAY, "13:00"))
    assert len(chat.recorder.staff_texts()) == 1  # told once
    assert [x.kind for x in await _records(db, mid)] == ["start_check", "end_check"]
    async with db.transaction() as s:
        (alert,) = (await s.scalars(select(Alert))).all()
    assert (alert.kind, alert.level, alert.state) == ("unplanned_day", "info", "open")


async def test_an_absence_said_for_a_day_off_does_not_make_it_a_zaitaku_day(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, t0)
    await chat.say("u1", "あしたは休みます", jst("2026-07-03", "17:00"))  # Friday → Saturday
    r = await _report(db, mid, SATURDAY)
    assert (r.mode, r.status, r.flags) == ("off", "absent", {})


# --- §2 a planned 通所 day ---------------------------------------------------------------------


async def test_a_planned_tsusho_day_at_home_is_asked_recorded_and_told(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    mid = await make_member(db, fid, t0)
    await _tsusho_on_wednesdays(db, mid)
    chat = Chat(db)
    await chat.link("u1", mid, t0)

    (ask,) = await chat.tap("u1", "start", jst(WEDNESDAY, "09:58"))
    assert ask.text == texts.ASK_WHERE
    assert [c.label for c in ask.choices] == [
        "きょうは在宅で作業します",
        "通所します(事業所に行きます)",
    ]
    replies = await chat.tap("u1", "where:zaitaku", jst(WEDNESDAY, "09:59"))
    assert [r.text for r in replies] == [texts.WHERE_HOME_ACK, texts.ASK_HEALTH]
    assert chat.recorder.staff_texts() == [
        "【お知らせ】山田 太郎さん: 通所予定の日に在宅で作業(7/1) "
        "通所の予定の日ですが、本人から「今日は在宅で作業します」と連絡がありました。"
    ]
    await chat.tap("u1", "health:4", jst(WEDNESDAY, "10:00"))
    await chat.tap("u1", "sleep:7", jst(WEDNESDAY, "10:00"))
    done = await chat.tap("u1", "task:0", jst(WEDNESDAY, "10:01"))
    assert done[-1].text == texts.STARTED.format(time="09:58")  # asked once, then the usual

    r = await _report(db, mid, WEDNESDAY)
    assert (r.mode, r.status, r.flags) == ("zaitaku", "started", {"day": "tsusho_day_at_home"})
    async with db.transaction() as s:
        revs = (await s.scalars(select(ReportRevision).where(ReportRevision.field == "mode"))).all()
    assert [(x.before, x.after, x.source, x.by_member_id) for x in revs] == [
        ("tsusho", "zaitaku", "member", mid)
    ]
    # The day is 在宅 as recorded: its end check is reminded and escalated like any 在宅 day.
    await _ticks(db, WEDNESDAY, "14:59", "16:00")
    keys = [k for *_, k in await effects(db)]
    assert f"remind:end:{mid}:2026-07-01:1" in keys
    assert f"notify:alert:missed-end:{mid}:2026-07-01:staff" in keys


async def test_a_planned_tsusho_day_stays_tsusho_when_the_member_comes(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    mid = await make_member(db, fid, t0)
    await _tsusho_on_wednesdays(db, mid)
    chat = Chat(db)
    await chat.link("u1", mid, t0)

    (ask,) = await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(WEDNESDAY, "09:30"))
    assert ask.text == texts.ASK_WHERE  # everything said is recorded first
    replies = await chat.say("u1", "今日は事業所に行きます", jst(WEDNESDAY, "09:31"))
    assert replies[0].text == texts.WHERE_TSUSHO_ACK
    assert replies[-1].text == texts.STARTED.format(time="09:30")
    r = await _report(db, mid, WEDNESDAY)
    assert (r.mode, r.flags, r.planned_work) == ("tsusho", {}, "データ入力")
    assert chat.recorder.staff_texts() == []
    # Not asked again that day, and no 在宅 end ladder for a 通所 day.
    again = await chat.say("u1", "開始", jst(WEDNESDAY, "11:00"))
    assert again[-1].text == texts.ALREADY_STARTED.format(time="09:30")
    await _ticks(db, WEDNESDAY, "14:59", "16:01")
    assert [k for *_, k in await effects(db) if "remind:end" in k or "missed-end" in k] == []


# --- §2 a half-finished end check is not 終了 --------------------------------------------------


async def test_an_end_without_outputs_is_ending_reminded_escalated_then_finished(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, t0)
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(WEDNESDAY, "10:00"))
    await chat.tap("u1", "end", jst(WEDNESDAY, "14:50"))
    (ask,) = await chat.tap("u1", "same_as_plan", jst(WEDNESDAY, "14:51"))
    assert ask.text == texts.ASK_OUTPUTS  # … and the member stops here

    r = await _report(db, mid, WEDNESDAY)
    assert (r.status, r.end_at, r.outputs) == ("ending", jst(WEDNESDAY, "14:50"), None)
    assert [x.kind for x in await _records(db, mid)] == ["start_check"]  # no end check yet
    async with db.transaction() as s:
        facility = await s.get_one(Facility, fid)
        day_board = await board.status_board(
            s, facility, date.fromisoformat(WEDNESDAY), jst(WEDNESDAY, "14:55")
        )
    assert [row.report.status for row in day_board.rows] == [ReportStatus.ENDING]
    shown = json.dumps(bk.board_messages(day_board), ensure_ascii=False)
    assert "*山田 太郎*  終了報告の途中" in shown and "終了報告の途中 1" in shown

    await _ticks(db, WEDNESDAY, "14:52", "16:04")
    got = [(hm, k) for hm, _, _, k in await effects(db)]
    # 15:00 comes while the member answered a minute ago; the reminder waits, then goes.
    assert (("15:01", f"remind:end:{mid}:2026-07-01:1")) in got
    assert ("16:00", f"notify:alert:missed-end:{mid}:2026-07-01:staff") in got
    async with db.transaction() as s:
        rows = {o.key: o.payload for o in (await s.scalars(select(OutboxMessage))).all()}
    reminder = rows[f"remind:end:{mid}:2026-07-01:1"]["replies"][0]
    assert reminder["text"] == texts.EVENING_RESUME.format(name="山田 太郎")
    assert reminder["choices"][0] == {"label": "終了報告のつづき", "value": "end"}
    assert rows[f"notify:alert:missed-end:{mid}:2026-07-01:staff"]["text"] == (
        "【終了の連絡がありません】山田 太郎さん(7/1) 14:50 に終了の連絡はありましたが、"
        "予定の終了 15:00 から60分、成果(できたこと)の報告がまだです。"
    )

    # The member comes back and finishes where they left off.
    replies = await chat.tap("u1", "end", jst(WEDNESDAY, "16:05"))
    assert [r.text for r in replies] == [
        texts.EVENING_RESUME.format(name="山田 太郎"),  # the reminder, delivered meanwhile
        "14:50の終了報告のつづきですね。",
        texts.ASK_OUTPUTS,
    ]
    (ask,) = await chat.say("u1", "入力120件", jst(WEDNESDAY, "16:06"))
    assert ask.text == texts.ASK_HEALTH_END
    r = await _report(db, mid, WEDNESDAY)
    assert (r.status, r.end_at, r.outputs) == ("ended", jst(WEDNESDAY, "14:50"), "入力120件")
    end_check = (await _records(db, mid))[-1]
    assert (end_check.kind, end_check.at) == ("end_check", jst(WEDNESDAY, "16:06"))
    assert end_check.content == "終了確認 14:50 / 作業内容: データ入力 / 成果: 入力120件"
    await ticks.tick(db, jst(WEDNESDAY, "16:07"))
    assert f"resolve:missed-end:{mid}:2026-07-01" in [k for *_, k in await effects(db)]


# --- §4 copies and empty entries -------------------------------------------------------------


async def test_copied_outputs_are_nudged_once_but_a_routine_task_is_not_a_copy(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, t0)
    await chat.say("u1", "開始 体調4 睡眠7 封入作業", jst("2026-06-30", "10:00"))
    await chat.say("u1", "終了 封入200枚 体調4", jst("2026-06-30", "15:00"))

    await chat.say("u1", "開始 体調4 睡眠7 封入作業", jst(WEDNESDAY, "10:00"))
    assert (await _report(db, mid, WEDNESDAY)).flags == {}  # the same task every day is fine
    replies = await chat.say("u1", "終了 封入200枚 体調3", jst(WEDNESDAY, "15:00"))
    assert replies[-1].text == texts.ASK_DETAIL_SAME  # the same 成果 as yesterday: one nudge
    r = await _report(db, mid, WEDNESDAY)
    assert (r.outputs, r.work_done, r.flags) == (
        "封入200枚",
        "封入作業",
        {"outputs": "same_as_previous_day"},
    )
    done = await chat.say("u1", "封入200枚、今日は宛名シールも貼りました", jst(WEDNESDAY, "15:01"))
    assert done[-1].text == texts.ENDED.format(time="15:00")
    r = await _report(db, mid, WEDNESDAY)
    assert (r.outputs, r.flags) == ("封入200枚、今日は宛名シールも貼りました", {})


async def test_a_one_line_tokuninashi_is_nudged_once_then_kept_and_flagged_for_staff(
    db: Database, t0: datetime
) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, t0)
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(WEDNESDAY, "10:00"))
    assert (await chat.say("u1", "終了 特になし", jst(WEDNESDAY, "15:00")))[-1].text == (
        texts.ASK_DETAIL
    )
    replies = await chat.say("u1", "特になし", jst(WEDNESDAY, "15:01"))
    assert replies[-1].text == texts.ASK_HEALTH_END  # asked once only, then accepted
    r = await _report(db, mid, WEDNESDAY)
    assert (r.status, r.outputs, r.flags) == ("ended", "特になし", {"outputs": "vague"})
    async with db.transaction() as s:
        members = await digest_members(s, [fid], date.fromisoformat(WEDNESDAY))
    assert [m["flags"] for m in members[fid]] == [{"outputs": "vague"}]
    async with db.transaction() as s:
        facility = await s.get_one(Facility, fid)
    text = digest_payload(facility, date.fromisoformat(WEDNESDAY), members[fid]).text
    assert "⚠ 成果: 具体的な内容が読み取れない記録です" in text  # the staff read words, not codes
